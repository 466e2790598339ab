"""Runs datatrove's four-stage MinHash near-duplicate pipeline over a JSONL corpus.

Config: datatrove's defaults, `MinhashConfig()` as installed (0.10.1): 5-word
shingles, 14 buckets x 8 hashes, seed 1, HashConfig(precision=64,
hash_fc="xxhash"), default TextNormConfig, English (spaCy) word tokenizer.
Text goes through `simplify_text` (lower-case, every number -> "0", ASCII and
common Unicode punctuation -> space, whitespace collapsed, NFD with combining
marks dropped) and then spaCy's blank English tokenizer before the 5-grams are
joined with spaces and hashed with xxh64 (h); slot i keeps the minimum of
((h * a_i + b_i) mod 2**64) mod (2**61 - 1) (numpy uint64 wraps before the mod),
a and b drawn by numpy RandomState(seed). Documents with fewer than 5 tokens
get no signature and are never clustered. Buckets: exact equality of 8 slots.

datatrove parallelises over files, so the corpus is first cut into WORKERS
shards (counted in the time). Stages: 1 signatures (WORKERS tasks), 2 buckets
(14 tasks), 3 clustering (1 task), 4 filtering (WORKERS tasks; kept and removed
documents written as uncompressed JSONL with their `minhash_cluster_id`).

Writes OUTDIR/clusters.jsonl: one line {"id", "cluster"} per document in a
cluster of size >= 2, "cluster" being the id of the document datatrove keeps.
Prints one JSON summary line on stdout (datatrove logs to stderr).
--kiln-words (not for the benchmark, which keeps the defaults): shingle the
way Kiln does instead, lower-case and split on Unicode whitespace only.
Usage: datatrove_minhash.py INPUT.jsonl OUTDIR [--workers N] [--kiln-words]
"""

import argparse
import glob
import json
import os
import shutil
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

WORK = ("shards", "signatures", "buckets", "remove", "kept", "removed", "logs")


class WhitespaceWords(WordTokenizer):
    """str.split(): Unicode whitespace only, as Kiln's `words:N` shingles."""

    def word_tokenize(self, text):
        return text.split()

    def sent_tokenize(self, text):
        return [text]

    def span_tokenize(self, text):
        return [(0, len(text))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("outdir")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--kiln-words", action="store_true")
    args = ap.parse_args()
    out, n = args.outdir, args.workers
    for sub in WORK:
        shutil.rmtree(f"{out}/{sub}", ignore_errors=True)
    config, language = MinhashConfig(), "en"
    if args.kiln_words:
        no_norm = dict(norm_whitespace=False, remove_punctuation=False, norm_unicode_diacritics=False, norm_numbers=False)
        config, language = MinhashConfig(norm_config=TextNormConfig(lowercase=True, **no_norm)), WhitespaceWords()
    stage_seconds = {}
    start = time.perf_counter()

    with open(args.input, "rb") as f:
        lines = f.readlines()
    os.makedirs(f"{out}/shards")
    for i in range(n):  # round-robin, so that the shards get similar amounts of text
        with open(f"{out}/shards/{i:05d}.jsonl", "wb") as f:
            f.writelines(lines[i::n])
    del lines
    stage_seconds["split"] = time.perf_counter() - start

    def reader():
        return JsonlReader(f"{out}/shards", glob_pattern="*.jsonl")

    stages = {
        "signatures": ([reader(), MinhashDedupSignature(f"{out}/signatures", config=config, language=language)], n),
        "buckets": ([MinhashDedupBuckets(f"{out}/signatures", f"{out}/buckets", config=config)], config.num_buckets),
        "cluster": ([MinhashDedupCluster(f"{out}/buckets", f"{out}/remove", config=config, save_cluster_id=True)], 1),
        "filter": (
            [
                reader(),
                MinhashDedupFilter(
                    f"{out}/remove",
                    exclusion_writer=JsonlWriter(f"{out}/removed", compression=None),
                    load_cluster_ids=True,
                ),
                JsonlWriter(f"{out}/kept", compression=None),
            ],
            n,
        ),
    }
    for name, (pipeline, tasks) in stages.items():
        t = time.perf_counter()
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(n, tasks), logging_dir=f"{out}/logs/{name}").run()
        stage_seconds[name] = time.perf_counter() - t
    seconds = time.perf_counter() - start

    # Untimed: turn datatrove's cluster ids into the common clusters format.
    members, rep, removed = {}, {}, 0
    for kind in ("kept", "removed"):
        for path in sorted(glob.glob(f"{out}/{kind}/*.jsonl")):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    doc = json.loads(line)
                    removed += kind == "removed"
                    cluster = doc["metadata"].get("minhash_cluster_id", -1)
                    if cluster != -1:
                        members.setdefault(cluster, []).append(doc["id"])
                        if kind == "kept":
                            rep[cluster] = doc["id"]
    in_clusters = 0
    with open(f"{out}/clusters.jsonl", "w", encoding="utf-8") as f:
        for cluster, ids in members.items():
            in_clusters += len(ids)
            for doc_id in ids:
                f.write(json.dumps({"id": doc_id, "cluster": rep.get(cluster, ids[0])}) + "\n")
    docs = text_bytes = 0
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            docs += 1
            text_bytes += len(json.loads(line)["text"].encode("utf-8"))
    summary = {
        "tool": "datatrove",
        "docs": docs,
        "bytes": text_bytes,
        "seconds": round(seconds, 3),
        "in_clusters": in_clusters,
        "clusters": len(members),
        "removed": removed,
        "workers": n,
        "config": str(config) + (" kiln-words" if args.kiln_words else ""),
        "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
