#!/bin/sh
# ONNX export checks: every activation x {bottleneck, none} x {normalization, none} x weights
# {float32, float16, int8} is exported by libmimic, validated by onnx.checker (full_check) and
# run in ONNX Runtime (CPU), whose logits must match mimic_student_forward's at batch 1 and
# 257 (see check_ort.js).
#
# usage: tests/onnx/run.sh [BUILD_DIR | path/to/libmimic.so]
#        (or MIMIC_LIBRARY=path/to/libmimic.so tests/onnx/run.sh)
# Builds nothing. Installs onnxruntime-node (version pinned in package.json) into
# tests/onnx/node_modules on first use, with --ignore-scripts: its CPU binaries ship inside
# the npm package. Exits non-zero on any failure. MIMIC_ONNX_KEEP=1 keeps the models.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
python=${MIMIC_PYTHON:-/usr/bin/python3}

lib=${MIMIC_LIBRARY:-}
if [ $# -ge 1 ]; then
    if [ -d "$1" ]; then
        lib=$(find "$1" -maxdepth 3 -name 'libmimic.so' \( -type f -o -type l \) | head -n 1)
    else
        lib=$1
    fi
fi
if [ -z "$lib" ] || [ ! -e "$lib" ]; then
    echo "run.sh: no libmimic.so: pass a build directory or set MIMIC_LIBRARY" >&2
    exit 2
fi
MIMIC_LIBRARY=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
export MIMIC_LIBRARY
command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 2; }

if [ ! -f "$here/node_modules/onnxruntime-node/package.json" ]; then
    echo "installing onnxruntime-node into $here/node_modules (from the npm registry: needs the network)"
    if ! (cd "$here" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error); then
        echo "run.sh: could not install onnxruntime-node from the npm registry: this step needs" >&2
        echo "run.sh: network access to registry.npmjs.org once (the package is then cached in" >&2
        echo "run.sh: $here/node_modules), or an npm mirror set with 'npm config set registry URL'" >&2
        exit 1
    fi
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/mimic-onnx.XXXXXX")
if [ "${MIMIC_ONNX_KEEP:-0}" = 1 ]; then
    echo "models kept in $out"
else
    trap 'rm -rf "$out"' EXIT INT TERM
fi

echo "library: $MIMIC_LIBRARY"
"$python" "$here/gen_models.py" "$out"
"$python" "$here/check_models.py" "$out/manifest.json"
(cd "$here" && node check_ort.js "$out/manifest.json")
echo "ONNX checks passed"
