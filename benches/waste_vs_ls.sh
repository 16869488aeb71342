#!/usr/bin/env bash
# Times `layerscope waste --json` against `layerscope ls -R --json` on the same large generated
# stack (the one benches/ls_vs_find.sh uses), warm and cold cache, and records each one's peak
# memory. Needs root (the generator makes 0/0 devices and trusted.* xattrs; drop_caches),
# hyperfine, GNU time (/usr/bin/time) and jq.
#
#   benches/waste_vs_ls.sh [--dir DIR] [--seed N] [--layers N] [--paths N] [--runs N] [--no-cold]
#                          [--bin PATH]
#
# Targets (issue 11): waste's time <= 1.5x ls -R's, and peak RSS <= 200 bytes per merged path.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/layerscope-bench
seed=1
layers=20
paths=200000
runs=10
cold=1
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --paths) paths=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-cold) cold=0; shift ;;
    --bin) bin=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

for tool in hyperfine jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine jq time)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root: mknod, trusted.* xattrs, drop_caches" >&2; exit 2; }

if [ -z "$bin" ]; then
  echo "== build"
  cargo build --release --quiet
  bin=$PWD/target/release/layerscope
fi

stack=$dir/stack-s$seed-l$layers-p$paths
if [ ! -f "$stack/summary.txt" ]; then
  echo "== generate $stack"
  rm -rf "$stack"
  mkdir -p "$dir"
  cargo bench --quiet --bench gen_stack -- --out "$stack" --seed "$seed" --layers "$layers" --paths "$paths" >/dev/null
fi
lowerdir=$(cat "$stack/lowerdir")

waste_cmd="$bin waste --json --lowerdir $lowerdir"
ls_cmd="$bin ls -R --json --lowerdir $lowerdir"

n=$($ls_cmd | wc -l)
echo "== the stack: $n merged paths; waste says:"
$waste_cmd | head -1

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
drop='sync; echo 3 > /proc/sys/vm/drop_caches'

echo "== warm cache ($runs runs each, 3 warm-up runs)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/warm.json" \
  -n waste "$waste_cmd" -n ls "$ls_cmd"
if [ "$cold" = 1 ]; then
  echo "== cold cache (page, dentry and inode caches dropped before each run)"
  hyperfine -N --runs "$runs" --prepare "sh -c '$drop'" --export-json "$out/cold.json" \
    -n waste "$waste_cmd" -n ls "$ls_cmd"
fi

echo "== peak memory (max RSS, warm cache, best of 3)"
rss() {
  local best=""
  for _ in 1 2 3; do
    local kb
    kb=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)
    if [ -z "$best" ] || [ "$kb" -lt "$best" ]; then best=$kb; fi
  done
  echo "$best"
}
rss_waste=$(rss $waste_cmd)
rss_ls=$(rss $ls_cmd)

mean() { jq -r ".results[] | select(.command == \"$2\") | .mean" "$out/$1.json"; }
sd() { jq -r ".results[] | select(.command == \"$2\") | .stddev" "$out/$1.json"; }
row() {
  local mode=$1 w l
  w=$(mean "$mode" waste); l=$(mean "$mode" ls)
  printf '| %s | %.3f ± %.3f s | %.3f ± %.3f s | **%.2fx** |\n' "$mode" \
    "$w" "$(sd "$mode" waste)" "$l" "$(sd "$mode" ls)" "$(echo "$w / $l" | bc -l)"
}

echo
echo "== summary"
echo "binary: $bin"
echo "load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), Linux $(uname -r), $(findmnt -no FSTYPE -T "$stack") under $stack"
echo "stack: $layers layers, $n merged paths (seed $seed); on disk: $(find "$stack" -mindepth 2 | wc -l) entries"
echo
echo "| cache | layerscope waste --json | layerscope ls -R --json | ratio (target <= 1.5) |"
echo "|---|---|---|---|"
row warm
[ "$cold" = 1 ] && row cold
echo
printf 'peak RSS: waste %d KiB (%.0f bytes/path), ls -R %d KiB (%.0f bytes/path)\n' \
  "$rss_waste" "$(echo "$rss_waste * 1024 / $n" | bc -l)" "$rss_ls" "$(echo "$rss_ls * 1024 / $n" | bc -l)"
