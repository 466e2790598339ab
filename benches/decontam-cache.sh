#!/usr/bin/env bash
# Loading a pipeline whose decontamination stage protects a large benchmark:
# the index built from the benchmark file (an empty cache: what every task
# and every rerun did before the index was cached) against the index read
# from the cache directory (what every process after the first does now),
# alternated in the same script run. The benchmark is the 100k corpus
# (42 MB of JSONL, 13-gram index); `kiln validate` loads the pipeline and
# stops, so the difference is the index.
# Usage: benches/decontam-cache.sh [RUNS]   (default 5)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."
kiln=$(realpath target/release/kiln)
dir=target/bench-decontam
mkdir -p "$dir"
corpus=target/corpus/rustdoc-100k.jsonl
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit 100000
head -n 200 pipelines/data/rustdoc-sample.jsonl > "$dir/in.jsonl"
cat > "$dir/pipeline.toml" <<TOML
[pipeline]
name = "decontam-cache"
work_dir = "work"

[[input]]
path = "in.jsonl"

[[stage]]
name = "decontam"
kind = "decontaminate"
config = { benchmarks = [{ name = "rustdoc", path = "$(realpath "$corpus")" }] }

[output]
dir = "out"
TOML
cd "$dir"
measure() { /usr/bin/time -f "%e %M" "$kiln" validate pipeline.toml --cache-dir cache 2>&1 >/dev/null | tail -1; }
built=() read=() built_mb=() read_mb=()
for _ in $(seq 1 "$runs"); do
    rm -rf cache/decontam
    set -- $(measure); built+=("$1"); built_mb+=("$2")
    set -- $(measure); read+=("$1"); read_mb+=("$2")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b=$(median "${built[@]}"); r=$(median "${read[@]}")
echo "index built (empty cache): ${built[*]} -> median ${b}s, peak $(( $(median "${built_mb[@]}") / 1024 )) MB"
echo "index read from the cache: ${read[*]} -> median ${r}s, peak $(( $(median "${read_mb[@]}") / 1024 )) MB"
echo "speed-up: $(echo "$b / $r" | bc -l | cut -c1-5)x; index file: $(du -h cache/decontam/*.idx | cut -f1)"
