"""PyTorch 1.13 side of `tg bench --filter pool` (run with Debian's /usr/bin/python3, one thread).

    /usr/bin/python3 tools/bench_pool_torch.py

Same cases, same byte counts as tools/bench_pool.c (forward: x, y, int64 indices for max;
backward: dy, indices for max, dx), best of repeated runs for at least 0.3 s, one JSON per line.
"""
import torch
import torch.nn.functional as F

from torch_timing import best_ms, emit


def main():
    torch.manual_seed(1)
    x = torch.rand(64, 64, 56, 56, requires_grad=True)
    n_in = x.numel()
    for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        for k in (2, 3):
            y = fn(x, k, 2)
            n_out = y.numel()
            idx_bytes = 8 * n_out if kind == "max" else 0
            shape = f"64x64x56x56_k{k}s2"
            ms = best_ms(lambda: fn(x, k, 2))
            emit(f"pool_{kind}_{k}x{k}s2_fwd", shape, ms, gbps=(4 * (n_in + n_out) + idx_bytes) / (ms * 1e6))
            dy = torch.randn_like(y)
            ms = best_ms(lambda: torch.autograd.grad(y, x, dy, retain_graph=True))
            emit(f"pool_{kind}_{k}x{k}s2_bwd", shape, ms, gbps=(4 * (n_in + n_out) + idx_bytes) / (ms * 1e6))


if __name__ == "__main__":
    main()
