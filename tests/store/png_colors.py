#!/usr/bin/env python3
"""Counts the pixels of a PNG close to given colours (standard library only: zlib, struct).

usage: png_colors.py FILE.png RRGGBB [RRGGBB ...] [--tol N]
prints one JSON object {"width": W, "height": H, "RRGGBB": count, ...}; a pixel counts for a colour when every
channel is within N (default 40) of it. Handles 8-bit RGB and RGBA, non-interlaced (what Chromium writes)."""
import json
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f"{path}: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    args = sys.argv[1:]
    tol = 40
    if "--tol" in args:
        i = args.index("--tol")
        tol = int(args[i + 1])
        del args[i:i + 2]
    path, colours = args[0], args[1:]
    width, height, bpp, rows = read_png(path)
    want = [tuple(int(c[k:k + 2], 16) for k in (0, 2, 4)) for c in colours]
    counts = [0] * len(want)
    for line in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            for k, (wr, wg, wb) in enumerate(want):
                if abs(r - wr) <= tol and abs(g - wg) <= tol and abs(b - wb) <= tol:
                    counts[k] += 1
    out = {"width": width, "height": height}
    out.update({c: n for c, n in zip(colours, counts)})
    print(json.dumps(out))


main()
