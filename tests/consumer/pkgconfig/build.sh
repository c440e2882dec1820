#!/usr/bin/env bash
# Consumer of an installed libmimic through pkg-config, as a Makefile user would do it:
#   cc consumer.c $(pkg-config --cflags --libs mimic)
# Usage: tests/consumer/pkgconfig/build.sh PREFIX BUILD_DIR
# Builds and runs a dynamically linked and a statically linked (Libs.private) program.
set -euo pipefail
prefix=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/../consumer.c
mkdir -p "$out"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cc=${CC:-cc}

echo "pkg-config: mimic $(pkg-config --modversion mimic) from $(pkg-config --variable=pcfiledir mimic)"
pkg-config --validate mimic
want=$(sed -n 's/^#define MIMIC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
       "$prefix/include/mimic/common.h" | paste -sd.)
[ "$(pkg-config --modversion mimic)" = "$want" ] \
  || { echo "pkg-config: mimic.pc says $(pkg-config --modversion mimic), the header $want" >&2; exit 1; }

# Shared: the documented one-liner.
# shellcheck disable=SC2046  # word splitting of pkg-config's output is intended
"$cc" -std=c11 -Wall -Wextra -Werror -o "$out/app" "$src" $(pkg-config --cflags --libs mimic)
LD_LIBRARY_PATH="$prefix/lib" ldd "$out/app" | grep -F "$prefix/lib/libmimic.so.1" >/dev/null \
  || { echo "pkg-config: app does not load $prefix/lib/libmimic.so.1:" >&2; LD_LIBRARY_PATH="$prefix/lib" ldd "$out/app" >&2; exit 1; }
LD_LIBRARY_PATH="$prefix/lib" "$out/app"
# README's line for a library outside the loader's paths: the run path from pkg-config, and
# no LD_LIBRARY_PATH at all.
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -o "$out/app_rpath" "$src" $(pkg-config --cflags --libs mimic) \
  -Wl,-rpath,"$(pkg-config --variable=libdir mimic)"
env -u LD_LIBRARY_PATH "$out/app_rpath"

# Static: libmimic.a plus Libs.private/Requires.private from `pkg-config --static`.
libs=$(pkg-config --static --libs mimic)
libs=${libs/-lmimic/-l:libmimic.a}
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -DMIMIC_STATIC -o "$out/app_static" "$src" \
  $(pkg-config --static --cflags mimic) $libs
if ldd "$out/app_static" | grep libmimic >/dev/null; then
  echo "pkg-config: app_static still loads libmimic.so" >&2
  exit 1
fi
"$out/app_static"
echo "pkg-config consumer: OK (shared and static)"
