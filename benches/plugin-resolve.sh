#!/usr/bin/env bash
# Resolving a plugin from a loopback OCI registry against loading the same
# file from disk (BENCHMARKS.md section 8). Starts Debian's docker-registry
# on 127.0.0.1:5055 with its storage in a temporary directory, pushes
# gopher-quality, then times `kiln validate` (which resolves, verifies and
# loads every plugin; compiled components come from the compile cache when
# warm) on three one-stage pipelines that differ only in how they name the
# plugin: a file path, `oci://…:TAG` (a registry round trip each run), and
# `{ oci, digest }` (the store alone). Cold: a fresh cache directory per run
# (pull and compile included).
# Needs: cargo xtask plugins; cargo build --release -p kiln; docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
K=$PWD/target/release/kiln
W=$PWD/target/wasm32-wasip2/release/gopher_quality.wasm
RUNS=${RUNS:-20}
tmp=$(mktemp -d)
trap 'kill $reg 2>/dev/null || true; rm -rf "$tmp"' EXIT
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:5055\nlog:\n  level: error\n' "$tmp" > "$tmp/registry.yml"
docker-registry serve "$tmp/registry.yml" >/dev/null 2>&1 & reg=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5055) 2>/dev/null && break; sleep 0.1; done
export KILN_LOG=error KILN_CACHE_DIR=$tmp/warm
REF=oci://127.0.0.1:5055/bench/gopher-quality:1.0.0
PINNED=$("$K" plugin push "$W" "$REF" 2>/dev/null)
DIG=${PINNED#*@}
mk() { mkdir -p "$tmp/$1"; printf '[pipeline]\nname = "bench"\nwork_dir = "work"\n\n[[input]]\npath = "%s/pipelines/data/rustdoc-sample.jsonl"\n\n[[stage]]\nname = "q"\nkind = "filter"\nplugin = %s\n\n[output]\ndir = "out"\n' "$PWD" "$2" > "$tmp/$1/pipeline.toml"; }
mk file "\"$W\""; mk tag "\"$REF\""; mk pinned "{ oci = \"$REF\", digest = \"$DIG\" }"
for p in file tag pinned; do "$K" validate "$tmp/$p/pipeline.toml" >/dev/null; done
per_run() { local s e; s=$(date +%s%N); for _ in $(seq "$2"); do "$K" validate "$tmp/$1/pipeline.toml" >/dev/null; done; e=$(date +%s%N); echo "$(( (e - s) / $2 / 1000 ))"; }
for p in file pinned tag; do echo "warm $p: $(per_run $p "$RUNS") us per kiln validate"; done
cold() { local s e; s=$(date +%s%N); for _ in 1 2 3 4 5; do rm -rf "$tmp/cold"; KILN_CACHE_DIR=$tmp/cold "$K" validate "$tmp/$1/pipeline.toml" >/dev/null; done; e=$(date +%s%N); echo "$(( (e - s) / 5 / 1000 ))"; }
for p in file tag; do echo "cold $p: $(cold $p) us per kiln validate (fresh cache: pull and compile)"; done
