"""Agreement of Kiln's and datatrove's Gopher verdicts, with disagreement classes.

Usage: compare_gopher.py KILN_OUT_DIR DATATROVE.jsonl
"""

import collections
import json
import sys


def main():
    out_dir, datatrove_path = sys.argv[1], sys.argv[2]
    kiln = {}
    with open(f"{out_dir}/kept.jsonl", encoding="utf-8") as f:
        for line in f:
            kiln[json.loads(line)["id"]] = None
    with open(f"{out_dir}/rejected.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            kiln[r["id"]] = r["rejected"]["reason"]
    datatrove = {}
    with open(datatrove_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            datatrove[r["id"]] = r["reason"]
    common = kiln.keys() & datatrove.keys()
    same = sum((kiln[i] is None) == (datatrove[i] is None) for i in common)
    kept_k = sum(kiln[i] is None for i in common)
    kept_d = sum(datatrove[i] is None for i in common)
    print(f"documents: {len(common)} (kiln {len(kiln)}, datatrove {len(datatrove)})")
    print(f"kept: kiln {kept_k}, datatrove {kept_d}")
    print(f"keep/drop agreement: {same / max(len(common), 1):.4%}")
    same_reason = sum(kiln[i] == datatrove[i] for i in common)
    print(f"same verdict and reason: {same_reason / max(len(common), 1):.4%}")
    classes = collections.Counter((kiln[i] or "keep", datatrove[i] or "keep") for i in common if (kiln[i] is None) != (datatrove[i] is None))
    print("disagreements (kiln -> datatrove): count")
    for (k, d), n in classes.most_common():
        print(f"  {k} -> {d}: {n}")


if __name__ == "__main__":
    main()
