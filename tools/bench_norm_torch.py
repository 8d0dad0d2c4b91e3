"""PyTorch 1.13 reference for `tg bench --filter norm` (run with Debian's /usr/bin/python3, one thread).

    /usr/bin/python3 tools/bench_norm_torch.py

Prints the same JSON lines as tools/bench_norm.c, with the same byte counts (each array once:
forward x, y; forward+backward x, y, x, dy, dx), so the GB/s ratio is the time ratio.
"""
import torch
import torch.nn.functional as F

from torch_timing import best_ms, emit as emit_line


def emit(name, shape, ms, arrays, numel):
    emit_line(name, shape, ms, gbps=arrays * numel * 4 / (ms * 1e6))


x = (torch.rand(64, 64, 56, 56) * 4 - 1).requires_grad_(True)
dy = torch.rand(64, 64, 56, 56) - 0.5
rm, rv = torch.zeros(64), torch.ones(64)
w, b = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)


def bn_fwd():
    with torch.no_grad():
        F.batch_norm(x, rm, rv, w, b, training=True)


def bn_fwdbwd():
    x.grad = w.grad = b.grad = None
    F.batch_norm(x, rm, rv, w, b, training=True).backward(dy)


def bn_eval():
    with torch.no_grad():
        F.batch_norm(x, rm, rv, w, b, training=False)


emit("batch_norm_train_fwd", "64x64x56x56", best_ms(bn_fwd), 2, x.numel())
emit("batch_norm_train_fwdbwd", "64x64x56x56", best_ms(bn_fwdbwd), 5, x.numel())
emit("batch_norm_eval_fwd", "64x64x56x56", best_ms(bn_eval), 2, x.numel())

lx = x.detach().reshape(-1, 64).clone().requires_grad_(True)
ldy = dy.reshape(-1, 64)
lw, lb = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)


def ln_fwdbwd():
    lx.grad = lw.grad = lb.grad = None
    F.layer_norm(lx, (64,), lw, lb).backward(ldy)


emit("layer_norm_fwdbwd", "200704x64", best_ms(ln_fwdbwd), 5, lx.numel())
