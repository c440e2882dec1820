#!/usr/bin/env bash
# Header self-containment: every public header (mimic.h and mimic/*.h) must compile on its
# own, included first and twice (include guards), as strict C11 with gcc and clang and as
# C++11 with g++ (and clang++ when present). Catches a header that relies on an include it
# does not make, C-only syntax, a missing extern "C", a missing include guard.
# Usage: tests/headers/check.sh INCLUDE_DIR     (the staged include/ or the source include/)
set -euo pipefail

if [ "$#" -ne 1 ] || [ ! -f "$1/mimic.h" ]; then
  echo "usage: $0 INCLUDE_DIR   (a directory holding mimic.h and mimic/*.h)" >&2
  exit 2
fi
inc=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

compilers=()
command -v gcc >/dev/null && compilers+=("gcc -x c -std=c11 -pedantic-errors -Wall -Wextra -Werror -Wstrict-prototypes")
command -v clang >/dev/null && compilers+=("clang -x c -std=c11 -pedantic-errors -Wall -Wextra -Werror -Wstrict-prototypes")
command -v g++ >/dev/null && compilers+=("g++ -x c++ -std=c++11 -pedantic-errors -Wall -Wextra -Werror")
command -v clang++ >/dev/null && compilers+=("clang++ -x c++ -std=c++11 -pedantic-errors -Wall -Wextra -Werror")
if [ "${#compilers[@]}" -lt 2 ]; then
  echo "headers: need at least a C and a C++ compiler (gcc, g++)" >&2
  exit 2
fi

headers=(mimic.h)
for h in "$inc"/mimic/*.h; do headers+=("mimic/$(basename "$h")"); done

# mimic/mpi.h (libmimic_mpi, installed when the build had MPI) includes <mpi.h>: MPI's
# include directories from pkg-config (Open MPI: mpi, MPICH: mpich), as system headers so
# that their own warnings (Open MPI's C++ bindings) do not count.
mpi_flags=
if [ -f "$inc/mimic/mpi.h" ]; then
  for pc in mpi mpich; do
    if mpi_flags=$(pkg-config --cflags-only-I "$pc" 2>/dev/null); then
      mpi_flags=$(printf '%s' "$mpi_flags" | sed 's/-I/-isystem /g')
      break
    fi
  done
  [ -n "$mpi_flags" ] || echo "headers: no MPI include flags (pkg-config mpi or mpich) for <mimic/mpi.h>"
fi

fails=0
checks=0
for h in "${headers[@]}"; do
  printf '#include <%s>\n#include <%s>\nint mimic_header_check_dummy;\n' "$h" "$h" > "$tmp/tu"
  extra=
  [ "$h" = mimic/mpi.h ] && extra=$mpi_flags
  for c in "${compilers[@]}"; do
    checks=$((checks + 1))
    # shellcheck disable=SC2086  # $c is a command line, $extra a list of flags
    if ! $c -fsyntax-only -I"$inc" $extra "$tmp/tu" > "$tmp/log" 2>&1; then
      echo "headers: FAIL: <$h> with: $c"
      sed 's/^/  /' "$tmp/log"
      fails=$((fails + 1))
    fi
  done
done
echo "headers: ${#headers[@]} headers x ${#compilers[@]} compilers: $((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
