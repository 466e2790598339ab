#!/usr/bin/env python3
"""PyTorch peer of Kiln's char-MLP student trainer, for the benchmark.

Trains the same model as Kiln's student (Bengio-style char MLP) on a JSONL
file of records (`{"text": ...}` per line):

- vocabulary: the distinct characters of the texts, plus id 0 = BOS/padding
  and id 1 = EOS (appended after each text);
- input: the previous K token ids (BOS before the text start) -> embedding
  [V x D] -> concatenated [K*D] -> hidden layers with ReLU -> logits [V];
  softmax cross-entropy on the next token;
- each step samples B (text, position) pairs uniformly over all target
  positions (every character and the EOS of every text); AdamW
  (betas 0.9/0.999, weight decay 0.01 on every parameter), learning rate
  constant or (--schedule linear) decayed linearly to 0.

The texts are tokenised once into one flat array in which every text is
preceded by K BOS ids; a batch is B random target indices into it, and the
contexts are gathered with index arithmetic (flat[pos - K .. pos]) on the
training device, so sampling costs a few tiny kernels per step.

Only the training loop is timed, after a warm-up (default 20 steps, which also
triggers compilation with --compile compile); on CUDA the device is
synchronised before reading the clock. Prints one JSON line:

  {"framework":"pytorch","mode":"eager|compile","device":..,"tokens_per_second":..,
   "steps":..,"seconds":..,"final_loss":..}

Example:
  python benches/student_torch.py --data train.jsonl --context 28 --embed 8 \
      --hidden 256,256 --batch 128 --steps 2000 --threads 1 --compile eager
"""

import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharMLP(nn.Module):
    def __init__(self, vocab, context, embed, hidden):
        super().__init__()
        self.emb = nn.Embedding(vocab, embed)
        layers, n = [], context * embed
        for h in hidden:
            layers += [nn.Linear(n, h), nn.ReLU()]
            n = h
        layers.append(nn.Linear(n, vocab))
        self.mlp = nn.Sequential(*layers)

    def forward(self, ctx):
        return self.mlp(self.emb(ctx).flatten(1))


def load_texts(path):
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                texts.append(json.loads(line)["text"])
    if not texts:
        sys.exit(f"{path}: no records")
    return texts


def tokenise(texts, context):
    chars = sorted(set("".join(texts)))
    stoi = {c: i + 2 for i, c in enumerate(chars)}
    flat, targets = [], []
    for t in texts:
        flat.extend([0] * context)
        start = len(flat)
        ids = [stoi[c] for c in t] + [1]
        flat.extend(ids)
        targets.extend(range(start, start + len(ids)))
    return len(chars) + 2, torch.tensor(flat, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="JSONL file with a `text` field per line")
    ap.add_argument("--context", type=int, default=28)
    ap.add_argument("--embed", type=int, default=8)
    ap.add_argument("--hidden", default="256,256", help="comma-separated hidden layer sizes")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1000, help="timed training steps (after warm-up)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--schedule", choices=["constant", "linear"], default="constant",
                    help="learning rate: constant, or linear decay to 0 over warm-up + steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    ap.add_argument("--compile", choices=["eager", "compile"], default="eager")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    dev = torch.device(args.device)
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    K, B = args.context, args.batch

    vocab, flat, targets = tokenise(load_texts(args.data), K)
    flat, targets = flat.to(dev), targets.to(dev)
    offsets = torch.arange(-K, 0, device=dev)
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    model = CharMLP(vocab, K, args.embed, hidden).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999),
                            weight_decay=args.weight_decay, foreach=True)
    total = args.warmup + args.steps
    sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))
             if args.schedule == "linear" else None)
    forward = torch.compile(model) if args.compile == "compile" else model

    def step():
        pos = targets[torch.randint(targets.numel(), (B,), device=dev, generator=gen)]
        ctx = flat[pos[:, None] + offsets]
        loss = F.cross_entropy(forward(ctx), flat[pos])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    loss = None
    for _ in range(args.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - t0
    final_loss = loss.item() if loss is not None else float("nan")

    print(json.dumps({
        "framework": "pytorch",
        "mode": args.compile,
        "device": args.device,
        "tokens_per_second": round(args.steps * B / seconds, 1) if seconds > 0 else None,
        "steps": args.steps,
        "seconds": round(seconds, 4),
        "final_loss": round(final_loss, 6),
        "batch": B,
        "context": K,
        "embed": args.embed,
        "hidden": hidden,
        "vocab": vocab,
        "threads": args.threads,
        "schedule": args.schedule,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
