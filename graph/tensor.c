/* graph/tensor.c — long-lived tensors and shape helpers. Tape tensors are made in tape.c. */
#include "tensor.h"

#include "tape.h"
#include "tape_internal.h"
#include "error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The symbol this precision's programs reference (graph/tensor.h § precision link guard). */
const int TG_PRECISION_GUARD = (int)sizeof(tg_real);

int64_t tg_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

static size_t dtype_size(tg_dtype d) { return d == TG_INT64 ? sizeof(int64_t) : sizeof(tg_real); }

tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg_set_last_error("tensor_new: ndim=%d is outside 0..%d", ndim, TG_MAX_DIMS);
    if (ndim > 0 && !shape) return tg_set_last_error("tensor_new: shape is NULL for ndim=%d", ndim);
    int64_t n = tg_shape_numel(ndim, shape);
    char s[TG_SHAPE_STR_LEN];
    if (n < 0 || (uint64_t)n > SIZE_MAX / 16)
        return tg_set_last_error("tensor_new: shape %s has a negative dim or too many elements",
                                 tg_shape_str_raw(ndim, shape, s, sizeof s));
    tg_tensor *t = calloc(1, sizeof *t);
    if (!t) return tg_set_last_error("tensor_new: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = n;
    /* calloc(0) may return NULL; keep a valid pointer for empty tensors */
    void *mem = calloc(n ? (size_t)n : 1, dtype_size(dtype));
    if (!mem) {
        free(t);
        return tg_set_last_error("tensor_new: out of memory for %s", tg_shape_str_raw(ndim, shape, s, sizeof s));
    }
    if (dtype == TG_INT64) t->idata = mem;
    else t->data = mem;
    t->owns_data = true;
    return t;
}

tg_tensor *tg_tensor_newv(int ndim, ...)
{
    int64_t shape[TG_MAX_DIMS];
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg_set_last_error("tensor_newv: ndim=%d is outside 0..%d", ndim, TG_MAX_DIMS);
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    return tg_tensor_new(TG_REAL, ndim, shape);
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t || t->tape) return;
    if (t->owns_data) free(t->dtype == TG_INT64 ? (void *)t->idata : (void *)t->data);
    free(t->grad);
    free(t->grad_spare);
    free(t);
}

char *tg_shape_str_raw(int ndim, const int64_t *shape, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    size_t len = 0;
    int w = snprintf(buf, size, "[");
    len = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && len < size; i++) {
        w = snprintf(buf + len, size - len, i ? ",%lld" : "%lld", (long long)shape[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t size)
{
    if (!t) {
        snprintf(buf, size, "NULL");
        return buf;
    }
    return tg_shape_str_raw(t->ndim, t->shape, buf, size);
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void tg_tensor_fill(tg_tensor *t, tg_real v)
{
    if (!t || t->dtype != TG_REAL) return;
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
}

void tg_tensor_set(tg_tensor *t, const tg_real *values)
{
    if (!t || !values || t->dtype != TG_REAL) return;
    memcpy(t->data, values, (size_t)t->numel * sizeof(tg_real));
}

tg_real *tg_tensor_grad(tg_tensor *t)
{
    if (!t || t->dtype != TG_REAL) return NULL;
    size_t bytes = (size_t)(t->numel ? t->numel : 1) * sizeof(tg_real);
    if (t->grad && t->grad_borrowed) { /* the caller's dy: written to from now on, so copied first */
        tg_real *own = t->tape ? tg_tape_alloc_buffer(t->tape, bytes) : NULL;
        if (!own) return NULL;
        memcpy(own, t->grad, (size_t)t->numel * sizeof *own);
        t->grad = own;
        t->grad_borrowed = false;
    }
    if (t->grad) return t->grad;
    if (!t->tape && t->grad_spare) { /* a cleared gradient's buffer, zeroed again */
        t->grad = t->grad_spare;
        t->grad_spare = NULL;
        memset(t->grad, 0, bytes);
        return t->grad;
    }
    if (t->tape) {
        t->grad = tg_tape_alloc_buffer(t->tape, bytes);
        if (t->grad) memset(t->grad, 0, bytes);
    } else {
        t->grad = calloc(1, bytes);
    }
    return t->grad;
}

void tg_tensor_retain_grad(tg_tensor *t)
{
    if (t) t->retains_grad = true;
}

void tg_tensor_zero_grad(tg_tensor *t)
{
    if (t && t->grad && t->grad_borrowed) { /* never write to the caller's dy: a fresh zero gradient */
        t->grad = NULL;
        t->grad_borrowed = false;
        tg_tensor_grad(t);
    } else if (t && t->grad) {
        memset(t->grad, 0, (size_t)t->numel * sizeof(tg_real));
    }
}

void tg_tensor_clear_grad(tg_tensor *t)
{
    if (!t || !t->grad) return;
    /* the caller's dy and arena memory are not this tensor's to keep */
    if (!t->grad_borrowed && !t->tape) {
        if (t->grad_spare) free(t->grad_spare);
        t->grad_spare = t->grad;
    }
    t->grad = NULL;
    t->grad_borrowed = false;
}

tg_tensor *tg_tensor_set_name(tg_tensor *t, const char *name)
{
    if (!t) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}
