#!/usr/bin/env bash
# The Python package as a user installs it (README.md "Python", python/README.md "Install"):
# pip compiles libmimic with CMake through python/_build_backend/mimic_build.py and bundles
# it, so the package works with no MIMIC_LIBRARY and no system install of libmimic.
#   1. `pip wheel ./python --no-deps`: the wheel is checked (check.py wheel), installed with
#      --no-deps into a fresh venv (--system-site-packages: Debian's NumPy) and used;
#   2. `pip install ./python`, the one command, into a second fresh venv, and used;
#   3. the sdist the backend writes, unpacked where the repository is not, installed with
#      `pip install -e` into a third venv (it builds from the C sources it carries), and used.
# "Used" is check.py installed, from a scratch directory outside the repository, with no
# MIMIC_LIBRARY, LD_LIBRARY_PATH or PYTHONPATH: import, versions, the bundled library, a
# student trains. pip runs with no package index and no configuration files: building
# needs nothing to download.
# Usage: tests/wheel/run.sh OUT_DIR VERSION [PYTHON]   (VERSION: include/mimic/common.h's)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 OUT_DIR VERSION [PYTHON]" >&2
  exit 2
fi
out=$1
version=$2
py=${3:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$py" -c 'import venv, ensurepip' 2>/dev/null \
  || { echo "wheel: $py has no venv/ensurepip (Debian: apt-get install python3-venv)" >&2; exit 1; }

# A user's environment, minus what would let a broken package pass: the library's location,
# other Python paths, a local wheel directory or index, pip's configuration files.
clean=(env -u MIMIC_LIBRARY -u MIMIC_PREFIX -u LD_LIBRARY_PATH -u PYTHONPATH -u PYTHONHOME
       -u MIMIC_CMAKE_ARGS -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL
       PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
       PYTHONDONTWRITEBYTECODE=1)

# new_venv DIR: a fresh venv that sees Debian's NumPy.
new_venv() {
  "${clean[@]}" "$py" -m venv --system-site-packages "$1"
}

# use VENV PACKAGE_DIR: check.py installed with the venv's python, from outside the repo;
# then the library pip installed: its SONAME, no run path.
use() {
  local venv=$1 pkgdir=$2
  (cd "$scratch" && "${clean[@]}" "$venv/bin/python" "$here/check.py" installed "$version" "$pkgdir")
  local lib=$pkgdir/libmimic.so.${version%%.*} soname
  [ -f "$lib" ] && [ ! -L "$lib" ] || { echo "wheel: $lib is not a regular file" >&2; exit 1; }
  soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ "$soname" = "libmimic.so.${version%%.*}" ] || { echo "wheel: $lib has SONAME '$soname'" >&2; exit 1; }
  if readelf -d "$lib" | grep -E 'RPATH|RUNPATH' >/dev/null; then
    echo "wheel: $lib carries a run path: $(readelf -d "$lib" | grep -E 'RPATH|RUNPATH')" >&2
    exit 1
  fi
}

site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))'; }

t0=$SECONDS
echo "---- 1. pip wheel ./python, then the wheel into a fresh venv"
new_venv "$out/venv-wheel"
(cd "$root" && "${clean[@]}" "$out/venv-wheel/bin/pip" wheel ./python --no-deps -w "$out/dist")
wheels=("$out"/dist/*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || { echo "wheel: expected one wheel in $out/dist" >&2; exit 1; }
"$py" "$here/check.py" wheel "${wheels[0]}" "$version"
"${clean[@]}" "$out/venv-wheel/bin/pip" install --no-deps "${wheels[0]}"
use "$out/venv-wheel" "$(site "$out/venv-wheel")/mimic"
echo "---- 1: $((SECONDS - t0)) s"

t0=$SECONDS
echo "---- 2. pip install ./python into a fresh venv"
new_venv "$out/venv-pip"
(cd "$root" && "${clean[@]}" "$out/venv-pip/bin/pip" install ./python)
use "$out/venv-pip" "$(site "$out/venv-pip")/mimic"
echo "---- 2: $((SECONDS - t0)) s"

t0=$SECONDS
echo "---- 3. the sdist, unpacked outside the repository, pip install -e into a fresh venv"
mkdir -p "$out/sdist"
sdist=$(cd "$root/python" && "${clean[@]}" "$py" -c \
  'import sys; sys.path.insert(0, "_build_backend"); import mimic_build; print(mimic_build.build_sdist(sys.argv[1]))' \
  "$out/sdist" | tail -1)
[ "$sdist" = "mimic-$version.tar.gz" ] || { echo "wheel: the sdist is '$sdist', expected mimic-$version.tar.gz" >&2; exit 1; }
tar -xzf "$out/sdist/$sdist" -C "$scratch"
src=$scratch/mimic-$version
new_venv "$out/venv-editable"
(cd "$scratch" && "${clean[@]}" "$out/venv-editable/bin/pip" install -e "$src")
use "$out/venv-editable" "$src/mimic"
echo "---- 3: $((SECONDS - t0)) s"

echo "wheel: OK: $(basename "${wheels[0]}") ($(($(stat -c %s "${wheels[0]}") / 1024)) KiB), $sdist"
