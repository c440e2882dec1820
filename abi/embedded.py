#!/usr/bin/python3
"""Refuse a versioned struct that may grow but is embedded by value in another struct.

abi/suppressions.abignore lets some structs grow at the end (old callers pass their smaller
struct_size). That is safe only for a struct that no other public struct embeds by value:
a field appended to an embedded struct moves the fields after it in the embedding struct,
under callers built against the older header (mimic_progress embeds mimic_metrics twice).

Usage: abi/embedded.py ABI_XML SUPPRESSIONS      (ABI_XML written by abidw, see dump.sh)
Exits 1 and names every such pair; 0 otherwise.
"""
import re
import sys
import xml.etree.ElementTree as ET


def growable_rules(path):
    """(regexes, names) of the [suppress_type] sections that allow appended members."""
    regexes, names, section = [], [], None
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if section is not None and section.get("has_data_member_inserted_at") == "end":
                if "name_regexp" in section:
                    regexes.append(re.compile(section["name_regexp"]))
                if "name" in section:
                    names.append(section["name"])
            section = {} if line == "[suppress_type]" else None
            continue
        if section is not None and "=" in line:
            key, value = (x.strip() for x in line.split("=", 1))
            section[key] = value
    if section is not None and section.get("has_data_member_inserted_at") == "end":
        if "name_regexp" in section:
            regexes.append(re.compile(section["name_regexp"]))
        if "name" in section:
            names.append(section["name"])
    return regexes, names


def main(abi_path, supp_path):
    regexes, names = growable_rules(supp_path)

    def growable(name):
        return name in names or any(r.search(name) for r in regexes)

    root = ET.parse(abi_path).getroot()
    by_id = {}
    for el in root.iter():
        tid = el.get("id")
        if tid:
            by_id[tid] = el

    def resolve(tid, seen=()):
        """The struct a member's type is, through typedefs and qualifiers (not pointers)."""
        el = by_id.get(tid)
        if el is None or tid in seen:
            return None
        if el.tag == "class-decl":
            return el.get("name")
        if el.tag in ("typedef-decl", "qualified-type-def"):
            return resolve(el.get("type-id"), seen + (tid,))
        return None  # pointers, arrays, basic types

    bad = []
    checked = 0
    for cls in root.iter("class-decl"):
        outer = cls.get("name")
        for member in cls.iter("var-decl"):
            inner = resolve(member.get("type-id"))
            if inner is None:
                continue
            checked += 1
            if growable(inner):
                bad.append("%s embeds %s by value (member %s), but %s may grow at the end "
                           "(%s)" % (outer, inner, member.get("name"), inner, supp_path))
    for b in bad:
        print("abi: FAIL: " + b)
    if not bad:
        print("abi: OK: no growable struct is embedded by value (%d embedded structs checked)"
              % checked)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
