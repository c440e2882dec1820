#!/usr/bin/env bash
# Check that libmimic.so exports exactly the public API:
#   - every defined dynamic symbol is named mimic_* and is declared MIMIC_API in a public
#     header (nothing internal leaks: mimic__*, helpers, BLAS wrappers), and
#   - every MIMIC_API declaration in the public headers is exported (nothing declared is
#     missing from the library).
# Usage: scripts/check_exports.sh LIBMIMIC_SO INCLUDE_DIR
#   INCLUDE_DIR holds mimic.h and mimic/*.h (the source tree's include/ or a staged one).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 LIBMIMIC_SO INCLUDE_DIR" >&2
  exit 2
fi
lib=$1
inc=$2
[ -f "$lib" ] || { echo "check_exports: $lib: no such file" >&2; exit 2; }
[ -f "$inc/mimic.h" ] || { echo "check_exports: $inc/mimic.h: no such file" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols of any type (T, D, B, R, V, W, i, ...), without version suffixes.
nm -D --defined-only --format=posix "$lib" | awk '{ sub(/@.*/, "", $1); print $1 }' \
  | sort -u > "$tmp/exported"

# Names declared with MIMIC_API: comments and preprocessor lines stripped, then every
# "MIMIC_API <declaration>;" gives the function name before its '(' or the variable name.
/usr/bin/python3 - "$inc/mimic.h" "$inc"/mimic/*.h > "$tmp/declared" <<'PY'
import re, sys
names = set()
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    for decl in re.findall(r"\bMIMIC_API\b([^;{]*)", text):
        m = re.search(r"\b([A-Za-z_]\w*)\s*\(", decl)           # a function
        if m is None:
            m = re.search(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*$", decl)  # a variable
        if m is None:
            sys.exit("check_exports: cannot parse MIMIC_API declaration in %s: %s"
                     % (path, " ".join(decl.split())))
        names.add(m.group(1))
for n in sorted(names):
    print(n)
PY

status=0
n_exp=$(wc -l < "$tmp/exported")
n_dec=$(wc -l < "$tmp/declared")
echo "check_exports: $lib exports $n_exp symbols; the headers in $inc declare $n_dec MIMIC_API names"

bad_prefix=$(grep -v '^mimic_' "$tmp/exported" || true)
if [ -n "$bad_prefix" ]; then
  echo "check_exports: FAIL: exported symbols without the mimic_ prefix:"
  echo "$bad_prefix" | sed 's/^/  /'
  status=1
fi
internal=$(grep '^mimic__' "$tmp/exported" || true)
if [ -n "$internal" ]; then
  echo "check_exports: FAIL: internal mimic__ symbols exported (they must stay hidden):"
  echo "$internal" | sed 's/^/  /'
  status=1
fi
undeclared=$(comm -23 "$tmp/exported" "$tmp/declared" | grep '^mimic_' | grep -v '^mimic__' || true)
if [ -n "$undeclared" ]; then
  echo "check_exports: FAIL: exported but not declared MIMIC_API in a public header:"
  echo "$undeclared" | sed 's/^/  /'
  status=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
  echo "check_exports: FAIL: declared MIMIC_API but not exported by $lib ($(echo "$missing" | wc -l)):"
  echo "$missing" | sed 's/^/  /'
  status=1
fi
[ "$status" -eq 0 ] && echo "check_exports: OK: the exported symbols are exactly the MIMIC_API declarations"
exit "$status"
