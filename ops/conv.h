/* ops/conv.h — the convolution family: conv1d/2d/3d, conv_transpose1d/2d/3d, locally_connected2d.
 *
 * One N-d implementation (spatial rank 1..3) serves all six convolutions; the attribute names and
 * semantics are PyTorch's (torch.nn.functional.conv*, conv_transpose*). Convolution is
 * cross-correlation. The backward follows DESIGN.md § Numerics: dX is the full convolution of dY
 * (zero-inserted by the stride) with the 180°-rotated, channel-swapped filter; dW is the
 * correlation of X with dY (the math in one place: ops/conv.c's header comment). Transposed
 * convolution's forward is that dX and its backward is conv's forward.
 *
 * Several algorithms compute these (ops/kernels/conv_engine.h): the reference loops, im2col +
 * GEMM, Winograd, a direct kernel for depthwise; for dX the rotated filter run by the forward
 * kernel (one stride-1 convolution per phase of the stride, so the inserted zeros are never
 * multiplied) or col2im of W^T dY. By default the fastest measured for the shape runs; the
 * attributes algo= and dx_algo= (or tg_conv_set_algo / tg_conv_set_dx_path) choose one.
 *
 * Scratch comes from the tape's arena, sized up front by the engine. Errors return NULL with one
 * line naming the op, the argument and shapes.
 *
 *   tg_conv_attr a;
 *   tg_attr_defaults(TG_OP_CONV2D, &a);
 *   a.padding = (tg_ints){1, {1}};                         // one value: every spatial dim
 *   tg_tensor *y = tg_conv2d(tape, x, w, b, &a);           // x:[N,C,H,W] w:[O,C/g,kh,kw] b:[O]
 */
#ifndef TG_OPS_CONV_H
#define TG_OPS_CONV_H

#include "../graph/api.h"
#include "op.h"
#include "shape.h"

TG_API_BEGIN

/* Attributes of every convolution (PyTorch's names). Tuples hold 1 value (all dims) or one per
 * spatial dim. padding may be "same" (v[0] == TG_CONV_PAD_SAME, n == 0; stride 1 only) or
 * "valid" (TG_CONV_PAD_VALID). padding_mode is a tg_pad_mode: zeros (TG_PAD_CONSTANT), reflect,
 * replicate, circular (convolutions only). output_padding and padding_mode do not both apply:
 * output_padding is for transposed convolutions (each < stride or < dilation). algo and dx_algo
 * ("auto", the default, defers to tg_conv_set_algo / tg_conv_set_dx_path) choose the algorithm of
 * this call; every choice gives the same values up to rounding. */
typedef struct tg_conv_attr {
    tg_ints stride, padding, dilation, output_padding;
    int groups;
    int padding_mode;
    int algo;    /* tg_conv_algo for this call (TG_CONV_ALGO_AUTO: the process-wide setting) */
    int dx_algo; /* tg_conv_dx_path for this call (TG_CONV_DX_AUTO: the process-wide setting) */
} tg_conv_attr;
#define TG_CONV_PAD_SAME (-1)
#define TG_CONV_PAD_VALID (-2)

/* How the gradient of the convolution's input is computed (all give the same values up to
 * rounding; `dx_algo=` in tg op and the attribute struct chooses per call). */
typedef enum tg_conv_dx_path {
    TG_CONV_DX_AUTO,      /* the faster path for the shape (the default) */
    TG_CONV_DX_ROTATED,   /* forward kernel on (zero-inserted) dY with the rotated filter, by phases */
    TG_CONV_DX_COL2IM,    /* W^T dY by GEMM, then col2im */
    TG_CONV_DX_REFERENCE, /* the reference loops: literally the full convolution of the zero-inserted
                             dY with the rotated, channel-swapped filter (slow; tests, teaching) */
} tg_conv_dx_path;
/* Chooses the dX path for every later backward (process-wide; benchmarks and tests). Until set,
 * the environment variable TG_CONV_DX_PATH ("auto", "rotated", "col2im", "reference") decides
 * at first use. */
void tg_conv_set_dx_path(tg_conv_dx_path path);
tg_conv_dx_path tg_conv_get_dx_path(void);
/* Name of a path ("auto", "rotated", "col2im", "reference"). */
const char *tg_conv_dx_path_name(tg_conv_dx_path path);

/* How convolutions run their forward kernel (also the rotated dX path's, which is such a
 * convolution) and dW: im2col + GEMM, or for 2-D 3x3 stride-1 dilation-1 single-group ones
 * (and 3-D ones whose in-plane kernel is such, over stacks of depth slices; dilated ones split
 * into their phases)
 * Winograd F(2x2,3x3) (2.25x fewer multiplies, a few ulps more float32 rounding;
 * docs/convolution.md) and for stride-1 single-group conv1d of 2-7 taps the 1-D Winograd F(m, r)
 * (2x fewer at 3 taps), or for stride-1 ones the shift kernels (multiply-adds over a zero-padded
 * copy, no im2col matrix: few channels), or the direct kernels vectorised over output channels
 * (every position computed once: small maps), or the reference loops. */
typedef enum tg_conv_algo {
    TG_CONV_ALGO_AUTO,      /* the path measured fastest for the shape (the default) */
    TG_CONV_ALGO_GEMM,      /* always im2col + GEMM */
    TG_CONV_ALGO_WINOGRAD,  /* Winograd wherever the geometry allows */
    TG_CONV_ALGO_REFERENCE, /* the reference loops for the forward and dW, every geometry (slow;
                               tests, teaching: ops/kernels/conv_reference.c) */
    TG_CONV_ALGO_SHIFT,     /* the shift kernels wherever the geometry allows (stride 1; else GEMM) */
    TG_CONV_ALGO_OVEC,      /* the direct kernels vectorised over output channels (small maps) wherever
                               the geometry allows */
} tg_conv_algo;
/* Chooses the algorithm for every later call (process-wide; benchmarks and tests); `algo=` in
 * tg op and the attribute struct chooses per call. Until set, the environment variable
 * TG_CONV_ALGO ("auto", "gemm", "winograd", "reference", "shift", "ovec") decides at first use. */
void tg_conv_set_algo(tg_conv_algo algo);
tg_conv_algo tg_conv_get_algo(void);
/* Name of an algorithm ("auto", "gemm", "winograd", "reference", "shift"). */
const char *tg_conv_algo_name(tg_conv_algo algo);

/* x:[N,C,L] / [N,C,H,W] / [N,C,D,H,W], w:[O,C/groups,k...], b:[O] or NULL -> y:[N,O,out...].
 * attr NULL: defaults. NULL with the tape's error on bad shapes or attributes. */
tg_tensor *tg_conv1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);
tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);
tg_tensor *tg_conv3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);
/* x:[N,C,in...], w:[C,O/groups,k...], b:[O] or NULL -> y:[N,O,out...] with
 * out = (in-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1. */
tg_tensor *tg_conv_transpose1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);
tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);
tg_tensor *tg_conv_transpose3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *attr);

/* Locally-connected 2-D (unshared weights, notes Enrichment 7.9.5):
 * x:[N,C,H,W], w:[Ho,Wo,O,C,kh,kw], b:[O,Ho,Wo] or NULL -> y:[N,O,Ho,Wo];
 * attributes stride, padding (ints, zeros), dilation. */
tg_tensor *tg_locally_connected2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                                  const tg_conv_attr *attr);

TG_API_END

#endif
