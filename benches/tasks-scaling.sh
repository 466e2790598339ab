#!/usr/bin/env bash
# One run split into tasks on this machine (`kiln launch local`) against the
# same run in one process (`kiln run`), alternated, over the real 100k
# corpus: clean-web's streaming stages (13-gram decontamination, length,
# Gopher quality, PII redaction; dedup needs the whole corpus and is left
# out). Prints each run's wall time, the medians, the merge's share of the
# split run's time, and whether every output is byte for byte the same.
# Usage: benches/tasks-scaling.sh [RUNS]   (default 3)
set -euo pipefail
runs=${1:-3}
cd "$(dirname "$0")/.."
kiln=$(realpath target/release/kiln)
dir=target/bench-tasks
mkdir -p "$dir"
. benches/streaming-pipeline.sh
streaming_pipeline tasks-scaling "$dir/pipeline.toml"
cd "$dir"
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
declare -A times
for i in $(seq 1 "$runs"); do
    times[one]+="$(secs "$kiln" run pipeline.toml --fresh --out out-one) "
    for n in 1 2 4; do
        rm -rf work/tasks
        times[$n]+="$(secs "$kiln" launch local pipeline.toml --tasks "$n" --out "out-$n") "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
one=$(echo "${times[one]}" | median)
echo "kiln run (one process):   ${times[one]}-> median ${one}s"
for n in 1 2 4; do
    m=$(echo "${times[$n]}" | median)
    same=yes
    for f in kept rejected quarantine; do cmp -s "out-one/$f.jsonl" "out-$n/$f.jsonl" || same=no; done
    echo "launch local --tasks $n:  ${times[$n]}-> median ${m}s ($(echo "$one $m" | awk '{ printf "%.2f", $1 / $2 }')x one process; outputs identical: $same)"
done
merge=$(secs "$kiln" task merge pipeline.toml --world 4 --out out-merge)
echo "merge of 4 finished tasks alone: ${merge}s"
