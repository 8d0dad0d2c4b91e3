/* ops/reduce.h — sum, mean and max over all dims or one dim.
 *
 *   tg_tensor *s = tg_sum(tape, x, TG_DIM_NONE, false);   // scalar (shape [])
 *   tg_tensor *m = tg_mean(tape, x, 1, true);              // x:[N,C,H] -> [N,1,H]
 */
#ifndef TG_OPS_REDUCE_H
#define TG_OPS_REDUCE_H

#include "op.h"

typedef struct tg_reduce_attr {
    int dim;      /* TG_DIM_NONE: all dims; negative counts from the end */
    bool keepdim;
} tg_reduce_attr;

tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
/* Values of torch.max(x, dim, keepdim) (dim TG_DIM_NONE: torch.max(x), shape []); the gradient
 * goes to the first maximum. tg_max_indices() gives the argmax of a tg_max result. */
tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int dim, bool keepdim);
const int64_t *tg_max_indices(const tg_tensor *max_out);

#endif
