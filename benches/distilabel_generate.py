"""Generation orchestration with distilabel against an OpenAI-compatible server.

A distilabel pipeline (LoadDataFromDicts >> TextGeneration with OpenAILLM)
sends REQUESTS chat completions ("Question: what is A + B?" variations) to
BASE_URL with at most CONCURRENCY requests in flight, its cache off so every
run reaches the server. Prints one JSON line: the seconds `pipeline.run` took,
the rows produced and how many of them have a generation.

distilabel sends the requests of one input batch together (asyncio.gather in
AsyncLLM.generate) and waits for all of them before taking the next batch, so
the requests in flight are input_batch_size x replicas of the step; the
concurrency is split evenly between the replicas (input_batch_size =
concurrency / replicas), so never more than CONCURRENCY are in flight.

Settings tried (distilabel 1.5.3, 2000 requests, mock-llm with 50 ms latency,
concurrency 64, 2 shared cores; requests/s measured by the server; the spread
is the machine's other load):
  replicas 1, loading batches of 64 (distilabel's usual shape): 150-300. The
    loader's next batch is only requested after the step returns one, so each
    batch makes a round trip through the main process.
  replicas 1, one loading batch of everything: 165-345. Every input batch is
    queued at once, but one process spends ~4 ms of CPU per request.
  replicas 2 / 4 / 8 / 16 (input batches of 32 / 16 / 8 / 4), one loading
    batch: 180-545 / 260-660 / 315-650 / 280-600; start-up grows with the
    processes (about 10 / 17 / 28 / 50 s for the whole run).
The default below, and the benchmark's choice, is the best of them: 8 replicas
of 8, everything loaded in one batch. Caching is off (use_cache=False for the
run and the step, a fresh cache directory), retries are off (max_retries=0).

Usage: distilabel_generate.py --base-url http://127.0.0.1:PORT/v1 [--prompts FILE.jsonl]
           [--requests 2000] [--concurrency 64] [--replicas 8] [--load-batch-size N]
           [--max-new-tokens 64]
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument(
        "--prompts", default=None, help="JSONL file whose `prompt` fields are the prompts (default: generated ones)"
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="prompts to generate for, one request each (the first N of --prompts)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="most requests in flight")
    parser.add_argument(
        "--replicas", type=int, default=8, help="processes running the TextGeneration step (they share the concurrency)"
    )
    parser.add_argument(
        "--load-batch-size",
        type=int,
        default=None,
        help="rows per batch of the loading step (default: all of them, so that every input batch is queued at once)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=64, help="max_tokens of each request")
    parser.add_argument("--model", default="mock-llm")
    parser.add_argument("--cache-dir", default=None, help="distilabel's cache directory (default: a temporary one)")
    args = parser.parse_args()
    if args.concurrency % args.replicas:
        parser.error(f"--concurrency {args.concurrency} is not a multiple of --replicas {args.replicas}")
    return args


def prompts(path, n):
    if path is None:
        return [{"instruction": f"Question: what is {i % 97} + {(i * 7) % 89}? Answer with the number."} for i in range(n)]
    with open(path) as lines:
        rows = [{"instruction": json.loads(line)["prompt"]} for line in lines if line.strip()]
    if len(rows) < n:
        sys.exit(f"{path} has {len(rows)} prompts, fewer than --requests {n}")
    return rows[:n]


def main():
    args = parse_args()
    # distilabel logs every batch; keep stdout for the JSON line.
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts, StepResources
    from distilabel.steps.tasks import TextGeneration

    batch = args.concurrency // args.replicas
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="distilabel-bench-")
    with Pipeline(name="generate-bench", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(data=prompts(args.prompts, args.requests), batch_size=args.load_batch_size or args.requests)
        generate = TextGeneration(
            llm=OpenAILLM(
                model=args.model,
                base_url=args.base_url,
                api_key="dummy",
                max_retries=0,
                timeout=60,
                generation_kwargs={"max_new_tokens": args.max_new_tokens, "temperature": 0.7},
            ),
            input_batch_size=batch,
            resources=StepResources(replicas=args.replicas),
            use_cache=False,
        )
        load >> generate

    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start

    rows = distiset["default"]["train"]
    generated = sum(1 for g in rows["generation"] if g)
    print(
        json.dumps(
            {
                "tool": "distilabel",
                "version": __import__("distilabel").__version__,
                "requests": args.requests,
                "concurrency": args.concurrency,
                "replicas": args.replicas,
                "input_batch_size": batch,
                "load_batch_size": args.load_batch_size or args.requests,
                "seconds": round(seconds, 3),
                "rows": len(rows),
                "generated": generated,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
