"""Shared timing for the PyTorch sides of `tg bench` (tools/bench_*_torch.py): one thread, best run.

best_ms(fn) calls fn once to warm up, then repeatedly for at least `budget` seconds and at least
three times, and returns the fastest call in milliseconds. emit() prints one JSON line in the
format `tg bench` uses, tagged with the torch version.

glibc's malloc hands large freed blocks back to the kernel, so PyTorch maps (and page-faults)
fresh memory for its big temporaries on every call. On a virtual machine each fault is costly
and the cost varies from run to run: the 16x64x56x56 stride-2 convolution's forward+backward took
80-190 ms in one run and 34 ms in the next. tapegrad reuses its arena and pays none of this. To
time PyTorch's arithmetic rather than the page faults, importing this module re-executes the
script once with malloc told to keep freed memory (GLIBC_TUNABLES; then 35-36 ms every run).
Set TG_TORCH_KEEP_MALLOC=0 to time PyTorch with glibc's defaults.
"""
import json
import os
import sys
import time

_KEEP = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"
if os.environ.get("TG_TORCH_KEEP_MALLOC", "1") != "0" and _KEEP not in os.environ.get("GLIBC_TUNABLES", ""):
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), _KEEP]))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

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
                      "threads": 1, "impl": f"torch {torch.__version__}",
                      "malloc": "kept" if _KEEP in os.environ.get("GLIBC_TUNABLES", "") else "default"}), flush=True)
