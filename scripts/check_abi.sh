#!/usr/bin/env bash
# Compare the ABI of an installed libmimic.so against the committed baseline
# abi/libmimic.abi. Additions (new functions, new fields appended to versioned structs) are
# compatible and pass; removed or changed functions, changed types, a changed SONAME fail.
# Usage: scripts/check_abi.sh PREFIX      (PREFIX/lib/libmimic.so, PREFIX/include)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$#" -ne 1 ]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
prefix=$1
baseline=$root/abi/libmimic.abi
supp=$root/abi/suppressions.abignore
if [ ! -f "$baseline" ]; then
  echo "abi: no baseline $baseline: run abi/update.sh and commit it" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lib=$(readlink -f "$prefix/lib/libmimic.so")
bash "$root/abi/dump.sh" "$lib" "$prefix/include" "$tmp/current.abi"
echo "abi: baseline $(grep -c '<elf-symbol ' "$baseline") symbols, $lib $(grep -c '<elf-symbol ' "$tmp/current.abi") symbols"

# A struct that may grow must not be embedded by value in another (abi/embedded.py), and
# the check must be able to say so: its fixture (1.2's suppressions, which let mimic_metrics
# grow inside mimic_progress) has to fail.
py=/usr/bin/python3
command -v "$py" >/dev/null || py=python3
"$py" "$root/abi/embedded.py" "$tmp/current.abi" "$supp" || exit 1
if "$py" "$root/abi/embedded.py" "$tmp/current.abi" "$root/tests/abi/metrics_may_grow.abignore" >/dev/null; then
  echo "abi: FAIL: abi/embedded.py accepts tests/abi/metrics_may_grow.abignore (mimic_metrics growing inside mimic_progress)"
  exit 1
fi
echo "abi: OK: the embedded-struct check refuses its fixture (mimic_metrics growing inside mimic_progress)"

# For information: everything that changed, additions included.
abidiff --suppressions "$supp" "$baseline" "$tmp/current.abi" > "$tmp/all.txt" || true
if [ -s "$tmp/all.txt" ]; then
  echo "abi: differences from the baseline (additions are fine):"
  sed 's/^/  /' "$tmp/all.txt"
fi

# The verdict. abidiff's exit status is a bit mask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change. A changed parameter or struct layout sets only 4, so every
# non-zero status fails; --no-added-syms drops added functions/variables from the verdict,
# and the suppressions file allows fields appended to versioned structs.
rc=0
abidiff --no-added-syms --suppressions "$supp" "$baseline" "$tmp/current.abi" \
  > "$tmp/verdict.txt" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "abi: OK: compatible with the baseline"
  exit 0
fi
if [ $((rc & 3)) -ne 0 ]; then
  echo "abi: FAIL: abidiff could not compare (status $rc):"
else
  what="changed"
  [ $((rc & 8)) -ne 0 ] && what="INCOMPATIBLE change (removed or changed symbols)"
  echo "abi: FAIL: ABI $what against abi/libmimic.abi (abidiff status $rc):"
fi
sed 's/^/  /' "$tmp/verdict.txt"
echo "abi: if this break is intended, bump MIMIC_VERSION_MAJOR and regenerate the baseline (abi/README.md)"
exit 1
