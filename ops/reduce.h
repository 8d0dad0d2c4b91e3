/* ops/reduce.h — sum, mean and max over all dims or one dim.
 *
 *   tg_tensor *s = tg_sum(tape, x, TG_DIM_NONE, false);   // scalar (shape [])
 *   tg_tensor *m = tg_mean(tape, x, 1, true);              // x:[N,C,H] -> [N,1,H]
 */
#ifndef TG_OPS_REDUCE_H
#define TG_OPS_REDUCE_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

typedef struct tg_reduce_attr {
    int dim;      /* TG_DIM_NONE: all dims; negative counts from the end */
    bool keepdim;
} tg_reduce_attr;

/* x:[...] -> the dims but `dim` (kept as 1 with keepdim); dim none: all dims -> []. Sums in double.
 * Error: "sum: dim 3 out of range for rank 2 (x=[2,3])". mean of an empty dim is NaN. */
tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
/* Values of torch.max(x, dim, keepdim) (dim TG_DIM_NONE: torch.max(x), shape []); the gradient
 * goes to the first maximum along dim, and over all dims is split evenly among the elements equal
 * to the maximum (as PyTorch's); a NaN counts as the maximum (then the NaNs share the gradient). Errors: dim out of range
 * ("max: dim 2 out of range for rank 2 (x=[2,3])"), an empty reduced dim. */
tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
/* The argmax of a tg_max result: one int64 per output element, the position along dim (the flat
 * index into x for dim none), as torch.max(x, dim).indices. Lives in the tape's arena (valid until
 * tg_tape_reset), also when no graph was recorded; NULL for any other tensor. */
const int64_t *tg_max_indices(const tg_tensor *max_out);

TG_API_END

#endif
