# Sourced by the benchmark scripts: their shared options, tool checks, the release build, the
# generated stack, and the peak-memory and hyperfine readers. Not run on its own.
#
# After `bench_args "$@"`: dir seed layers paths runs cold bin (see the scripts' --help).

bench_args() {
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
      -h|--help) sed -n "2,${BENCH_HELP_LINES:-10}p" "$0"; exit 0 ;;
      *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
  done
}

# Root and hyperfine, jq, GNU time; $1 says what root is needed for.
bench_need() {
  for tool in hyperfine jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine jq time)" >&2; exit 2; }
  done
  [ "$(id -u)" = 0 ] || { echo "needs root: $1" >&2; exit 2; }
}

# This tree's release binary, unless --bin named another.
bench_build() {
  if [ -z "$bin" ]; then
    echo "== build"
    cargo build --release --quiet
    bin=$PWD/target/release/layerscope
  fi
}

# The generated stack for (seed, layers, paths), made once under $dir: sets stack and lowerdir.
bench_stack() {
  stack=$dir/stack-s$seed-l$layers-p$paths
  if [ ! -f "$stack/summary.txt" ]; then
    echo "== generate $stack"
    rm -rf "$stack"
    mkdir -p "$dir"
    cargo bench --quiet --bench gen_stack -- --out "$stack" --seed "$seed" --layers "$layers" --paths "$paths" >/dev/null
  fi
  lowerdir=$(cat "$stack/lowerdir")
}

# Peak RSS in KiB of a command, best of 3.
rss() {
  local best=""
  for _ in 1 2 3; do
    local kb
    kb=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)
    if [ -z "$best" ] || [ "$kb" -lt "$best" ]; then best=$kb; fi
  done
  echo "$best"
}

# Mean and standard deviation of command $2 in hyperfine export $out/$1.json.
mean() { jq -r ".results[] | select(.command == \"$2\") | .mean" "$out/$1.json"; }
sd() { jq -r ".results[] | select(.command == \"$2\") | .stddev" "$out/$1.json"; }
