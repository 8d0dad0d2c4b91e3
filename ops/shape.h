/* ops/shape.h — reshape, flatten, permute/transpose, concat, slice and pad.
 *
 * Every op returns a new contiguous tape tensor (reshape/flatten copy the values) and records a
 * node whose backward scatters dy back to where each value came from. Dims may be negative
 * (counted from the end). Errors return NULL with one line naming the op, the argument and the
 * shapes, e.g. "reshape: shape [5,-1] is invalid for input of 12 elements (x=[3,4])".
 *
 *   tg_tensor *f = tg_flatten(tape, x, 1, -1);           // [N,C,H,W] -> [N,C*H*W]
 *   tg_tensor *p = tg_pad(tape, x, 4, (int64_t[]){1,1,2,2}, TG_PAD_REFLECT, 0);
 */
#ifndef TG_OPS_SHAPE_H
#define TG_OPS_SHAPE_H

#include "../graph/api.h"
#include "kernels/pad_mode.h"
#include "op.h"

TG_API_BEGIN

/* Attribute structs (names as in PyTorch; parsed from key=value by the op table). */
typedef struct tg_reshape_attr { tg_ints shape; } tg_reshape_attr;            /* one -1 allowed */
typedef struct tg_flatten_attr { int start_dim, end_dim; } tg_flatten_attr;  /* 0, -1 */
typedef struct tg_permute_attr { tg_ints dims; } tg_permute_attr;
typedef struct tg_transpose_attr { int dim0, dim1; } tg_transpose_attr;
typedef struct tg_concat_attr { int dim; } tg_concat_attr;                   /* 0 */
/* start/end TG_DIM_NONE ("none"): from the beginning / to the end; values clamp like Python's */
typedef struct tg_slice_attr { int dim, start, end, step; } tg_slice_attr;
typedef struct tg_pad_attr { tg_ints pad; int mode; double value; } tg_pad_attr; /* mode: tg_pad_mode */

/* x:[any] -> [shape]; one -1 is inferred; errors: numel mismatch, two -1, negative size */
tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/* merges dims start_dim..end_dim (torch.flatten; a scalar becomes [1]); errors: dim out of
 * range, start_dim after end_dim */
tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x, int start_dim, int end_dim);
/* out dim i = x dim dims[i]; errors: dims not a permutation of x's rank */
tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, int ndim, const int *dims);
/* swaps dims dim0 and dim1; errors: dim out of range */
tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1);
/* joins n tensors (1..TG_MAX_INPUTS) along dim (torch.cat); errors: rank differs, another dim
 * differs, NULL tensor, scalar input */
tg_tensor *tg_concat(tg_tape *t, tg_tensor *const *xs, int n, int dim);
/* x[start:end:step] along dim (Python semantics: negative bounds count from the end, bounds
 * clamp, an empty range gives size 0; step >= 1); errors: step < 1, dim out of range */
tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
/* torch.nn.functional.pad: pad = (last_lo, last_hi, prev_lo, prev_hi, ...), n_pad even, pads
 * the last n_pad/2 dims. constant fills with value and crops with negative amounts; reflect needs
 * amounts < the dim's size, circular <= size. Unlike PyTorch, every mode works on any number of
 * trailing dims of any rank (PyTorch limits reflect/replicate/circular to the last 1-3 dims of a
 * batched input); where PyTorch accepts a call the results are the same.
 * errors: odd n_pad, more pairs than dims, amounts out of range for the mode, negative size */
tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int n_pad, const int64_t *pad, tg_pad_mode mode, double value);

TG_API_END

#endif
