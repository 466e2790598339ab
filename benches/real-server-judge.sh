#!/usr/bin/env bash
# A real model server, side by side, one run: llama.cpp's OpenAI-compatible
# server (llama-cpp-python, `cargo xtask llm-server`) serving Gemma 3 270M,
# a small base model, on loopback.
#
# 1. Kiln generates 50 answers (text-generation, "Question: …\nAnswer:" on
#    the completions endpoint, max_tokens 40, 2 requests in flight), then judges the same 50 answers
#    with rubric-judge (one aspect, relevance 1-5) three ways: its plain
#    instructions (`lines`), the same with three few-shot examples, and
#    structured output (`answer_format = "json"`, `structured_output =
#    "json_object"`: grammar-constrained decoding to the declared schema).
#    Parse rate = judgements that parsed / answers judged.
# 2. distilabel does the same generation + judging (TextGeneration, then
#    UltraFeedback's instruction-following rating with its own prompt and
#    parser) through its OpenAILLM against the same server.
# Every Kiln run has its own work directory, so nothing comes from a cache.
# Usage: benches/real-server-judge.sh [N]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
dir=target/bench-real-server
rm -rf "$dir"
mkdir -p "$dir"
dir=$(realpath "$dir")
eval "$(cargo xtask llm-server --prepare-only | grep '^KILN_')"
source benches/venv.sh
bench_venv "from distilabel.models.llms import OpenAILLM; from distilabel.steps.tasks import UltraFeedback" "distilabel[openai]" requests
py="$PWD/$py"
cargo xtask plugins > /dev/null
cargo build --release -q --workspace --lib --bins --tests --examples
kiln=$(realpath target/release/kiln)
wasm=$(realpath target/wasm32-wasip2/release)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; distilabel $("$py" -c 'import distilabel; print(distilabel.__version__)')"

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KILN_LLAMA_PYTHON" -m llama_cpp.server --host 127.0.0.1 --port "$port" --model "$KILN_LLM_MODEL" \
    --model_alias gemma-3-270m --n_ctx 2048 --verbose false > "$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null && break
    sleep 0.2
done
url="http://127.0.0.1:$port/v1"

# N instructions: short questions a small model can attempt.
"$py" - "$n" > "$dir/instructions.jsonl" <<'PY'
import json, sys
topics = ["the sea", "a cat", "rain", "bread", "the moon", "a river", "music", "winter", "a city", "trees"]
asks = ["Write one sentence about {}.", "Name two facts about {}.", "Describe {} in five words.",
        "What colour is {}?", "Why do people like {}?"]
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"q{i:03}", "text": asks[i // len(topics) % len(asks)].format(topics[i % len(topics)])}))
PY

model() { # name extra
    cat <<TOML
[models.$1]
backend = "openai"
base_url = "$url"
model = "gemma-3-270m"
system_prompt = "merge"
seed = 7
concurrency = 2
timeout_secs = 600
max_retries = 1
$2
TOML
}

cat > "$dir/generate.toml" <<TOML
[pipeline]
name = "real-generate"
seed = 7
work_dir = "generate-work"
chunk_size = 1000

$(model writer 'temperature = 0.8
max_tokens = 40
endpoint = "completions"
stop = ["\n\n", "Question:"]')

[[stage]]
name = "answer"
kind = "generate"
plugin = "$wasm/text_generation.wasm"
model = "writer"
seeds = "instructions.jsonl"
count = $n
config = { template = "Question: {text}\nAnswer:" }

[output]
dir = "generate-out"
TOML

aspect='aspects = [{ name = "relevance", description = "Does the answer address the question?" }], overall = false, include_metadata_fields = ["instruction"]'
examples='examples = [
  { text = "Paris is the capital of France.", ratings = { relevance = 5 }, rationale = "Answers the question." },
  { text = "I like turtles.", ratings = { relevance = 1 }, rationale = "Unrelated to the question." },
  { text = "It is a colour, maybe blue or green.", ratings = { relevance = 3 }, rationale = "Vague but on topic." },
]'
judge() { # name config model-extra
    cat > "$dir/$1.toml" <<TOML
[pipeline]
name = "real-judge-$1"
seed = 7
work_dir = "$1-work"
chunk_size = 1000

[[input]]
path = "generate-out/kept.jsonl"

$(model judge "temperature = 0.0
max_tokens = 200
$3")

[[stage]]
name = "judge"
kind = "critique"
plugin = "$wasm/rubric_judge.wasm"
model = "judge"
config = { $2 }

[output]
dir = "$1-out"
TOML
}
judge plain "$aspect" ""
judge fewshot "$aspect, $examples" ""
judge structured "$aspect, answer_format = \"json\"" 'structured_output = "json_object"'

timed() { # label command...
    local label=$1 start end
    shift
    start=$(date +%s.%N)
    "$@" > "$dir/$label.stdout" 2> "$dir/$label.stderr" || { echo "$label failed; see $dir/$label.stderr" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
stat() { "$py" -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['stages'][0]${2})" "$dir/$1-out/stats.json"; }

cd "$dir"
t=$(timed generate "$kiln" run generate.toml)
printf 'kiln generate:   %3d answers, %6.1f s\n' "$(stat generate "['kept']")" "$t"
for j in plain fewshot structured; do
    t=$(timed "$j" "$kiln" run "$j.toml")
    judged=$(stat "$j" "['input']")
    bad=$(stat "$j" "['quarantined']")
    printf 'kiln judge %-10s parsed %3d/%d (%5.1f%%), %6.1f s\n' "$j" $((judged - bad)) "$judged" \
        "$(echo "100 * ($judged - $bad) / $judged" | bc -l)" "$t"
done
cd - > /dev/null
"$py" benches/distilabel_judge.py --base-url "$url" --instructions "$dir/instructions.jsonl" | tee "$dir/distilabel.json"
