/* ops/gradcheck_op.h — the gradient check of one registered op, by id (graph/gradcheck.h checks
 * any function of tensors; this applies an op from the table, so it lives with the ops).
 *
 *   tg_gradcheck_report rep;
 *   tg_tensor *in[2] = {x, w};                       // long-lived, double build
 *   if (tg_gradcheck_op(TG_OP_CONV2D, &attr, in, 2, NULL, &rep) != 0) puts(rep.message);
 */
#ifndef TG_GRADCHECK_OP_H
#define TG_GRADCHECK_OP_H

#include "../graph/api.h"
#include "../graph/gradcheck.h"

TG_API_BEGIN

/* tg_gradcheck for one registered op (attr NULL = defaults): every real input the op can
 * differentiate is checked (requires_grad is set for the check and restored after). Returns as
 * tg_gradcheck; -1 also for an unknown op id or a bad input count. */
int tg_gradcheck_op(int op_id, const void *attr, tg_tensor *const *inputs, int n_inputs,
                    const tg_gradcheck_opts *opts, tg_gradcheck_report *report);

TG_API_END

#endif
