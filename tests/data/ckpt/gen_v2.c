/* tests/data/ckpt/gen_v2.c — writes v2_f32.ckpt / v2_f64.ckpt (checkpoint version 2 with float32
 * or float64 values, input normalisation 1 channel mean 0.25 std 2, epoch 3) and the values as
 * v2_f32_values.npy / v2_f64_values.npy, with the library it is linked against:
 *   cc -std=c11 tests/data/ckpt/gen_v2.c build/libtapegrad.a -lm -lpthread && ./a.out
 *   cc -std=c11 -DTG_REAL_DOUBLE tests/data/ckpt/gen_v2.c build/libtapegrad64.a -lm -lpthread && ./a.out
 * tests/test_checkpoint.c loads each file in both builds (either build reads either type). */
#include <stdio.h>

#include "../../../tapegrad.h"

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_module *net = tg_sequential(NULL);
    tg_sequential_add(net, tg_conv_layer(2, 1, 3, 3, 1, true, &rng));
    tg_sequential_add(net, tg_batch_norm_layer(3));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(3 * 4 * 4, 2, true, &rng));
    tg_named_tensor e[16];
    const int all = tg_module_named_tensors(net, true, e, 16);
    /* values with more digits than a float holds, so a float64 file differs from its float32 rounding */
    for (int i = 0; i < all; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++) e[i].tensor->data[j] += (tg_real)(1e-9 * (double)(j + 1));
    tg_norm_stats norm;
    tg_norm_stats_alloc(&norm, 1);
    norm.mean[0] = 0.25, norm.std[0] = 2;
    int64_t epoch = 3;
    tg_checkpoint_extra extra = {.norm = &norm, .epoch = &epoch};
    const char *tag = sizeof(tg_real) == 4 ? "f32" : "f64";
    char path[128], err[256];
    snprintf(path, sizeof path, "tests/data/ckpt/v2_%s.ckpt", tag);
    if (tg_checkpoint_save_ex(path, net, NULL, NULL, &rng, &extra, err, sizeof err)) return puts(err), 1;
    int64_t total = 0;
    for (int i = 0; i < all; i++) total += e[i].tensor->numel;
    tg_tensor *v = tg_tensor_newv(1, total);
    for (int i = 0, k = 0; i < all; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++) v->data[k++] = e[i].tensor->data[j];
    snprintf(path, sizeof path, "tests/data/ckpt/v2_%s_values.npy", tag);
    if (tg_npy_save(path, v, sizeof(tg_real) == 4 ? TG_NPY_F32 : TG_NPY_F64, err, sizeof err)) return puts(err), 1;
    return 0;
}
