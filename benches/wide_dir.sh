#!/usr/bin/env bash
# Peak memory of `layerscope ls -R` (text and --json) on one directory of many entries: a
# two-layer stack whose directory `many` holds N files in the bottom layer and N/100 more
# (plus N/100 rewritten ones) in the top layer, so it is a merged directory. Records max RSS
# (GNU time, best of 3) and divides by the number of merged entries. Needs GNU time
# (/usr/bin/time); no root.
#
#   benches/wide_dir.sh [--dir DIR] [--entries N] [--bin PATH]
#
# The stack is generated once per N under DIR (default /var/tmp/layerscope-bench) and reused.
# Target (issue 9, item 8): at most 200 bytes per entry for `ls -R`.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/layerscope-bench
entries=200000
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --entries) entries=$2; shift 2 ;;
    --bin) bin=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
command -v /usr/bin/time >/dev/null || { echo "missing GNU time (apt-get install time)" >&2; exit 2; }

if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=$PWD/target/release/layerscope
fi

stack=$dir/wide-$entries
if [ ! -f "$stack/done" ]; then
  echo "== generate $stack"
  rm -rf "$stack"
  mkdir -p "$stack/L1/many" "$stack/L2/many"
  extra=$((entries / 100))
  base=$((entries - extra))
  # File names like a package cache: a common prefix and a number.
  (cd "$stack/L2/many" && seq -f 'file-%08g.dat' 1 "$base" | xargs touch)
  (cd "$stack/L1/many" && seq -f 'file-%08g.dat' 1 "$extra" | xargs touch)
  (cd "$stack/L1/many" && seq -f 'new-%08g.txt' 1 "$extra" | xargs touch)
  touch "$stack/done"
fi
lowerdir=$stack/L1:$stack/L2
. benches/common.sh

n=$("$bin" ls -R --json --lowerdir "$lowerdir" / | wc -l)
rss_text=$(rss "$bin" ls -R --lowerdir "$lowerdir" /)
rss_json=$(rss "$bin" ls -R --json --lowerdir "$lowerdir" /)
echo "binary: $bin"
echo "stack: one merged directory of $((n - 1)) entries ($n lines)"
printf 'ls -R        peak RSS %d KiB: %.0f bytes per entry\n' "$rss_text" "$(echo "$rss_text * 1024 / $n" | bc -l)"
printf 'ls -R --json peak RSS %d KiB: %.0f bytes per entry\n' "$rss_json" "$(echo "$rss_json * 1024 / $n" | bc -l)"
