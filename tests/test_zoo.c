/* tests/test_zoo.c — the model zoo (models/NAME.txt) that `tg bench --filter train|infer` and
 * tools/bench_train_torch.py time: every model parses, trains one step at batch 2 with the output
 * [2, 10], and has the params and MACs its header comment states (so the documented figures stay
 * true); the list compiled into tg (build/gen/zoo_models.h) is exactly the files in models/, text
 * for text (a stale build fails); and the PyTorch script lists the same set. */
#include "util.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static const struct zoo_model {
    const char *name, *text;
} zoo[] = {
#include "zoo_models.h"
    {NULL, NULL}};

enum { ZOO_MIN_MODELS = 7, ZOO_CLASSES = 10, STEP_BATCH = 2 };

static int zoo_count(void)
{
    int n = 0;
    while (zoo[n].name) n++;
    return n;
}

/* Model `name` (spec text) parses, has `classes` outputs (0: at least 2), the params and MACs its
 * header states as "<stated>N; MACs/img M" (stated: "# Params " in the zoo's, "Params " in
 * models/more's), and trains one step at batch 2: forward in training mode, cross-entropy against
 * labels, backward reaching every parameter. */
static void check_model_trains_one_step(const char *name, const char *text, const char *stated, int64_t classes,
                                        const int64_t labels[STEP_BATCH])
{
    char err[256];
    tg_model *m = tg_model_parse(text, name, 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s: %s", name, err);
    ck_assert_msg(m->out_ndim == 1 && (classes ? m->out_shape[0] == classes : m->out_shape[0] >= 2),
                  "%s: output is not [classes]", name);
    const char *at = strstr(text, stated);
    long long want_params, want_macs;
    char format[64];
    snprintf(format, sizeof format, "%s%%lld; MACs/img %%lld", stated);
    ck_assert_msg(at && sscanf(at, format, &want_params, &want_macs) == 2, "%s: no '%sN; MACs/img M' in its header",
                  name, stated);
    int64_t params, macs;
    ck_assert_int_eq(tg_summary_totals(m, &params, &macs, err, sizeof err), 0);
    ck_assert_msg(params == want_params && macs == want_macs, "%s: tg summary says %lld params, %lld MACs", name,
                  (long long)params, (long long)macs);
    tg_tape *t = tt_tape();
    int64_t shape[5] = {STEP_BATCH};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tensor *x = tt_random(m->in_ndim + 1, shape, 5, -1, 1);
    tg_tensor *y = tt_labels(STEP_BATCH, labels);
    tg_module_train(m->net, true);
    tg_tensor *out = tg_module_forward(m->net, t, x);
    ck_assert_msg(out != NULL, "%s: %s", name, tg_error(t));
    tt_assert_shape(out, STEP_BATCH, m->out_shape[0]);
    for (int64_t i = 0; i < out->numel; i++)
        ck_assert_msg(isfinite(out->data[i]), "%s: output %lld", name, (long long)i);
    ck_assert_int_eq(tg_backward(tg_cross_entropy(t, out, y)), TG_OK);
    tg_named_tensor named[64];
    const int np = tg_module_named_tensors(m->net, false, named, 64);
    ck_assert_int_gt(np, 0);
    ck_assert_int_le(np, 64);
    for (int i = 0; i < np; i++) ck_assert_msg(named[i].tensor->grad, "%s: no gradient for %s", name, named[i].name);
    tg_model_free(m);
}

START_TEST(every_model_trains_one_step)
{
    ck_assert_int_ge(zoo_count(), ZOO_MIN_MODELS);
    for (const struct zoo_model *z = zoo; z->name; z++)
        check_model_trains_one_step(z->name, z->text, "# Params ", ZOO_CLASSES, (const int64_t[]){3, 7});
}
END_TEST

static const struct zoo_model *find(const char *name)
{
    for (const struct zoo_model *z = zoo; z->name; z++)
        if (!strcmp(z->name, name)) return z;
    return NULL;
}

/* Calls fn(name, path, text, ctx) for every dir/NAME.txt (name without ".txt", text read whole);
 * returns how many. */
typedef void (*spec_fn)(const char *name, const char *path, const char *text, void *ctx);
static int each_spec(const char *dir, spec_fn fn, void *ctx)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s not found (run from the repository root)", dir);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".txt")) continue;
        char name[256], path[512];
        snprintf(name, sizeof name, "%.*s", (int)(n - 4), e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        static char text[1 << 16];
        const size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = 0;
        fn(name, path, text, ctx);
        files++;
    }
    closedir(d);
    return files;
}

static void matches_compiled(const char *name, const char *path, const char *text, void *ctx)
{
    (void)ctx;
    const struct zoo_model *z = find(name);
    ck_assert_msg(z != NULL, "%s is not compiled into tg (rebuild: make)", path);
    ck_assert_msg(!strcmp(text, z->text), "%s: the compiled text differs from the file (rebuild: make)", path);
}

START_TEST(compiled_list_is_the_folder)
{
    ck_assert_int_eq(each_spec("models", matches_compiled, NULL), zoo_count());
}
END_TEST

static void trains_one_step(const char *name, const char *path, const char *text, void *ctx)
{
    (void)name, (void)ctx;
    check_model_trains_one_step(path, text, "Params ", 0, (const int64_t[]){0, 1});
}

/* models/more/ (the CNNs beyond the zoo, docs/speed.md): every spec parses, states its params and
 * MACs ("Params N; MACs/img M" in its header), and trains one step at batch 2 with finite outputs
 * and a gradient for every parameter. Read from disk: they are not compiled into tg. */
START_TEST(more_models_train_one_step)
{
    ck_assert_int_ge(each_spec("models/more", trains_one_step, NULL), 9);
}
END_TEST

/* tools/bench_train_torch.py --list reads models/ without importing torch; skipped without Python. */
START_TEST(torch_script_lists_the_same_models)
{
    static const char python[] = "/usr/bin/python3";
    if (access(python, X_OK) != 0) return;
    FILE *p = popen("/usr/bin/python3 tools/bench_train_torch.py --list", "r");
    ck_assert_ptr_nonnull(p);
    char line[256];
    int listed = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        ck_assert_msg(find(line) != NULL, "the PyTorch script lists '%s', tg bench has no such model", line);
        listed++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(listed, zoo_count());
}
END_TEST

Suite *suite_zoo(void)
{
    Suite *s = suite_create("zoo");
    TCase *tc = tt_tcase("zoo");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_model_trains_one_step);
    tcase_add_test(tc, compiled_list_is_the_folder);
    tcase_add_test(tc, more_models_train_one_step);
    tcase_add_test(tc, torch_script_lists_the_same_models);
    suite_add_tcase(s, tc);
    return s;
}
