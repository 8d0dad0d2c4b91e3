/* tests/test_predict.c — the deployment C API (nn/train.h's tg_predictor): a spec plus a
 * checkpoint, its stored input normalisation applied, softmax probabilities computed by hand,
 * confusion counts, and refusals (wrong input shape, a label outside the classes, a model without
 * class scores, statistics for another channel count). Files go under build/. */
#include "util.h"

#include <math.h>
#include <stdlib.h>

/* input 2 -> linear out=3 with W = [[1,0],[0,1],[1,1]], b = [0, 0.5, -1], normalisation mean
 * (1, 2) std (2, 4), saved as build/pr.ckpt next to build/pr.txt */
static void write_model(const char *spec_text, bool with_norm, int64_t norm_channels)
{
    FILE *f = fopen("build/pr.txt", "w");
    ck_assert_ptr_nonnull(f);
    fputs(spec_text, f);
    fclose(f);
    char err[512];
    tg_model *m = tg_model_load("build/pr.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_named_tensor e[8];
    const int n = tg_module_named_tensors(m->net, true, e, 8);
    const tg_real w[6] = {1, 0, 0, 1, 1, 1}, b[3] = {0, 0.5, -1};
    for (int i = 0; i < n; i++) {
        if (!strcmp(e[i].name, "0.weight") && e[i].tensor->numel == 6) memcpy(e[i].tensor->data, w, sizeof w);
        if (!strcmp(e[i].name, "0.bias") && e[i].tensor->numel == 3) memcpy(e[i].tensor->data, b, sizeof b);
    }
    tg_norm_stats norm = {0};
    ck_assert_int_eq(tg_norm_stats_alloc(&norm, norm_channels), TG_OK);
    for (int64_t c = 0; c < norm_channels; c++) norm.mean[c] = (double)(c + 1), norm.std[c] = 2.0 * (double)(c + 1);
    tg_checkpoint_extra extra = {.norm = with_norm ? &norm : NULL};
    ck_assert_int_eq(tg_checkpoint_save_ex("build/pr.ckpt", m->net, NULL, NULL, NULL, &extra, err, sizeof err), TG_OK);
    tg_norm_stats_free(&norm);
    tg_model_free(m);
}

static const char linear_spec[] = "input 2\nlinear out=3\n";

START_TEST(probabilities_by_hand)
{
    char err[512];
    write_model(linear_spec, true, 2);
    tg_predictor *p = tg_predictor_load("build/pr.txt", "build/pr.ckpt", err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(p->n_classes, 3);
    ck_assert_int_eq(p->ckpt_version, 2);
    tg_tensor *x = tg_tensor_newv(2, (int64_t)2, (int64_t)2);
    const tg_real raw[4] = {3, 6, 1, 2}; /* normalised: (1, 1) and (0, 0) */
    memcpy(x->data, raw, sizeof raw);
    tg_real probs[6];
    ck_assert_msg(tg_predict(p, x, probs, err, sizeof err) == TG_OK, "%s", err);
    /* logits (1, 1.5, 1) and (0, 0.5, -1) */
    const double logits[2][3] = {{1, 1.5, 1}, {0, 0.5, -1}};
    for (int i = 0; i < 2; i++) {
        double z = 0;
        for (int j = 0; j < 3; j++) z += exp(logits[i][j]);
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq_tol((double)probs[i * 3 + j], exp(logits[i][j]) / z, 1e-6);
    }
    ck_assert_double_eq(raw[0], x->data[0]); /* the caller's input is not normalised in place */

    /* confusion counts: sample 0 predicts 1, sample 1 predicts 1 */
    tg_dataset d = {.n = 2, .c = 2, .h = 1, .w = 1, .sample_ndim = 1, .n_classes = 3};
    float images[4] = {3, 6, 1, 2};
    int64_t labels[2] = {1, 2}, cm[9];
    d.images = images, d.labels = labels;
    ck_assert_int_eq(tg_predictor_confusion(p, &d, cm, err, sizeof err), TG_OK);
    const int64_t want[9] = {0, 0, 0, 0, 1, 0, 0, 1, 0};
    for (int i = 0; i < 9; i++) ck_assert_int_eq(cm[i], want[i]);
    labels[1] = 3;
    ck_assert_int_eq(tg_predictor_confusion(p, &d, cm, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "eval: label 3 of sample 1 is not one of the model's 3 classes");

    /* wrong shapes are named */
    tg_tensor *bad = tg_tensor_newv(2, (int64_t)2, (int64_t)3);
    ck_assert_int_eq(tg_predict(p, bad, probs, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "predict: input [2,3] does not fit the model's [N,2]");
    tg_tensor_free(bad);
    tg_tensor_free(x);
    tg_predictor_free(p);
}
END_TEST

/* Without stored statistics the inputs are used as given; more inputs than one forward's chunk. */
START_TEST(no_statistics_and_large_batches)
{
    char err[512];
    write_model(linear_spec, false, 2);
    tg_predictor *p = tg_predictor_load("build/pr.txt", "build/pr.ckpt", err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(p->norm.n, 0);
    const int64_t n = 600;
    tg_tensor *x = tg_tensor_newv(2, n, (int64_t)2);
    for (int64_t i = 0; i < n; i++) x->data[2 * i] = (tg_real)(i % 7) * 0.25f, x->data[2 * i + 1] = -(tg_real)(i % 5);
    tg_real *probs = malloc((size_t)n * 3 * sizeof *probs);
    ck_assert_int_eq(tg_predict(p, x, probs, err, sizeof err), TG_OK);
    for (int64_t i = 0; i < n; i++) {
        const double a = x->data[2 * i], b = x->data[2 * i + 1], l[3] = {a, b + 0.5, a + b - 1};
        const double z = exp(l[0]) + exp(l[1]) + exp(l[2]);
        for (int j = 0; j < 3; j++) ck_assert_double_eq_tol((double)probs[i * 3 + j], exp(l[j]) / z, 1e-6);
    }
    free(probs);
    tg_tensor_free(x);
    tg_predictor_free(p);
}
END_TEST

START_TEST(refusals)
{
    char err[512];
    /* statistics for 3 channels, a model with 2 features */
    write_model(linear_spec, true, 3);
    ck_assert_ptr_null(tg_predictor_load("build/pr.txt", "build/pr.ckpt", err, sizeof err));
    ck_assert_str_eq(err, "build/pr.ckpt: normalisation statistics for 3 channels but the model's input has 2");
    /* a model whose output is not [K] */
    write_model("input 1x2x2\nconv2d out=1 kernel=1\n", false, 1);
    ck_assert_ptr_null(tg_predictor_load("build/pr.txt", "build/pr.ckpt", err, sizeof err));
    ck_assert_str_eq(err, "build/pr.txt: the model's output has 3 dimensions per sample; predict needs class scores [K]");
    ck_assert_ptr_null(tg_predictor_load("build/pr.txt", "build/no_such.ckpt", err, sizeof err));
    ck_assert_msg(strstr(err, "build/no_such.ckpt") != NULL, "%s", err);
}
END_TEST

Suite *suite_predict(void)
{
    Suite *s = suite_create("predict");
    TCase *tc = tt_tcase("predict");
    tcase_add_test(tc, probabilities_by_hand);
    tcase_add_test(tc, no_statistics_and_large_batches);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return s;
}
