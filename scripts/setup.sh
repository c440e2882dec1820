#!/usr/bin/env bash
# Install the Debian 12 packages that libmimic's build, tests, examples and demo need.
# Idempotent and quick when everything is there: each package is checked with dpkg first,
# and apt-get runs (update once, then install) only for what is missing.
#   bash scripts/setup.sh            # as root, or as a user with sudo
set -euo pipefail

packages=(
  build-essential cmake pkgconf time   # toolchain
  libopenblas-dev libblas-dev          # CBLAS: OpenBLAS (default) and the reference BLAS
  check zlib1g-dev                     # Check unit-test framework; zlib for the CLI's IDX reader
  clang libclang-rt-14-dev             # clang, its sanitizer and libFuzzer runtimes
  valgrind abigail-tools               # memcheck; abidw/abidiff for the ABI check
  python3-numpy python3-torch python3-onnx python3-pytest  # Python binding tests, cross-checks
  dataset-fashion-mnist                # the data set of the demo and examples
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null; then
    missing+=("$p")
  fi
done
# Node.js and npm (ONNX Runtime tests) may come from outside Debian's packages (e.g. a
# vendor build that bundles npm): install Debian's only when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present, node $(node --version), npm $(npm --version)"
  exit 0
fi

echo "setup: installing ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: not root and no sudo: install these packages as root: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
