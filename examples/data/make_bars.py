"""examples/data/make_bars.py — regenerates the small image data set of the README's quick start.

    python3 examples/data/make_bars.py     # writes examples/data/bars_*.npy and bars.txt's inputs

Three classes of 1x8x8 images: 0 a horizontal bar, 1 a vertical bar, 2 a diagonal bar, each at a
random place, brightness 0.6..1, on Gaussian noise (std 0.15). bars_x.npy [480,1,8,8] float32 and
bars_y.npy [480] int64 train; bars_xt.npy / bars_yt.npy [120] test; bars_sample.npy [3,1,8,8]
holds one fresh image of each class, in class order, for `tg predict`. The files are committed: a
fresh clone needs no Python.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2026)
SIZE = 8


def bar(label):
    img = rng.normal(0, 0.15, (SIZE, SIZE))
    v = rng.uniform(0.6, 1.0)
    k = rng.integers(1, SIZE - 1)
    if label == 0:
        img[k, 1:SIZE - 1] += v
    elif label == 1:
        img[1:SIZE - 1, k] += v
    else:
        shift = rng.integers(-2, 3)
        for i in range(SIZE):
            if 0 <= i + shift < SIZE:
                img[i, i + shift] += v
    return img.astype(np.float32)


def make(n):
    y = np.arange(n) % 3
    rng.shuffle(y)
    x = np.stack([bar(c) for c in y])[:, None]
    return x, y.astype(np.int64)


def main():
    for name, n in (("", 480), ("t", 120)):
        x, y = make(n)
        np.save(os.path.join(HERE, f"bars_x{name}.npy"), x)
        np.save(os.path.join(HERE, f"bars_y{name}.npy"), y)
    np.save(os.path.join(HERE, "bars_sample.npy"), np.stack([bar(c) for c in range(3)])[:, None])


if __name__ == "__main__":
    main()
