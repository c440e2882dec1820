#!/bin/sh
# tests/onnx/run.sh without the npm registry: a copy of this directory without node_modules,
# the registry pointed at a closed local port, no retries: run.sh must fail at once with a
# message that says the step needs the network (and how to give it a mirror), not an npm
# stack trace. usage: tests/onnx/offline_test.sh path/to/libmimic.so
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic-onnx-offline.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for f in run.sh package.json package-lock.json gen_models.py check_models.py check_ort.js mimic_ctypes.py; do
    cp "$here/$f" "$tmp/"
done
set +e
npm_config_registry=http://127.0.0.1:9/ npm_config_fetch_retries=0 npm_config_cache="$tmp/npm-cache" \
    sh "$tmp/run.sh" "$1" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
if [ "$rc" -ne 1 ] || ! grep -q "needs" "$tmp/err" || ! grep -q "network" "$tmp/err"; then
    echo "offline_test: run.sh without the registry: exit $rc, stderr:" >&2
    cat "$tmp/err" >&2
    exit 1
fi
echo "offline_test: without the npm registry run.sh says so (exit 1)"
