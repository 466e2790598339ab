#!/usr/bin/env bash
# Two kiln binaries, alternated on one pipeline (length filter, Gopher quality
# filter, exact dedup, MinHash dedup) over the same real corpus: the check
# that a change to the engine costs no throughput. Prints each run's wall
# time, the medians and whether both kept the same records.
# Usage: benches/engine-ab.sh OLD_KILN NEW_KILN [RECORDS] [RUNS]   (defaults 100000, 6)
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); records=${3:-100000}; runs=${4:-6}
cd "$(dirname "$0")/.."
dir=target/bench-engine-ab
mkdir -p "$dir"
cargo xtask plugins >/dev/null
# The corpus the other benches use (target/corpus/rustdoc-100k.jsonl by default).
corpus=target/corpus/rustdoc-$((records / 1000))k.jsonl
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit "$records"
cat > "$dir/pipeline.toml" <<TOML
[pipeline]
name = "engine-ab"
work_dir = "work"
chunk_size = 20000

[[input]]
path = "../../$corpus"

[[stage]]
name = "length"
kind = "filter"
plugin = "../wasm32-wasip2/release/length_filter.wasm"
config = { min_words = 5 }
batch_size = 1024

[[stage]]
name = "quality"
kind = "filter"
plugin = "../wasm32-wasip2/release/gopher_quality.wasm"
batch_size = 1024

[[stage]]
name = "dedup"
kind = "dedup"

[[stage]]
name = "near-dedup"
kind = "dedup"
config = { method = "minhash" }

[output]
dir = "out"
TOML
declare -A times
for i in $(seq "$runs"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    start=$(date +%s.%N)
    "$bin" run "$dir/pipeline.toml" --fresh --work-dir "$dir/work-$which" --out "$dir/out-$which" >/dev/null 2>&1
    t=$(echo "$(date +%s.%N) - $start" | bc)
    echo "$which run $i: $t s"
    times[$which]="${times[$which]:-} $t"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(echo "${times[old]}" | median); mn=$(echo "${times[new]}" | median)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $records documents"
echo "median old: $mo s   median new: $mn s   new/old throughput: $(echo "scale=3; $mo / $mn" | bc)"
cmp -s "$dir/out-old/kept.jsonl" "$dir/out-new/kept.jsonl" && echo "kept.jsonl identical" || echo "kept.jsonl DIFFERS"
