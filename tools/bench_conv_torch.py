"""PyTorch 1.13 side of `tg bench --filter conv` (run with Debian's /usr/bin/python3, one thread).

    /usr/bin/python3 tools/bench_conv_torch.py

The issue's seven conv2d shapes, no bias (as tools/bench_conv.c): forward under no_grad, and
forward + backward with x and w requiring grad (dX and dW). Best of repeated runs for at least
0.5 s each; FLOPs = 2*MACs forward, 6*MACs forward+backward. One JSON object per line.
"""
import torch
import torch.nn.functional as F

from torch_timing import best_ms, emit

SHAPES = [  # N, C, H, W, O, K, stride, pad, groups
    (64, 1, 28, 28, 20, 5, 1, 2, 1),
    (64, 20, 14, 14, 50, 5, 1, 2, 1),
    (8, 64, 56, 56, 64, 3, 1, 1, 1),
    (16, 128, 28, 28, 128, 3, 1, 1, 1),
    (16, 64, 56, 56, 128, 3, 2, 1, 1),
    (16, 128, 32, 32, 256, 1, 1, 0, 1),
    (16, 128, 32, 32, 128, 3, 1, 1, 128),
]


def main():
    torch.manual_seed(1)
    for n, c, h, w, o, k, s, p, g in SHAPES:
        x = torch.randn(n, c, h, w, requires_grad=True)
        wt = torch.randn(o, c // g, k, k, requires_grad=True)
        with torch.no_grad():
            y = F.conv2d(x, wt, None, s, p, 1, g)
        macs = y.numel() * (c // g) * k * k
        name = f"conv2d_{n}x{c}x{h}x{w}_o{o}_k{k}_s{s}_p{p}_g{g}"
        shape = f"N={n} C={c} H={h} W={w} O={o} K={k} stride={s} pad={p} groups={g}"

        def fwd():
            with torch.no_grad():
                F.conv2d(x, wt, None, s, p, 1, g)

        dy = torch.randn_like(y)

        def fwdbwd():
            out = F.conv2d(x, wt, None, s, p, 1, g)
            torch.autograd.grad(out, (x, wt), dy)

        for suffix, fn, flops in (("fwd", fwd, 2 * macs), ("fwdbwd", fwdbwd, 6 * macs)):
            ms = best_ms(fn, budget=0.5)
            emit(f"{name}_{suffix}", shape, ms, gflops=flops / (ms * 1e6))


if __name__ == "__main__":
    main()
