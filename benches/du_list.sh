#!/usr/bin/env bash
# Times `layerscope du` against `du -sb` over the same layer directories (the real stores of
# this host, and a generated Docker data-root of 300 images and 100 containers), warm cache;
# and `layerscope list` against `docker ps -a; docker images` with a cold cache, on a Docker
# holding 148 stacks (48 images, 100 containers) made for the run and removed after it.
# Needs root (the engines' files, drop_caches), a running dockerd, hyperfine and jq.
#
#   benches/du_list.sh [--dir DIR] [--runs N] [--bin PATH] [--no-list] [--no-du]
#
# Targets (issue 12): du within 1.2x of `du -sb`; list cold under 1.0x of the Docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/layerscope-du-bench
runs=10
bin=
do_list=1
do_du=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$(realpath "$2"); shift 2 ;;
    --no-list) do_list=0; shift ;;
    --no-du) do_du=0; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for tool in hyperfine jq sha256sum; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine jq)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root: the engines' files, drop_caches" >&2; exit 2; }
if [ -z "$bin" ]; then
  echo "== build"
  cargo build --release --quiet
  bin=$PWD/target/release/layerscope
fi
mkdir -p "$dir"

hex() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# A Docker data-root as dockerd lays it out: 10 base layers, 300 images of 3 layers (a base
# and two of their own), 100 containers (read-write and init layer each) over them.
gen_store() {
  local root=$1
  local tmpl=$root.template
  rm -rf "$root" "$tmpl"
  mkdir -p "$tmpl"
  for d in 0 1 2 3 4 5; do
    mkdir -p "$tmpl/usr/lib/pkg$d"
    for f in $(seq 1 10); do
      head -c $(( (d * 10 + f) * 137 )) /dev/urandom >"$tmpl/usr/lib/pkg$d/file$f"
    done
  done
  ln -s usr/lib "$tmpl/lib"
  ln "$tmpl/usr/lib/pkg0/file1" "$tmpl/usr/lib/pkg0/hardlink"
  local ov=$root/overlay2
  local sha=$root/image/overlay2/layerdb/sha256
  local content=$root/image/overlay2/imagedb/content/sha256
  mkdir -p "$ov" "$sha" "$content" "$root/containers" "$root/image/overlay2/layerdb/mounts"
  layer() { # cache-id chain parent
    mkdir -p "$ov/$1" "$sha/$2"
    cp -a "$tmpl" "$ov/$1/diff"
    printf '%s' "$1" >"$sha/$2/cache-id"
    [ -n "$3" ] && printf 'sha256:%s' "$3" >"$sha/$2/parent"
    return 0
  }
  local repos='' b i j
  for b in $(seq 0 9); do
    layer "$(hex "cache-base-$b")" "$(hex "diff-base-$b")" ""
  done
  declare -ga tops=()
  for i in $(seq 0 299); do
    b=$((i % 10))
    local d0 d1 d2 c0 c1 c2
    d0=$(hex "diff-base-$b"); d1=$(hex "diff-$i-1"); d2=$(hex "diff-$i-2")
    c0=$d0
    c1=$(hex "sha256:$c0 sha256:$d1")
    c2=$(hex "sha256:$c1 sha256:$d2")
    layer "$(hex "cache-$i-1")" "$c1" "$c0"
    layer "$(hex "cache-$i-2")" "$c2" "$c1"
    local img
    img=$(hex "image-$i")
    printf '{"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s","sha256:%s"]},"history":[{"created_by":"ADD base"},{"created_by":"/bin/sh -c make"},{"created_by":"/bin/sh -c make install"}]}' \
      "$d0" "$d1" "$d2" >"$content/$img"
    repos="$repos${repos:+,}\"bench/app$i\":{\"bench/app$i:1\":\"sha256:$img\"}"
    tops+=("$c2:$img")
  done
  printf '{"Repositories":{%s}}' "$repos" >"$root/image/overlay2/repositories.json"
  for j in $(seq 0 99); do
    local cid top img m
    cid=$(hex "container-$j")
    top=${tops[$((j * 3))]%%:*}
    img=${tops[$((j * 3))]##*:}
    m=$root/image/overlay2/layerdb/mounts/$cid
    mkdir -p "$m" "$root/containers/$cid"
    printf '%s' "$(hex "rw-$j")" >"$m/mount-id"
    printf '%s-init' "$(hex "rw-$j")" >"$m/init-id"
    printf 'sha256:%s' "$top" >"$m/parent"
    printf '{"ID":"%s","Name":"/bench-c%s","Image":"sha256:%s","Driver":"overlay2"}' \
      "$cid" "$j" "$img" >"$root/containers/$cid/config.v2.json"
    mkdir -p "$ov/$(hex "rw-$j")/diff/etc" "$ov/$(hex "rw-$j")/work" "$ov/$(hex "rw-$j")-init/diff/etc"
    head -c 2000 /dev/urandom >"$ov/$(hex "rw-$j")/diff/etc/state"
    : >"$ov/$(hex "rw-$j")-init/diff/etc/hostname"
  done
  rm -rf "$tmpl"
  touch "$root/.complete"
}

# hyperfine of layerscope du against du -sb over the directories it lists; prints the ratio.
compare_du() { # label, layerscope arguments...
  local label=$1; shift
  local dirs
  dirs=$("$bin" du --json "$@" 2>/dev/null | jq -r 'select(.kind=="layer") | .path')
  local n
  n=$(printf '%s\n' "$dirs" | grep -c . || true)
  local theirs ours
  theirs=$(printf '%s\n' "$dirs" | xargs du -scb --exclude=merged --exclude=work | tail -1 | cut -f1)
  ours=$("$bin" du --json "$@" 2>/dev/null | jq -s 'map(select(.kind=="total"))[0].bytes')
  echo "== du, $label: $n layer directories; layerscope $ours bytes, du -sb $theirs bytes"
  printf '%s\n' "$dirs" >"$dir/dirs.txt"
  hyperfine --warmup 3 --runs "$runs" -N --export-json "$dir/du.json" \
    "$bin du --json $*" \
    "xargs -a $dir/dirs.txt du -scb --exclude=merged --exclude=work" >/dev/null 2>&1 ||
    hyperfine --warmup 3 --runs "$runs" --export-json "$dir/du.json" \
      "$bin du --json $* >/dev/null 2>&1" \
      "xargs -a $dir/dirs.txt du -scb --exclude=merged --exclude=work >/dev/null" >/dev/null
  jq -r '.results[] | "\(.command | .[0:70]): \(.mean*1000|floor) ms ± \(.stddev*1000|floor)"' "$dir/du.json"
  jq -r '"ratio: \(.results[0].mean / .results[1].mean * 100 | floor / 100)x (target <= 1.2)"' "$dir/du.json"
}

if [ "$do_du" = 1 ]; then
  compare_du "this host's stores"
  store=$dir/docker-300x100
  if [ ! -f "$store/.complete" ]; then
    echo "== generate $store"
    gen_store "$store"
  fi
  empty=$dir/empty
  mkdir -p "$empty"
  compare_du "generated store (300 images, 100 containers)" \
    --docker-root "$store" --podman-root "$empty" --containerd-root "$empty"
fi

if [ "$do_list" = 1 ]; then
  docker info >/dev/null 2>&1 || { echo "no dockerd: skipping list" >&2; exit 0; }
  echo "== populate Docker: 48 images, 100 containers (du-bench-*)"
  work=$(mktemp -d)
  cleanup() {
    docker ps -aq --filter name=du-bench- | xargs -r docker rm -f >/dev/null
    docker images -q --filter reference='du-bench-*' | sort -u | xargs -r docker rmi -f >/dev/null
    rm -rf "$work"
  }
  trap cleanup EXIT
  mkdir -p "$work/root/bin"
  cp /bin/busybox "$work/root/bin/"
  for i in $(seq 0 47); do
    echo "$i" >"$work/root/id"
    tar -C "$work/root" -cf "$work/i.tar" .
    docker import "$work/i.tar" "du-bench-$i:1" >/dev/null
  done
  for j in $(seq 0 99); do
    docker create --name "du-bench-c$j" "du-bench-$((j % 48)):1" /bin/sh >/dev/null
  done
  stacks=$("$bin" list --json 2>/dev/null | jq -s 'map(select(.engine=="docker")) | length')
  echo "== list, cold cache: $stacks Docker stacks"
  hyperfine --runs "$runs" --prepare 'sync; echo 3 >/proc/sys/vm/drop_caches' \
    --export-json "$dir/list.json" \
    "$bin list >/dev/null 2>&1" \
    "docker ps -a >/dev/null; docker images >/dev/null" >/dev/null
  jq -r '.results[] | "\(.command): \(.mean*1000|floor) ms ± \(.stddev*1000|floor)"' "$dir/list.json"
  jq -r '"ratio: \(.results[0].mean / .results[1].mean * 100 | floor / 100)x (target < 1.0)"' "$dir/list.json"
fi
