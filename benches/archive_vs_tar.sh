#!/usr/bin/env bash
# Times `layerscope ls -R` on an image archive against `tar -tvf` on its layer, and on a gzip
# OCI layout against `zcat | tar -tv`, and records peak memory per entry. The image is one
# generated layer of --paths files (about --mib MiB in all), wrapped as a `docker save`
# archive and as an OCI layout. Needs python3 (to write the tar), gzip, GNU time.
#
#   benches/archive_vs_tar.sh [--dir DIR] [--paths N] [--mib N] [--runs N] [--bin PATH]
#
# Targets (issue 13): ls -R within 1.2x of tar -tvf (plain) and of zcat | tar -tv (gzip);
# at most 300 bytes of memory per entry.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/layerscope-bench/archive
paths=200000
mib=1024
runs=3
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --paths) paths=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  echo "== build"
  cargo build --release --quiet
  bin=$PWD/target/release/layerscope
fi

img=$dir/p$paths-m$mib
if [ ! -f "$img/done" ]; then
  echo "== generate $img"
  rm -rf "$img" && mkdir -p "$img/save" "$img/oci/blobs/sha256"
  python3 - "$img/layer.tar" "$paths" "$mib" <<'EOF'
import io, os, sys, tarfile
out, paths, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = mib * 1024 * 1024 // paths
chunk = bytes(range(256)) * (per // 256 + 1)
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    for d in range(paths // 1000 + 1):
        info = tarfile.TarInfo(f"usr/share/d{d:04}")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        t.addfile(info)
    for i in range(paths):
        info = tarfile.TarInfo(f"usr/share/d{i // 1000:04}/file-{i:07}.dat")
        # Varied sizes around the mean; half random bytes, so gzip halves the layer as it
        # does real binaries.
        size = per // 2 + (i * 7919) % per
        data = os.urandom(size // 2) + (str(i).encode() + chunk)[: size - size // 2]
        info.size = len(data)
        info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
EOF
  diff_id=sha256:$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
  config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["'$diff_id'"]},"history":[{"created_by":"/bin/sh -c #(nop) ADD generated"}]}'
  cfg_hex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  # docker save (legacy layout): manifest.json, the config, the layer tar.
  mkdir -p "$img/save/l"
  cp "$img/layer.tar" "$img/save/l/layer.tar"
  printf '%s' "$config" > "$img/save/$cfg_hex.json"
  printf '[{"Config":"%s.json","RepoTags":["bench:1"],"Layers":["l/layer.tar"]}]' "$cfg_hex" > "$img/save/manifest.json"
  tar -C "$img/save" -cf "$img/archive.tar" manifest.json "$cfg_hex.json" l/layer.tar
  rm -rf "$img/save"
  # OCI layout with the layer gzipped.
  gzip -c "$img/layer.tar" > "$img/layer.tar.gz"
  gz_hex=$(sha256sum "$img/layer.tar.gz" | cut -d' ' -f1)
  cp "$img/layer.tar.gz" "$img/oci/blobs/sha256/$gz_hex"
  printf '%s' "$config" > "$img/oci/blobs/sha256/$cfg_hex"
  manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$cfg_hex'","size":'${#config}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'$gz_hex'","size":'$(stat -c %s "$img/layer.tar.gz")'}]}'
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

entries=$(tar -tf "$img/layer.tar" | wc -l)
echo "== $entries entries, $(du -m "$img/layer.tar" | cut -f1) MiB tar, $(du -m "$img/layer.tar.gz" | cut -f1) MiB gzip"
read -r t_tar _ < <(best "tar -tvf '$img/layer.tar'")
read -r t_ls m_ls < <(best "'$bin' ls -R docker-archive:'$img/archive.tar'")
read -r t_zcat _ < <(best "zcat '$img/layer.tar.gz' | tar -tv")
read -r t_lsz m_lsz < <(best "'$bin' ls -R oci:'$img/oci'")
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
per() { awk "BEGIN{printf \"%.0f\", $1 * 1024 / $entries}"; }
echo "plain: tar -tvf ${t_tar}s, layerscope ls -R ${t_ls}s ($(ratio "$t_ls" "$t_tar")x), peak ${m_ls} KiB ($(per "$m_ls") B/entry)"
echo "gzip:  zcat | tar -tv ${t_zcat}s, layerscope ls -R ${t_lsz}s ($(ratio "$t_lsz" "$t_zcat")x), peak ${m_lsz} KiB ($(per "$m_lsz") B/entry)"
