/* ops/arith.h — elementwise arithmetic with NumPy broadcasting, and unary math.
 *
 * Binary ops broadcast like NumPy/PyTorch: shapes align from the right; each pair of dims must be
 * equal or one of them 1. Backward sums the gradient over the broadcast dims.
 * All return a new tape tensor, or NULL with the tape's error set (e.g.
 * "add: shapes [2,3] and [4] do not broadcast").
 *
 *   tg_tensor *z = tg_add(tape, x, bias);     // x:[N,C] bias:[C] -> z:[N,C]
 */
#ifndef TG_OPS_ARITH_H
#define TG_OPS_ARITH_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

/* a:[...] b:[...] -> broadcast shape */
tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b);

/* x -> same shape */
tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);
/* natural log (op name "log") */
tg_tensor *tg_log(tg_tape *t, tg_tensor *x);
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);

/* x ** exponent (a real number; PyTorch's torch.pow(x, scalar)); attribute `exponent`, default 2.
 * A non-integer exponent needs x > 0 (NaN otherwise, as in PyTorch). */
typedef struct tg_pow_attr { double exponent; } tg_pow_attr;
tg_tensor *tg_pow(tg_tape *t, tg_tensor *x, double exponent);

/* Broadcast helper shared by the binary ops (and any op that broadcasts): the result shape of a
 * and b, or -1 when they do not broadcast. */
int tg_broadcast_shape(const tg_tensor *a, const tg_tensor *b, int *ndim, int64_t *shape);

TG_API_END

#endif
