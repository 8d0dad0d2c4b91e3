"""Shared timing for the PyTorch sides of `tg bench` (tools/bench_*_torch.py): one thread, best run.

best_ms(fn) calls fn once to warm up, then repeatedly for at least `budget` seconds and at least
three times, and returns the fastest call in milliseconds. emit() prints one JSON line in the
format `tg bench` uses, tagged with the torch version.
"""
import json
import time

import torch

torch.set_num_threads(1)


def best_ms(fn, budget=0.3):
    fn()
    best, start, runs = float("inf"), time.perf_counter(), 0
    while time.perf_counter() - start < budget or runs < 3:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best * 1e3


def emit(name, shape, ms, **figures):
    print(json.dumps({"name": name, "shape": shape, "ms": round(ms, 4),
                      **{k: round(v, 2) for k, v in figures.items()},
                      "threads": 1, "impl": f"torch {torch.__version__}"}), flush=True)
