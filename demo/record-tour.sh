#!/usr/bin/env bash
# Re-records demo/layerscope-demo.cast from the real app: `layerscope demo --script --pause`,
# with Enter pressed 4 seconds after each prompt. Run as root to record the privileged tour
# (redirects and metacopy); as another user it records the unprivileged one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
export PATH="$repo/target/release:$PATH" TMPDIR=/tmp NO_COLOR=1
out=${1:-$repo/demo/layerscope-demo.cast}
"$repo/demo/record-cast.py" "$out" --width 120 --height 36 \
  --title "layerscope demo: copy-on-write in an overlay stack" \
  --press-enter-after 4 -- layerscope demo --script --pause
