#!/usr/bin/env bash
# Benchmark `eprgen serve` against nginx + njs (`eprgen routes nginx`) on the same tree and the
# same request mix, with wrk (Debian's; installed if missing), on loopback only.
#
# usage: bench/serve.sh [TREE] [DURATION]
#   TREE      a built tree (default: the conformance kit's packages, built into a temp folder)
#   DURATION  per server, wrk syntax (default 10s); 2 threads, EPRGEN_BENCH_CONNS connections (default 32)
# Prints requests/s and p99 latency of both, and the ratio nginx/serve.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
duration=${2:-10s}
work=$(mktemp -d)
chmod 755 "$work" # nginx workers run as an unprivileged user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
{ command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_http_js_module.so ]; } ||
  need+=(nginx libnginx-mod-http-js)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/eprgen"

tree=${1:-}
if [ -z "$tree" ]; then
  kit="$here/../shared/conformance"
  tree="$work/public"
  "$bin" build --quiet --source "$kit/packages/local-storage" --source "$kit/packages/second_package_path" \
    --source "$kit/packages/package" --favicon "$kit/golden/favicon.ico" --out "$tree"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The request mix, from the tree's route table: /search and /categories queries (60%), package
# JSON (20%), package files (15%), EPR errors (5%).
python3 - "$tree" > "$work/paths.txt" <<'PY'
import json, os, random, sys
root = sys.argv[1]
routes = json.load(open(os.path.join(root, "_eprgen/routes.json")))
files = json.load(open(os.path.join(root, "_eprgen/manifest.json")))["files"]
rnd = random.Random(7)
pkgs = [(n, v) for n, vs in routes["packages"].items() for v in vs]
kib = ["7.14.0", "7.17.3", "8.0.0", "8.1.0", "8.4.2", "8.10.0", "8.15.0", "8.16.1", "9.0.0"]
small = [f for f, m in files.items() if f.startswith("package/") and m["size"] < 64 * 1024]
out = []
for _ in range(600):
    r = rnd.random()
    if r < 0.4:
        q = ["kibana.version=" + rnd.choice(kib)]
        if rnd.random() < 0.5: q.append("prerelease=true")
        if rnd.random() < 0.3: q.append("category=" + rnd.choice(["observability", "security", "web", "custom"]))
        if rnd.random() < 0.2: q.append("package=" + rnd.choice(pkgs)[0])
        if rnd.random() < 0.2: q.append("all=true")
        out.append("/search?" + "&".join(q))
    elif r < 0.6:
        q = ["kibana.version=" + rnd.choice(kib)]
        if rnd.random() < 0.5: q.append("prerelease=true")
        if rnd.random() < 0.3: q.append("include_policy_templates=true")
        out.append("/categories?" + "&".join(q))
    elif r < 0.8:
        n, v = rnd.choice(pkgs)
        out.append(f"/package/{n}/{v}/")
    elif r < 0.95:
        out.append("/" + rnd.choice(small))
    else:
        out.append(rnd.choice(["/search?prerelease=maybe", "/package/none/1.0.0/", "/package/example/a.b.c/", "/nope"]))
print("\n".join(out))
PY

cat > "$work/mix.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("EPRGEN_BENCH_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA

# eprgen serve
sport=$(free_port)
"$bin" serve --root "$tree" --addr "127.0.0.1:$sport" >"$work/serve.log" 2>&1 &
pids+=($!)

# nginx in the foreground with its own prefix: 2 workers, like serve's 2 runtime threads here.
nport=$(free_port)
mkdir -p "$work/nginx"
"$bin" routes nginx --root "$tree" --listen "127.0.0.1:$nport" --js "$work/nginx/eprgen-router.js" >"$work/nginx/eprgen.conf"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  include $work/nginx/eprgen.conf;
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)

for port in "$sport" "$nport"; do
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break
    sleep 0.05
  done
done
# Both answer the mix alike before they are timed.
while read -r p; do
  a=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport$p")
  b=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nport$p")
  [ "$a" = "$b" ] || { echo "status differs on $p: serve $a, nginx $b" >&2; exit 1; }
done < <(head -50 "$work/paths.txt")

run() { # label port
  EPRGEN_BENCH_PATHS="$work/paths.txt" wrk -t2 -c"${EPRGEN_BENCH_CONNS:-32}" -d"$duration" --latency -s "$work/mix.lua" \
    "http://127.0.0.1:$2" >"$work/$1.wrk"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$1.wrk")
  echo "$rps $p99"
}

read -r srps sp99 < <(run serve "$sport")
read -r nrps np99 < <(run nginx "$nport")
printf 'tree: %s (%s requests in the mix)\n' "$tree" "$(wc -l <"$work/paths.txt")"
printf "wrk -t2 -c%s -d%s, loopback\n" "${EPRGEN_BENCH_CONNS:-32}" "$duration"
printf '%-14s %12s %10s\n' server 'requests/s' p99
printf '%-14s %12s %10s\n' 'eprgen serve' "$srps" "$sp99"
printf '%-14s %12s %10s\n' 'nginx + njs' "$nrps" "$np99"
awk -v a="$nrps" -v b="$srps" 'BEGIN { printf "ratio nginx/serve requests/s: %.2f\n", a / b }'
