/* examples/resnet_mini.c — a small residual network with batch norm, built from C and trained on
 * Fashion-MNIST with random horizontal flips and random crops (padding 2), SGD with momentum,
 * weight decay kept off BN and biases, and a cosine learning-rate schedule.
 *
 *   stem: conv3x3(1->W) BN ReLU                      (W = width, default 16)
 *   2 x basic block(W): conv3x3 BN ReLU conv3x3 BN, + identity, ReLU
 *   max_pool 2, conv3x3(W->2W) BN ReLU, basic block(2W), max_pool 2
 *   global average pool, linear(2W->10)
 *
 *   build/examples/resnet_mini [epochs] [data_dir] [train_limit] [width]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"

static tg_module *add(tg_module *seq, tg_module *m, const char *id)
{
    tg_module *c = tg_sequential_add(seq, m);
    if (c && id) tg_module_set_id(c, id, NULL, 0); /* ids here are short literals */
    return c;
}

/* conv3x3 (padding 1, no bias: BN follows) -> BN [-> ReLU] */
static void conv_bn(tg_module *seq, int64_t in, int64_t out, bool relu, const char *id, tg_rng *rng)
{
    char err[128];
    tg_module *c = add(seq, tg_conv_layer(2, in, out, 3, 1, false, rng), NULL);
    tg_module_set(c, "padding", "1", err, sizeof err);
    add(seq, tg_batch_norm_layer(out), relu ? NULL : id);
    if (relu) add(seq, tg_op_layer("relu"), id);
}

/* The basic block: two conv-BN, the identity added before the last ReLU. `in_id` names the
 * block's input, `out_id` its output. */
static void basic_block(tg_module *seq, int64_t ch, const char *in_id, const char *out_id, tg_rng *rng)
{
    conv_bn(seq, ch, ch, true, NULL, rng);
    conv_bn(seq, ch, ch, false, NULL, rng);
    add(seq, tg_add_layer(in_id), NULL);
    add(seq, tg_op_layer("relu"), out_id);
}

static void pool2(tg_module *seq, const char *id)
{
    char err[128];
    tg_module *p = add(seq, tg_op_layer("max_pool2d"), id);
    tg_module_set(p, "kernel_size", "2", err, sizeof err);
    tg_module_set(p, "stride", "2", err, sizeof err);
}

int main(int argc, char **argv)
{
    const int epochs = argc > 1 ? atoi(argv[1]) : 15;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    const int64_t limit = argc > 3 ? atoll(argv[3]) : 0;
    const int64_t width = argc > 4 ? atoll(argv[4]) : 16;
    if (epochs < 1 || width < 1) {
        fprintf(stderr, "usage: resnet_mini [epochs >= 1] [data_dir] [train_limit] [width >= 1]\n");
        return 1;
    }
    char err[256];
    tg_dataset *train, *test;
    if (tg_dataset_load_mnist_dir(dir, true, &train, err, sizeof err) != TG_OK ||
        tg_dataset_load_mnist_dir(dir, false, &test, err, sizeof err) != TG_OK) {
        fprintf(stderr, "%s\n(install with: sudo apt-get install dataset-fashion-mnist)\n", err);
        return 1;
    }
    if (limit > 0 && limit < train->n) train->n = limit;
    tg_dataset_normalize(train, 0.2860, 0.3530);
    tg_dataset_normalize(test, 0.2860, 0.3530);

    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_module *net = tg_sequential("resnet_mini");
    conv_bn(net, 1, width, true, "stem", &rng);
    basic_block(net, width, "stem", "b1", &rng);
    basic_block(net, width, "b1", "b2", &rng);
    pool2(net, NULL);
    conv_bn(net, width, 2 * width, true, "t", &rng);
    basic_block(net, 2 * width, "t", "b3", &rng);
    pool2(net, NULL);
    add(net, tg_op_layer("global_avg_pool"), NULL);
    add(net, tg_op_layer("flatten"), NULL);
    add(net, tg_linear_layer(2 * width, 10, true, &rng), NULL);
    tg_model *model = tg_model_wrap(net, 3, (const int64_t[]){1, 28, 28}, err, sizeof err);
    int64_t params = 0, macs = 0;
    if (!model || tg_summary_totals(model, &params, &macs, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("resnet_mini: %lld parameters, %lld MACs per image\n", (long long)params, (long long)macs);
    fflush(stdout);

    tg_named_tensor named[64];
    tg_tensor *ps[64];
    const int n = tg_module_named_tensors(net, false, named, 64);
    for (int i = 0; i < n; i++) ps[i] = named[i].tensor;
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.05, cfg.momentum = 0.9, cfg.weight_decay = 5e-4, cfg.nesterov = true;
    tg_optim *opt = tg_optim_new(&cfg);
    tg_optim_add_params_split_decay(opt, ps, n);
    tg_sched *sched = tg_sched_new(opt, &(tg_sched_config){.kind = TG_SCHED_COSINE, .t_max = epochs});

    tg_tape *tape = tg_tape_new(0);
    tg_batcher batches;
    tg_batcher_init(&batches, train, 64, true, 7);
    batches.augment = (tg_augment){.hflip = true, .crop_padding = 2};
    double total_s = 0;
    for (int e = 1; e <= epochs; e++) {
        tg_epoch_stats tr, te;
        if (tg_train_epoch(net, opt, &batches, tape, &tr, NULL, NULL) != TG_OK ||
            tg_evaluate(net, test, 256, tape, &te) != TG_OK) {
            fprintf(stderr, "%s\n", tg_error(tape));
            return 1;
        }
        total_s += tr.seconds + te.seconds;
        printf("epoch %d: lr %.4f train loss %.4f acc %.4f, test acc %.4f, %.0f images/s, %.0fs so far\n", e,
               opt->groups[0].lr, tr.loss, tr.accuracy, te.accuracy, (double)tr.samples / tr.seconds, total_s);
        fflush(stdout);
        tg_sched_step(sched);
    }
    tg_batcher_free(&batches);
    tg_tape_free(tape);
    tg_sched_free(sched);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(train), tg_dataset_free(test);
    return 0;
}
