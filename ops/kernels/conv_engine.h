/* ops/kernels/conv_engine.h — the convolution engine: every algorithm behind conv*, conv_transpose*
 * as plain functions over arrays. ops/conv.c owns the shape rules, the attributes and the math
 * (its header comment); this engine owns the speed.
 *
 * Every convolution is one "core" convolution from an A-space to a B-space (three spatial dims;
 * 1-D and 2-D have leading dims of size 1):
 *   B[n, g*Og+o, b] = sum_{c<Cg, k} W[g*Og+o, c, k] * A[n, g*Cg+c, b*stride + k*dilation - pad]
 * with W:[CB, CA/groups, K]. Three passes: the forward (B from A), dA (from dB) and dW.
 *
 * Algorithms (one file each where they are more than glue):
 *   forward  im2col + GEMM (im2col_pack.c: the im2col matrix packed straight into the GEMM's
 *            panels, never stored; a 1x1 multiplies A itself), Winograd F(2x2,3x3) (winograd.c;
 *            3-D layers with 3x3 in-plane kernels, and dilated ones, as 2-D ones over stacks of
 *            depth slices and dilation phases),
 *            the direct kernel for thin groups (conv_direct.c), the reference loops
 *            (conv_reference.c);
 *   dA       rotated: the forward on dB with the 180°-rotated, channel-swapped filter, one
 *            stride-1 convolution per phase of the stride; col2im: W^T dB by GEMM, scattered;
 *            the direct kernel's exact adjoint (depthwise 3x3 stride 2); the reference loops;
 *   dW       dB * im2col(A)^T by GEMM (packed from A, or from a channel-blocked copy of A, or
 *            read in place from a padded blocked copy), Winograd, the direct kernel, reference.
 *
 * No function here allocates: each pass reports its scratch in bytes up front
 * (tg_conv_*_scratch_bytes) and is handed a workspace of at least that size (any alignment the
 * arena gives: 16 bytes or more). The choice among the algorithms (tuned thresholds, measured, see
 * docs/convolution.md) is made by the tg_conv_core's settings and the functions below.
 *
 *   tg_conv_core k = {.n = N, .groups = 1, .ca = C, .cb = O, .geom = g};
 *   void *ws = arena_alloc(tg_conv_forward_scratch_bytes(&k));
 *   tg_conv_forward(&k, x, w, y, false, NULL, ws);
 */
#ifndef TG_KERNEL_CONV_ENGINE_H
#define TG_KERNEL_CONV_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

/* Forward algorithm requested (tg_conv_algo's values; ops/conv.c checks they agree). */
typedef enum tg_conv_fwd_algo {
    TG_CONV_FWD_AUTO,      /* the measured-fastest of GEMM, Winograd, direct */
    TG_CONV_FWD_GEMM,      /* im2col + GEMM (the direct kernel still takes thin groups) */
    TG_CONV_FWD_WINOGRAD,  /* Winograd wherever the geometry allows */
    TG_CONV_FWD_REFERENCE, /* the reference loops for the forward and dW */
    TG_CONV_FWD_SHIFT,     /* the shift kernels wherever the geometry allows (conv_shift.h) */
    TG_CONV_FWD_OVEC,      /* the output-channel-vector direct kernels wherever it allows (conv_ovec.h) */
} tg_conv_fwd_algo;

/* dA algorithm (tg_conv_dx_path's values; ADJOINT and LANES are chosen, never requested). */
typedef enum tg_conv_dx_algo {
    TG_CONV_DX_ALGO_AUTO,
    TG_CONV_DX_ALGO_ROTATED,
    TG_CONV_DX_ALGO_COL2IM,
    TG_CONV_DX_ALGO_REFERENCE,
    TG_CONV_DX_ALGO_ADJOINT, /* the direct kernel's adjoint, depthwise 3x3 stride 2 */
    TG_CONV_DX_ALGO_LANES,   /* depthwise with the channels in the lanes (tg_conv_lanes_adjoint) */
} tg_conv_dx_algo;

typedef struct tg_conv_core {
    int64_t n, groups, ca, cb; /* batch, groups, channels of A and of B */
    tg_conv_geom geom;         /* channels = ca/groups; in = A sizes, out = B sizes */
    tg_conv_fwd_algo algo;     /* requested forward (and dW) algorithm */
    tg_conv_dx_algo dx_algo;   /* requested dA algorithm */
    /* Threads the passes may split the batch over (0 or 1: one; ops/conv.c sets tg_get_threads()
     * once per call, so sizing and running agree). The forward and dA give every image the same
     * bits whatever it is; dW sums fixed chunks of images (tg_conv_dw_chunks) in order. */
    int threads;
    int64_t plan_n; /* the batch the algorithms are chosen for (0: n); parts of a split keep the whole's */
} tg_conv_core;

