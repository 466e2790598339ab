#!/usr/bin/env bash
# Builds the Python length filter and checks that it agrees with the Rust
# `length-filter` record for record: same records kept, same drop reasons,
# nothing quarantined, and the same messages for refused configs.
#
#   ./check.sh
#
# Environment (defaults relative to the repository root):
#   KILN            the kiln binary            (target/release/kiln)
#   RUST_PLUGIN     the Rust reference plugin  (target/wasm32-wasip2/release/length_filter.wasm)
#   COMPONENTIZE_PY componentize-py            (componentize-py on PATH)
# Needs python3 on the host to compare outputs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kiln="${KILN:-$root/target/release/kiln}"
rust="${RUST_PLUGIN:-$root/target/wasm32-wasip2/release/length_filter.wasm}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python="$work/python_length_filter.wasm"
"$here/build.sh" "$python"

inputs=("$here/testdata.jsonl" "$root/pipelines/data/rustdoc-sample.jsonl")
configs=(
    '{}'
    '{"min_words": 3}'
    '{"min_chars": 3, "max_chars": 4}'
    '{"min_chars": 4}'
    '{"max_chars": 40}'
    '{"min_words": 2, "max_words": 3}'
    '{"max_words": 1}'
    '{"min_chars": 10, "max_chars": 200, "min_words": 2, "max_words": 30}'
)
bad_configs=(
    '{"foo": 1}'
    '{"min_words": 5, "max_words": 1}'
    '{"min_chars": -1}'
    '{"min_chars": 1.5}'
    '{"min_chars": "3"}'
    '{"min_chars": 3, "min_chars": 4}'
)

# Prints, per input record, its id and `keep` or its drop reason, in input
# order; fails if anything was quarantined.
summarise() {
    python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
def rows(name):
    try:
        return [json.loads(line) for line in open(f"{d}/{name}")]
    except FileNotFoundError:
        return []
quarantined = rows("quarantine.jsonl")
if quarantined:
    sys.exit(f"{len(quarantined)} records quarantined, e.g. {quarantined[0]}")
verdicts = {r["id"]: "keep" for r in rows("out.jsonl")}
verdicts.update({r["id"]: r["rejected"]["reason"] for r in rows("rejected.jsonl")})
for r in rows("in.jsonl"):
    print(r["id"], verdicts.get(r["id"], "MISSING"), sep="\t")
EOF
}

# run PLUGIN CONFIG INPUT DIR: filters INPUT into DIR; prints kiln's error on failure.
run() {
    mkdir -p "$4"
    cp "$3" "$4/in.jsonl"
    "$kiln" filter --plugin "$1" --config "$2" --input "$3" --output "$4/out.jsonl" \
        --rejected "$4/rejected.jsonl" --quarantine "$4/quarantine.jsonl" 2>"$4/stderr"
}

failures=0
n=0
for input in "${inputs[@]}"; do
    for config in "${configs[@]}"; do
        n=$((n + 1))
        run "$rust" "$config" "$input" "$work/$n/rust"
        run "$python" "$config" "$input" "$work/$n/python"
        summarise "$work/$n/rust" >"$work/$n/rust.tsv"
        summarise "$work/$n/python" >"$work/$n/python.tsv"
        if diff -u "$work/$n/rust.tsv" "$work/$n/python.tsv" >"$work/$n/diff"; then
            echo "ok   $(basename "$input") $config ($(grep -c $'\tkeep$' "$work/$n/rust.tsv" || true) of $(wc -l <"$work/$n/rust.tsv") kept)"
        else
            echo "FAIL $(basename "$input") $config"
            head -20 "$work/$n/diff"
            failures=$((failures + 1))
        fi
    done
done

for config in "${bad_configs[@]}"; do
    n=$((n + 1))
    # Both must refuse the config, with the same message (the plugin names differ).
    for which in rust python; do
        plugin="$rust"
        [[ $which == python ]] && plugin="$python"
        if run "$plugin" "$config" "$here/testdata.jsonl" "$work/$n/$which"; then
            echo "FAIL $which accepted $config"
            failures=$((failures + 1))
        fi
        # Refused by the host against the plugin's config schema, or by the plugin itself.
        sed -n -e 's/.*rejected its config: //p' -e "s/.*does not match the plugin's schema: //p" \
            "$work/$n/$which/stderr" >"$work/$n/$which.err"
    done
    if [[ -s "$work/$n/rust.err" ]] && cmp -s "$work/$n/rust.err" "$work/$n/python.err"; then
        echo "ok   refused $config: $(cat "$work/$n/rust.err")"
    else
        echo "FAIL $config: rust: $(cat "$work/$n/rust.err") / python: $(cat "$work/$n/python.err")"
        failures=$((failures + 1))
    fi
done

if ((failures > 0)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
