#!/usr/bin/env bash
# Build and run the consumer programs against an installed libmimic (or, for `vendor`, its
# source tree), the three ways a user's project can use it.
# Usage: tests/consumer/run.sh pkgconfig|cmake|vendor PREFIX_OR_SOURCE_DIR BUILD_DIR
#   pkgconfig PREFIX: cc consumer.c $(pkg-config --cflags --libs mimic), shared and static
#   cmake PREFIX:     find_package(mimic 1 REQUIRED), mimic::mimic and mimic::mimic_static
#   vendor SOURCE:    add_subdirectory(SOURCE) + mimic::mimic; no tests/CLI built, no
#                     global flags changed
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$#" -ne 3 ]; then
  echo "usage: $0 pkgconfig|cmake|vendor PREFIX_OR_SOURCE_DIR BUILD_DIR" >&2
  exit 2
fi
kind=$1
dir=$(cd "$2" && pwd)
out=$3
rm -rf "$out"
mkdir -p "$out"
jobs=${MIMIC_JOBS:-2}

case $kind in
  pkgconfig)
    bash "$here/pkgconfig/build.sh" "$dir" "$out"
    ;;
  cmake)
    cmake -S "$here/cmake" -B "$out" -DCMAKE_PREFIX_PATH="$dir" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$out" -j"$jobs"
    # The imported target carries the path of the installed library (build RPATH): no
    # LD_LIBRARY_PATH needed, and it must be the staged one.
    ldd "$out/app" | grep -F "$dir/lib/libmimic.so.1" >/dev/null \
      || { echo "cmake consumer: app does not load $dir/lib/libmimic.so.1:" >&2; ldd "$out/app" >&2; exit 1; }
    if ldd "$out/app_static" | grep libmimic >/dev/null; then
      echo "cmake consumer: app_static still loads libmimic.so" >&2
      exit 1
    fi
    "$out/app"
    "$out/app_static"
    echo "cmake consumer: OK (mimic::mimic and mimic::mimic_static)"
    ;;
  vendor)
    # A marker flag of the consumer's own: it must come through unchanged.
    cmake -S "$here/vendor" -B "$out" -DMIMIC_SOURCE_DIR="$dir" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS="-DVENDOR_CONSUMER_FLAG=1"
    cmake --build "$out" -j"$jobs"
    # Nothing but the library and the two apps may have been built.
    extra=$(find "$out/mimic_build" -path '*/CMakeFiles' -prune -o -type f -perm -u+x \
            ! -name 'libmimic.so*' -print)
    if [ -n "$extra" ]; then
      echo "vendor consumer: the vendored build made test/CLI programs:" >&2
      echo "$extra" >&2
      exit 1
    fi
    if [ -e "$out/mimic_build/CTestTestfile.cmake" ] || [ -d "$out/mimic_build/tests" ]; then
      echo "vendor consumer: the vendored build configured the tests" >&2
      exit 1
    fi
    grep -q '^CMAKE_C_FLAGS:STRING=-DVENDOR_CONSUMER_FLAG=1$' "$out/CMakeCache.txt" \
      || { echo "vendor consumer: CMAKE_C_FLAGS changed in the cache" >&2; exit 1; }
    "$out/app"
    "$out/app_static"
    echo "vendor consumer: OK (library only, consumer's flags unchanged)"
    ;;
  *)
    echo "$0: unknown consumer '$kind' (pkgconfig, cmake or vendor)" >&2
    exit 2
    ;;
esac
