#!/usr/bin/env bash
# Write the ABI of a built libmimic.so as libabigail XML: the exported mimic_* functions and
# the types reachable from them, restricted to the types the public headers define.
# Usage: abi/dump.sh LIBMIMIC_SO INCLUDE_DIR OUT.abi
# The library must carry DWARF debug info (scripts/test.sh builds Release with -g).
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "usage: $0 LIBMIMIC_SO INCLUDE_DIR OUT.abi" >&2
  exit 2
fi
lib=$1 inc=$2 out=$3
if ! readelf -S "$lib" | grep '\.debug_info' >/dev/null; then
  echo "abi: $lib has no debug info (build with -g): abidw would see symbols only" >&2
  exit 1
fi
# --no-corpus-path, --no-comp-dir-path and --short-locs keep build paths out of the file,
# so the committed baseline does not depend on where it was built.
abidw --headers-dir "$inc" --drop-private-types --drop-undefined-syms \
      --no-corpus-path --no-comp-dir-path --short-locs \
      --out-file "$out" "$lib"
