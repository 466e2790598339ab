"""Agreement of two near-duplicate clusterings, A the reference, B the candidate.

Input: clusters files with one line {"id": ..., "cluster": ...} per document in
a cluster of size >= 2 (any document not listed is a singleton; listed clusters
of size 1 are ignored).
Pairs: precision and recall of the "same cluster" relation, exactly, from the
contingency counts: true pairs = sum over (A cluster, B cluster) of C(n_ab, 2).
Removed: each cluster keeps one member and drops the rest; so that only the
clustering (not the tools' choice of which member to keep) is compared, both
sides keep the member with the smallest id.
--corpus C --min-words N first drops from both sides the documents of C with
fewer than N whitespace-separated words (datatrove and rensa never cluster
them; Kiln gives them one shingle over all their words).
Prints a table and one JSON line; with --expect-identical, exits 1 unless the
two clusterings are the same partition.
Usage: compare_clusters.py A.jsonl B.jsonl [--docs N] [--names A,B]
           [--corpus C.jsonl --min-words N] [--expect-identical]
"""

import argparse
import collections
import json
import sys


def load(path, drop):
    clusters = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if str(r["id"]) not in drop:
                clusters[str(r["cluster"])].append(str(r["id"]))
    return {doc: c for c, ids in clusters.items() if len(ids) > 1 for doc in ids}, [ids for ids in clusters.values() if len(ids) > 1]


def pairs(n):
    return n * (n - 1) // 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--docs", type=int, help="documents in the corpus (for percentages)")
    ap.add_argument("--names", default="A,B")
    ap.add_argument("--corpus")
    ap.add_argument("--min-words", type=int, default=0)
    ap.add_argument("--expect-identical", action="store_true")
    args = ap.parse_args()
    name_a, name_b = args.names.split(",")
    drop = set()
    if args.corpus and args.min_words:
        with open(args.corpus, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if len(r["text"].split()) < args.min_words:
                    drop.add(str(r["id"]))
    a, clusters_a = load(args.a, drop)
    b, clusters_b = load(args.b, drop)

    pairs_a = sum(pairs(len(c)) for c in clusters_a)
    pairs_b = sum(pairs(len(c)) for c in clusters_b)
    both = collections.Counter((a[d], b[d]) for d in a.keys() & b.keys())
    true_pairs = sum(pairs(n) for n in both.values())

    removed_a = {d for c in clusters_a for d in sorted(c)[1:]}
    removed_b = {d for c in clusters_b for d in sorted(c)[1:]}
    removed_both = len(removed_a & removed_b)

    def ratio(x, y):
        return x / y if y else 1.0

    result = {
        "a": name_a,
        "b": name_b,
        "docs": args.docs,
        "dropped_short_docs": len(drop),
        "clusters": [len(clusters_a), len(clusters_b)],
        "in_clusters": [len(a), len(b)],
        "largest": [max(map(len, clusters_a), default=0), max(map(len, clusters_b), default=0)],
        "pairs": [pairs_a, pairs_b],
        "true_pairs": true_pairs,
        "pair_precision": ratio(true_pairs, pairs_b),
        "pair_recall": ratio(true_pairs, pairs_a),
        "removed": [len(removed_a), len(removed_b)],
        "removed_both": removed_both,
        "removed_precision": ratio(removed_both, len(removed_b)),
        "removed_recall": ratio(removed_both, len(removed_a)),
        "identical": true_pairs == pairs_a == pairs_b,
    }

    def pct(n):
        return f"{n / args.docs:.2%}"

    print(f"{name_b} (candidate) vs {name_a} (reference)" + (f", without the {len(drop)} documents of < {args.min_words} words" if drop else ""))
    print(f"  {'':22}{name_a:>16}{name_b:>16}")
    for label, key, show in (
        ("clusters (size >= 2)", "clusters", False),
        ("docs in clusters", "in_clusters", True),
        ("largest cluster", "largest", False),
        ("same-cluster pairs", "pairs", False),
        ("removed docs", "removed", True),
    ):
        x, y = result[key]
        print(f"  {label:22}{x:>16}{y:>16}" + (f"   ({pct(x)} / {pct(y)} of docs)" if show and args.docs else ""))
    print(f"  pairs:   precision {result['pair_precision']:.4%}  recall {result['pair_recall']:.4%}  ({true_pairs} in both)")
    print(f"  removed: precision {result['removed_precision']:.4%}  recall {result['removed_recall']:.4%}  ({removed_both} in both)")
    print(f"  identical partitions: {'yes' if result['identical'] else 'NO'}")
    print(json.dumps(result))
    if args.expect_identical and not result["identical"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
