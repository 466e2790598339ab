"""Runs datatrove's GopherQualityFilter over a JSONL corpus on N processes.

Writes one JSON line per document: {"id": ..., "reason": null | "<datatrove reason>"}
and prints the wall-clock seconds of the filtering (corpus read included).
Usage: datatrove_gopher.py CORPUS.jsonl OUT.jsonl PROCESSES
"""

import json
import sys
import time
from multiprocessing import Pool

from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter

FILTER = None


def init():
    global FILTER
    FILTER = GopherQualityFilter()


def judge(line):
    record = json.loads(line)
    result = FILTER.filter(Document(text=record["text"], id=str(record["id"])))
    if result is True:
        return str(record["id"]), None
    return str(record["id"]), result[1] if isinstance(result, tuple) else "dropped"


def main():
    corpus, out, processes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = time.perf_counter()
    with open(corpus, encoding="utf-8") as f:
        lines = f.readlines()
    with Pool(processes, initializer=init) as pool:
        results = pool.map(judge, lines, chunksize=256)
    seconds = time.perf_counter() - start
    with open(out, "w", encoding="utf-8") as f:
        for doc_id, reason in results:
            f.write(json.dumps({"id": doc_id, "reason": reason}) + "\n")
    print(f"{seconds:.3f}")


if __name__ == "__main__":
    main()
