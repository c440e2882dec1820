#!/usr/bin/env bash
# The layers of lib/ (docs/ARCHITECTURE.md): common <- format <- model <- train. A file
# includes its own layer's headers and those of the layers below it, never one above; the
# CLI (src/) and the examples include only the public headers. Prints every violation and
# exits 1 when there is one.
#   bash scripts/check_layers.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
layers=(common format model train)
rank() { local i; for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
checked=0
for f in lib/*/*.c lib/*/*.h; do
  layer=$(basename "$(dirname "$f")")
  mine=$(rank "$layer")
  if [ "$mine" -lt 0 ]; then
    echo "layers: $f is in lib/$layer/, which is not a layer (${layers[*]})"
    bad=1
    continue
  fi
  while IFS= read -r inc; do
    checked=$((checked + 1))
    [ "$inc" = mimic.h ] && continue # the public umbrella header
    dir=${inc%%/*}
    [ "$dir" = "$inc" ] && { echo "layers: $f includes \"$inc\": name the layer (\"$layer/$inc\")"; bad=1; continue; }
    [ "$dir" = mimic ] && continue # a public header
    theirs=$(rank "$dir")
    if [ "$theirs" -lt 0 ]; then
      echo "layers: $f includes \"$inc\", not a layer's header"; bad=1
    elif [ "$theirs" -gt "$mine" ]; then
      echo "layers: $f (layer $layer) includes \"$inc\" from the layer above it ($dir)"; bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
# the program and the examples see only the public API
while IFS= read -r hit; do
  echo "layers: $hit: the CLI and the examples include only public headers"
  bad=1
done < <(grep -nE '#[[:space:]]*include[[:space:]]*"(common|format|model|train)/' src/*.c src/*.h examples/*.c 2>/dev/null || true)
if [ "$bad" -eq 0 ]; then
  echo "layers: OK ($checked internal includes in lib/ checked; src/ and examples/ use the public API)"
fi
exit "$bad"
