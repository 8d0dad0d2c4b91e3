/* tools/bench_train.c — whole-model training throughput: one SGD step (forward, cross-entropy,
 * backward, update) of the notes' LeNet-5 on a batch of 64 random 1x28x28 images. Reports ms per
 * step, GFLOP/s counting 3 x 2 x MACs per image (forward, dX and dW) and images/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tapegrad.h"
#include "bench.h"

typedef struct train_case {
    tg_model *model;
    tg_optim *opt;
    tg_tape *tape;
    tg_tensor *x, *y;
} train_case;

static void train_step(void *arg)
{
    train_case *c = arg;
    tg_tape_reset(c->tape);
    tg_tensor *loss = tg_cross_entropy(c->tape, tg_module_forward(c->model->net, c->tape, c->x), c->y);
    tg_optim_zero_grad(c->opt);
    if (loss) tg_backward(loss);
    tg_optim_step(c->opt);
}

static void bench_model(const tg_bench_ctx *ctx, const char *name, const char *spec, int64_t batch)
{
    if (!tg_bench_selected(ctx, name)) return;
    char err[256];
    train_case c = {0};
    c.model = tg_model_parse(spec, name, 1, err, sizeof err);
    if (!c.model) {
        fprintf(stderr, "bench %s: %s\n", name, err);
        return;
    }
    int64_t params, macs;
    tg_summary_totals(c.model, &params, &macs, err, sizeof err);
    int64_t xs[5] = {batch};
    for (int i = 0; i < c.model->in_ndim; i++) xs[i + 1] = c.model->in_shape[i];
    c.x = tg_tensor_new(TG_REAL, c.model->in_ndim + 1, xs);
    c.y = tg_tensor_new(TG_INT64, 1, &batch);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    for (int64_t i = 0; i < c.x->numel; i++) c.x->data[i] = (tg_real)tg_rng_normal(&rng);
    for (int64_t i = 0; i < batch; i++) c.y->idata[i] = (int64_t)tg_rng_below(&rng, 10);
    const int np = tg_module_named_tensors(c.model->net, false, NULL, 0);
    tg_named_tensor *named = calloc((size_t)np, sizeof *named);
    tg_tensor **ps = calloc((size_t)np, sizeof *ps);
    tg_module_named_tensors(c.model->net, false, named, np);
    for (int i = 0; i < np; i++) ps[i] = named[i].tensor;
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.02, cfg.momentum = 0.9;
    c.opt = tg_optim_new(&cfg);
    tg_optim_add_group(c.opt, ps, np, NAN, NAN);
    c.tape = tg_tape_new(0);
    const double ms = tg_bench_time(ctx, train_step, &c);
    char shape[64], extra[96];
    snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld", (long long)batch, (long long)xs[1], (long long)xs[2],
             (long long)xs[3]);
    snprintf(extra, sizeof extra, "\"img_per_s\":%.1f,\"threads\":%d", batch / (ms / 1e3), ctx->threads);
    tg_bench_emit(name, shape, ms, 6.0 * (double)macs * (double)batch / (ms * 1e6), -1, extra);
    free(named), free(ps);
    tg_tape_free(c.tape);
    tg_optim_free(c.opt);
    tg_tensor_free(c.x), tg_tensor_free(c.y);
    tg_model_free(c.model);
}

void tg_bench_train(const tg_bench_ctx *ctx)
{
    bench_model(ctx, "train_lenet5",
                "input 1x28x28\nconv2d out=20 kernel=5 padding=2\nrelu\nmax_pool2d kernel=2 stride=2\n"
                "conv2d out=50 kernel=5 padding=2\nrelu\nmax_pool2d kernel=2 stride=2\nflatten\n"
                "linear out=500\nrelu\nlinear out=10\n",
                64);
}
