/* tests/test_threads.c — training is the same bits with any thread count: each model below
 * (LeNet-like with dropout, a BN-ResNet with add joins, depthwise-separable with groups, a
 * concat-dense net, a conv1d and a conv3d net) trains a few SGD-momentum steps from the same
 * seed with 1, 2 and 3 threads, and the checkpoints (parameters, BN running statistics, momentum
 * buffers) must be byte-identical. Batches of 13 and 16 images: ranges of unequal size, chunks
 * of dW that do not divide the batch. (tg train's --threads / TG_NUM_THREADS: tests/test_tg.c.) */
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/checkpoint.h"

static void restore_threads(void) { tg_set_threads(1); }

typedef struct model_case {
    const char *name, *spec;
    int64_t batch;
} model_case;

static const model_case models[] = {
    {"lenet", "input 1x28x28\nconv2d out=6 kernel=5 padding=2\nrelu\nmax_pool2d kernel=2 stride=2\n"
              "conv2d out=16 kernel=5\nrelu\nmax_pool2d kernel=2 stride=2\nflatten\nlinear out=32\nrelu\n"
              "dropout p=0.3\nlinear out=10\n", 16},
    /* 32 channels at 14x14, batch 13: Winograd (13*49 tiles >= 512) forward and rotated dX */
    {"bn_resnet", "input 1x28x28\nconv2d out=8 kernel=3 padding=1 bias=0\nbatch_norm\nrelu id=stem\n"
                  "conv2d out=8 kernel=3 padding=1 bias=0\nbatch_norm\nrelu\n"
                  "conv2d out=8 kernel=3 padding=1 bias=0\nbatch_norm\nadd from=stem\nrelu\n"
                  "max_pool2d kernel=2 stride=2\nconv2d out=32 kernel=3 padding=1 bias=0\nbatch_norm\nrelu id=c2\n"
                  "conv2d out=32 kernel=3 padding=1 bias=0\nbatch_norm\nadd from=c2\nrelu\n"
                  "global_avg_pool\nflatten\nlinear out=10\n", 13},
    {"separable", "input 1x28x28\nconv2d out=16 kernel=3 padding=1 bias=0\nbatch_norm\nrelu\n"
                  "conv2d out=16 kernel=3 stride=2 padding=1 groups=16 bias=0\nbatch_norm\nrelu\n"
                  "conv2d out=32 kernel=1 bias=0\nbatch_norm\nrelu\n"
                  "conv2d out=32 kernel=3 padding=1 groups=32 bias=0\nbatch_norm\nrelu\n"
                  "conv2d out=48 kernel=1 bias=0\nbatch_norm\nrelu\nglobal_avg_pool\nflatten\nlinear out=10\n", 16},
    {"concat", "input 1x28x28\nconv2d out=8 kernel=3 padding=1 id=a\nbatch_norm\nrelu id=b\n"
               "conv2d out=8 kernel=3 padding=1\nbatch_norm\nrelu id=c\nconcat from=b,c\n"
               "conv2d out=8 kernel=3 padding=1\nrelu id=d\nconcat from=b,c,d\navg_pool2d kernel=2 stride=2\n"
               "conv2d out=16 kernel=3 padding=1\nrelu\nglobal_max_pool\nflatten\nlinear out=10\n", 13},
    {"conv1d", "input 3x64\nconv1d out=8 kernel=5 padding=2\nbatch_norm\nrelu\nmax_pool1d kernel=2 stride=2\n"
               "conv1d out=16 kernel=3 dilation=2 padding=2\nrelu\nglobal_avg_pool\nflatten\nlinear out=10\n", 16},
    {"conv3d", "input 2x6x10x10\nconv3d out=4 kernel=3 padding=1\nbatch_norm\nrelu\n"
               "conv3d out=8 kernel=3 stride=2 padding=1\nrelu\nglobal_avg_pool\nflatten\nlinear out=10\n", 13},
};
#define TRAIN_STEPS 3

/* Trains model m's case for TRAIN_STEPS steps with `threads` threads and returns the checkpoint's
 * bytes (malloc'd; *len its size). */
