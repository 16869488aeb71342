#!/usr/bin/env python3
"""Render a tmux pane capture (`tmux capture-pane -e -p`) to a PNG, cell by cell.

Usage: ansi2png.py CAPTURE.ansi OUT.png [--cols N]

Only what tmux emits is handled: SGR colours (16, 256 and true colour), bold, dim, italic,
underline, reverse and crossed-out. Needs Pillow and the DejaVu Sans Mono fonts.
"""
import re
import sys
import unicodedata

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
FG = (220, 220, 220)
BG = (24, 26, 33)
BASE16 = [
    (40, 42, 54), (224, 90, 90), (98, 200, 110), (230, 200, 90),
    (90, 140, 230), (200, 110, 210), (80, 200, 210), (200, 200, 200),
    (110, 110, 120), (255, 120, 120), (130, 230, 140), (255, 230, 120),
    (130, 170, 255), (230, 140, 240), (120, 230, 240), (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.italic = self.under = self.reverse = self.cross = False

    def copy(self):
        s = Style()
        s.__dict__.update(self.__dict__)
        return s

    def apply(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.under = True
            elif p == 7:
                self.reverse = True
            elif p == 9:
                self.cross = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.under = False
            elif p == 27:
                self.reverse = False
            elif p == 29:
                self.cross = False
            elif 30 <= p <= 37:
                self.fg = BASE16[p - 30]
            elif 90 <= p <= 97:
                self.fg = BASE16[p - 90 + 8]
            elif p == 39:
                self.fg = None
            elif 40 <= p <= 47:
                self.bg = BASE16[p - 40]
            elif 100 <= p <= 107:
                self.bg = BASE16[p - 100 + 8]
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    c = xterm256(ps[i + 2])
                    i += 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    c = tuple(ps[i + 2:i + 5])
                    i += 4
                else:
                    c = None
                if p == 38:
                    self.fg = c
                else:
                    self.bg = c
            i += 1


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def cells(line):
    style = Style()
    out = []
    pos = 0
    for m in SGR.finditer(line):
        for ch in line[pos:m.start()]:
            out.append((ch, style.copy()))
        style.apply(m.group(1))
        pos = m.end()
    for ch in line[pos:]:
        out.append((ch, style.copy()))
    return out


def width(ch):
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def main():
    src, dst = sys.argv[1], sys.argv[2]
    lines = open(src, encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(FONT_BOLD, SIZE)
    cw = int(font.getlength("M"))
    ch = SIZE + 4
    cols = max(sum(width(c) for c, _ in cells(l)) for l in lines)
    img = Image.new("RGB", (cols * cw + 16, len(lines) * ch + 16), BG)
    d = ImageDraw.Draw(img)
    for row, line in enumerate(lines):
        x = 0
        for c, s in cells(line):
            w = width(c)
            fg, bg = s.fg or FG, s.bg or BG
            if s.reverse:
                fg, bg = bg, fg
            if s.dim:
                fg = tuple(int(v * 0.6 + BG[i] * 0.4) for i, v in enumerate(fg))
            px, py = 8 + x * cw, 8 + row * ch
            if bg != BG:
                d.rectangle([px, py, px + w * cw - 1, py + ch - 1], fill=bg)
            if c.strip():
                # Box drawing fills its cell exactly, so borders join up.
                d.text((px, py + 1), c, font=bold if s.bold else font, fill=fg)
            if s.under:
                d.line([px, py + ch - 2, px + w * cw, py + ch - 2], fill=fg)
            if s.cross:
                d.line([px, py + ch // 2, px + w * cw, py + ch // 2], fill=fg)
            x += w
    img.save(dst)


if __name__ == "__main__":
    main()
