"""PyTorch 1.13 side of `tg bench --filter pool` (run with Debian's /usr/bin/python3, one thread).

    /usr/bin/python3 tools/bench_pool_torch.py

Same cases, same byte counts as tools/bench_pool.c (forward: x, y, int64 indices for max;
backward: dy, indices for max, dx), best of repeated runs for at least 0.3 s, one JSON per line.
"""
import json
import time

import torch
import torch.nn.functional as F


def best_ms(fn, budget=0.3):
    fn()
    best, start, runs = float("inf"), time.perf_counter(), 0
    while time.perf_counter() - start < budget or runs < 3:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best * 1e3


def main():
    torch.set_num_threads(1)
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
            print(json.dumps({"name": f"pool_{kind}_{k}x{k}s2_fwd", "shape": shape, "ms": round(ms, 4),
                              "gbps": round((4 * (n_in + n_out) + idx_bytes) / (ms * 1e6), 2), "threads": 1,
                              "impl": f"torch {torch.__version__}"}))
            dy = torch.randn_like(y)
            ms = best_ms(lambda: torch.autograd.grad(y, x, dy, retain_graph=True))
            print(json.dumps({"name": f"pool_{kind}_{k}x{k}s2_bwd", "shape": shape, "ms": round(ms, 4),
                              "gbps": round((4 * (n_in + n_out) + idx_bytes) / (ms * 1e6), 2), "threads": 1,
                              "impl": f"torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
