#!/usr/bin/env bash
# Times `layerscope ls -R` on an image archive against `tar -tvf` on its layers, and on a gzip
# OCI layout against `zcat | tar -tv`, with and without --no-verify, and records peak memory
# per entry. The image is --layers generated layers holding --paths files in all (about --mib
# MiB), wrapped as a `docker save` archive and as an OCI layout. Needs python3 (to write the
# tars), gzip, GNU time.
#
#   benches/archive_vs_tar.sh [--dir DIR] [--paths N] [--mib N] [--layers N] [--runs N] [--bin PATH]
#
# Targets (issue 13): ls -R within 1.2x of tar -tvf (plain) and of zcat | tar -tv (gzip);
# at most 300 bytes of memory per entry.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/layerscope-bench/archive
paths=200000
mib=1024
layers=1
runs=3
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --paths) paths=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  echo "== build"
  cargo build --release --quiet
  bin=$PWD/target/release/layerscope
fi

img=$dir/p$paths-m$mib-l$layers
if [ ! -f "$img/done" ]; then
  echo "== generate $img"
  rm -rf "$img" && mkdir -p "$img/save" "$img/oci/blobs/sha256" "$img/layers"
  python3 - "$img/layers" "$paths" "$mib" "$layers" <<'EOF'
import io, os, sys, tarfile
out, paths, mib, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
per = mib * 1024 * 1024 // paths
chunk = bytes(range(256)) * (per // 256 + 1)
dirs = paths // 1000 + 1
# Layer k holds a contiguous run of the directories, as a build step adds a tree.
for k in range(layers):
    first, last = k * dirs // layers, (k + 1) * dirs // layers
    with tarfile.open(f"{out}/{k:03}.tar", "w", format=tarfile.GNU_FORMAT) as t:
        for d in range(first, last):
            info = tarfile.TarInfo(f"usr/share/d{d:04}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            t.addfile(info)
        for i in range(first * 1000, min(last * 1000, paths)):
            info = tarfile.TarInfo(f"usr/share/d{i // 1000:04}/file-{i:07}.dat")
            # Varied sizes around the mean; half random bytes, so gzip halves the layer as it
            # does real binaries.
            size = per // 2 + (i * 7919) % per
            data = os.urandom(size // 2) + (str(i).encode() + chunk)[: size - size // 2]
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
EOF
  diff_ids= history= save_layers= oci_layers=
  for l in "$img"/layers/*.tar; do
    k=$(basename "$l" .tar)
    diff_ids+=${diff_ids:+,}\"sha256:$(sha256sum "$l" | cut -d' ' -f1)\"
    history+=${history:+,}'{"created_by":"/bin/sh -c #(nop) ADD generated '$k'"}'
    # docker save (legacy layout): a directory per layer.
    mkdir -p "$img/save/$k"
    cp "$l" "$img/save/$k/layer.tar"
    save_layers+=${save_layers:+,}\"$k/layer.tar\"
    # OCI layout: the layer gzipped.
    gzip -c "$l" > "$l.gz"
    gz_hex=$(sha256sum "$l.gz" | cut -d' ' -f1)
    cp "$l.gz" "$img/oci/blobs/sha256/$gz_hex"
    oci_layers+=${oci_layers:+,}'{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'$gz_hex'","size":'$(stat -c %s "$l.gz")'}'
  done
  config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":['$diff_ids']},"history":['$history']}'
  cfg_hex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  printf '%s' "$config" > "$img/save/$cfg_hex.json"
  printf '[{"Config":"%s.json","RepoTags":["bench:1"],"Layers":[%s]}]' "$cfg_hex" "$save_layers" > "$img/save/manifest.json"
  (cd "$img/save" && tar -cf "$img/archive.tar" manifest.json "$cfg_hex.json" ./*/layer.tar)
  rm -rf "$img/save"
  printf '%s' "$config" > "$img/oci/blobs/sha256/$cfg_hex"
  manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$cfg_hex'","size":'${#config}'},"layers":['$oci_layers']}'
  m_hex=$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)
  printf '%s' "$manifest" > "$img/oci/blobs/sha256/$m_hex"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$img/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' "$m_hex" "${#manifest}" > "$img/oci/index.json"
  touch "$img/done"
fi

# Best wall time (s) and peak RSS (KiB) of a shell command over $runs runs, warm cache.
best() {
  local t="" m=""
  sh -c "$1" >/dev/null 2>&1
  for _ in $(seq "$runs"); do
    read -r tt mm < <(/usr/bin/time -f '%e %M' sh -c "$1" 2>&1 >/dev/null | tail -1)
    if [ -z "$t" ] || awk "BEGIN{exit !($tt < $t)}"; then t=$tt; m=$mm; fi
  done
  echo "$t $m"
}

entries=$(cat "$img"/layers/*.tar | tar -tif - | wc -l)
echo "== $layers layer(s), $entries entries, $(du -cm "$img"/layers/*.tar | tail -1 | cut -f1) MiB tar, $(du -cm "$img"/layers/*.gz | tail -1 | cut -f1) MiB gzip"
read -r t_tar _ < <(best "for l in '$img'/layers/*.tar; do tar -tvf \$l; done")
read -r t_ls m_ls < <(best "'$bin' ls -R docker-archive:'$img/archive.tar'")
read -r t_lsn m_lsn < <(best "'$bin' ls -R --no-verify docker-archive:'$img/archive.tar'")
read -r t_zcat _ < <(best "for l in '$img'/layers/*.gz; do zcat \$l | tar -tv; done")
read -r t_lsz m_lsz < <(best "'$bin' ls -R oci:'$img/oci'")
read -r t_lszn m_lszn < <(best "'$bin' ls -R --no-verify oci:'$img/oci'")
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
per() { awk "BEGIN{printf \"%.0f\", $1 * 1024 / $entries}"; }
line() { echo "$1 ${3}s ($(ratio "$3" "$2")x), peak $4 KiB ($(per "$4") B/entry)"; }
echo "plain: tar -tvf ${t_tar}s"
line "  layerscope ls -R" "$t_tar" "$t_ls" "$m_ls"
line "  layerscope ls -R --no-verify" "$t_tar" "$t_lsn" "$m_lsn"
echo "gzip:  zcat | tar -tv ${t_zcat}s"
line "  layerscope ls -R" "$t_zcat" "$t_lsz" "$m_lsz"
line "  layerscope ls -R --no-verify" "$t_zcat" "$t_lszn" "$m_lszn"
