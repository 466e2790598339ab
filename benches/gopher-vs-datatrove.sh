#!/usr/bin/env bash
# Side by side, one run: the Gopher quality filter over the same real corpus
# with Kiln (`kiln run`, whole process, both cores) and with datatrove's
# GopherQualityFilter (from PyPI, in a virtualenv this script makes, on as
# many processes as cores). Prints docs/s of each, the ratio, and the agreement
# of the verdicts with every class of disagreement.
# Usage: benches/gopher-vs-datatrove.sh [RECORDS]   (default 100000)
# KILN=path/to/kiln runs that binary instead of building this tree's (to
# compare two versions of Kiln against the same datatrove run).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
cores=$(nproc)
dir=target/bench-gopher
mkdir -p "$dir"
source benches/venv.sh
bench_venv "import spacy; from datatrove.pipeline.filters import GopherQualityFilter" datatrove spacy regex
cargo xtask plugins >/dev/null
if [ -z "${KILN:-}" ]; then
    cargo build --release -q -p kiln
fi
kiln=$(realpath "${KILN:-target/release/kiln}")
corpus="$dir/corpus-$records.jsonl"
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit "$records"
cat > "$dir/pipeline.toml" <<TOML
[pipeline]
name = "gopher-bench"
work_dir = "work"
chunk_size = 20000

[[input]]
path = "corpus-$records.jsonl"

[[stage]]
name = "quality"
kind = "filter"
plugin = "../wasm32-wasip2/release/gopher_quality.wasm"
batch_size = 1024
concurrency = $cores

[output]
dir = "out"
TOML
start=$(date +%s.%N)
"$kiln" run "$dir/pipeline.toml" --fresh 2> "$dir/kiln.log"
kiln_s=$(echo "$(date +%s.%N) - $start" | bc)
datatrove_s=$("$venv/bin/python" benches/datatrove_gopher.py "$corpus" "$dir/datatrove.jsonl" "$cores")
n=$(wc -l < "$corpus")
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; $n documents, $(( $(stat -c %s "$corpus") / 1000000 )) MB"
echo "kiln:      ${kiln_s} s  $(echo "$n / $kiln_s" | bc) docs/s"
echo "datatrove: ${datatrove_s} s  $(echo "$n / $datatrove_s" | bc) docs/s"
echo "ratio (kiln / datatrove throughput): $(echo "scale=1; $datatrove_s / $kiln_s" | bc)x"
"$venv/bin/python" benches/compare_gopher.py "$dir/out" "$dir/datatrove.jsonl"
