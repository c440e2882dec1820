#!/usr/bin/env bash
# Regenerate the committed ABI baseline abi/libmimic.abi from the current sources.
# It builds, tests and stages the library exactly as scripts/test.sh does (its `plain` and
# `install` steps), then dumps the staged libmimic.so. See abi/README.md for when to run it.
#   bash abi/update.sh            # then review `git diff abi/` and commit it
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MIMIC_BUILD_ROOT:-$root/build}
bash "$root/scripts/test.sh" plain install
lib=$(readlink -f "$build/stage/lib/libmimic.so")
bash "$root/abi/dump.sh" "$lib" "$build/stage/include" "$root/abi/libmimic.abi"
n=$(grep -c '<elf-symbol ' "$root/abi/libmimic.abi" || true)
echo "abi: wrote abi/libmimic.abi ($n exported symbols) from $lib"
