"""Generate + judge with distilabel against a real OpenAI-compatible server.

The same work as Kiln's side of benches/real-server-judge.sh: TextGeneration
answers each instruction ("Question: ...\nAnswer:"), then UltraFeedback
(aspect "instruction-following", distilabel's own judge prompt and parser)
rates each answer, both with OpenAILLM against BASE_URL (llama.cpp's server
with Gemma 3 270M). Prints one JSON line: wall seconds, rows, answers
generated, and judgements that parsed (a rating that is not None).

Usage: distilabel_judge.py --base-url http://127.0.0.1:PORT/v1 --instructions FILE.jsonl
           [--model gemma-3-270m] [--max-new-tokens 40] [--judge-max-new-tokens 200]
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time

from distilabel.steps import StepInput, step


# At module level: distilabel pickles steps into its worker processes.
@step(inputs=["generation"], outputs=["generations"])
def as_list(inputs: StepInput):
    """UltraFeedback reads `generations`, a list per row: here, the one answer."""
    for row in inputs:
        row["generations"] = [row["generation"]]
    yield inputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--instructions", required=True, help="JSONL with a `text` per line")
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--judge-max-new-tokens", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration, UltraFeedback

    with open(args.instructions) as lines:
        rows = [{"instruction": f"Question: {json.loads(l)['text']}\nAnswer:"} for l in lines if l.strip()]

    def llm(max_new_tokens, temperature):
        return OpenAILLM(
            model=args.model,
            base_url=args.base_url,
            api_key="dummy",
            max_retries=0,
            timeout=300,
            generation_kwargs={"max_new_tokens": max_new_tokens, "temperature": temperature},
        )

    with Pipeline(name="judge-bench", cache_dir=tempfile.mkdtemp(prefix="distilabel-judge-")) as pipeline:
        load = LoadDataFromDicts(data=rows, batch_size=len(rows))
        generate = TextGeneration(llm=llm(args.max_new_tokens, 0.8), input_batch_size=2, use_cache=False)
        # UltraFeedback reads `generations`, a list per row: here, the one answer.
        group = as_list(input_batch_size=len(rows))
        judge = UltraFeedback(
            aspect="instruction-following",
            llm=llm(args.judge_max_new_tokens, 0.0),
            input_batch_size=2,
            use_cache=False,
        )
        load >> generate >> group >> judge

    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start
    out = distiset["default"]["train"]
    generated = sum(1 for g in out["generations"] if g and g[0])
    parsed = sum(1 for r in out["ratings"] if r and r[0] is not None)
    print(
        json.dumps(
            {
                "tool": "distilabel",
                "version": __import__("distilabel").__version__,
                "seconds": round(seconds, 1),
                "rows": len(out),
                "generated": generated,
                "judged": len(out),
                "parsed": parsed,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
