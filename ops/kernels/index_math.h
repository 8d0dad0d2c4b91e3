/* ops/kernels/index_math.h — the index arithmetic of sliding windows, shared by the convolution
 * kernels (im2col, col2im, the direct kernel) and pooling's output sizes.
 *
 * Along one dim, output index o reads input index o*stride + offset (offset = tap*dilation - pad,
 * any sign). The loops precompute, per tap, the run of outputs whose read lands inside the input,
 * so their inner loops carry no bounds test:
 *
 *   int64_t lo, hi;
 *   tg_valid_run(kw * dilation - pad, stride, in_w, out_w, &lo, &hi);
 *   for (int64_t ow = lo; ow < hi; ow++) y[ow] += w * x[ow * stride + kw * dilation - pad];
 */
#ifndef TG_KERNEL_INDEX_MATH_H
#define TG_KERNEL_INDEX_MATH_H

#include <stdint.h>

/* a / b rounded towards minus infinity (b > 0); C's division rounds towards zero. */
static inline int64_t tg_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Output indices o in [*lo, *hi) with 0 <= o*stride + offset < in, clipped to [0, out). */
static inline void tg_valid_run(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t a = tg_floor_div(-offset + stride - 1, stride); /* ceil(-offset / stride) */
    int64_t b = tg_floor_div(in - 1 - offset, stride) + 1;
    if (a < 0) a = 0;
    if (b > out) b = out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

#endif
