"""examples/data/make_data.py — regenerates the small inputs the README's `tg op` line reads.

    python3 examples/data/make_data.py     # writes examples/data/{x,w,b,dy}.npy (float32)

x: [1,2,5,5] input, w: [3,2,3,3] conv2d weight, b: [3] bias, dy: [1,3,3,3] upstream gradient of
conv2d(stride=2, padding=1). Values are multiples of 1/4 so the results are easy to check by hand.
The files are committed: a fresh clone needs no Python.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(17)


def quarter_steps(shape, lo=-4, hi=4):
    return (rng.integers(lo, hi + 1, size=shape) / 4.0).astype(np.float32)


for name, shape in (("x", (1, 2, 5, 5)), ("w", (3, 2, 3, 3)), ("b", (3,)), ("dy", (1, 3, 3, 3))):
    np.save(os.path.join(HERE, name + ".npy"), quarter_steps(shape))
