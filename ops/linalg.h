/* ops/linalg.h — matrix products on the one GEMM (ops/kernels/gemm.h).
 *
 *   tg_tensor *y = tg_linear(tape, x, w, b);   // x:[N,in] w:[out,in] b:[out] -> y:[N,out]
 */
#ifndef TG_OPS_LINALG_H
#define TG_OPS_LINALG_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

/* a:[m,k] b:[k,n] -> [m,n]; batched a:[...,m,k] b:[...,k,n] -> [...,m,n] with the batch dims
 * broadcast (torch.matmul; 1-D operands are not accepted). */
tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b);
/* x:[...,in] w:[out,in] b:[out] (b may be NULL) -> [...,out]  (torch.nn.functional.linear) */
tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b);

TG_API_END

#endif
