/* ops/kernels/pad.h — padding of the trailing dims, shared by the pad op and by convolution's
 * padding_mode (zeros/reflect/replicate/circular). Plain loops over arrays: no allocation.
 *
 * x holds `outer` blocks of shape in_shape[0..nd-1]; y holds `outer` blocks of shape
 * in_shape[i] + lo[i] + hi[i]. Constant mode fills with `value` and allows negative lo/hi
 * (cropping); reflect needs lo/hi < in_shape[i]; circular needs lo/hi <= in_shape[i].
 *
 *   tg_pad_kernel(x, y, n * c, 2, (int64_t[]){h, w}, lo, hi, TG_PAD_REFLECT, 0);
 */
#ifndef TG_KERNEL_PAD_H
#define TG_KERNEL_PAD_H

#include <stdint.h>

#include "../../graph/tensor.h" /* tg_real */
#include "pad_mode.h"

void tg_pad_kernel(const tg_real *x, tg_real *y, int64_t outer, int nd, const int64_t *in_shape,
                   const int64_t *lo, const int64_t *hi, tg_pad_mode mode, tg_real value);
/* Adds the gradient of tg_pad_kernel: dx += (d pad / d x)^T dy (same arguments). */
void tg_pad_backward_kernel(const tg_real *dy, tg_real *dx, int64_t outer, int nd,
                            const int64_t *in_shape, const int64_t *lo, const int64_t *hi,
                            tg_pad_mode mode);

#endif
