#!/usr/bin/env python3
"""Record a command's terminal session as an asciinema v2 cast, without asciinema.

Usage:
  demo/record-cast.py OUT.cast [--width 110] [--height 34] [--title TEXT]
                      [--press-enter-after SECONDS] -- COMMAND [ARG...]

COMMAND runs under a pseudo-terminal of the given size; everything it prints is recorded with
its real timing. The cast opens with the command line, printed as a shell prompt would show it.
With --press-enter-after, each time the output shows a "press Enter" prompt, the recorder waits
that many seconds (time to read) and presses Enter, as a presenter would for
`layerscope demo --script --pause`. Play the result with `asciinema play OUT.cast` or any
asciinema-compatible player.
"""

import argparse
import codecs
import fcntl
import json
import os
import pty
import select
import shlex
import struct
import sys
import termios
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--width", type=int, default=110)
    p.add_argument("--height", type=int, default=34)
    p.add_argument("--title", default=None)
    p.add_argument("--press-enter-after", type=float, default=None, metavar="SECONDS")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        p.error("give the command to record after --")
    cut = argv.index("--")
    args = p.parse_args(argv[:cut])
    command = argv[cut + 1 :]

    env = dict(os.environ, COLUMNS=str(args.width), LINES=str(args.height), TERM="xterm-256color")
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", args.height, args.width, 0, 0))

    start = time.monotonic()
    events = [[0.0, "o", "$ " + shlex.join(command) + "\r\n"]]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending_enter = None
    seen = ""
    while True:
        timeout = None if pending_enter is None else max(0.0, pending_enter - time.monotonic())
        ready, _, _ = select.select([fd], [], [], timeout)
        now = time.monotonic()
        if pending_enter is not None and now >= pending_enter:
            os.write(fd, b"\r")
            pending_enter = None
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the command has exited and the pty is closed
            data = b""
        if not data:
            break
        text = decoder.decode(data)
        if text:
            events.append([round(now - start, 6), "o", text])
            seen = (seen + text)[-200:]
            if args.press_enter_after is not None and "press Enter" in seen and pending_enter is None:
                pending_enter = now + args.press_enter_after
                seen = ""
    _, status = os.waitpid(pid, 0)
    tail = decoder.decode(b"", final=True)
    if tail:
        events.append([round(time.monotonic() - start, 6), "o", tail])

    header = {
        "version": 2,
        "width": args.width,
        "height": args.height,
        "timestamp": int(time.time()),
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"},
    }
    if args.title:
        header["title"] = args.title
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    code = os.waitstatus_to_exitcode(status)
    print(f"recorded {len(events)} events, {events[-1][0]:.1f} s, exit {code}: {args.out}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
