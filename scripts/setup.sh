#!/usr/bin/env bash
# Install the Debian 12 packages libmimic needs. Idempotent and quick when everything is
# there: each package is checked with dpkg first, and apt-get runs (update once, then
# install) only for what is missing.
#   bash scripts/setup.sh demo    # what the demo needs: compiler, CMake, OpenBLAS, zlib, data
#   bash scripts/setup.sh         # everything the tests need too (the default)
# as root, or as a user with sudo.
set -euo pipefail

profile=${1:-test}
demo_packages=(
  build-essential cmake pkgconf        # toolchain
  libopenblas-dev                      # CBLAS
  zlib1g-dev                           # the CLI reads .gz IDX files
  dataset-fashion-mnist                # the demo's data
)
test_packages=(
  time
  libblas-dev                          # the reference CBLAS (a test build)
  check                                # Check unit-test framework
  clang libclang-rt-14-dev             # clang, its sanitizer and libFuzzer runtimes
  valgrind abigail-tools               # memcheck; abidw/abidiff for the ABI check
  python3-numpy python3-torch python3-onnx python3-pytest  # Python binding tests, cross-checks
  python3-venv                         # the wheel test installs into a fresh venv
  openmpi-bin libopenmpi-dev python3-mpi4py  # libmimic_mpi, `mpirun mimic train` (mpi step)
  mpich libmpich-dev                   # the same with MPICH (mpich step)
)
case $profile in
  demo) packages=("${demo_packages[@]}") ;;
  test) packages=("${demo_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null; then
    missing+=("$p")
  fi
done
# Node.js and npm (ONNX Runtime tests) may come from outside Debian's packages (e.g. a
# vendor build that bundles npm): install Debian's only when the commands are absent.
if [ "$profile" = test ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  if [ "$profile" = test ]; then
    echo "setup: all ${#packages[@]} packages present, node $(node --version), npm $(npm --version)"
  else
    echo "setup: all ${#packages[@]} packages the demo needs are present"
  fi
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
