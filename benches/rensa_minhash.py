"""MinHash near-duplicate clusters of a JSONL corpus with rensa (PyPI `rensa`).

Shingles: the text lower-cased (str.lower) and split on Unicode whitespace
(str.split), 5 consecutive words joined by one space; documents with fewer
than 5 words get no signature (as in datatrove) and stay singletons.
Sketch: full-set R-MinHash (`RMinHash`, rensa's default and the only class its
LSH index takes; 32-bit slots, tokens hashed with FxHash), num_perm=112, seed=1.
LSH: `RMinHashLSH(threshold=(1/14)**(1/8), num_perm=112, num_bands=14)`, i.e.
14 bands x 8 rows. Every LSH candidate pair is a duplicate (no Jaccard check,
as in datatrove); clusters are the connected components (union-find).

Writes OUT_clusters.jsonl: one line {"id", "cluster"} per document in a cluster
of size >= 2, "cluster" being the cluster's first document in corpus order.
Prints one JSON summary line; the time covers everything from reading the
corpus to writing the clusters.
Usage: rensa_minhash.py INPUT.jsonl OUT_clusters.jsonl
"""

import json
import sys
import time

from rensa import RMinHash, RMinHashLSH

NUM_PERM, BANDS, SEED, NGRAM = 112, 14, 1, 5


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    docs = text_bytes = 0
    ids, shingle_sets = [], []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            text = record["text"]
            docs += 1
            text_bytes += len(text.encode("utf-8"))
            words = text.lower().split()
            if len(words) >= NGRAM:
                ids.append(str(record["id"]))
                shingle_sets.append([" ".join(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)])
    minhashes = RMinHash.from_token_sets(shingle_sets, NUM_PERM, SEED)
    del shingle_sets
    lsh = RMinHashLSH((1 / BANDS) ** (1 / (NUM_PERM // BANDS)), NUM_PERM, BANDS)
    lsh.insert_many(minhashes)
    candidates = lsh.query_all(minhashes)

    parent = list(range(len(ids)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, keys in enumerate(candidates):
        for b in keys:
            if b <= a:  # candidates are symmetric: each pair once
                continue
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)  # the root stays the first document
    clusters = {}
    for i in range(len(ids)):
        clusters.setdefault(find(i), []).append(i)
    in_clusters = removed = n_clusters = 0
    with open(out, "w", encoding="utf-8") as f:
        for root, members in clusters.items():
            if len(members) > 1:
                n_clusters += 1
                in_clusters += len(members)
                removed += len(members) - 1
                for i in members:
                    f.write(json.dumps({"id": ids[i], "cluster": ids[root]}) + "\n")
    seconds = time.perf_counter() - start
    summary = {
        "tool": "rensa",
        "docs": docs,
        "bytes": text_bytes,
        "seconds": round(seconds, 3),
        "in_clusters": in_clusters,
        "clusters": n_clusters,
        "removed": removed,
        "config": f"RMinHash num_perm={NUM_PERM} seed={SEED}, RMinHashLSH {BANDS} bands, words:{NGRAM}",
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
