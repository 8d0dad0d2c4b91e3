#!/usr/bin/python3
"""Writes the PNG test vectors of tests/test_data.c (run once from this folder; the files are
committed). Two encoders, so the decoder is not checked against itself:
  * by hand (struct + zlib): every colour type and bit depth, rows cycling through the five filter
    types, the image data split over several IDAT chunks; <name>.png and <name>.u8, the pixels the
    decoder must give (8-bit, grey or RGB interleaved, as nn/image.h documents the conversion:
    16-bit samples rounded to 8 bits, 1/2/4-bit grey scaled to 0..255, palette looked up, alpha
    dropped);
  * PIL (its own encoder and filter choice): pil_*.png with the pixels PIL itself reads back.
Plus interlaced.png (Adam7, refused) and the resize references of PyTorch:
resize_*.npy = F.interpolate(bilinear, align_corners=False) then a centre crop, as
tg_image_to_input documents (integer crops only, so PyTorch can do the crop)."""
import struct
import zlib

import numpy as np
from PIL import Image
import torch
import torch.nn.functional as F

W, H = 7, 5  # odd sizes: rows that do not end on a byte boundary for sub-byte depths


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_rows(rows, bpp):
    """Row y gets filter type y % 5 (PNG spec section 9)."""
    out, prev = b"", bytes(len(rows[0]))
    for y, row in enumerate(rows):
        t = y % 5
        f = bytearray()
        for i, v in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][t]
            f.append((v - pred) & 0xFF)
        out += bytes([t]) + bytes(f)
        prev = row
    return out


def write_png(name, color, depth, samples, palette=None, interlace=0):
    """samples[y][x] is a tuple of sample values of the colour type."""
    n = len(samples[0][0])
    rows = []
    for y in range(H):
        bits = ""
        raw = bytearray()
        for x in range(W):
            for s in samples[y][x]:
                if depth == 16:
                    raw += struct.pack(">H", s)
                elif depth == 8:
                    raw.append(s)
                else:
                    bits += format(s, "0%db" % depth)
        if depth < 8:
            bits += "0" * (-len(bits) % 8)
            raw = bytearray(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        rows.append(bytes(raw))
    bpp = max(1, n * depth // 8)
    z = zlib.compress(filter_rows(rows, bpp), 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, color, 0, 0, interlace))
    png += chunk(b"tEXt", b"Comment\x00ancillary chunks are skipped")
    if palette:
        png += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    third = len(z) // 3 + 1  # several IDAT chunks, split anywhere
    for i in range(0, len(z), third):
        png += chunk(b"IDAT", z[i:i + third])
    png += chunk(b"IEND", b"")
    open(name + ".png", "wb").write(png)


def sample(x, y, c, depth):
    if depth == 16:
        return (x * 4099 + y * 9001 + c * 3001 + 77) % 65536
    return (x * 37 + y * 91 + c * 53 + 7) % (1 << depth)


def to8(v, depth):
    if depth == 16:
        return (v * 255 + 32767) // 65535
    return v if depth == 8 else v * 255 // ((1 << depth) - 1)


def image(depth, n):
    return [[tuple(sample(x, y, c, depth) for c in range(n)) for x in range(W)] for y in range(H)]


def expect(name, pixels):
    open(name + ".u8", "wb").write(bytes(v for row in pixels for px in row for v in px))


# colour type, channels in the file, channels out (alpha dropped)
for color, n, keep, depths in [(0, 1, 1, [1, 2, 4, 8, 16]), (2, 3, 3, [8, 16]), (4, 2, 1, [8, 16]), (6, 4, 3, [8, 16])]:
    for depth in depths:
        name = "c%d_d%d" % (color, depth)
        img = image(depth, n)
        write_png(name, color, depth, img)
        expect(name, [[tuple(to8(v, depth) for v in px[:keep]) for px in row] for row in img])

for depth in [1, 2, 4, 8]:
    entries = min(1 << depth, 200)
    palette = [((i * 71) % 256, (i * 113 + 5) % 256, (255 - i * 29) % 256) for i in range(entries)]
    img = [[((x * 3 + y * 5) % entries,) for x in range(W)] for y in range(H)]
    name = "c3_d%d" % depth
    write_png(name, 3, depth, img, palette)
    expect(name, [[palette[px[0]] for px in row] for row in img])

write_png("interlaced", 0, 8, image(8, 1), interlace=1)

# PIL's encoder: grey, RGB, palette, RGBA (alpha dropped on our side)
rng = np.random.default_rng(17)
for mode, shape in [("L", (6, 9)), ("RGB", (6, 9, 3)), ("RGBA", (6, 9, 4))]:
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    Image.fromarray(arr, mode).save("pil_%s.png" % mode.lower(), optimize=True)
    keep = arr if mode == "L" else arr[..., :3]
    open("pil_%s.u8" % mode.lower(), "wb").write(np.ascontiguousarray(keep).tobytes())
rgb = rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
pal.save("pil_p.png")
open("pil_p.u8", "wb").write(np.asarray(pal.convert("RGB")).tobytes())

# resize references: (source HxW, target hxw); the crop is an integer number of pixels here
def resize_ref(name, src, h, w):
    """src: [C,H,W] in 0..255 (float), already converted to the target channels."""
    s = max(h / src.shape[1], w / src.shape[2])
    sh, sw = round(src.shape[1] * s), round(src.shape[2] * s)
    t = torch.tensor(src[None], dtype=torch.float64)
    up = F.interpolate(t, size=(sh, sw), mode="bilinear", align_corners=False)[0]
    oy, ox = (sh - h) // 2, (sw - w) // 2
    assert (sh - h) % 2 == 0 and (sw - w) % 2 == 0
    np.save(name, (up[:, oy:oy + h, ox:ox + w] / 255).numpy())

# (A) grey 5x7 -> 10x12: factor 2 (10x14), one column cropped each side
grey = np.asarray(Image.open("c0_d8.png"), dtype=np.float64)
resize_ref("resize_up.npy", grey[None], 10, 12)
# (B) RGB 6x9 -> grey (ITU-R 601 luma) 4x4: factor 2/3 (4x6), one column cropped each side
rgb = np.asarray(Image.open("pil_rgb.png"), dtype=np.float64)
luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
resize_ref("resize_luma_down.npy", luma[None], 4, 4)
