/* tools/bench_conv.c — `tg bench` cases for conv2d: the seven shapes and three with few
 * channels (N, C_in, H, W, C_out, K, stride, pad, groups), forward and forward+backward (dX, dW), the
 * backward once per dX path ("rotated": forward kernel on the zero-inserted dY with the rotated
 * filter; "col2im": W^T dY by GEMM + col2im) and once with the default choice ("auto").
 * GFLOP/s count 2 FLOPs per MAC: forward 2*MACs, forward+backward 3 * 2*MACs (no bias). */
#include <stdio.h>
#include <stdlib.h>

#include "../ops/conv.h"
#include "../ops/kernels/parallel.h"
#include "bench.h"

typedef struct conv_shape { int64_t n, c, h, w, o, k, stride, pad, groups; } conv_shape;

static const conv_shape conv_shapes[] = {
    {64, 1, 28, 28, 20, 5, 1, 2, 1},     {64, 20, 14, 14, 50, 5, 1, 2, 1},
    {8, 64, 56, 56, 64, 3, 1, 1, 1},     {16, 128, 28, 28, 128, 3, 1, 1, 1},
    {16, 64, 56, 56, 128, 3, 2, 1, 1},   {16, 128, 32, 32, 256, 1, 1, 0, 1},
    {16, 128, 32, 32, 128, 3, 1, 1, 128},
    /* small channel counts (the BN-ResNet's layers): packing, not FLOPs, sets their speed */
    {64, 16, 28, 28, 16, 3, 1, 1, 1},    {64, 16, 14, 14, 32, 3, 1, 1, 1},    {64, 32, 14, 14, 32, 3, 1, 1, 1},
};

typedef struct conv_run {
    tg_tape *tape;
    tg_tensor *x, *w;
    tg_real *dy;
    tg_conv_attr attr;
    bool backward;
} conv_run;

static void run_conv(void *arg)
{
    conv_run *r = arg;
    tg_tape_reset(r->tape);
    tg_tensor *y = tg_conv2d(r->tape, r->x, r->w, NULL, &r->attr);
    if (y && r->backward) tg_backward_with(y, r->dy);
}

static tg_tensor *random_tensor(int ndim, const int64_t *shape, uint32_t seed)
{
    tg_tensor *t = tg_tensor_new(TG_REAL, ndim, shape);
    for (int64_t i = 0; t && i < t->numel; i++)
        t->data[i] = (tg_real)((seed = seed * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
    return t;
}

static void bench_shape(const tg_bench_ctx *ctx, const conv_shape *s)
{
    char name[96], shape[128], extra[96];
    snprintf(name, sizeof name, "conv2d_%lldx%lldx%lldx%lld_o%lld_k%lld_s%lld_p%lld_g%lld", (long long)s->n,
             (long long)s->c, (long long)s->h, (long long)s->w, (long long)s->o, (long long)s->k, (long long)s->stride,
             (long long)s->pad, (long long)s->groups);
    if (!tg_bench_selected(ctx, name)) return;
    int64_t xs[4] = {s->n, s->c, s->h, s->w}, ws[4] = {s->o, s->c / s->groups, s->k, s->k};
    conv_run r = {.tape = tg_tape_new(0), .x = random_tensor(4, xs, 1), .w = random_tensor(4, ws, 2)};
    tg_attr_defaults(TG_OP_CONV2D, &r.attr);
    r.attr.stride = (tg_ints){1, {s->stride}};
    r.attr.padding = (tg_ints){1, {s->pad}};
    r.attr.groups = (int)s->groups;
    int64_t ho = (s->h + 2 * s->pad - s->k) / s->stride + 1, wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    int64_t ys[4] = {s->n, s->o, ho, wo};
    tg_tensor *dy = random_tensor(4, ys, 3);
    if (r.tape && r.x && r.w && dy) {
        r.dy = dy->data;
        r.x->requires_grad = r.w->requires_grad = true;
        double macs = (double)(s->n * s->o * ho * wo) * (double)(s->c / s->groups * s->k * s->k);
        snprintf(shape, sizeof shape, "N=%lld C=%lld H=%lld W=%lld O=%lld K=%lld stride=%lld pad=%lld groups=%lld",
                 (long long)s->n, (long long)s->c, (long long)s->h, (long long)s->w, (long long)s->o, (long long)s->k,
                 (long long)s->stride, (long long)s->pad, (long long)s->groups);
        char fname[128];
        snprintf(fname, sizeof fname, "%s_fwd", name);
        double ms = tg_bench_time(ctx, run_conv, &r);
        snprintf(extra, sizeof extra, "\"threads\":%d", tg_get_threads());
        tg_bench_emit(fname, shape, ms, 2 * macs / (ms * 1e6), -1, extra);
        r.backward = true;
        static const tg_conv_dx_path paths[] = {TG_CONV_DX_AUTO, TG_CONV_DX_ROTATED, TG_CONV_DX_COL2IM};
        tg_conv_dx_path saved = tg_conv_get_dx_path();
        for (int p = 0; p < 3; p++) {
            tg_conv_set_dx_path(paths[p]);
            snprintf(fname, sizeof fname, "%s_fwdbwd", name);
            ms = tg_bench_time(ctx, run_conv, &r);
            snprintf(extra, sizeof extra, "\"threads\":%d,\"path\":\"%s\"", tg_get_threads(),
                     tg_conv_dx_path_name(paths[p]));
            tg_bench_emit(fname, shape, ms, 6 * macs / (ms * 1e6), -1, extra);
        }
        tg_conv_set_dx_path(saved);
    }
    tg_tensor_free(dy);
    tg_tensor_free(r.x);
    tg_tensor_free(r.w);
    tg_tape_free(r.tape);
}

void tg_bench_conv(const tg_bench_ctx *ctx)
{
    for (size_t i = 0; i < sizeof conv_shapes / sizeof conv_shapes[0]; i++) bench_shape(ctx, &conv_shapes[i]);
}
