#!/usr/bin/env bash
# Side by side, one run: generation orchestration against the same loopback
# OpenAI-compatible server (mock-llm, 50 ms of latency per request, no faults)
# with Kiln (`kiln run`) and with distilabel (TextGeneration + OpenAILLM, from
# PyPI, in a virtualenv this script makes), both at concurrency 64 over the
# same prompts. The server counts the requests of each and measures their
# requests/s from the first request to the last response; the limit is
# concurrency / latency = 64 / 50 ms = 1280 requests/s. Target: Kiln >= 90%.
# Usage: benches/generate-vs-distilabel.sh [REQUESTS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-2000}
concurrency=64
latency_ms=50
dir=target/bench-generate
mkdir -p "$dir"
source benches/venv.sh
bench_venv "from distilabel.models.llms import OpenAILLM; from distilabel.steps.tasks import TextGeneration" distilabel
cargo xtask plugins > /dev/null
cargo build --release -q -p kiln-mock-llm -p kiln
bin=${CARGO_TARGET_DIR:-target}/release
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; distilabel $("$py" -c 'import distilabel; print(distilabel.__version__)' 2>/dev/null)"

# The prompts, shared by both tools: one JSON object per line, {"id", "prompt"}.
prompts=$dir/prompts-$requests.jsonl
[ -f "$prompts" ] || "$py" - "$requests" > "$prompts" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "prompt": f"Question: what is {i % 97} + {(i * 7) % 89}? Answer with the number."}))
PY

# The server: its first line of stdout is `listening on http://127.0.0.1:PORT/v1`.
"$bin/mock-llm" --latency-ms "$latency_ms" --words 16 > "$dir/mock-llm.out" 2> "$dir/mock-llm.log" &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null || true' EXIT
for _ in $(seq 200); do
    grep -q '^listening on ' "$dir/mock-llm.out" 2>/dev/null && break
    kill -0 "$mock_pid" 2>/dev/null || { echo "mock-llm exited; see $dir/mock-llm.log"; exit 1; }
    sleep 0.05
done
url=$(sed -n '1s/^listening on //p' "$dir/mock-llm.out")
[ -n "$url" ] || { echo "mock-llm printed no URL; see $dir/mock-llm.out and $dir/mock-llm.log"; exit 1; }
server=${url%/v1}
echo "mock-llm at $url, ${latency_ms} ms of latency per request; $requests requests at concurrency $concurrency"

# Kiln's side: the same prompts as seed records of a `generate` stage with
# the `text-generation` plugin (prompt = the seed's text, like distilabel's
# TextGeneration), an `openai` model at concurrency 64, the request cache off.
"$py" - "$prompts" > "$dir/kiln-seeds.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"id": str(r["id"]), "text": r["prompt"]}))
PY
cat > "$dir/kiln.toml" <<EOF
[pipeline]
name = "generate-bench"
chunk_size = $requests
work_dir = "kiln-work"

[models.teacher]
backend = "openai"
base_url = "$url"
model = "mock"
max_tokens = 64
concurrency = $concurrency

[[stage]]
name = "answer"
kind = "generate"
plugin = "$PWD/target/wasm32-wasip2/release/text_generation.wasm"
model = "teacher"
count = $requests
seeds = "kiln-seeds.jsonl"
batch_size = 64

[output]
dir = "kiln-out"
EOF
run_kiln() {
    "$bin/kiln" run "$dir/kiln.toml" --fresh --no-cache
}


run_distilabel() {
    # Its best fair settings (see benches/distilabel_generate.py): 8 replicas
    # of the generation step with input batches of 8, every batch queued at once.
    "$py" benches/distilabel_generate.py --base-url "$url" --prompts "$prompts" --requests "$requests" \
        --concurrency "$concurrency" --replicas 8
}

summaries=$dir/summaries.jsonl
: > "$summaries"

# measure NAME COMMAND...: resets the server's stats, runs one contender (a
# shell function) and keeps the server's stats with the contender's wall time
# (start-up included) added.
measure() {
    local name=$1 start end
    shift
    curl -sf -X POST "$server/stats/reset" > /dev/null
    echo "running $name"
    start=$(date +%s.%N)
    if "$@" > "$dir/$name.out" 2> "$dir/$name.log"; then
        end=$(date +%s.%N)
        curl -sf "$server/stats" | "$py" -c 'import json, sys
stats = json.load(sys.stdin)
print(json.dumps({"name": sys.argv[1], "process_s": float(sys.argv[3]) - float(sys.argv[2]), **stats}))' \
            "$name" "$start" "$end" >> "$summaries"
    else
        echo "$name FAILED (exit $?), continuing; last lines of $dir/$name.log:"
        tail -n 5 "$dir/$name.log" | sed 's/^/    /'
    fi
}

measure kiln run_kiln
measure distilabel run_distilabel

echo
"$py" - "$summaries" "$concurrency" "$latency_ms" "$requests" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
concurrency, latency_ms, wanted = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
limit = concurrency * 1000 / latency_ms
print(f"limit: {concurrency} in flight / {latency_ms} ms = {limit:.0f} requests/s\n")
print("| tool | requests | ok | max in flight | server window s | requests/s | % of limit | process s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    note = "" if r["ok_responses"] == wanted else f" (expected {wanted} ok)"
    print(f"| {r['name']} | {r['requests']} | {r['ok_responses']}{note} | {r['max_in_flight']} | {r['window_secs']:.2f} "
          f"| {r['requests_per_sec']:.0f} | {100 * r['requests_per_sec'] / limit:.1f}% | {r['process_s']:.2f} |")
print("\n(requests/s: measured by the server from the first request to the last response;"
      " process s: the whole process, start-up included)")
PY
