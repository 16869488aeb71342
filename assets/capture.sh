#!/bin/sh
# Takes a screenshot of the real explorer: runs it in tmux, types KEYS (tmux send-keys words,
# a pause after each), captures the pane with its colours and renders it to assets/NAME.png
# (and NAME.ansi, the raw capture). Needs tmux, python3 with Pillow, DejaVu fonts.
#   [COLS=120 ROWS=40] assets/capture.sh NAME "COMMAND" KEY...
set -eu
name=$1; cmd=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
s=layerscope-shot-$$
tmux new-session -d -s "$s" -x "${COLS:-120}" -y "${ROWS:-40}" "$cmd; sleep 60"
sleep 1.5
for k in "$@"; do
    tmux send-keys -t "$s" "$k"
    sleep 0.4
done
sleep 0.8
tmux capture-pane -e -p -t "$s" > "$here/$name.ansi"
tmux send-keys -t "$s" q
sleep 0.3
tmux kill-session -t "$s" 2>/dev/null || true
python3 "$here/ansi2png.py" "$here/$name.ansi" "$here/$name.png"
echo "$here/$name.png"
