#!/usr/bin/env bash
# Benchmark a full build against a baseline measured in the same run on the same machine:
# `zip -r -X` of every package folder with 2 parallel processes (what any build must at least do).
#
# usage: bench/build.sh PACKAGE_STORAGE_DIR [STAGE]
#   PACKAGE_STORAGE_DIR holds production/ (and staging/, snapshot/), e.g. the extracted
#   elastic/package-storage branches. Prints wall time, peak RSS, files and bytes for both and
#   the ratio eprgen/baseline, and eprgen's stage times (read, packages, plan, compress answers,
#   catalog, answers, commit; `build --json` timings_ms).
set -euo pipefail
src=${1:?usage: bench/build.sh PACKAGE_STORAGE_DIR [STAGE]}
stage=${2:-production}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/eprgen"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -v -o "$work/$label.time" "$@" >"$work/$label.log" 2>&1 || { cat "$work/$label.log"; exit 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$work/$label.time" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$work/$label.time" | awk '{print $NF}')
  echo "$label $wall $rss"
}

secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }

sync
read -r _ ewall erss < <(measure eprgen "$bin" build --quiet --json --packages "$src" --stage "$stage" --out "$work/public")
efiles=$(find -L "$work/public" -type f | wc -l)
ebytes=$(du -sbL "$work/public" | awk '{print $1}')

mkdir -p "$work/zips"
cat > "$work/zipall.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
src=$1 out=$2
cd "$src"
for d in */*/; do echo "$d"; done | xargs -P 2 -I{} sh -c 'd={}; n=$(dirname "$d"); v=$(basename "$d"); cd "$n" && zip -q -r -X "'"$out"'/$n-$v.zip" "$v"'
SH
chmod +x "$work/zipall.sh"
read -r _ zwall zrss < <(measure zip "$work/zipall.sh" "$src/$stage" "$work/zips")
zfiles=$(find "$work/zips" -type f | wc -l)
zbytes=$(du -sb "$work/zips" | awk '{print $1}')

es=$(secs "$ewall"); zs=$(secs "$zwall")
printf 'eprgen build (%s): wall %ss, peak RSS %s KiB, %s files, %s bytes\n' "$stage" "$es" "$erss" "$efiles" "$ebytes"
printf 'baseline zip -r -X, 2 processes: wall %ss, peak RSS %s KiB, %s files, %s bytes\n' "$zs" "$zrss" "$zfiles" "$zbytes"
awk -v a="$es" -v b="$zs" 'BEGIN { printf "ratio eprgen/baseline wall: %.2f\n", a/b }'
# The build's JSON report is the block from the first line `{` to the last `}` of its output.
python3 - "$work/eprgen.log" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
start = lines.index("{")
end = len(lines) - lines[::-1].index("}")
t = json.loads("\n".join(lines[start:end]))["timings_ms"]
print("eprgen stage times (ms): " + ", ".join(f"{k} {v}" for k, v in t.items()))
PY
