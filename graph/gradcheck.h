/* graph/gradcheck.h — compare analytic gradients with central differences, element by element.
 *
 * The checked function maps long-lived input tensors to an output of any shape; the checker
 * reduces it to the scalar L = sum(out * R) with a fixed random R, so every element of the
 * output's gradient matters. For each element x of each input that requires a gradient:
 *   numeric = (L(x + eps) - L(x - eps)) / (2 eps)   and it passes when
 *   |analytic - numeric| <= atol + rtol * |numeric|.
 * A point within eps of a kink (ReLU at 0, a max tie) has one-sided slopes that disagree; it is
 * counted as skipped, not failed. Meant for the double build (tg_real = double): the defaults are
 * eps 1e-6, atol 1e-5, rtol 1e-3. The tape's random stream is reseeded before every evaluation,
 * so ops like dropout see the same mask each time.
 *
 *   tg_gradcheck_report rep;
 *   tg_tensor *in[2] = {x, w};                       // long-lived, requires_grad = true
 *   if (tg_gradcheck(my_graph, &ctx, in, 2, NULL, &rep) != 0) puts(rep.message);
 * One registered op by id: tg_gradcheck_op (ops/gradcheck_op.h).
 */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "api.h"
#include "tape.h"

TG_API_BEGIN

typedef struct tg_gradcheck_opts {
    double eps, atol, rtol;
    uint64_t seed; /* for R and the tape's random stream */
} tg_gradcheck_opts;

/* eps 1e-6, atol 1e-5, rtol 1e-3, seed 1 */
tg_gradcheck_opts tg_gradcheck_defaults(void);

typedef struct tg_gradcheck_input {
    bool checked;          /* false: the input does not require a gradient */
    int64_t n_checked, n_skipped, n_failed;
    int64_t worst_index;   /* flat index of the element with the largest error ratio, or -1 */
    double analytic, numeric, abs_err, rel_err; /* at worst_index */
} tg_gradcheck_input;

typedef struct tg_gradcheck_report {
    int n_inputs;
    tg_gradcheck_input inputs[TG_MAX_INPUTS];
    bool passed;
    char message[TG_ERROR_LEN]; /* first failure, or the error that stopped the check */
} tg_gradcheck_report;

/* Builds the output on the given tape from the inputs; returns NULL on error (tape error set). */
typedef tg_tensor *(*tg_graph_fn)(tg_tape *t, tg_tensor *const *inputs, int n_inputs, void *ctx);

/* Checks every input with requires_grad. Returns 0 when all pass, 1 when some element fails,
 * -1 when the function could not be evaluated (message says why). opts NULL = defaults. */
int tg_gradcheck(tg_graph_fn fn, void *ctx, tg_tensor *const *inputs, int n_inputs,
                 const tg_gradcheck_opts *opts, tg_gradcheck_report *report);

TG_API_END

#endif
