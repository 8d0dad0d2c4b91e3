/* tests/util.h — helpers shared by the suites: tensors from literals (freed by tt_cleanup, which
 * every test case registers as its teardown via tt_tcase), closeness assertions, gradient checks
 * and error assertions. */
#ifndef TT_UTIL_H
#define TT_UTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../tapegrad.h"
/* Tests may read internals: the module struct, the tape and op entry points for tg_op_apply. */
#include "../nn/module_internal.h"
#include "../ops/op_internal.h"

#ifdef TG_REAL_DOUBLE
#define TT_DOUBLE 1
#define TT_TOL 1e-9
#else
#define TT_DOUBLE 0
#define TT_TOL 1e-5
/* Absolute path of the tg binary the suites run: $TG_BIN, default build/tg (absolute because the
 * child processes change directory). */
const char *tt_tg_binary(void);

#endif

/* A long-lived tensor owned by the test (freed at teardown). values may be NULL (zeros). */
tg_tensor *tt_tensor(int ndim, const int64_t *shape, const double *values);
/* Shape from arguments: tt_shape(3, 2,3,4) style helpers. */
tg_tensor *tt_tensorv(const double *values, int ndim, ...);
/* Uniform random values in [lo, hi). */
tg_tensor *tt_random(int ndim, const int64_t *shape, uint64_t seed, double lo, double hi);
tg_tensor *tt_labels(int n, const int64_t *values);
/* Registers a long-lived tensor (or any tg_tensor_new result) for teardown. */
tg_tensor *tt_track(tg_tensor *t);
/* A tape freed at teardown. */
tg_tape *tt_tape(void);
/* Resets t after filling its arena with about `floats` large old values (two ReLUs of values in
 * [1e3, 2e3)): a fresh gradient buffer handed out afterwards holds them, not zeros — for tests of
 * backward passes that write a gradient instead of adding to a zeroed one. */
void tt_dirty_arena(tg_tape *t, int64_t floats);
/* x's gradient as doubles (malloc'd: the caller frees it). */
double *tt_grad_copy(const tg_tensor *x);
/* The bytes of the file at path (malloc'd, one spare byte; *len set); fails the test, naming the
 * path, when it cannot be read. */
uint8_t *tt_slurp(const char *path, size_t *len);
void tt_cleanup(void);
/* A TCase with tt_cleanup as its teardown. */
TCase *tt_tcase(const char *name);

/* Asserts |got[i] - want[i]| <= tol (+ tol*|want|) for all i, naming the first bad index. */
#define tt_assert_close(got, want, n, tol) tt_assert_close_at(__FILE__, __LINE__, (got), (want), (n), (tol))
void tt_assert_close_at(const char *file, int line, const tg_real *got, const double *want, int64_t n,
                        double tol);
/* Asserts the tensor's shape. */
#define tt_assert_shape(t, ...) tt_assert_shape_at(__FILE__, __LINE__, (t), __VA_ARGS__, -1)
void tt_assert_shape_at(const char *file, int line, const tg_tensor *t, ...);
/* Asserts result is NULL and the tape's error contains substring. */
#define tt_assert_error(tape, result, substring) \
    tt_assert_error_at(__FILE__, __LINE__, (tape), (result), (substring))
void tt_assert_error_at(const char *file, int line, tg_tape *tape, const void *result,
                        const char *substring);

/* Gradient check of one op in the double build; in the float build it only checks that the op
 * runs (finite differences in float32 are too coarse to be a test). */
#define tt_gradcheck_op(op, attr, inputs, n) tt_gradcheck_op_at(__FILE__, __LINE__, (op), (attr), (inputs), (n))
void tt_gradcheck_op_at(const char *file, int line, int op, const void *attr, tg_tensor *const *inputs, int n);
#define tt_gradcheck(fn, ctx, inputs, n) tt_gradcheck_at(__FILE__, __LINE__, (fn), (ctx), (inputs), (n))
void tt_gradcheck_at(const char *file, int line, tg_graph_fn fn, void *ctx, tg_tensor *const *inputs, int n);

/* Absolute path of the tg binary the suites run: $TG_BIN, default build/tg (absolute because the
 * child processes change directory). */
const char *tt_tg_binary(void);

#endif