/* Sizes of one image's A plane and B plane (positions), and the filter's taps. */
int64_t tg_conv_core_a_size(const tg_conv_core *k);
int64_t tg_conv_core_b_size(const tg_conv_core *k);

/* B (+)= conv(A, W): a:[n, ca, A...], w:[cb, ca/groups, K], b:[n, cb, B...]; accumulate false
 * overwrites b. ws: tg_conv_forward_scratch_bytes(k) bytes. */
size_t tg_conv_forward_scratch_bytes(const tg_conv_core *k);
/* The forward path k takes with a finite filter and input: "shift", "winograd" (also a 3-D layer
 * over depth slices), "direct" (depthwise), "gemm" or "reference" — a function of the shapes and the kernels in use, never of
 * the thread count or the part of a split batch. */
const char *tg_conv_forward_path(const tg_conv_core *k);
/* The same for the weight gradient with finite operands: "winograd" (2-D or 1-D), "shift",
 * "direct" (depthwise), "pointwise" (1x1: register blocks, conv_engine.c), "gemm" or "reference". */
const char *tg_conv_dw_path(const tg_conv_core *k);
/* What the forward applies to its finished output, plane by plane: B[n, o, :] = f(B[n, o, :] +
 * bias[o]) (a convolution's bias and the activation after it, elementwise.h's bias_unary, bit for
 * bit that op's separate pass). Each part of the batch applies it to its images as soon as they
 * are computed (the GEMM's image blocks, the direct kernel's planes), while they are in cache: the
 * separate pass over the whole output read it back from memory (8% of a MobileNet-style net's
 * batch-64 inference). */
typedef struct tg_conv_out_op {
    const tg_real *bias; /* [cb], or NULL */
    bool act;            /* then act_op (a tg_ew_unary) with act_param */
    int act_op;
    tg_real act_param;
} tg_conv_out_op;
/* out on `planes` planes of y (`size` values each; plane p is channel p % channels), shared among
 * the threads: what the forward applies, for the outputs made elsewhere (a transposed
 * convolution's, which the core's dA computes). */
void tg_conv_out_op_apply(const tg_conv_out_op *out, tg_real *y, int64_t planes, int64_t channels, int64_t size);
/* out: NULL, or applied after the sum (with accumulate, to the accumulated value). */
void tg_conv_forward(const tg_conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                     const tg_conv_out_op *out, void *ws);

/* dW += corr(A, dB) (dw:[cb, ca/groups, K]). ws: tg_conv_dw_scratch_bytes(k) bytes. */
/* The fixed chunks of images dW is summed over (each chunk's partial dW, then the chunks in
 * order): a function of the shapes alone, never of the thread count. */
int64_t tg_conv_dw_chunks(const tg_conv_core *k);
size_t tg_conv_dw_scratch_bytes(const tg_conv_core *k);
void tg_conv_dw(const tg_conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, void *ws);

/* dA += conv^T(dB) (the gradient of A, or a transposed convolution's forward); overwrite: dA = …,
 * its old contents ignored (a fresh buffer: each range of images zeroes its own part just before
 * adding into it, on its thread and while it is in cache, instead of one serial pass first). The
 * algorithm depends on the filter (a NaN or Inf tap takes col2im, which forms no 0·Inf product), so
 * it is chosen first, then sized, then run. ws: tg_conv_dx_scratch_bytes(k, algo) bytes. */
tg_conv_dx_algo tg_conv_dx_choose(const tg_conv_core *k, const tg_real *w);
size_t tg_conv_dx_scratch_bytes(const tg_conv_core *k, tg_conv_dx_algo algo);
void tg_conv_dx(const tg_conv_core *k, tg_conv_dx_algo algo, const tg_real *db, const tg_real *w, tg_real *da,
                bool overwrite, void *ws);

/* The reference convolution (conv_reference.c): the definitions as loops, no scratch, no tuning.
 * dA is literally the full convolution of dB, zero-inserted by the stride, with the 180°-rotated,
 * channel-swapped filter. Sums in double. */
void tg_conv_reference_forward(const tg_conv_core *k, const tg_real *a, const tg_real *w, tg_real *b,
                               bool accumulate);
void tg_conv_reference_dx(const tg_conv_core *k, const tg_real *db, const tg_real *w, tg_real *da);
void tg_conv_reference_dw(const tg_conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw);

#endif
