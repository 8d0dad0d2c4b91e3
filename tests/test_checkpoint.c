/* tests/test_checkpoint.c — round trip, bit-identical resume (params, BN stats, optimizer state,
 * schedule, RNG), rejection of truncated / altered / mismatched files leaving the model untouched,
 * and .npy import/export of single tensors. Files go under build/. */
#include "util.h"

#include <stdlib.h>

static tg_module *make_net(uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_module *net = tg_sequential(NULL);
    tg_sequential_add(net, tg_conv_layer(2, 1, 3, 3, 1, true, &rng));
    tg_sequential_add(net, tg_batch_norm_layer(3));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(3 * 4 * 4, 2, true, &rng));
    return net;
}

typedef struct trainer {
    tg_module *net;
    tg_optim *opt;
    tg_sched *sched;
    tg_rng rng;     /* draws the synthetic batches: part of the resumable state */
    tg_tape *tape;
    tg_tensor *x, *y;
} trainer;

static void trainer_init(trainer *tr, uint64_t seed)
{
    tr->net = make_net(seed);
    tg_named_tensor e[16];
    tg_tensor *ps[16];
    const int n = tg_module_named_tensors(tr->net, false, e, 16);
    for (int i = 0; i < n; i++) ps[i] = e[i].tensor;
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAMW);
    c.lr = 0.01, c.amsgrad = true;
    tr->opt = tg_optim_new(&c);
    tg_optim_add_params_split_decay(tr->opt, ps, n);
    tr->sched = tg_sched_new(tr->opt, &(tg_sched_config){.kind = TG_SCHED_STEP, .step_size = 2, .gamma = 0.5});
    tg_rng_seed(&tr->rng, 99);
    tr->tape = tg_tape_new(0);
    tr->x = tg_tensor_newv(4, (int64_t)4, (int64_t)1, (int64_t)6, (int64_t)6);
    tr->y = tg_tensor_new(TG_INT64, 1, (const int64_t[]){4});
}

static void trainer_free(trainer *tr)
{
    tg_module_free(tr->net);
    tg_sched_free(tr->sched);
    tg_optim_free(tr->opt);
    tg_tape_free(tr->tape);
    tg_tensor_free(tr->x), tg_tensor_free(tr->y);
}

static void train_steps(trainer *tr, int steps)
{
    for (int s = 0; s < steps; s++) {
        for (int64_t i = 0; i < tr->x->numel; i++) tr->x->data[i] = (tg_real)tg_rng_normal(&tr->rng);
        for (int i = 0; i < 4; i++) tr->y->idata[i] = (int64_t)tg_rng_below(&tr->rng, 2);
        tg_tape_reset(tr->tape);
        tg_tensor *loss = tg_cross_entropy(tr->tape, tg_module_forward(tr->net, tr->tape, tr->x), tr->y);
        ck_assert_msg(loss != NULL, "%s", tg_error(tr->tape));
        tg_optim_zero_grad(tr->opt);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_optim_step(tr->opt);
        tg_sched_step(tr->sched);
    }
}