static unsigned char *train_bytes(const model_case *mc, int threads, size_t *len)
{
    ck_assert_int_eq(tg_set_threads(threads), TG_OK);
    char err[256];
    tg_model *m = tg_model_parse(mc->spec, mc->name, 5, err, sizeof err);
    ck_assert_msg(m != NULL, "%s: %s", mc->name, err);
    int64_t xs[5] = {mc->batch};
    for (int i = 0; i < m->in_ndim; i++) xs[i + 1] = m->in_shape[i];
    tg_tensor *x = tg_tensor_new(TG_REAL, m->in_ndim + 1, xs), *y = tg_tensor_new(TG_INT64, 1, &mc->batch);
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    tg_named_tensor *named = calloc((size_t)np, sizeof *named);
    tg_tensor **ps = calloc((size_t)np, sizeof *ps);
    tg_module_named_tensors(m->net, false, named, np);
    for (int i = 0; i < np; i++) ps[i] = named[i].tensor;
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.05, cfg.momentum = 0.9;
    tg_optim *opt = tg_optim_new(&cfg);
    tg_optim_add_group(opt, ps, np, NAN, NAN);
    tg_tape *t = tg_tape_new(0);
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (int step = 0; step < TRAIN_STEPS; step++) {
        for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)tg_rng_normal(&rng);
        for (int64_t i = 0; i < mc->batch; i++) y->idata[i] = (int64_t)tg_rng_below(&rng, 10);
        tg_tape_reset(t);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(m->net, t, x), y);
        ck_assert_msg(loss != NULL, "%s: %s", mc->name, tg_error(t));
        tg_optim_zero_grad(opt);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_optim_step(opt);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg_threads_%d_%s.ckpt", threads, mc->name);
    ck_assert_int_eq(tg_checkpoint_save(path, m->net, opt, NULL, NULL, err, sizeof err), TG_OK);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *bytes = malloc(*len);
    ck_assert_uint_eq(fread(bytes, 1, *len, f), *len);
    fclose(f);
    remove(path);
    free(named), free(ps);
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_tensor_free(x), tg_tensor_free(y);
    tg_model_free(m);
    return bytes;
}

START_TEST(training_is_bit_identical_for_any_thread_count)
{
    const model_case *mc = &models[_i];
    size_t len1, len;
    unsigned char *one = train_bytes(mc, 1, &len1);
    for (int threads = 2; threads <= 3; threads++) {
        unsigned char *bytes = train_bytes(mc, threads, &len);
        ck_assert_uint_eq(len, len1);
        size_t first = 0;
        while (first < len && bytes[first] == one[first]) first++;
        ck_assert_msg(first == len, "%s: the checkpoint with %d threads differs from 1 thread's at byte %zu of %zu",
                      mc->name, threads, first, len);
        free(bytes);
    }
    free(one);
}
END_TEST

/* The optimizers update large parameters in blocks on the pool: with 1 and 3 threads every kind
 * gives the same bits, and every element of a 50,001-element parameter (blocks of 16,384 and a
 * short last one) gets exactly the update a one-element parameter with the same value, gradient
 * and state gets (a block skipped or run twice would not). tg_optim_zero_grad clears all of it. */
START_TEST(optimizer_blocks_match_one_element)
{
    const int64_t big_n = 50001, one_n = 1;
    for (int kind = 0; kind < 4; kind++) {
        tg_real first[3] = {0};
        for (int threads = 1; threads <= 3; threads += 2) {
            ck_assert_int_eq(tg_set_threads(threads), TG_OK);
            tg_tensor *big = tg_tensor_new(TG_REAL, 1, &big_n), *one = tg_tensor_new(TG_REAL, 1, &one_n);
            big->requires_grad = one->requires_grad = true;
            tg_optim_config cfg = tg_optim_defaults((tg_optim_kind)kind);
            cfg.lr = 0.1, cfg.weight_decay = 0.01;
            if (kind == TG_OPTIM_SGD || kind == TG_OPTIM_RMSPROP) cfg.momentum = 0.9;
            if (kind == TG_OPTIM_ADAM) cfg.amsgrad = true;
            if (kind == TG_OPTIM_RMSPROP) cfg.centered = true;
            tg_optim *ob = tg_optim_new(&cfg), *oo = tg_optim_new(&cfg);
            tg_optim_add_group(ob, &big, 1, NAN, NAN);
            tg_optim_add_group(oo, &one, 1, NAN, NAN);
            for (int64_t i = 0; i < big_n; i++) big->data[i] = (tg_real)0.5;
            one->data[0] = (tg_real)0.5;
            for (int step = 0; step < 3; step++) {
                tg_optim_zero_grad(ob);
                tg_optim_zero_grad(oo);
                tg_real *gb = tg_tensor_grad(big), *go = tg_tensor_grad(one);
                for (int64_t i = 0; i < big_n; i++) ck_assert(gb[i] == 0);
                for (int64_t i = 0; i < big_n; i++) gb[i] = (tg_real)(0.25 - 0.2 * step);
                go[0] = (tg_real)(0.25 - 0.2 * step);
                ck_assert_int_eq(tg_optim_step(ob), 0);
                ck_assert_int_eq(tg_optim_step(oo), 0);
                for (int64_t i = 0; i < big_n; i++)
                    ck_assert_msg(big->data[i] == one->data[0], "kind %d step %d, %d threads: element %lld is %.9g, want %.9g",
                                  kind, step, threads, (long long)i, (double)big->data[i], (double)one->data[0]);
                if (threads == 1) first[step] = one->data[0];
                else ck_assert(first[step] == one->data[0]);
            }
            ck_assert((double)one->data[0] != 0.5); /* it moved */
            tg_optim_free(ob), tg_optim_free(oo);
            tg_tensor_free(big), tg_tensor_free(one);
        }
    }
}
END_TEST

Suite *suite_threads(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tt_tcase("determinism");
    tcase_add_checked_fixture(tc, NULL, restore_threads);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, training_is_bit_identical_for_any_thread_count, 0, (int)(sizeof models / sizeof models[0]));
    tcase_add_test(tc, optimizer_blocks_match_one_element);
    suite_add_tcase(s, tc);
    return s;
}
