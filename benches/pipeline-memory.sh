#!/usr/bin/env bash
# Peak memory of `kiln run` at 100 MB and 1 GB of input: it must stay flat.
# The input is the 100k-record Rust-documentation corpus repeated (so the
# exact-dedup stage sees every copy after the first as duplicates).
# Usage: benches/pipeline-memory.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask plugins >/dev/null
cargo build --release -q -p kiln
corpus=target/corpus/rustdoc-100k.jsonl
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit 100000
dir=target/bench-memory
mkdir -p "$dir"
corpus_mb=$(( $(stat -c %s "$corpus") / 1000000 ))
for target_mb in 100 1000; do
    input="$dir/input-${target_mb}mb.jsonl"
    if [ ! -f "$input" ]; then
        copies=$(( (target_mb + corpus_mb - 1) / corpus_mb ))
        : > "$input"
        for _ in $(seq "$copies"); do cat "$corpus" >> "$input"; done
    fi
    cat > "$dir/pipeline-${target_mb}mb.toml" <<TOML
[pipeline]
name = "memory-${target_mb}mb"
work_dir = "work-${target_mb}mb"
chunk_size = 10000

[[input]]
path = "input-${target_mb}mb.jsonl"

[[stage]]
name = "length"
kind = "filter"
plugin = "../wasm32-wasip2/release/length_filter.wasm"
config = { min_words = 20 }

[[stage]]
name = "quality"
kind = "filter"
plugin = "../wasm32-wasip2/release/gopher_quality.wasm"
batch_size = 1024

[[stage]]
name = "pii"
kind = "map"
plugin = "../wasm32-wasip2/release/pii_redact.wasm"

[[stage]]
name = "dedup"
kind = "dedup"

[output]
dir = "out-${target_mb}mb"
TOML
    size=$(stat -c %s "$input")
    /usr/bin/time -f "%M %e" -o "$dir/time-${target_mb}mb.txt" \
        target/release/kiln run "$dir/pipeline-${target_mb}mb.toml" --fresh 2> "$dir/log-${target_mb}mb.txt"
    read -r rss_kb secs < "$dir/time-${target_mb}mb.txt"
    echo "input $(( size / 1000000 )) MB: peak RSS $(( rss_kb / 1024 )) MiB, ${secs} s, $(awk -v b="$size" -v s="$secs" 'BEGIN{printf "%.1f", b/s/1e6}') MB/s"
done
