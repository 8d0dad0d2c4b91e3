/* ops/pool.h — pooling: max and average (1-D/2-D/3-D), global, adaptive, and max-unpool.
 *
 * Inputs are [N,C,*spatial] (or [C,*spatial] without a batch, as PyTorch accepts); one N-d
 * implementation (ops/kernels/pool.c) serves every variant. Attributes carry PyTorch's names and
 * defaults: kernel_size (required), stride (default kernel_size), padding (0, at most half the
 * kernel; max pads with -inf, avg with zeros), dilation (1, max only), ceil_mode (false),
 * count_include_pad (true, avg only), divisor_override (none, avg only), output_size (adaptive:
 * required; max_unpool: optional). Tuples have 1 value (all dims) or one per spatial dim; an
 * empty tuple (a zero-initialised struct) means the default.
 * Output size per dim: floor or ceil((in + 2p - d(k-1) - 1) / s) + 1, and with ceil_mode the
 * last window must start inside the input or the left padding (PyTorch's rule).
 *
 * Max pooling keeps the argmax of every window (the first maximum in row-major window order; a NaN
 * counts as the maximum) in the tape's arena; the backward routes each dY there, and
 * tg_pool_indices() exposes them like PyTorch's return_indices, for visualising the routing or
 * for max-unpool.
 *
 *   tg_pool_attr a = tg_pool_attr_kernel(2, 2);          // 2x2 windows, stride 2
 *   tg_tensor *y = tg_max_pool2d(tape, x, &a);            // x:[8,16,28,28] -> [8,16,14,14]
 *   tg_tensor *up = tg_max_unpool2d(tape, y, tg_pool_indices_tensor(tape, y), &a);  // [8,16,28,28]
 *   tg_tensor *g = tg_global_avg_pool(tape, x);           // [8,16,1,1]
 */
#ifndef TG_OPS_POOL_H
#define TG_OPS_POOL_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

/* One attribute struct for the family; each op reads the fields named in its attribute table. */
typedef struct tg_pool_attr {
    tg_ints kernel_size, stride, padding, dilation;
    bool ceil_mode, count_include_pad;
    int divisor_override; /* TG_DIM_NONE: none (divide by the window's count); 0 is an error */
    tg_ints output_size;  /* adaptive pools; max_unpool (n = 0: the default size) */
} tg_pool_attr;

/* Defaults with a square kernel and stride (stride 0: default, the kernel size). */
tg_pool_attr tg_pool_attr_kernel(int64_t kernel_size, int64_t stride);

/* x:[N,C,L] / [N,C,H,W] / [N,C,D,H,W] (batch optional) -> windows maxima. Errors name the op, the
 * argument and the shape: wrong rank, missing kernel_size, zero stride, padding above half the
 * kernel ("max_pool2d: padding 2 must be at most half of kernel_size 3 (x=[1,1,4,4])"), a kernel
 * larger than the padded input. */
tg_tensor *tg_max_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
tg_tensor *tg_max_pool3d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
/* Window averages (divisor: count_include_pad ? window size clipped to the padded input :
 * valid count; or divisor_override). Same errors as max pooling. */
tg_tensor *tg_avg_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
tg_tensor *tg_avg_pool3d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a);
/* x:[N,C,*spatial] (any number >= 1 of spatial dims) -> [N,C,1,...,1]: mean / max of each plane.
 * The max keeps its argmax (tg_pool_indices). Error: fewer than 3 dims, an empty plane. */
tg_tensor *tg_global_avg_pool(tg_tape *t, tg_tensor *x);
tg_tensor *tg_global_max_pool(tg_tape *t, tg_tensor *x);
/* x:[N,C,H,W] or [C,H,W] -> [..,out_h,out_w] with PyTorch's bins: rows floor(i*H/oh) up to
 * ceil((i+1)*H/oh). */
tg_tensor *tg_adaptive_avg_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w);
tg_tensor *tg_adaptive_max_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w);
/* Inverse of max pooling: x and indices (int64, x's shape, flat positions in each output plane)
 * -> zeros with y[idx] = x (later duplicates win); output size (in-1)*stride - 2*padding +
 * kernel_size unless output_size (spatial, or full with N,C) gives one within stride of it.
 * backward: dx[i] = dy[idx[i]] for the surviving writer of each position (overwritten duplicates
 * get 0; PyTorch gives every duplicate the gradient). Errors: indices shape, an index outside
 * the output plane. */
tg_tensor *tg_max_unpool1d(tg_tape *t, tg_tensor *x, tg_tensor *indices, const tg_pool_attr *a);
tg_tensor *tg_max_unpool2d(tg_tape *t, tg_tensor *x, tg_tensor *indices, const tg_pool_attr *a);
tg_tensor *tg_max_unpool3d(tg_tape *t, tg_tensor *x, tg_tensor *indices, const tg_pool_attr *a);

/* The argmax of a max-pool output (max_pool*, global_max_pool, adaptive_max_pool2d): one flat
 * position inside its (n,c) input plane per output element, as PyTorch's return_indices. Lives in
 * the tape's arena until tg_tape_reset, also when no graph was recorded; NULL for other tensors. */
const int64_t *tg_pool_indices(const tg_tensor *max_pool_output);
/* The same as a tape-owned int64 tensor of the output's shape (the input max_unpool takes);
 * NULL (tape error set) when the tensor has no indices. */
tg_tensor *tg_pool_indices_tensor(tg_tape *t, const tg_tensor *max_pool_output);

TG_API_END

#endif
