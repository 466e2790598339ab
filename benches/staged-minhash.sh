#!/usr/bin/env bash
# MinHash dedup over a million records (issue 25): the same pipeline in one
# process (`kiln run`) against the staged steps of a split run over TASKS
# tasks, each step timed on its own with its peak memory (GNU time's max
# RSS) — keys per task, a merge per band, one clustering, a filter pass per
# task, the merge — and the outputs compared byte for byte. The corpus is
# the real 100k rustdoc corpus repeated 10 times, each copy after the first
# with one word changed in half its records (near duplicates) and the rest
# verbatim (exact duplicates).
# Usage: benches/staged-minhash.sh [COPIES] [TASKS]   (default 10 copies = 1M records, 4 tasks)
set -euo pipefail
copies=${1:-10}
tasks=${2:-4}
cd "$(dirname "$0")/.."
kiln=$(realpath target/release/kiln)
dir=target/bench-staged
mkdir -p "$dir"
corpus=target/corpus/rustdoc-100k.jsonl
[ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit 100000
big="$dir/corpus-$copies.jsonl"
[ -f "$big" ] || python3 - "$corpus" "$big" "$copies" <<'PY'
import json, random, sys
src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = [json.loads(l) for l in open(src)]
rng = random.Random(25)
with open(out, "w") as f:
    for k in range(copies):
        for r in records:
            text = r["text"]
            if k > 0 and rng.random() < 0.5:
                words = text.split(" ")
                words[rng.randrange(len(words))] = "perturbed%d" % k
                text = " ".join(words)
            f.write(json.dumps({"id": "%s~%d" % (r["id"], k), "text": text}) + "\n")
PY
cat > "$dir/pipeline.toml" <<TOML
[pipeline]
name = "staged-minhash"
work_dir = "work"
chunk_size = 10000

[[input]]
path = "$(realpath "$big")"

[[stage]]
name = "near"
kind = "dedup"
config = { method = "minhash", shingle = "words:5", bands = 14, rows = 8 }

[output]
dir = "out"
TOML
cd "$dir"
export KILN_DEVICE=cpu
# Wall seconds and peak RSS (MB) of one command.
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1 | awk '{ printf "%6.2f s %6.0f MB", $1, $2 / 1024 }'; }
# Runs the commands given one per line, two at a time (the machine's cores); prints the slowest wall and the largest RSS.
parallel() {
    local start end
    start=$(date +%s.%N)
    xargs -P 2 -I{} sh -c '/usr/bin/time -f "%M" sh -c "{}" 2>&1 >/dev/null | tail -1' | sort -n | tail -1 > peak.txt
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" -v m="$(cat peak.txt)" 'BEGIN { printf "%6.2f s %6.0f MB", e - s, m / 1024 }'
}
echo "records: $(wc -l < "corpus-$copies.jsonl"), tasks: $tasks"
echo "one process (kiln run):          $(measure "$kiln" run pipeline.toml --fresh --out out-one)"
rm -rf work/tasks
echo "1. keys, $tasks tasks (2 at a time):  $(seq 0 $((tasks - 1)) | sed "s|.*|$kiln task run pipeline.toml --rank & --world $tasks --out out-staged|" | parallel)"
echo "2. band merges, 14 (2 at a time): $(seq 0 13 | sed "s|.*|$kiln task band pipeline.toml --world $tasks --stage near --band &|" | parallel)"
echo "3. clustering:                    $(measure "$kiln" task cluster pipeline.toml --world "$tasks" --stage near)"
echo "4. filter pass, $tasks tasks:         $(seq 0 $((tasks - 1)) | sed "s|.*|$kiln task run pipeline.toml --rank & --world $tasks --out out-staged|" | parallel)"
echo "5. merge:                         $(measure "$kiln" task merge pipeline.toml --world "$tasks" --out out-staged)"
same=yes
for f in kept rejected quarantine; do cmp -s "out-one/$f.jsonl" "out-staged/$f.jsonl" || same=no; done
echo "outputs byte for byte the same: $same"
python3 - <<'PY'
import json
def counts(path):
    s = json.load(open(path))
    near = [x for x in s["stages"] if x["name"] == "near"][0]
    sizes = {k: v for k, v in near.get("details", {}).items() if k.startswith("cluster size")}
    assert sizes, "no cluster sizes in " + path
    return s["kept"], s["rejected"], sizes
a, b = counts("out-one/stats.json"), counts("out-staged/stats.json")
print("kept, rejected, cluster sizes — one process:", a[:2], "staged:", b[:2], "cluster-size histograms equal:", a[2] == b[2])
PY
du -sh work/tasks/staged-of-* work/tasks/0000*/staged 2>/dev/null | sed 's/^/  on disk: /'
