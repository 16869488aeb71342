#!/usr/bin/env bash
# Times `layerscope ls -R --json` over the layer directories of a large generated stack
# against `find` over the kernel's overlay mount of the same stack, warm and cold cache, and
# records each one's peak memory. Needs root (mknod, trusted.* xattrs, mount, drop_caches),
# hyperfine, GNU time (/usr/bin/time) and jq.
#
#   benches/ls_vs_find.sh [--dir DIR] [--seed N] [--layers N] [--paths N] [--runs N] [--no-cold]
#                         [--bin PATH]
#
# The stack is generated once per (seed, layers, paths) under DIR (default /var/tmp/layerscope-bench)
# and reused. --bin times another layerscope binary (e.g. an older build) instead of this tree's
# release build. Targets (issue 2, item 8): layerscope's time <= 1.0x find's, and peak RSS <= 200
# bytes per merged path.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_HELP_LINES=14
. benches/common.sh
bench_args "$@"
bench_need "mknod, trusted.* xattrs, mount, drop_caches"
bench_build
bench_stack
mnt=$dir/mnt-s$seed-l$layers-p$paths

mkdir -p "$mnt"
mountpoint -q "$mnt" && umount "$mnt"
mount -t overlay overlay -o "ro,lowerdir=$lowerdir" "$mnt"
trap 'umount "$mnt"' EXIT

ls_cmd="$bin ls -R --json --lowerdir $lowerdir"
find_cmd="find $mnt"
# A reference, not the target: the kernel walk when it also reads the metadata ls prints
# (one stat per path, which makes the overlay look every file up).
stat_cmd="find $mnt -printf '%y %m %s %U %G %T@ %p\\n'"

echo "== check: both list the same number of paths"
n_find=$(find "$mnt" | wc -l)
n_ls=$($ls_cmd | wc -l)
n_anom=$($ls_cmd | grep -c '"anomaly"' || true)
echo "find: $n_find paths; layerscope: $n_ls lines ($n_anom anomalies)"
[ "$n_find" = "$n_ls" ] || echo "WARNING: the counts differ" >&2

out=$(mktemp -d)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
drop='sync; echo 3 > /proc/sys/vm/drop_caches'

# hyperfine discards the commands' output (--output=null, the same as > /dev/null).
echo "== warm cache ($runs runs each, 3 warm-up runs)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/warm.json" \
  -n layerscope "$ls_cmd" -n find "$find_cmd" -n find-stat "$stat_cmd"
if [ "$cold" = 1 ]; then
  echo "== cold cache (page, dentry and inode caches dropped before each run)"
  hyperfine -N --runs "$runs" --prepare "sh -c '$drop'" --export-json "$out/cold.json" \
    -n layerscope "$ls_cmd" -n find "$find_cmd" -n find-stat "$stat_cmd"
fi

echo "== peak memory (max RSS, warm cache, best of 3)"
rss_ls=$(rss $ls_cmd)
rss_find=$(rss $find_cmd)

row() {
  local mode=$1
  local l f s
  l=$(mean "$mode" layerscope); f=$(mean "$mode" find); s=$(mean "$mode" find-stat)
  printf '| %s | %.3f ± %.3f s | %.3f ± %.3f s | **%.2fx** | %.3f ± %.3f s | %.2fx |\n' "$mode" \
    "$l" "$(sd "$mode" layerscope)" "$f" "$(sd "$mode" find)" "$(echo "$l / $f" | bc -l)" \
    "$s" "$(sd "$mode" find-stat)" "$(echo "$l / $s" | bc -l)"
}

echo
echo "== summary"
echo "binary: $bin"
echo "load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r), $(findmnt -no FSTYPE -T "$stack") under $stack"
echo "stack: $layers layers, $n_find merged paths (seed $seed); on disk: $(find "$stack" -mindepth 2 | wc -l) entries"
echo
echo "| cache | layerscope ls -R --json | find (kernel mount) | ratio (target <= 1.0) | find -printf with stat | ratio |"
echo "|---|---|---|---|---|---|"
row warm
[ "$cold" = 1 ] && row cold
echo
printf 'peak RSS: layerscope %d KiB (%.0f bytes/path), find %d KiB\n' \
  "$rss_ls" "$(echo "$rss_ls * 1024 / $n_find" | bc -l)" "$rss_find"
rm -rf "$out"
