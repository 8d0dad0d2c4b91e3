/* nn/train.c — one training epoch and evaluation for classifiers (cross-entropy, argmax). */
#include "train.h"
#include "module_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ops/loss.h"
#include "../ops/shape.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t count_correct(const tg_tensor *logits, const int64_t *labels, int64_t n)
{
    const int64_t k = logits->shape[1];
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (logits->data[i * k + j] > logits->data[i * k + best]) best = j;
        correct += best == labels[i];
    }
    return correct;
}

/* Batch buffers [batch, C, H, W] and [batch]. */
static int make_buffers(const tg_dataset *d, int64_t batch, tg_tensor **x, tg_tensor **y)
{
    const int64_t xs[4] = {batch, d->c, d->h, d->w};
    *x = tg_tensor_new(TG_REAL, 4, xs);
    *y = tg_tensor_new(TG_INT64, 1, &batch);
    return *x && *y ? 0 : -1;
}

tg_status tg_train_epoch(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                         tg_batch_fn on_batch, void *ctx)
{
    memset(st, 0, sizeof *st);
    tg_tensor *x, *y;
    tg_status status = TG_OK;
    if (make_buffers(b->data, b->batch, &x, &y)) {
        status = TG_ERR_NOMEM;
        tg_fail(tape, "train: out of memory for the batch buffers (batch %lld)", (long long)b->batch);
    }
    tg_batcher_reset(b);
    tg_module_train(net, true);
    /* the loop reads no intermediate's gradient: their buffers serve later ones of the walk */
    const bool released_grads = tg_tape_release_grads(tape);
    tg_tape_set_release_grads(tape, true);
    const double t0 = now_s();
    double loss_sum = 0;
    int64_t correct = 0, n;
    while (status == TG_OK && (n = tg_batcher_next(b, x, y)) == b->batch) {
        tg_tape_reset(tape);
        tg_tensor *logits = tg_module_forward(net, tape, x);
        tg_tensor *loss = logits ? tg_cross_entropy(tape, logits, y) : NULL;
        if (!loss) {
            status = TG_ERR_INVALID;
            break;
        }
        st->last_loss = loss->data[0];
        if (!isfinite(st->last_loss)) {
            /* a step from a NaN/Inf loss would poison every parameter; stop and say where */
            tg_fail(tape, "loss is %s at step %lld of the epoch", isnan(st->last_loss) ? "nan" : "inf",
                    (long long)st->steps + 1);
            status = TG_ERR_NONFINITE;
            break;
        }
        tg_optim_zero_grad(opt);
        tg_status back = tg_backward(loss);
        if (back != TG_OK) {
            status = back == TG_ERR_NONFINITE ? back : TG_ERR_INVALID;
            break;
        }
        if (tg_optim_step(opt)) { /* the message goes where the caller looks: the tape */
            tg_fail(tape, "train: %s", opt->error);
            status = TG_ERR_NOMEM;
            break;
        }
        st->steps++;
        loss_sum += loss->data[0] * (double)n;
        correct += count_correct(logits, y->idata, n);
        st->samples += n;
        st->loss = loss_sum / (double)st->samples;
        st->accuracy = (double)correct / (double)st->samples;
        st->seconds = now_s() - t0;
        if (on_batch) on_batch(ctx, st);
    }
    tg_tape_set_release_grads(tape, released_grads);
    tg_tensor_free(x), tg_tensor_free(y);
    return status;
}

tg_status tg_evaluate(tg_module *net, const tg_dataset *d, int64_t batch, tg_tape *tape, tg_epoch_stats *st)
{
    memset(st, 0, sizeof *st);
    tg_batcher b;
    tg_tensor *x = NULL, *y = NULL;
    if (tg_batcher_init(&b, d, batch, false, 0) != TG_OK || make_buffers(d, batch, &x, &y)) {
        tg_fail(tape, "evaluate: out of memory for the batch buffers (batch %lld)", (long long)batch);
        tg_batcher_free(&b);
        tg_tensor_free(x), tg_tensor_free(y);
        return TG_ERR_NOMEM;
    }
    const bool was = net->training;
    tg_module_train(net, false);
    const double t0 = now_s();
    double loss_sum = 0;
    int64_t correct = 0, n;
    tg_status status = TG_OK;
    while ((n = tg_batcher_next(&b, x, y)) > 0) {
        tg_tape_reset(tape);
        tg_no_grad_begin(tape);
        tg_tensor *xb = n < batch ? tg_slice(tape, x, 0, 0, n, 1) : x, *yb = y;
        if (n < batch && (yb = tg_tape_tensor(tape, TG_INT64, 1, &n))) memcpy(yb->idata, y->idata, (size_t)n * sizeof(int64_t));
        tg_tensor *logits = tg_module_forward(net, tape, xb);
        tg_tensor *loss = logits && yb ? tg_cross_entropy(tape, logits, yb) : NULL;
        tg_no_grad_end(tape);
        if (!loss) {
            status = TG_ERR_INVALID;
            break;
        }
        loss_sum += loss->data[0] * (double)n;
        correct += count_correct(logits, yb->idata, n);
        st->samples += n;
    }
    tg_module_train(net, was);
    if (st->samples) {
        st->loss = loss_sum / (double)st->samples;
        st->accuracy = (double)correct / (double)st->samples;
    }
    st->seconds = now_s() - t0;
    tg_batcher_free(&b);
    tg_tensor_free(x), tg_tensor_free(y);
    return status;
}
