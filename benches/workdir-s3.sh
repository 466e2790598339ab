#!/usr/bin/env bash
# A work directory on object storage against one on the local disk, run
# alternately over the real 100k corpus with clean-web's streaming stages
# (the pipeline of benches/tasks-scaling.sh): `kiln run` in one process and
# `kiln launch local --tasks 2`, each from scratch (a new prefix, a fresh
# local work directory). The store is moto's S3 server on loopback (from
# `cargo xtask test`'s tools), so this measures Kiln's protocol — a PUT per
# committed file, the pulls of each process — not a network. Prints each
# run's wall time, the medians, the ratios, the objects the store holds, and
# whether the outputs are byte for byte the same.
# Usage: benches/workdir-s3.sh [RUNS]   (default 3)
set -euo pipefail
runs=${1:-3}
cd "$(dirname "$0")/.."
kiln=$(realpath target/release/kiln)
moto=${KILN_MOTO_SERVER:-$(realpath target/tools/moto/bin/moto_server)}
dir=target/bench-workdir-s3
mkdir -p "$dir"
. benches/streaming-pipeline.sh
streaming_pipeline workdir-s3 "$dir/pipeline.toml"
cd "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
for _ in $(seq 1 50); do curl -sf -X PUT "$AWS_ENDPOINT_URL/runs" >/dev/null && break; sleep 0.2; done
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
declare -A times
for i in $(seq 1 "$runs"); do
    rm -rf work
    times[local-one]+="$(secs "$kiln" run pipeline.toml --out out-local-one) "
    times[s3-one]+="$(secs "$kiln" run pipeline.toml --work-dir "s3://runs/one-$i" --out out-s3-one) "
    rm -rf work
    times[local-two]+="$(secs "$kiln" launch local pipeline.toml --tasks 2 --out out-local-two) "
    times[s3-two]+="$(secs "$kiln" launch local pipeline.toml --tasks 2 --work-dir "s3://runs/two-$i" --out out-s3-two) "
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for what in one two; do
    l=$(echo "${times[local-$what]}" | median)
    s=$(echo "${times[s3-$what]}" | median)
    same=yes
    for f in kept rejected quarantine; do cmp -s "out-local-$what/$f.jsonl" "out-s3-$what/$f.jsonl" || same=no; done
    echo "$what: local work dir ${times[local-$what]}-> median ${l}s; s3 work dir ${times[s3-$what]}-> median ${s}s" \
        "($(echo "$s $l" | awk '{ printf "%.2f", $1 / $2 }')x the local one; outputs identical: $same)"
done
python3 - "$AWS_ENDPOINT_URL" <<'PY'
import sys, urllib.request, re
body = urllib.request.urlopen(sys.argv[1] + "/runs?list-type=2&prefix=one-1/&max-keys=1000").read().decode()
sizes = [int(s) for s in re.findall(r"<Size>(\d+)</Size>", body)]
print(f"objects of one one-process run: {len(sizes)} ({sum(sizes) / 1e6:.1f} MB)")
PY
