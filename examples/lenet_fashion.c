/* examples/lenet_fashion.c — the notes' LeNet-5 (seeds/000 §7.12.1) built from C, trained on
 * Fashion-MNIST with SGD (lr 0.02, momentum 0.9, batch 64): the same model as
 * models/lenet5.txt, which `tg train` and `make run` use.
 *
 *   build/examples/lenet_fashion [epochs] [data_dir]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tapegrad.h"

/* conv(k5, padding 2) -> relu -> max_pool(2, 2) */
static void conv_block(tg_module *net, int64_t in, int64_t out, tg_rng *rng)
{
    char err[128];
    tg_module *conv = tg_sequential_add(net, tg_conv_layer(2, in, out, 5, 1, true, rng));
    tg_module_set(conv, "padding", "2", err, sizeof err);
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_module *pool = tg_sequential_add(net, tg_op_layer("max_pool2d"));
    tg_module_set(pool, "kernel_size", "2", err, sizeof err);
    tg_module_set(pool, "stride", "2", err, sizeof err);
}

int main(int argc, char **argv)
{
    const int epochs = argc > 1 ? atoi(argv[1]) : 2;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    char err[256];
    tg_dataset *train, *test;
    if (tg_dataset_load_mnist_dir(dir, true, &train, err, sizeof err) != TG_OK ||
        tg_dataset_load_mnist_dir(dir, false, &test, err, sizeof err) != TG_OK) {
        fprintf(stderr, "%s\n(install with: sudo apt-get install dataset-fashion-mnist)\n", err);
        return 1;
    }
    tg_dataset_normalize(train, 0.2860, 0.3530);
    tg_dataset_normalize(test, 0.2860, 0.3530);

    tg_rng rng;
    tg_rng_seed(&rng, 42);
    tg_module *net = tg_sequential("lenet5");
    conv_block(net, 1, 20, &rng);
    conv_block(net, 20, 50, &rng);
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(50 * 7 * 7, 500, true, &rng));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_linear_layer(500, 10, true, &rng));
    tg_model *model = tg_model_wrap(net, 3, (const int64_t[]){1, 28, 28}, err, sizeof err);
    char *summary = model ? tg_summary(model, err, sizeof err) : NULL;
    if (!summary) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    fputs(summary, stdout);
    free(summary);

    tg_named_tensor named[16];
    tg_tensor *params[16];
    const int n = tg_module_named_tensors(net, false, named, 16);
    for (int i = 0; i < n; i++) params[i] = named[i].tensor;
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.02, cfg.momentum = 0.9;
    tg_optim *opt = tg_optim_new(&cfg);
    tg_optim_add_group(opt, params, n, NAN, NAN);

    tg_tape *tape = tg_tape_new(0);
    tg_batcher batches;
    tg_batcher_init(&batches, train, 64, true, 42);
    for (int e = 1; e <= epochs; e++) {
        tg_epoch_stats tr, te;
        if (tg_train_epoch(net, opt, &batches, tape, &tr, NULL, NULL) != TG_OK ||
            tg_evaluate(net, test, 256, tape, &te) != TG_OK) {
            fprintf(stderr, "%s\n", tg_error(tape));
            return 1;
        }
        printf("epoch %d: train loss %.4f acc %.4f, test acc %.4f, %.0f images/s\n", e, tr.loss, tr.accuracy,
               te.accuracy, (double)tr.samples / tr.seconds);
    }
    tg_batcher_free(&batches);
    tg_tape_free(tape);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(train), tg_dataset_free(test);
    return 0;
}
