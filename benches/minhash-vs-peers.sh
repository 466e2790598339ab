#!/usr/bin/env bash
# Side by side, one run: MinHash near-duplicate clustering of the same real
# corpus (5-word shingles, 14 bands x 8 rows, seed 1) with Kiln on the CPU and
# on the GPU (`kiln dedup --method minhash`), with datatrove's four-stage
# MinHash pipeline (defaults, on as many processes as cores) and with rensa
# (R-MinHash + LSH, one process). Prints docs/s and MB/s of text of each, the
# speed against datatrove, and the agreement of each clustering with
# datatrove's (pair and removed-set precision/recall); Kiln CPU and GPU must
# give identical clusters (the script exits 1 otherwise).
# Usage: benches/minhash-vs-peers.sh [RECORDS]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
cores=$(nproc)
dir=target/bench-minhash
mkdir -p "$dir"
source benches/venv.sh
bench_venv "import rensa, spacy; from datatrove.pipeline.dedup import MinhashDedupSignature; from datatrove.pipeline.dedup.minhash import MinhashConfig; MinhashConfig()" \
    datatrove spacy regex "xxhash<4" orjson tokenizers rensa
corpus=target/bench-gopher/corpus-$records.jsonl # shared with gopher-vs-datatrove.sh
mkdir -p "$(dirname "$corpus")"
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit "$records"
cargo build --release -q -p kiln
n=$(wc -l < "$corpus")
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; $n documents, $(( $(stat -c %s "$corpus") / 1000000 )) MB of JSONL"
summaries=$dir/summaries.jsonl
: > "$summaries"

# run NAME COMMAND...: runs one tool, keeps the last JSON line of its stdout
# with the name and the whole process's wall time and peak RSS added.
run() {
    local name=$1
    shift
    echo "running $name: $*"
    if /usr/bin/time -f '%e %M' -o "$dir/$name.time" "$@" > "$dir/$name.out" 2> "$dir/$name.log"; then
        grep '^{' "$dir/$name.out" | tail -n 1 | "$py" -c 'import json, sys
r = json.load(sys.stdin); wall, rss = open(sys.argv[2]).read().split()[-2:]
print(json.dumps({"name": sys.argv[1], "wall": float(wall), "rss_mb": int(rss) // 1024, **r}))' "$name" "$dir/$name.time" >> "$summaries" \
            || echo "$name: no JSON summary line in $dir/$name.out"
    else
        echo "$name FAILED (exit $?), continuing; last lines of $dir/$name.log:"
        tail -n 5 "$dir/$name.log" | sed 's/^/    /'
    fi
}

rm -f "$dir"/kiln-cpu.jsonl "$dir"/kiln-gpu.jsonl "$dir"/rensa.jsonl "$dir"/datatrove/clusters.jsonl
run kiln-cpu target/release/kiln dedup "$corpus" --method minhash --device cpu --clusters "$dir/kiln-cpu.jsonl"
run kiln-gpu target/release/kiln dedup "$corpus" --method minhash --device gpu --clusters "$dir/kiln-gpu.jsonl"
run datatrove "$py" benches/datatrove_minhash.py "$corpus" "$dir/datatrove" --workers "$cores"
run rensa "$py" benches/rensa_minhash.py "$corpus" "$dir/rensa.jsonl"

echo
"$py" - "$summaries" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
base = next((r for r in rows if r["name"] == "datatrove"), None)
print(f"{'tool':10}{'docs':>8}{'MB':>7}{'seconds':>9}{'docs/s':>10}{'MB/s':>8}{'vs datatrove':>14}{'process s':>11}{'peak RSS MB':>13}")
for r in rows:
    s = r["seconds"]
    ratio = f"{base['seconds'] / s:.1f}x" if base else "-"
    print(f"{r['name']:10}{r['docs']:>8}{r['bytes'] / 1e6:>7.1f}{s:>9.2f}{r['docs'] / s:>10.0f}{r['bytes'] / 1e6 / s:>8.2f}"
          f"{ratio:>14}{r['wall']:>11.2f}{r['rss_mb']:>13}")
print("(seconds: as timed by each tool; process s: the whole process, start-up included;"
      " peak RSS: the largest single process)")
PY

status=0
compare() {
    if [ -f "$2" ] && [ -f "$3" ]; then
        echo
        "$py" benches/compare_clusters.py "$2" "$3" --docs "$n" --names "$1" "${@:4}" || status=1
    else
        echo
        echo "$1: skipped, no clusters file"
    fi
}
compare datatrove,kiln-cpu "$dir/datatrove/clusters.jsonl" "$dir/kiln-cpu.jsonl"
# datatrove never clusters documents of fewer than 5 words; Kiln does.
compare datatrove,kiln-cpu "$dir/datatrove/clusters.jsonl" "$dir/kiln-cpu.jsonl" --corpus "$corpus" --min-words 5
compare datatrove,kiln-gpu "$dir/datatrove/clusters.jsonl" "$dir/kiln-gpu.jsonl"
compare datatrove,rensa "$dir/datatrove/clusters.jsonl" "$dir/rensa.jsonl"
compare kiln-cpu,kiln-gpu "$dir/kiln-cpu.jsonl" "$dir/kiln-gpu.jsonl" --expect-identical
exit $status
