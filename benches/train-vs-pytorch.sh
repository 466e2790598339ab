#!/usr/bin/env bash
# Side by side, one run: training throughput (characters predicted per second)
# of a char-MLP student like that of pipelines/gdr-arithmetic.toml — context
# 32, embed 8, hidden [512], batch 256, AdamW — in Kiln (a `train-student` stage
# over the demo's refined records; on the CPU path, and on the GPU path, which
# on a machine without a GPU is Mesa's lavapipe) and in PyTorch (the same
# model, benches/student_torch.py, eager and torch.compile, on the same data)
# on this machine. With a CUDA GPU present PyTorch also runs on it.
# Usage: benches/train-vs-pytorch.sh [STEPS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-2000}
dir=target/bench-train
mkdir -p "$dir"
source benches/venv.sh
bench_venv "import torch" torch
cargo xtask plugins > /dev/null
cargo build --release -q -p kiln
bin=${CARGO_TARGET_DIR:-target}/release
data=target/pipelines/gdr-arithmetic/out/kept.jsonl
[ -f "$data" ] || "$bin/kiln" run pipelines/gdr-arithmetic.toml > /dev/null
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; torch $("$py" -c 'import torch; print(torch.__version__)'); $(wc -l < "$data") training records"

kiln_train() { # device
    local work="$dir/kiln-$1"
    rm -rf "$work"
    mkdir -p "$work"
    cat > "$work/pipeline.toml" <<TOML
[pipeline]
name = "train-bench"
work_dir = "work"

[[input]]
path = "$(realpath "$data")"

[[stage]]
name = "student"
kind = "train-student"
config = { context = 32, embed = 8, hidden = [512], steps = $steps, batch = 256, lr = 0.003, seeds = [1], log_every = 500, checkpoint_every = 100000 }

[output]
dir = "out"
TOML
    KILN_DEVICE=$1 KILN_LOG=warn "$bin/kiln" run "$work/pipeline.toml" > "$work/kiln.log" 2>&1
    "$py" -c "import json,sys; s=json.load(open('$work/out/stats.json'))['jobs'][0]['seeds'][0]; print(f\"kiln      {sys.argv[1]:8} {s['tokens_per_second']:>10.0f} chars/s  ({s['device']})\")" "$1"
}

torch_train() { # mode device threads
    "$py" benches/student_torch.py --data "$data" --context 32 --embed 8 --hidden 512 --batch 256 --lr 0.003 \
        --steps "$steps" --compile "$1" --device "$2" --threads "$3" \
      | "$py" -c "import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(f\"pytorch   {r['mode']}-{r['device']}-{sys.argv[1]}t {r['tokens_per_second']:>10.0f} chars/s\")" "$3"
}

threads=$(nproc)
kiln_train cpu
torch_train eager cpu "$threads"
torch_train compile cpu "$threads"
kiln_train gpu
if "$py" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    torch_train eager cuda 1
    torch_train compile cuda 1
fi
