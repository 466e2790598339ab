# Sourced by the benches that run clean-web's streaming stages over the real
# 100k corpus (13-gram decontamination, length, Gopher quality, PII
# redaction; dedup needs the whole corpus and is left out), in chunks of
# 2,000: `streaming_pipeline NAME FILE` builds the corpus if it is missing
# (run from the workspace root) and writes the pipeline, named NAME, to FILE.
streaming_pipeline() {
    local name=$1 file=$2
    local corpus=target/corpus/rustdoc-100k.jsonl
    [ -f "$corpus" ] || cargo xtask corpus --out "$corpus" --limit 100000
    local data wasm
    data=$(realpath pipelines/data)
    wasm=$(realpath target/wasm32-wasip2/release)
    cat > "$file" <<TOML
[pipeline]
name = "$name"
work_dir = "work"
chunk_size = 2000

[[input]]
path = "$(realpath "$corpus")"

[[stage]]
name = "decontam"
kind = "decontaminate"
config = { benchmarks = [{ name = "heldout-eval", path = "$data/heldout-eval.jsonl", fields = ["question"] }] }

[[stage]]
name = "length"
kind = "filter"
plugin = "$wasm/length_filter.wasm"
config = { min_words = 20, max_chars = 100000 }

[[stage]]
name = "quality"
kind = "filter"
plugin = "$wasm/gopher_quality.wasm"
batch_size = 1024

[[stage]]
name = "pii"
kind = "map"
plugin = "$wasm/pii_redact.wasm"

[output]
dir = "out"
TOML
}
