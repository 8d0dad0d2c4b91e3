/* tests/test_layers.c — every layer kind equals its torch.nn module.
 *
 * Each case in tests/fixtures/_layers/ (written by tests/fixtures/gen_layers.py with PyTorch 1.13
 * in float64) holds a spec text, the parameters and buffers by full name, the inputs and upstream
 * gradients of one or more steps, and torch's output, input gradient, parameter gradients and
 * buffers after the steps. The test parses the spec with tg_model_parse, loads every named tensor,
 * runs forward + backward on the tape in the case's mode and compares everything: within 1e-10
 * (absolute + relative) in the float64 build, 1e-4 in float32. The names must equal torch's
 * state_dict keys in order (checkpoints and tools rely on them). Also: dropout's statistics and
 * its zero gradient at dropped positions, which a fixture cannot pin down (torch's RNG differs). */
#include "util.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#define LAYER_ROOT "tests/fixtures/_layers"
#define MAX_CASES 128
#if TT_DOUBLE
#define LAYER_TOL 1e-10
#else
#define LAYER_TOL 1e-4
#endif

static char *cases[MAX_CASES];
static int n_cases;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool read_file(const char *dir, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    const size_t n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
    return true;
}

static tg_tensor *load(const char *dir, const char *name)
{
    char path[PATH_MAX + 256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_tensor *t = NULL;
    ck_assert_msg(tg_npy_load(path, &t, NULL, err, sizeof err) == TG_OK, "%s", err);
    return tt_track(t);
}

/* Asserts got (n values) equals the expected file within LAYER_TOL, naming case and file. */
static void expect_values(const char *dir, const char *file, const tg_tensor *shape_of, const tg_real *got)
{
    const tg_tensor *want = load(dir, file);
    char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
    ck_assert_msg(tg_same_shape(want, shape_of), "%s/%s: shape %s, want %s", dir, file,
                  tg_shape_str(shape_of, a, sizeof a), tg_shape_str(want, b, sizeof b));
    ck_assert_msg(got != NULL, "%s/%s: no gradient reached the tensor", dir, file);
    for (int64_t i = 0; i < want->numel; i++) {
        const double w = (double)want->data[i], g = (double)got[i];
        ck_assert_msg(fabs(g - w) <= LAYER_TOL * (1 + fabs(w)), "%s/%s: [%lld] got %.12g want %.12g", dir, file,
                      (long long)i, g, w);
    }
}

START_TEST(layer_equals_torch)
{
    char dir[PATH_MAX], spec[4096], mode[16] = "", steps_text[16] = "1", names[4096], err[512];
    snprintf(dir, sizeof dir, LAYER_ROOT "/%s", cases[_i]);
    ck_assert_msg(read_file(dir, "spec.txt", spec, sizeof spec) && read_file(dir, "mode", mode, sizeof mode) &&
                      read_file(dir, "names", names, sizeof names),
                  "%s: spec.txt, mode or names missing", dir);
    read_file(dir, "steps", steps_text, sizeof steps_text);
    const int steps = atoi(steps_text);
    tg_model *m = tg_model_parse(spec, dir, 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_module_train(m->net, mode[0] == 't');

    /* the names are torch's state_dict keys, in order; each starts from torch's value */
    tg_named_tensor e[64];
    const int n = tg_module_named_tensors(m->net, true, e, 64);
    int k = 0;
    for (char *name = strtok(names, "\n"); name; name = strtok(NULL, "\n"), k++) {
        ck_assert_msg(k < n, "%s: torch has '%s', tapegrad has only %d tensors", dir, name, n);
        ck_assert_msg(!strcmp(e[k].name, name), "%s: tensor %d is '%s', torch's is '%s'", dir, k, e[k].name, name);
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/p.%.200s.npy", dir, name);
        ck_assert_msg(tg_module_load_npy(m->net, name, path, err, sizeof err) == TG_OK, "%s", err);
    }
    ck_assert_msg(k == n, "%s: tapegrad has %d tensors, torch %d", dir, n, k);

    tg_tape *tape = tt_tape();
    tg_tensor *x = NULL, *y = NULL;
    for (int s = 0; s < steps; s++) {
        char file[32];
        tg_tape_reset(tape);
        for (int i = 0; i < n; i++) tg_tensor_zero_grad(e[i].tensor);
        snprintf(file, sizeof file, "x%d.npy", s);
        x = load(dir, file);
        x->requires_grad = true;
        snprintf(file, sizeof file, "dy%d.npy", s);
        const tg_tensor *dy = load(dir, file);
        y = tg_module_forward(m->net, tape, x);
        ck_assert_msg(y != NULL, "%s: %s", dir, tg_error(tape));
        ck_assert_msg(tg_same_shape(y, dy), "%s: output and dy shapes differ", dir);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    }
    expect_values(dir, "expected/out.npy", y, y->data);
    expect_values(dir, "expected/dx.npy", x, x->grad);
    for (int i = 0; i < n; i++) {
        char file[256];
        snprintf(file, sizeof file, "expected/%c.%.128s.npy", e[i].is_buffer ? 'b' : 'g', e[i].name);
        expect_values(dir, file, e[i].tensor, e[i].is_buffer ? e[i].tensor->data : e[i].tensor->grad);
    }
    tg_model_free(m);
}
END_TEST

/* Dropout (train): kept values are x/(1-p), about p of them are dropped, and a dropped position
 * gets zero gradient while a kept one gets dy/(1-p); eval: the identity. */
START_TEST(dropout_statistics_and_gradient)
{
    char err[256];
    tg_model *m = tg_model_parse("input 4000\ndropout p=0.3\n", "dropout.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_tape *tape = tt_tape();
    const int64_t shape[2] = {2, 4000};
    tg_tensor *x = tt_random(2, shape, 5, 0.5, 1.5);
    x->requires_grad = true;
    tg_tensor *y = tg_module_forward(m->net, tape, x);
    ck_assert_ptr_nonnull(y);
    tg_real *dy = tg_tape_alloc(tape, (size_t)x->numel * sizeof *dy);
    for (int64_t i = 0; i < x->numel; i++) dy[i] = (tg_real)(1 + i % 7);
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    int64_t dropped = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (y->data[i] == 0) {
            dropped++;
            ck_assert_double_eq(x->grad[i], 0);
        } else {
            ck_assert_double_eq_tol(y->data[i], x->data[i] / 0.7, 1e-5);
            ck_assert_double_eq_tol(x->grad[i], dy[i] / 0.7, 1e-5);
        }
    }
    /* 8000 Bernoulli(0.3) draws: mean 2400, sd 41; 5 sd either way */
    ck_assert_msg(dropped > 2195 && dropped < 2605, "dropped %lld of 8000", (long long)dropped);
    tg_module_train(m->net, false);
    tg_tape_reset(tape);
    y = tg_module_forward(m->net, tape, x);
    ck_assert_ptr_eq(y, x);
    tg_model_free(m);
}
END_TEST

Suite *suite_layers(void)
{
    Suite *s = suite_create("layers");
    for (int i = 0; i < n_cases; i++) free(cases[i]);
    n_cases = 0;
    DIR *d = opendir(LAYER_ROOT);
    for (struct dirent *e; d && (e = readdir(d)) && n_cases < MAX_CASES;)
        if (e->d_name[0] != '.') cases[n_cases++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(cases, (size_t)n_cases, sizeof *cases, by_name);
    TCase *tc = tt_tcase("torch");
    tcase_add_loop_test(tc, layer_equals_torch, 0, n_cases);
    tcase_add_test(tc, dropout_statistics_and_gradient);
    suite_add_tcase(s, tc);
    return s;
}