/* Every parameter and buffer of two nets is bitwise equal. */
static void assert_same_nets(tg_module *a, tg_module *b)
{
    tg_named_tensor ea[16], eb[16];
    const int n = tg_module_named_tensors(a, true, ea, 16);
    ck_assert_int_eq(tg_module_named_tensors(b, true, eb, 16), n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(!memcmp(ea[i].tensor->data, eb[i].tensor->data, (size_t)ea[i].tensor->numel * sizeof(tg_real)),
                      "%s differs", ea[i].name);
}

START_TEST(resume_is_bit_identical)
{
    char err[256];
    trainer a, b;
    trainer_init(&a, 1);
    train_steps(&a, 3);
    ck_assert_int_eq(tg_checkpoint_save("build/nn_test.ckpt", a.net, a.opt, a.sched, &a.rng, err, sizeof err), TG_OK);
    train_steps(&a, 4);
    /* a fresh trainer with other initial weights resumes from the file */
    trainer_init(&b, 2);
    ck_assert_int_eq(tg_checkpoint_load("build/nn_test.ckpt", b.net, b.opt, b.sched, &b.rng, err, sizeof err), TG_OK);
    ck_assert_int_eq(b.sched->t, 3);
    ck_assert_double_eq(b.opt->groups[0].lr, 0.005);
    train_steps(&b, 4);
    assert_same_nets(a.net, b.net);
    ck_assert_int_eq(a.opt->slots[0].step, b.opt->slots[0].step);
    ck_assert_int_eq(a.rng.s[0], b.rng.s[0]);
    trainer_free(&a);
    trainer_free(&b);
}
END_TEST

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Loading path must fail with the message and leave net's values as they were. */
static void expect_rejected(const char *path, tg_module *net, tg_optim *opt, const char *want)
{
    tg_module *before = make_net(5);
    char err[256];
    tg_named_tensor e[16], f[16];
    const int n = tg_module_named_tensors(net, true, e, 16);
    tg_module_named_tensors(before, true, f, 16);
    for (int i = 0; i < n; i++) memcpy(f[i].tensor->data, e[i].tensor->data, (size_t)e[i].tensor->numel * sizeof(tg_real));
    ck_assert_int_ne(tg_checkpoint_load(path, net, opt, NULL, NULL, err, sizeof err), TG_OK);
    ck_assert_msg(strstr(err, want) != NULL, "got '%s', want '%s'", err, want);
    assert_same_nets(net, before);
    tg_module_free(before);
}

START_TEST(rejects_bad_files)
{
    char err[256];
    tg_module *net = make_net(3);
    ck_assert_int_eq(tg_checkpoint_save("build/nn_test2.ckpt", net, NULL, NULL, NULL, err, sizeof err), TG_OK);
    size_t len;
    uint8_t *b = tt_slurp("build/nn_test2.ckpt", &len);
    tg_module *other = make_net(4);
    /* intact file loads into another net of the same architecture */
    ck_assert_int_eq(tg_checkpoint_load("build/nn_test2.ckpt", other, NULL, NULL, NULL, err, sizeof err), TG_OK);
    assert_same_nets(net, other);
    tg_module_free(other);
    other = make_net(4);
    spit("build/nn_bad.ckpt", b, len - 9);
    expect_rejected("build/nn_bad.ckpt", other, NULL, "checksum mismatch");
    b[len / 2] ^= 0x40;
    spit("build/nn_bad.ckpt", b, len);
    expect_rejected("build/nn_bad.ckpt", other, NULL, "checksum mismatch (truncated or altered file)");
    b[len / 2] ^= 0x40;
    b[0] = 'X';
    spit("build/nn_bad.ckpt", b, len);
    expect_rejected("build/nn_bad.ckpt", other, NULL, "not a tapegrad checkpoint (bad magic)");
    b[0] = 'T';
    spit("build/nn_bad.ckpt", b, 5);
    expect_rejected("build/nn_bad.ckpt", other, NULL, "bad magic");
    /* a net of another shape: names match but shapes do not */
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_module *wider = tg_sequential(NULL);
    tg_sequential_add(wider, tg_conv_layer(2, 1, 4, 3, 1, true, &rng));
    tg_sequential_add(wider, tg_batch_norm_layer(4));
    tg_sequential_add(wider, tg_op_layer("relu"));
    tg_sequential_add(wider, tg_op_layer("flatten"));
    tg_sequential_add(wider, tg_linear_layer(4 * 4 * 4, 2, true, &rng));
    ck_assert_int_eq(tg_checkpoint_load("build/nn_test2.ckpt", wider, NULL, NULL, NULL, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "build/nn_test2.ckpt: '0.weight' has another shape than the model's [4,1,3,3]");
    /* asked for optimizer state the file does not have */
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    tg_optim *opt = tg_optim_new(&c);
    expect_rejected("build/nn_test2.ckpt", other, opt, "has no optimizer state");
    ck_assert_int_eq(tg_checkpoint_load("build/none.ckpt", other, NULL, NULL, NULL, err, sizeof err), TG_ERR_IO);
    tg_optim_free(opt);
    tg_module_free(wider);
    tg_module_free(other);
    tg_module_free(net);
    free(b);
}
END_TEST

START_TEST(npy_single_tensors)
{
    char err[256];
    tg_module *a = make_net(1), *b = make_net(2);
    ck_assert_int_eq(tg_module_save_npy(a, "4.weight", "build/nn_w.npy", err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_module_load_npy(b, "4.weight", "build/nn_w.npy", err, sizeof err), TG_OK);
    const tg_tensor *wa = a->children[4]->params[0], *wb = b->children[4]->params[0];
    for (int64_t i = 0; i < wa->numel; i++) ck_assert_float_eq((float)wa->data[i], (float)wb->data[i]);
    ck_assert_int_eq(tg_module_load_npy(b, "0.weight", "build/nn_w.npy", err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "build/nn_w.npy: shape [2,48] does not match '0.weight' [3,1,3,3]");
    ck_assert_int_eq(tg_module_load_npy(b, "9.weight", "build/nn_w.npy", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "build/nn_w.npy: the model has no tensor '9.weight'");
    tg_module_free(a);
    tg_module_free(b);
}
END_TEST


/* Every value of net (parameters and buffers in named order) against a float64 or float32 .npy;
 * loading converts the way the file's own values convert: (tg_real)value, so equality is exact. */
static void assert_values(tg_module *net, const char *npy_path)
{
    char err[256];
    tg_tensor *want = NULL;
    ck_assert_msg(tg_npy_load(npy_path, &want, NULL, err, sizeof err) == TG_OK, "%s", err);
    tg_named_tensor e[16];
    const int n = tg_module_named_tensors(net, true, e, 16);
    int64_t k = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++, k++)
            ck_assert_msg(e[i].tensor->data[j] == want->data[k], "%s[%lld]: %.17g, want %.17g", e[i].name,
                          (long long)j, (double)e[i].tensor->data[j], (double)want->data[k]);
    ck_assert_int_eq(k, want->numel);
    tg_tensor_free(want);
}

/* A version-1 file (float64 values, written before version 2 existed) still loads, with its Adam
 * state, in either build; it has no normalisation (n 0) and no epoch (0). */
START_TEST(version1_file_still_loads)
{
    char err[256];
    tg_module *net = make_net(1);
    tg_named_tensor e[16];
    tg_tensor *ps[16];
    const int n = tg_module_named_tensors(net, false, e, 16);
    for (int i = 0; i < n; i++) ps[i] = e[i].tensor;
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAM);
    tg_optim *opt = tg_optim_new(&c);
    tg_optim_add_params_split_decay(opt, ps, n);
    tg_rng rng = {{0}};
    tg_norm_stats norm = {0};
    int64_t epoch = 77;
    tg_checkpoint_extra extra = {.norm = &norm, .epoch = &epoch};
    ck_assert_msg(tg_checkpoint_load_ex("tests/data/ckpt/v1.ckpt", net, opt, NULL, &rng, &extra, err, sizeof err) ==
                      TG_OK, "%s", err);
    assert_values(net, "tests/data/ckpt/v1_values.npy");
    ck_assert_int_eq(opt->slots[0].step, 3);
    ck_assert_ptr_nonnull(opt->slots[0].state[0]);
    ck_assert_int_ne(rng.s[0], 0);
    ck_assert_int_eq(norm.n, 0);
    ck_assert_int_eq(epoch, 0);
    tg_optim_free(opt);
    tg_module_free(net);
}
END_TEST

/* Version 2 records the value type: the float32 build writes 4-byte values (the file is about
 * half the float64 one), and either build loads either file, converting. */
START_TEST(value_type_recorded_and_converted)
{
    char err[256];
    const char *const files[2][2] = {{"tests/data/ckpt/v2_f32.ckpt", "tests/data/ckpt/v2_f32_values.npy"},
                                     {"tests/data/ckpt/v2_f64.ckpt", "tests/data/ckpt/v2_f64_values.npy"}};
    for (int f = 0; f < 2; f++) {
        tg_module *net = make_net(1);
        tg_norm_stats norm = {0};
        int64_t epoch = 0;
        tg_checkpoint_extra extra = {.norm = &norm, .epoch = &epoch};
        ck_assert_msg(tg_checkpoint_load_ex(files[f][0], net, NULL, NULL, NULL, &extra, err, sizeof err) == TG_OK, "%s",
                      err);
        assert_values(net, files[f][1]);
        ck_assert_int_eq(norm.n, 1);
        ck_assert_double_eq(norm.mean[0], 0.25);
        ck_assert_double_eq(norm.std[0], 2);
        ck_assert_int_eq(epoch, 3);
        tg_norm_stats_free(&norm);
        tg_module_free(net);
    }
    /* this build's own file: the value type field and the size */
    tg_module *net = make_net(2);
    ck_assert_int_eq(tg_checkpoint_save("build/nn_type.ckpt", net, NULL, NULL, NULL, err, sizeof err), TG_OK);
    size_t len, len32, len64;
    uint8_t *b = tt_slurp("build/nn_type.ckpt", &len);
    ck_assert_int_eq(b[8], 2);            /* version */
    ck_assert_int_eq(b[16], sizeof(tg_real)); /* value type: bytes per value */
    free(tt_slurp("tests/data/ckpt/v2_f32.ckpt", &len32));
    free(tt_slurp("tests/data/ckpt/v2_f64.ckpt", &len64));
    const int64_t values = 140, extras = 8 + 2 * 8 + 8 + 4 * 8; /* norm (n, mean, std), epoch, rng */
    ck_assert_int_eq((int64_t)len64 - (int64_t)len32, 4 * values);
    ck_assert_int_eq((int64_t)len, (sizeof(tg_real) == 4 ? (int64_t)len32 : (int64_t)len64) - extras);
    /* a value type that is neither 4 nor 8 is named */
    b[16] = 3;
    const uint32_t crc = tg_crc32(0, b, len - 8);
    for (int i = 0; i < 4; i++) b[len - 8 + i] = (uint8_t)(crc >> (8 * i));
    spit("build/nn_bad_type.ckpt", b, len);
    expect_rejected("build/nn_bad_type.ckpt", net, NULL, "value size 3 is neither 4 (float32) nor 8 (float64)");
    free(b);
    tg_module_free(net);
}
END_TEST

/* Normalisation statistics and the epoch round-trip; a bad std is refused with nothing loaded. */
START_TEST(normalisation_and_epoch_round_trip)
{
    char err[256];
    tg_module *net = make_net(3), *other = make_net(4);
    tg_norm_stats norm;
    ck_assert_int_eq(tg_norm_stats_alloc(&norm, 3), TG_OK);
    for (int c = 0; c < 3; c++) norm.mean[c] = 0.1 * (c + 1), norm.std[c] = 0.5 + c;
    int64_t epoch = 12;
    tg_checkpoint_extra extra = {.norm = &norm, .epoch = &epoch};
    ck_assert_int_eq(tg_checkpoint_save_ex("build/nn_norm.ckpt", net, NULL, NULL, NULL, &extra, err, sizeof err), TG_OK);
    tg_norm_stats got = {0};
    int64_t got_epoch = 0;
    tg_checkpoint_extra back = {.norm = &got, .epoch = &got_epoch};
    ck_assert_int_eq(tg_checkpoint_load_ex("build/nn_norm.ckpt", other, NULL, NULL, NULL, &back, err, sizeof err), TG_OK);
    assert_same_nets(net, other);
    ck_assert_int_eq(got.n, 3);
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq(got.mean[c], norm.mean[c]);
        ck_assert_double_eq(got.std[c], norm.std[c]);
    }
    ck_assert_int_eq(got_epoch, 12);
    /* the last std is the 8 bytes before the epoch and the checksum: make it negative */
    size_t len;
    uint8_t *b = tt_slurp("build/nn_norm.ckpt", &len);
    b[len - 8 - 8 - 1] ^= 0x80;
    const uint32_t crc = tg_crc32(0, b, len - 8);
    for (int i = 0; i < 4; i++) b[len - 8 + i] = (uint8_t)(crc >> (8 * i));
    spit("build/nn_bad_norm.ckpt", b, len);
    tg_module *fresh = make_net(6);
    tg_norm_stats keep = got;
    ck_assert_int_eq(tg_checkpoint_load_ex("build/nn_bad_norm.ckpt", fresh, NULL, NULL, NULL, &back, err, sizeof err),
                     TG_ERR_FORMAT);
    ck_assert_str_eq(err, "build/nn_bad_norm.ckpt: a normalisation std is not a positive finite number");
    ck_assert_ptr_eq(got.mean, keep.mean); /* the caller's statistics are untouched */
    expect_rejected("build/nn_bad_norm.ckpt", other, NULL, "a normalisation std is not a positive finite number");
    free(b);
    tg_norm_stats_free(&got);
    tg_norm_stats_free(&norm);
    tg_module_free(fresh);
    tg_module_free(net);
    tg_module_free(other);
}
END_TEST

Suite *suite_checkpoint(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tt_tcase("checkpoint");
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, rejects_bad_files);
    tcase_add_test(tc, npy_single_tensors);
    tcase_add_test(tc, version1_file_still_loads);
    tcase_add_test(tc, value_type_recorded_and_converted);
    tcase_add_test(tc, normalisation_and_epoch_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
