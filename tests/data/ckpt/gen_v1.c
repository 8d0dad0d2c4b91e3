/* tests/data/ckpt/gen_v1.c — wrote v1.ckpt (checkpoint format version 1, float64 values) and
 * v1_values.npy (every parameter and buffer, concatenated, float64) with the float64 library at
 * commit ca2b990, before the format became version 2. Kept for the record; not built by make
 * (today's library writes version 2). tests/test_checkpoint.c loads v1.ckpt in both builds.
 *   cc -std=c11 -DTG_REAL_DOUBLE tests/data/ckpt/gen_v1.c build/libtapegrad64.a -lm -lpthread */
#include <stdio.h>
#include <stdlib.h>

#include "../../../tapegrad.h"

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_module *net = tg_sequential(NULL);
    tg_sequential_add(net, tg_conv_layer(2, 1, 3, 3, 1, true, &rng));
    tg_sequential_add(net, tg_batch_norm_layer(3));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(3 * 4 * 4, 2, true, &rng));
    tg_named_tensor e[16];
    tg_tensor *ps[16];
    const int n = tg_module_named_tensors(net, false, e, 16);
    for (int i = 0; i < n; i++) ps[i] = e[i].tensor;
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAM);
    c.lr = 0.01;
    tg_optim *opt = tg_optim_new(&c);
    tg_optim_add_params_split_decay(opt, ps, n);
    tg_tape *tape = tg_tape_new(0);
    tg_tensor *x = tg_tensor_newv(4, (int64_t)4, (int64_t)1, (int64_t)6, (int64_t)6);
    tg_tensor *y = tg_tensor_new(TG_INT64, 1, (const int64_t[]){4});
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)tg_rng_normal(&rng);
        for (int i = 0; i < 4; i++) y->idata[i] = (int64_t)tg_rng_below(&rng, 2);
        tg_tape_reset(tape);
        tg_tensor *loss = tg_cross_entropy(tape, tg_module_forward(net, tape, x), y);
        tg_optim_zero_grad(opt);
        tg_backward(loss);
        tg_optim_step(opt);
    }
    char err[256];
    if (tg_checkpoint_save("tests/data/ckpt/v1.ckpt", net, opt, NULL, &rng, err, sizeof err)) return puts(err), 1;
    const int all = tg_module_named_tensors(net, true, e, 16);
    int64_t total = 0;
    for (int i = 0; i < all; i++) total += e[i].tensor->numel;
    tg_tensor *v = tg_tensor_newv(1, total);
    for (int i = 0, k = 0; i < all; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++) v->data[k++] = e[i].tensor->data[j];
    if (tg_npy_save("tests/data/ckpt/v1_values.npy", v, TG_NPY_F64, err, sizeof err)) return puts(err), 1;
    printf("%d tensors, %lld values\n", all, (long long)total);
    return 0;
}
