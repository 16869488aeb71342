#!/usr/bin/env bash
# The walkthrough layerscope was born from, with a real Docker engine and no registry:
#   1. list /var/lib/docker/overlay2 from inside a privileged busybox container, as the original
#      walkthrough does (`docker run --privileged --pid=host busybox nsenter -t 1 -m ...`);
#   2. build an image locally (a busybox-static rootfs imported with `docker import`, then a
#      Dockerfile that deletes a file and replaces a directory) and list overlay2 again: one new
#      directory per layer;
#   3. run a container, change files in it, and show its four overlay directories (lowerdir,
#      upperdir = diff, merged, workdir), the `l/` short links and the `lower` file;
#   4. open layerscope on the container's merged mount: layers, diff (next to `docker diff`),
#      which and ls.
# It removes only what it created (never `docker system prune -a`, which would delete every
# unused image on the machine). Needs root (to read /var/lib/docker), Docker with the overlay2
# driver, and a static busybox (Debian/Ubuntu: apt-get install busybox-static).
#
# Usage: demo/docker-walkthrough.sh [--pause] [--keep]
#   --pause  wait for Enter between sections (for a class)
#   --keep   leave the container and images in place at the end
set -euo pipefail

pause=false keep=false
for arg in "$@"; do
  case "$arg" in
    --pause) pause=true ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--pause] [--keep]" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
base=layerscope-demo/busybox:1
app=layerscope-demo/app:1
ctr=layerscope-demo-web
root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)
ov="$root/overlay2"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s## %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# A pipeline, printed as written.
pipe() { printf '$ %s\n' "$1"; bash -c "$1"; }
section_end() { if $pause; then read -r -p '-- press Enter --' _ </dev/tty; fi; }

[ "$(id -u)" = 0 ] || { echo "run as root: /var/lib/docker is readable by root only" >&2; exit 1; }
driver=$(docker info --format '{{.Driver}}')
[ "$driver" = overlay2 ] || { echo "Docker uses the '$driver' storage driver; this walkthrough needs overlay2" >&2; exit 1; }
# The image has no libc, so busybox must be static ('file' says so; without 'file', trust it).
is_static() { [ -x "$1" ] && { ! command -v file >/dev/null || file -L "$1" | grep -q 'statically linked'; }; }
busybox=''
for b in "$(command -v busybox || true)" /bin/busybox /usr/bin/busybox; do
  if [ -n "$b" ] && is_static "$b"; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "need a static busybox (apt-get install busybox-static)" >&2; exit 1; }

layerscope=${LAYERSCOPE:-}
if [ -z "$layerscope" ]; then
  layerscope=$(command -v layerscope || true)
  if [ -z "$layerscope" ]; then
    (cd "$repo" && cargo build --release --quiet)
    layerscope="$repo/target/release/layerscope"
  fi
fi

work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if ! $keep; then
    docker rm -f "$ctr" >/dev/null 2>&1 || true
    docker rmi "$app" "$base" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
docker rm -f "$ctr" >/dev/null 2>&1 || true
docker rmi "$app" "$base" >/dev/null 2>&1 || true

say "A base image without a registry: a busybox-static rootfs, imported"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,root,tmp,usr/share/doc/busybox}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'NAME="BusyBox demo"\nID=busybox\n' >"$rootfs/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
printf 'Welcome!\n' >"$rootfs/etc/motd"
printf 'BusyBox: many Unix tools in one binary.\n' >"$rootfs/usr/share/doc/busybox/README"
chmod 1777 "$rootfs/tmp"
pipe "tar -C $rootfs -c . | docker import -c 'CMD [\"sh\"]' - $base"
section_end

say "What overlay2 holds now, seen as the walkthrough does: from a privileged container in the host's namespaces"
if ! pipe "docker run --rm --privileged --pid=host --network none $base nsenter -t 1 -m -u -n -i sh -c 'ls -l $ov'"; then
  echo "(this machine refuses privileged containers; we are root on the host, so look directly)"
  run ls -l "$ov"
fi
ls -1 "$ov" >"$work/before"
section_end

say "An image built on top of it: each Dockerfile instruction that changes files is one more layer"
cat >"$work/Dockerfile" <<DOCKERFILE
FROM $base
RUN mkdir -p /srv/app && echo 'hello from the app layer' > /srv/app/index.html
RUN rm /etc/motd && rm -rf /usr/share/doc && mkdir /usr/share/doc && echo 'docs removed' > /usr/share/doc/README
DOCKERFILE
run cat "$work/Dockerfile"
run env DOCKER_BUILDKIT=0 docker build --network none -q -t "$app" "$work"
section_end

say "The container: a new read-write layer (and an -init layer) on top of the image's layers"
run docker run -d --name "$ctr" --network none "$app" sleep 3600
pipe "docker exec $ctr sh -c 'cat /etc/os-release >/dev/null; echo VERSION=changed >> /etc/os-release; rm /bin/vi; echo note > /root/notes.txt'"
run ls -l "$ov"
echo "New directories since the first listing:"
ls -1 "$ov" | grep -vxF -f "$work/before" | sed 's/^/  /'
section_end

say "The four directories of the container's overlay mount"
id=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$ctr" | sed "s|^$ov/||; s|/diff\$||")
merged=$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' "$ctr")
for key in LowerDir UpperDir MergedDir WorkDir; do
  printf '  %-9s %s\n' "$key" "$(docker inspect -f "{{.GraphDriver.Data.$key}}" "$ctr" | tr ':' '\n' | sed '2,$s/^/            /')"
done
echo "lowerdir: the image's read-only layers (top first); upperdir (diff): the container's writable layer;"
echo "merged: the single view the container sees; workdir: the kernel's scratch space for copy-up."
run ls -l "$ov/$id"
run cat "$ov/$id/lower"; echo
echo "l/ holds short symlinks to each layer's diff, so that the mount options stay short"
echo "(a mount's options must fit in one page; overlay2 stacks at most 128 lower layers):"
pipe "ls -l $ov/l | head -5"
pipe "grep ' $merged ' /proc/self/mountinfo | tr ',' '\\n'"
section_end

say "layerscope on the container: which layer supplies each file, and what it hides"
run "$layerscope" layers "$merged"
echo
run docker diff "$ctr"
run "$layerscope" diff "$merged"
run "$layerscope" which "$merged" /etc/os-release
run "$layerscope" which "$merged" /bin/vi || true
run "$layerscope" which "$merged" /etc/motd || true
run "$layerscope" ls "$merged" /usr/share/doc
section_end

if $keep; then
  say "Kept: container $ctr, images $app and $base (docker rm -f $ctr; docker rmi $app $base)"
else
  say "Cleaning up: only the container and the two images this script made"
fi
