/* tests/util.c — see util.h. */
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

#define TT_MAX_TRACKED 4096
static tg_tensor *tracked[TT_MAX_TRACKED];
static int n_tracked;
static tg_tape *tapes[64];
static int n_tapes;

tg_tensor *tt_track(tg_tensor *t)
{
    ck_assert_msg(t != NULL, "tensor allocation failed");
    ck_assert_msg(n_tracked < TT_MAX_TRACKED, "too many test tensors");
    tracked[n_tracked++] = t;
    return t;
}

tg_tape *tt_tape(void)
{
    ck_assert(n_tapes < 64);
    tg_tape *t = tg_tape_new(0);
    ck_assert(t != NULL);
    tapes[n_tapes++] = t;
    return t;
}

uint8_t *tt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

void tt_dirty_arena(tg_tape *t, int64_t floats)
{
    tg_tape_reset(t);
    const int64_t shape[1] = {floats};
    ck_assert_ptr_nonnull(tg_relu(t, tg_relu(t, tt_random(1, shape, 9, 1e3, 2e3))));
    tg_tape_reset(t);
}

double *tt_grad_copy(const tg_tensor *x)
{
    ck_assert_ptr_nonnull(x->grad);
    double *copy = malloc((size_t)(x->numel ? x->numel : 1) * sizeof *copy);
    ck_assert_ptr_nonnull(copy);
    for (int64_t i = 0; i < x->numel; i++) copy[i] = x->grad[i];
    return copy;
}

void tt_cleanup(void)
{
    for (int i = 0; i < n_tracked; i++) tg_tensor_free(tracked[i]);
    n_tracked = 0;
    for (int i = 0; i < n_tapes; i++) tg_tape_free(tapes[i]);
    n_tapes = 0;
}

TCase *tt_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, NULL, tt_cleanup);
    tcase_set_timeout(tc, 120);
    return tc;
}

tg_tensor *tt_tensor(int ndim, const int64_t *shape, const double *values)
{
    tg_tensor *t = tt_track(tg_tensor_new(TG_REAL, ndim, shape));
    if (values)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = (tg_real)values[i];
    return t;
}

tg_tensor *tt_tensorv(const double *values, int ndim, ...)
{
    int64_t shape[TG_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return tt_tensor(ndim, shape, values);
}

tg_tensor *tt_random(int ndim, const int64_t *shape, uint64_t seed, double lo, double hi)
{
    tg_tensor *t = tt_tensor(ndim, shape, NULL);
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (tg_real)(lo + (hi - lo) * tg_rng_uniform(&r));
    return t;
}

tg_tensor *tt_labels(int n, const int64_t *values)
{
    int64_t shape[1] = {n};
    tg_tensor *t = tt_track(tg_tensor_new(TG_INT64, 1, shape));
    for (int i = 0; i < n; i++) t->idata[i] = values[i];
    return t;
}

void tt_assert_close_at(const char *file, int line, const tg_real *got, const double *want, int64_t n,
                        double tol)
{
    ck_assert_msg(got != NULL, "%s:%d: got NULL", file, line);
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        bool ok = (isnan(w) && isnan(g)) || fabs(g - w) <= tol + tol * fabs(w);
        ck_assert_msg(ok, "%s:%d: element %lld: got %.9g, want %.9g (tol %g)", file, line, (long long)i, g, w, tol);
    }
}

void tt_assert_shape_at(const char *file, int line, const tg_tensor *t, ...)
{
    ck_assert_msg(t != NULL, "%s:%d: tensor is NULL", file, line);
    va_list ap;
    va_start(ap, t);
    int d = 0;
    for (;; d++) {
        int v = va_arg(ap, int);
        if (v < 0) break;
        ck_assert_msg(d < t->ndim && t->shape[d] == v, "%s:%d: dim %d: got %lld, want %d", file, line, d,
                      d < t->ndim ? (long long)t->shape[d] : -1LL, v);
    }
    va_end(ap);
    ck_assert_msg(d == t->ndim, "%s:%d: rank %d, want %d", file, line, t->ndim, d);
}

void tt_assert_error_at(const char *file, int line, tg_tape *tape, const void *result, const char *substring)
{
    ck_assert_msg(result == NULL, "%s:%d: expected NULL (error '%s')", file, line, substring);
    const char *e = tg_error(tape);
    ck_assert_msg(e != NULL, "%s:%d: no error recorded (expected '%s')", file, line, substring);
    ck_assert_msg(strstr(e, substring) != NULL, "%s:%d: error '%s' lacks '%s'", file, line, e, substring);
    ck_assert_msg(strchr(e, '\n') == NULL, "%s:%d: error spans lines: '%s'", file, line, e);
}

void tt_gradcheck_op_at(const char *file, int line, int op, const void *attr, tg_tensor *const *inputs, int n)
{
#if TT_DOUBLE
    tg_gradcheck_report rep;
    int st = tg_gradcheck_op(op, attr, inputs, n, NULL, &rep);
    ck_assert_msg(st == 0, "%s:%d: %s: %s", file, line, tg_op_get(op)->name, rep.message);
    int checked = 0;
    for (int i = 0; i < rep.n_inputs; i++) checked += (int)rep.inputs[i].n_checked;
    ck_assert_msg(checked > 0, "%s:%d: %s: nothing was checked", file, line, tg_op_get(op)->name);
#else
    tg_tape *t = tt_tape();
    tg_tensor *y = tg_op_apply(t, op, inputs, n, attr);
    ck_assert_msg(y != NULL, "%s:%d: %s: %s", file, line, tg_op_get(op)->name, tg_error(t));
#endif
}

void tt_gradcheck_at(const char *file, int line, tg_graph_fn fn, void *ctx, tg_tensor *const *inputs, int n)
{
#if TT_DOUBLE
    tg_gradcheck_report rep;
    int st = tg_gradcheck(fn, ctx, inputs, n, NULL, &rep);
    ck_assert_msg(st == 0, "%s:%d: %s", file, line, rep.message);
#else
    tg_tape *t = tt_tape();
    tg_tensor *y = fn(t, inputs, n, ctx);
    ck_assert_msg(y != NULL, "%s:%d: %s", file, line, tg_error(t));
#endif
}

const char *tt_tg_binary(void)
{
    static char path[PATH_MAX];
    const char *bin = getenv("TG_BIN");
    if (!bin || !*bin) bin = "build/tg";
    if (!realpath(bin, path)) snprintf(path, sizeof path, "%s", bin);
    return path;
}
