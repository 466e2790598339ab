#!/usr/bin/env python3
"""`kiln serve` under load (BENCHMARKS.md section 9).

20 tenants x 5 small filter runs (length-filter over the first LINES records
of the Rust documentation sample) submitted at once to one service with
WORKERS workers, against the same 100 runs done one after another by
`kiln run`. Reports: submissions accepted per second, total throughput of
each, each tenant's mean completion time (from the batch's start), p50/p99
over runs, and fairness (max/min of the tenants' means).

Needs: cargo build --release -p kiln; cargo xtask plugins. Standard library only.
"""
import json, os, urllib.error, shutil, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILN = os.path.join(ROOT, "target/release/kiln")
PLUGIN = os.path.join(ROOT, "target/wasm32-wasip2/release/length_filter.wasm")
TENANTS, RUNS, LINES = int(os.environ.get("TENANTS", 20)), int(os.environ.get("RUNS", 5)), int(os.environ.get("LINES", 300))
WORKERS = os.environ.get("WORKERS", str(os.cpu_count()))
# The same small run the service's e2e test submits.
PIPELINE = open(os.path.join(ROOT, "tests/data/serve-pipeline.toml")).read()


def multipart(parts):
    boundary = "kilnbench"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main():
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, KILN_LOG="error", KILN_CACHE_DIR=os.path.join(tmp, "cache"))
    sample = open(os.path.join(ROOT, "pipelines/data/rustdoc-sample.jsonl"), "rb").read().splitlines(keepends=True)
    data = b"".join(sample[:LINES])
    plugin = open(PLUGIN, "rb").read()

    # Baseline: the same runs one after another with `kiln run`.
    seq_dir = os.path.join(tmp, "seq")
    os.makedirs(os.path.join(seq_dir, "data")); os.makedirs(os.path.join(seq_dir, "plugins"))
    open(os.path.join(seq_dir, "data/in.jsonl"), "wb").write(data)
    open(os.path.join(seq_dir, "plugins/length_filter.wasm"), "wb").write(plugin)
    open(os.path.join(seq_dir, "p.toml"), "w").write(PIPELINE)
    subprocess.run([KILN, "run", "p.toml", "--fresh"], cwd=seq_dir, env=env, check=True, capture_output=True)  # warm the compile cache
    start = time.monotonic()
    for _ in range(TENANTS * RUNS):
        subprocess.run([KILN, "run", "p.toml", "--fresh"], cwd=seq_dir, env=env, check=True, capture_output=True)
    sequential = time.monotonic() - start

    # The service.
    state = os.path.join(tmp, "data")
    tokens = []
    for t in range(TENANTS):
        out = subprocess.run([KILN, "tenant", "add", f"t{t:02}", "--max-running", "2", "--data-dir", state],
                             env=env, check=True, capture_output=True, text=True)
        tokens.append(out.stdout.strip())
    log = open(os.path.join(tmp, "serve.log"), "w+")
    serve = subprocess.Popen([KILN, "serve", "--addr", "127.0.0.1:0", "--data-dir", state, "--workers", WORKERS],
                             env=env, stderr=log)
    try:
        url = None
        while url is None:
            time.sleep(0.05)
            log.seek(0)
            text = log.read()
            if "listening on " in text:
                url = text.split("listening on ")[1].split()[0]
        body, content_type = multipart([("pipeline", None, PIPELINE.encode()),
                                        ("file", "data/in.jsonl", data),
                                        ("file", "plugins/length_filter.wasm", plugin)])
        # Warm the service's compile cache with one run of a spare tenant-less call: one submission.
        submitted = {}
        lock = threading.Lock()
        start = time.monotonic()

        def submit(t):
            for _ in range(RUNS):
                req = urllib.request.Request(f"{url}/v1/runs", data=body, method="POST",
                                             headers={"Authorization": f"Bearer {tokens[t]}", "Content-Type": content_type})
                try:
                    run = json.load(urllib.request.urlopen(req))
                except urllib.error.HTTPError as e:
                    print(f"tenant {t}: HTTP {e.code}: {e.read().decode()[:300]}", file=sys.stderr)
                    continue
                with lock:
                    submitted[run["id"]] = t

        threads = [threading.Thread(target=submit, args=(t,)) for t in range(TENANTS)]
        for th in threads: th.start()
        for th in threads: th.join()
        accepted = time.monotonic() - start
        done = {}
        while len(done) < len(submitted):
            for t in range(TENANTS):
                req = urllib.request.Request(f"{url}/v1/runs", headers={"Authorization": f"Bearer {tokens[t]}"})
                for run in json.load(urllib.request.urlopen(req)):
                    if run["status"] in ("done", "failed", "cancelled") and run["id"] not in done:
                        done[run["id"]] = (time.monotonic() - start, run["status"], t)
            time.sleep(0.02)
        total = max(d[0] for d in done.values())
    finally:
        serve.kill(); serve.wait()
        log.seek(0)
        errors = [l for l in log.read().splitlines() if "ERROR" in l]
        if errors:
            print("service errors:", *errors[:5], sep="\n  ")
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [d for d in done.values() if d[1] != "done"]
    times = sorted(d[0] for d in done.values())
    means = [statistics.mean(d[0] for d in done.values() if d[2] == t) for t in range(TENANTS)]
    n = len(times)
    print(f"runs: {n} ({TENANTS} tenants x {RUNS}), {LINES} records each; workers: {WORKERS}; failed: {len(failed)}")
    print(f"accepted: {n / accepted:.1f} runs/s (all {n} submissions in {accepted:.2f} s, each validated)")
    print(f"service:    {total:.2f} s for all runs ({n / total:.2f} runs/s)")
    print(f"sequential: {sequential:.2f} s with kiln run one after another ({n / sequential:.2f} runs/s)")
    print(f"ratio (sequential / service): {sequential / total:.2f}x")
    print(f"completion from the batch start: p50 {times[n // 2]:.2f} s, p99 {times[min(n - 1, int(n * 0.99))]:.2f} s")
    print(f"tenants' mean completion: min {min(means):.2f} s, max {max(means):.2f} s, fairness max/min {max(means) / min(means):.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
