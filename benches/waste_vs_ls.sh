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

BENCH_HELP_LINES=10
. benches/common.sh
bench_args "$@"
bench_need "mknod, trusted.* xattrs, drop_caches"
bench_build
bench_stack

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
rss_waste=$(rss $waste_cmd)
rss_ls=$(rss $ls_cmd)

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
