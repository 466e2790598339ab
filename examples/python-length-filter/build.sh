#!/usr/bin/env bash
# Builds the Python length filter into a Kiln filter-plugin component.
#
#   ./build.sh [OUTPUT.wasm]     (default: python_length_filter.wasm next to this script)
#
# Needs componentize-py on PATH, or COMPONENTIZE_PY naming it
# (e.g. COMPONENTIZE_PY=/work/venvs/componentize-py/bin/componentize-py).
# The Python bindings (`wit_world`) are generated from ../../wit at build time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/python_length_filter.wasm}"
# componentize-py runs from the script's directory: make the output path absolute first.
case "$out" in
    /*) ;;
    *) out="$PWD/$out" ;;
esac
componentize_py="${COMPONENTIZE_PY:-componentize-py}"

cd "$here"
"$componentize_py" -d ../../wit -w kiln:plugin/filter-plugin@0.1.0 \
    componentize app -p . -o "$out"
# componentize-py leaves the bytecode of app.py behind.
rm -rf "$here/__pycache__"
