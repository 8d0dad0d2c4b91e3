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

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}
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
    uint8_t *b = slurp("build/nn_test2.ckpt", &len);
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

Suite *suite_checkpoint(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tt_tcase("checkpoint");
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, rejects_bad_files);
    tcase_add_test(tc, npy_single_tensors);
    suite_add_tcase(s, tc);
    return s;
}
