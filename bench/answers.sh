#!/usr/bin/env bash
# The answer space of each tree: what is materialized, what is composed, and what it costs.
#
# usage: bench/answers.sh TREE...
#   TREE is a folder of <name>/<version>/ packages (eprgen build --source), e.g. an extracted
#   package-storage `production` branch, ../shared/corpora/current-packages, or a scaled copy
#   from ../shared/tools/scale-corpus.py. For each tree it builds with the default client
#   profile (--skip-invalid) and prints:
#   - versions, materialized bodies (/search + /categories), distinct composed answers seen in
#     the query mix;
#   - bytes of fragments (the /search items in the composition index), of materialized bodies,
#     and of their precompressed siblings (answers and package JSON, .gz + .br);
#   - route table and composition index size, planning time, peak RSS of the whole build;
#   - composed-answer latency through `eprgen serve` (bench/latency.py: one keep-alive
#     connection, 2,000 distinct queries that the profile does not materialize, each timed
#     from request to last byte by the client): p50 and p99 cold (first time each query is
#     asked, so composed) and cached (the same queries again).
#   With two or more trees it also prints each figure's ratio to the first tree's.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/answers.sh TREE..." >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/eprgen"

i=0
for tree in "$@"; do
  i=$((i + 1))
  out="$work/t$i/public"
  sync
  EPRGEN_LOG=info /usr/bin/time -v -o "$work/t$i.time" \
    "$bin" build --skip-invalid --json --source "$tree" --out "$out" >"$work/t$i.json" 2>"$work/t$i.log" ||
    { cat "$work/t$i.log"; exit 1; }
  rss=$(awk '/Maximum resident set size/ {print $NF}' "$work/t$i.time")
  plan=$(sed 's/\x1b\[[0-9;]*m//g' "$work/t$i.log" | awk '/answer space planned/ { for (f = 1; f <= NF; f++) if ($f ~ /^ms=/) { sub("ms=", "", $f); print $f } }')
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$bin" serve --root "$out" --addr "127.0.0.1:$port" >/dev/null 2>&1 &
  spid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
  python3 "$here/bench/latency.py" "$out" "$port" "$work/t$i.json" "$rss" "${plan:-0}" "$tree" >"$work/t$i.row"
  kill "$spid"; wait "$spid" 2>/dev/null || true
  cat "$work/t$i.row" | python3 -c 'import json,sys; r=json.load(sys.stdin); [print(f"  {k:<34} {v}") for k,v in r.items()]'
  echo
done

if [ $# -ge 2 ]; then
  python3 - "$work"/t*.row <<'PY'
import json, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
base = rows[0]
print("ratios to", base["tree"])
keys = [k for k, v in base.items() if isinstance(v, (int, float)) and v]
for r in rows[1:]:
    print(" ", r["tree"])
    for k in keys:
        print(f"    {k:<32} {r[k] / base[k]:.2f}")
PY
fi
