/* ops/kernels/conv_engine.c — the convolution engine (see conv_engine.h): the core convolution's
 * forward, dA and dW by im2col + GEMM, Winograd, the direct kernel or the reference loops, the
 * rotated (phase-split) and col2im dA paths, the channel-blocked dW, and where each is used.
 *
 * Paths: forward = W times the im2col matrix per image (or stack of small images) and group, the
 * matrix packed by the GEMM straight from A (tg_gemm_packed_b + tg_im2col_pack_b: never stored);
 * a 1x1/stride-1 convolution multiplies A directly; thin groups (one input channel per group:
 * depthwise) use the direct kernel; 2-D 3x3 stride-1 single-group convolutions with enough
 * channels and positions use Winograd F(2x2,3x3). dA = (rotated) the forward on dB with the
 * rotated filter, per phase of the stride so the inserted zeros are never multiplied; or (col2im)
 * W^T dB by GEMM scattered by col2im (split by column phase when strided). dW = dB * im2col(A)^T
 * (packed from A: tg_im2col_pack_bt, or by plain copies from a channel-blocked A when groups have
 * whole blocks of 32 channels; a single large 2-D/1-D image's B is read in place from a
 * zero-padded blocked copy, never packed).
 */
#include "conv_engine.h"

#include <string.h>

#include "../../graph/error.h"
#include "conv_ovec.h"
#include "conv_shift.h"
#include "elementwise.h"
#include "gemm.h"
#include "im2col_pack.h"
#include "parallel.h"
#include "prefetch.h"
#include "winograd.h"
#include "winograd1d.h"

typedef tg_conv_core conv_core;

/* ---- the workspace: one block from the caller, carved in order ----
 * Each pass takes its buffers with ws_take in a fixed order. Sizing runs the same code with no
 * block (base NULL: ws_take only counts and returns NULL, and the pass stops before any work), so
 * the size a pass reports is the size it takes. */
#define CONV_WS_ALIGN 64 /* one cache line: SIMD loads of every buffer start aligned */
typedef struct conv_ws {
    char *base; /* NULL: sizing only */
    size_t used;
} conv_ws;

static void *ws_take(conv_ws *ws, size_t bytes)
{
    size_t at = (ws->used + CONV_WS_ALIGN - 1) / CONV_WS_ALIGN * CONV_WS_ALIGN;
    ws->used = at + bytes;
    return ws->base ? ws->base + at : NULL;
}
/* The workspace block is aligned only as the arena aligns; the offsets add at most this much. */
#define CONV_WS_SLACK CONV_WS_ALIGN

static size_t ws_size(conv_ws ws) { return ws.used + CONV_WS_SLACK; }
static conv_ws ws_of(void *block)
{
    /* align the start so the sizes counted from offset 0 hold */
    uintptr_t p = (uintptr_t)block, aligned = (p + CONV_WS_ALIGN - 1) / CONV_WS_ALIGN * CONV_WS_ALIGN;
    return (conv_ws){.base = (char *)block + (aligned - p), .used = 0};
}

int64_t tg_conv_core_a_size(const conv_core *k) { return tg_conv_geom_in_size(&k->geom); }
int64_t tg_conv_core_b_size(const conv_core *k) { return tg_conv_geom_out_size(&k->geom); }
static int64_t core_a_size(const conv_core *k) { return tg_conv_geom_in_size(&k->geom); }
static int64_t core_b_size(const conv_core *k) { return tg_conv_geom_out_size(&k->geom); }
static int64_t core_taps(const conv_core *k) { return tg_conv_geom_taps(&k->geom); }
static int64_t core_plan_n(const conv_core *k) { return k->plan_n > 0 ? k->plan_n : k->n; }
static bool core_is_pointwise(const tg_conv_geom *g)
{
    for (int i = 0; i < 3; i++)
        if (g->kernel[i] != 1 || g->stride[i] != 1 || g->pad[i] != 0 || g->in[i] != g->out[i]) return false;
    return true;
}
/* Depthwise (and channel multipliers): several groups of one input channel each. GEMMs that
 * thin lose to the direct kernel; a single group of one channel (a grey image) still has enough
 * output channels for the GEMM to win (measured, docs/convolution.md). */
static bool core_is_thin(const conv_core *k) { return k->geom.channels == 1 && k->groups > 1; }
static bool core_strided(const conv_core *k)
{
    return k->geom.stride[0] != 1 || k->geom.stride[1] != 1 || k->geom.stride[2] != 1;
}

/* Images per GEMM: small images (under CONV_GEMM_COLUMNS output positions) are stacked side by
 * side (im2col columns of several images in one matrix) so each GEMM has enough columns to run at
 * speed; large ones go one at a time. */
#define CONV_GEMM_COLUMNS 512 /* measured: 512..2048 alike, 8192 slower (cache) */
/* A pointwise (1x1, stride 1) image of at least this many positions goes alone: the GEMM then
 * packs its plane like any matrix and writes the output in place, where stacking packed the
 * columns through the general im2col packer (a run per output row) and copied the stacked output
 * back. Measured 4 Dec on Zen 5, batch 64, one thread, two 1x1 layers: 128 ch at 14x14 9.96 ->
 * 7.09 ms forward (training step 26.2 -> 19.8 ms), 256 at 12x12 6.89 -> 5.48, 64 at 8x8 0.39 ->
 * 0.31; at 7x7 (49 positions) stacking stayed ahead (128 -> 256 ch: 2.31 against 2.49). */
#define POINTWISE_OWN_PLANE_MIN 64
static int64_t core_block(const conv_core *k)
{
    const int64_t pb = core_b_size(k);
    if (core_is_pointwise(&k->geom) && pb >= POINTWISE_OWN_PLANE_MIN) return 1;
    int64_t nb = pb >= CONV_GEMM_COLUMNS ? 1 : (CONV_GEMM_COLUMNS + pb - 1) / pb;
    return nb < k->n ? nb : (k->n > 0 ? k->n : 1);
}

/* W of every group packed once as the GEMMs' A (tg_gemm_pack_a): op(A) is Og x Cg*K for the
 * forward and its transpose for col2im's dA. */
static int64_t core_packed_w_size(const conv_core *k)
{
    int64_t og = k->cb / k->groups, rows = k->geom.channels * core_taps(k);
    return k->groups * tg_gemm_packed_a_size(og, rows);
}

/* Scratch of the forward and dW passes: when images are stacked, a [Og, nb*P] matrix of outputs
 * (or gathered dB), then the forward's packed W. The im2col matrix itself is never stored: the
 * GEMM packs it straight from A. */
static size_t core_scratch(const conv_core *k)
{
    /* thin (direct kernel) too: a filter with NaN or Inf takes the GEMM path (core_forward); its
     * one or two output channels per group make this small */
    int64_t nb = core_block(k), cols = nb * core_b_size(k), og = k->cb / k->groups;
    return (size_t)((nb > 1 ? og * cols : 0) + core_packed_w_size(k));
}

/* Where AUTO takes Winograd F(2x2,3x3) for the forward kernel: measured faster than im2col + GEMM
 * on this machine (AMD Zen 5, one core; docs/convolution.md § Winograd). Since the transforms
 * became vector code (4 Dec), forward ms Winograd against GEMM: 64x64x8x8 -> 64 1.31 / 1.73,
 * 64x128x8x8 -> 128 4.67 / 6.09, 16x64x8x8 -> 64 (256 tiles) 0.34 / 0.43, 16x32x8x8 -> 32 0.125 /
 * 0.138, 8x64x14x14 0.44 / 0.65; but 7x7 maps tie at 32 channels (and 32 -> 64 lost fwd+bwd, 2.53 /
 * 2.31), 4x4 maps lose at 32 channels (0.27 / 0.18), and a batch of 64 tiles or fewer loses
 * (1x64x8x8 0.065 / 0.037: the filter transform is then most of the work). */
/* Since its multiply keeps blocks of sums in registers over chunks of 128 tiles (4 Dec), it wins
 * from 8 channels in and out, ahead of the shift kernels too. Forward ms at 28x28, batch 64,
 * Winograd / shift / GEMM: 8 -> 8 0.29 / 0.30 / 0.69, 16 -> 16 0.79 / 1.10 / 1.67, 12 -> 48 1.87 / 2.50 / -,
 * 24 -> 12 0.95 / 1.24 / 2.05, 32 -> 32 2.67 / 4.26 / 5.25, 48 -> 12 1.94 / 2.49 / 4.25, 64 -> 8
 * 2.31 / 2.28 / 4.91, 128 -> 8 8.67 / - / 11.3; at 7x7, 16 -> 16 0.120 / 0.139 / 0.168 but 64 -> 64
 * 1.52 / 1.86 / 1.37, hence the 8x8 floor stays. */
#define WINOGRAD_MIN_CHANNELS 8 /* in and out: below, its transforms cost what the multiplies save */
/* ... with the AVX-512 transforms; the portable ones (SSE2 on x86-64) keep the rule measured before
 * (from 32 channels), where the shift kernels' AVX2 loops run the rest */
#define WINOGRAD_PORTABLE_MIN_CHANNELS 32
#define WINOGRAD_MIN_OUT 8       /* output height and width: edge tiles waste too much below */
/* ... 7 with F(4x4) (the AVX-512 float transforms; winograd.h): 7x7 maps are 2x2 tiles of 4, 49 of
 * 64 outputs used. Forward + backward ms at 7x7, batch 64, one thread (5 Dec, Zen 5), what AUTO
 * took before (GEMM, shift) / Winograd: 16 -> 16 0.337 / 0.319, 32 -> 32 0.95 / 0.85, 64 -> 64 3.95 /
 * 2.72, 128 -> 128 13.2 / 10.0, 256 -> 256 48.8 / 38.5; at 6x6 a tie (64: 2.98 / 2.71, 256: 35.7 /
 * 38.4), at 5x5 a loss (64: 2.13 / 2.56). */
#define WINOGRAD4_MIN_OUT 7
/* ... and from 3 input channels (outputs still from WINOGRAD_MIN_CHANNELS): an RGB stem. Forward ms,
 * batch 64, one thread (5 Dec), what AUTO took (shift) / F(4x4): 3 -> 16 at 32x32 0.315 / 0.276, 3
 * -> 32 0.617 / 0.499, 3 -> 64 1.28 / 1.21, 3 -> 32 at 28x28 0.484 / 0.446, 4 -> 32 0.772 / 0.532,
 * 6 -> 32 1.08 / 0.62; but 1 -> 32 at 28x28 0.255 / 0.400. Its dW keeps its own rule (below). */
#define WINOGRAD4_MIN_IN_CHANNELS 3
#define WINOGRAD_MIN_TILES 256   /* 2x2 tiles in the batch: below, the transforms cost what the GEMMs save */
/* dW by Winograd too (with its forward) from this many channels in and out, ahead of the shift
 * kernels and GEMM. Since its multiply reads the transformed gradient with the output channels in
 * the lanes (5 Dec; winograd.c), dW ms at batch 64 (else 8 or 16 as given), shift or GEMM (what
 * AUTO took) against Winograd, Zen 5, one thread: 16 -> 16 at 28x28 1.26 / 1.07, 16 -> 32 at 14x14
 * 0.67 / 0.48, 32 -> 16 at 28x28 2.48 / 2.06, 24 -> 24 2.69 / 2.27, 32 -> 32 4.55 / 3.19, 48 -> 48
 * 9.27 / 5.63, 64 -> 64 at 14x14 4.30 / 2.94, 32 -> 64 at 16x16 2.98 / 1.95, 64 -> 128 at 8x8
 * 2.55 / 1.93, 16 x 128 -> 128 at 28x28 12.6 / 9.3 (the previous Winograd dW), 8 x 64 -> 64 at
 * 56x56 7.48 / 5.12; but 8 -> 8 0.36 / 1.33 and 12 -> 12 0.71 / 2.19 (half-empty vectors of
 * output channels; few channels to share a transform), hence: */
#define WINOGRAD_DW_MIN_CHANNELS 16
/* ... and below this many, only on maps up to WINOGRAD_DW_FEW_MAX_OUT wide: at 56x56 the shift
 * kernels' long rows win (16 -> 16 5.42 / 9.67, 24 -> 24 9.88 / 12.9, 16 -> 32 9.01 / 9.88; 32
 * -> 32 18.5 / 18.6 a tie; at 48x48, batch 16, 16 -> 16 0.87 / 0.83, 32 -> 32 3.11 / 2.31) */
#define WINOGRAD_DW_FEW_CHANNELS 32
#define WINOGRAD_DW_FEW_MAX_OUT 48
/* With the portable transforms the rule measured before them: from 128 channels (16x128x28x28
 * fwd+bwd 46.5 -> 44.3 ms; 64 only tied the GEMMs, commit 926ef1f). */
#define WINOGRAD_DW_PORTABLE_MIN_CHANNELS 128
#define WINOGRAD_TILE 2 /* F(2x2,3x3): outputs per tile side */

/* Where AUTO takes the shift kernels (conv_shift.h) for the forward and dW: convolutions that are
 * not depthwise or 1x1, with at most SHIFT_MAX_CHANNELS channels in and out per group —
 * where packing the im2col matrix costs as much as the multiplies it feeds, and where Winograd's
 * transforms cost more than the multiplies they save. Measured (this machine, AVX-512, one thread,
 * batch 64, forward): 16->16 channels at 28x28 3.8 ms against GEMM's 4.9, 16->32 at 14x14 1.4
 * against 1.5, 32->32 at 14x14 2.7 against Winograd's 4.0, 20->50 5x5 at 14x14 8.3 against
 * 9.1; at 64 and 128 channels (8x64x56x56, 16x128x28x28) both run at 90-98 GFLOP/s, so GEMM and
 * Winograd keep them. Only with SIMD loops: the portable ones are scalar. */
#define SHIFT_MAX_CHANNELS 48
#define SHIFT_DX_MIN_CHANNELS 4
/* Strided convolutions run by them too (each stride phase of the input in a box of its own:
 * conv_shift.h), under the same rule. Forward / dW ms, batch 64, 3x3 stride 2 pad 1, GEMM against
 * shift (5 Dec, Zen 5, one thread; input size given): 8 -> 8 at 56 0.89 / 0.46, 1.72 / 0.56;
 * 16 -> 16 at 32 0.80 / 0.52, 0.79 / 0.63, at 56 1.99 / 1.36, 2.38 / 1.77; 24 -> 24 at 56 3.67 /
 * 3.17, 6.05 / 3.20; 3 -> 32 at 32 0.26 / 0.19, 0.47 / 0.24; 32 -> 32 at 32 2.05 / 1.60, at 40
 * 3.25 / 2.66; 48 -> 48 at 32 3.89 / 3.47; but at large maps the boxes leave the caches (16 -> 16
 * at 112 7.32 / 7.70, 48 -> 48 at 56 10.9 / 11.3, kept for simplicity). Their dW loses from 32
 * input channels (32 -> 32 at 28 1.45 / 1.68, at 56 5.49 / 6.37, 32 -> 16 at 64 4.95 / 5.40),
 * where the GEMM's N = 9 * 32 fills its panels, hence: */
#define SHIFT_STRIDED_DW_MAX_CHANNELS 24
/* ... and only with more taps than phases: with one tap a phase (1x1 and 2x2 stride 2) every
 * box is read once, and the GEMM's im2col is no bigger than the input. 1x1 stride 2, forward /
 * dW ms, GEMM against shift: 16 -> 16 at 28 0.10 / 0.19, 0.27 / 0.38; 32 -> 32 at 56 0.98 /
 * 2.11, 2.22 / 4.40; 2x2 stride 2, 32 -> 32 at 56: 2.67 / 3.51, 3.32 / 6.00. */
static bool core_shift_strided_fits(const conv_core *k)
{
    const int64_t *s = k->geom.stride;
    return !core_strided(k) || core_taps(k) > s[0] * s[1] * s[2];
}
/* ... and where at least this share of the positions it computes are kept: small maps waste the
 * rest (7x7 with 3x3: 49 of 96, and 32->32 channels took 1.0 ms forward against GEMM's 0.8;
 * 14x14 keeps 196 of 240, 28x28 784 of 864) */
#define SHIFT_MIN_KEPT_PERCENT 75
static bool core_shift_fits(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    return !core_is_thin(k) && !core_is_pointwise(g) && core_shift_strided_fits(k) &&
           g->channels <= SHIFT_MAX_CHANNELS &&
           k->cb / k->groups <= SHIFT_MAX_CHANNELS && tg_conv_shift_kernel_is_simd() && tg_conv_shift_supported(g) &&
           tg_conv_geom_out_size(g) * 100 >= tg_conv_shift_span(g, k->cb / k->groups) * SHIFT_MIN_KEPT_PERCENT;
}
/* Where AUTO takes the 1-D Winograd F(m, r) (winograd1d.h): conv1d without dilation, with at
 * least WINOGRAD1D_MIN_CHANNELS channels in and out (WINOGRAD1D_WIDE_MIN_CHANNELS past 5 taps,
 * whose tiles hold 3 or 2 outputs) and outputs per image. Measured (4 Dec, one thread, batch 64,
 * ms forward / forward+backward, C = O; Winograd, shift, GEMM): 32 ch, 128 long, 3 taps
 * 0.27/0.97, 0.27/1.05, 0.27/1.02; 5 taps 0.35/1.28, 0.41/1.43, 0.43/1.55; 64 ch 128 long 3 taps
 * 0.75/2.85, 1.03/3.92, 0.92/3.23; 128 ch 5 taps 3.43/12.3, 6.39/23.4, 5.87/19.0; but 8 and 16
 * channels stay with shift (16 ch 128 long: 0.44 against 0.30 fwd+bwd), 32 channels 16 long lose
 * to GEMM (0.198 against 0.182), 7 taps at 32 channels to shift (1.95 against 1.85). Dilated
 * convolutions run as d phases (short rows, strided gathers) and lost to GEMM while their dW ran
 * by GEMMs (128 -> 128 at 32 long, dilation 2: 3.13 against 2.88 fwd+bwd); with its own dW
 * multiply (5 Dec) dilation 2 wins or ties: fwd+bwd ms GEMM / Winograd, 128 -> 128 at 32 long
 * 2.69 / 2.58, at 64 long 5.23 / 4.47, 64 -> 64 at 64 long 1.53 / 1.39, 32 -> 32 at 256 long 5
 * taps 2.71 / 2.21, at 128 long 0.93 / 0.91; dilation 4 still loses (64 -> 64 at 128 long 2.92 /
 * 3.34), and with 3 taps so do 32 channels (32 -> 32 at 256 long 1.89 / 2.15, at 512 long 3.47 /
 * 4.53; the multiply's 2-D blocks since, 64 -> 64 at 64 long 1.60 / 1.55, 128 -> 128 at 32 long
 * 2.85 / 2.78), hence up to dilation 2 and from 64 channels there: */
#define WINOGRAD1D_MAX_DILATION 2
#define WINOGRAD1D_DILATED_MIN_CHANNELS 64
#define WINOGRAD1D_MIN_CHANNELS 32
#define WINOGRAD1D_WIDE_MIN_CHANNELS 64
#define WINOGRAD1D_MIN_OUT 32
#define WINOGRAD1D_MIN_TILES 256
/* Its weight gradient with its forward (from 32 channels in and out), up to WINOGRAD1D_DW_MAX_TAPS
 * taps. Since its sums run by the 2-D kernel's multiply (register blocks over the tiles, the
 * gradient's transform with the output channels in the lanes; 5 Dec), dW ms at batch 64 against
 * the GEMMs (or its GEMM-based multiply from 64 channels): 32 -> 64 at 128 long, 5 taps 0.93 /
 * 0.66, 32 -> 32 at 256 long 0.87 / 0.57, at 512 long 5 taps 1.78 / 1.50, 48 -> 48 at 64 long 5
 * taps 0.70 / 0.38, 64 -> 64 at 128 long 0.98 / 0.78, 64 -> 128 1.65 / 1.44, 128 -> 128 at 64 long
 * 5 taps 2.14 / 1.91 (before: from 64 channels, its [32, 32] GEMMs at 130 GFLOP/s). Past F(4,5)
 * (alpha 8 with m = 3, 2) its sums lose up to 3e-5 of a tap's magnitude in float32. */
#define WINOGRAD1D_DW_MIN_CHANNELS 32
#define WINOGRAD1D_DW_MAX_TAPS 5

/* True when one of the Winograd kernels computes k's geometry: the 2-D F(2x2,3x3) or the 1-D F(m, r). */
static bool core_winograd_supported(const conv_core *k)
{
    return tg_winograd_supported(&k->geom, k->groups) || tg_winograd1d_supported(&k->geom, k->groups);
}
static bool core_winograd_is_1d(const conv_core *k) { return tg_winograd1d_supported(&k->geom, k->groups); }

/* AUTO's rule for Winograd, 1-D or 2-D (also where the shift kernels fit: the 2-D forward from 8
 * channels with its AVX-512 transforms, the measurements above) */
static bool winograd_pays(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    if (core_winograd_is_1d(k)) {
        const int64_t m = tg_winograd1d_tile(g->kernel[2]);
        const int64_t tiles = core_plan_n(k) * ((g->out[2] + m - 1) / m);
        int64_t min_channels = m < 4 ? WINOGRAD1D_WIDE_MIN_CHANNELS : WINOGRAD1D_MIN_CHANNELS;
        if (g->dilation[2] > 1 && min_channels < WINOGRAD1D_DILATED_MIN_CHANNELS)
            min_channels = WINOGRAD1D_DILATED_MIN_CHANNELS;
        return g->dilation[2] <= WINOGRAD1D_MAX_DILATION && g->channels >= min_channels && k->cb >= min_channels &&
               g->out[2] >= WINOGRAD1D_MIN_OUT && tiles >= WINOGRAD1D_MIN_TILES;
    }
    int64_t tiles = core_plan_n(k) * ((g->out[1] + WINOGRAD_TILE - 1) / WINOGRAD_TILE) *
                    ((g->out[2] + WINOGRAD_TILE - 1) / WINOGRAD_TILE);
    const int64_t min_channels = tg_winograd_kernel_is_simd() ? WINOGRAD_MIN_CHANNELS : WINOGRAD_PORTABLE_MIN_CHANNELS;
    const bool f4 = tg_winograd_tile(g, k->cb) == 4;
    const int64_t min_out = f4 ? WINOGRAD4_MIN_OUT : WINOGRAD_MIN_OUT;
    const int64_t min_in = f4 && WINOGRAD4_MIN_IN_CHANNELS < min_channels ? WINOGRAD4_MIN_IN_CHANNELS : min_channels;
    return tg_winograd_supported(g, k->groups) && g->channels >= min_in && k->cb >= min_channels &&
           g->out[1] >= min_out && g->out[2] >= min_out && tiles >= WINOGRAD_MIN_TILES;
}
/* dW by the 1-D Winograd: with its forward, from WINOGRAD1D_DW_MIN_CHANNELS under AUTO. */
static bool core_winograd1d_dw(const conv_core *k)
{
    if (!core_winograd_is_1d(k) || k->geom.kernel[2] > WINOGRAD1D_DW_MAX_TAPS) return false;
    if (k->algo == TG_CONV_FWD_WINOGRAD) return true;
    return k->algo == TG_CONV_FWD_AUTO && winograd_pays(k) && k->geom.channels >= WINOGRAD1D_DW_MIN_CHANNELS &&
           k->cb >= WINOGRAD1D_DW_MIN_CHANNELS;
}
/* ---- 3-D (and dilated) convolutions as 2-D ones over stacks of slices ("unfold") ----
 * Output slice d of a 3-D convolution is a 2-D convolution of KD input slices:
 *   B[n, o, d] = sum_{c, kd} W[o, c, kd] *2-D A[n, c, d*sd + kd*dd - pd]   (zero past the depth edges)
 * so with the stacks S[(n, d)] = [A[n, c, d*sd + kd*dd - pd] for c, kd] as images of C*KD channels,
 * B's slices are the 2-D convolution of S with W read as [O, C*KD, KH, KW] (its own memory order).
 * The 2-D Winograd then runs 3-D layers with 3x3 in-plane kernels (any depth kernel, stride, dilation
 * and padding): F(4x4,3x3) takes 36 multiplies per 16 outputs where the direct 3-D kernels take 144,
 * and each stack costs only the copies of its slices in (KD times the input) and of B's slices out,
 * a block of images at a time while they are in cache. Forward ms, batch 64, one thread, 3x3x3
 * padding 1 (5 Dec, Zen 5), what AUTO took (output-channel vectors or shift) / unfolded: 16 -> 32 at
 * 12^3 13.0 / 7.7, 32 -> 16 (a rotated dX) 18.0 / 9.7, 8 -> 16 at 8x16x16 4.6 / 2.9, 16 -> 32 at
 * 4x8x8 1.9 / 1.6, 16 -> 16 at 16^3 17.9 / 10.6, 16 -> 32 at 16x32x32 122 / 58; at 6x6 maps the 2-D
 * rule keeps its GEMMs, which lose (32 -> 64 at 6^3: 6.3 / 8.2), so the unfolded core must take
 * Winograd by the 2-D rule (winograd_pays). */
/* Bytes of stacks per block (the copies in and out stay in cache): measured 16 -> 32 at 12^3, blocks
 * of 64 / 8 / 2 images (14 / 1.7 / 0.4 MiB of stacks): 8.7 / 7.7 / 8.2 ms; training steps with
 * 1 or 4 MiB instead were level or up to 2% slower (volume3d, strided_volume). */
#define UNFOLD_BLOCK_BYTES ((size_t)2 << 20)
/* Input channels (per slice) from which AUTO unfolds: the stacks copy KD times the input, which
 * few channels do not pay back. Forward ms, batch 64, 3x3x3, at 16x32x32, 3-D shift / unfolded: 1 ->
 * 16 6.0 / 8.4, 2 -> 16 9.7 / 9.5, 4 -> 16 16.9 / 12.6; 3 -> 32 at 16^3 7.4 / 5.9. */
#define UNFOLD_MIN_IN_CHANNELS 3
static int64_t unfold_channels(const conv_core *k) { return k->geom.channels * k->geom.kernel[0]; }
/* In-plane dims (1: H, 2: W) dilated by d > 1 split into d phases: output positions a*d + r of
 * phase r read the inputs (a + j)*d + r - pad at tap j, a dense stride-1 convolution of the inputs
 * i*d + r - pad (i = a + j), so each phase is an image of its own, zero-padded explicitly to
 * ceil(out / d) + kernel - 1 positions (every phase the same size; past a phase's last output the
 * sums are made and dropped). Undilated dims keep the layer's size and padding. */
static int64_t unfold_phases(const tg_conv_geom *g, int dim) { return g->dilation[dim] > 1 ? g->dilation[dim] : 1; }
/* Dilations up to this many phases a dim (the rows of a phase split kept on the stack) */
#define TG_CONV_UNFOLD_MAX_PHASES 16
/* AUTO splits dilated layers into phases only where that measured faster: the phases' copies in
 * and out cost about what the 2-D Winograd's multiply does (its time at 32 -> 32 on 64x64,
 * dilation 2, 14.2 ms against 8.8 undilated). Forward ms, batch 64, one thread, 3x3 "same", what
 * AUTO took (shift or GEMM) / phases: dilation 2, 32 -> 32 at 64x64 20.4 / 13.7, at 32x32 5.3 / 4.3,
 * at 16x16 1.49 / 1.61; 64 -> 64 at 16x16 5.5 / 4.5; 128 -> 128 at 16x16 20.2 / 14.7; 16 -> 16 at
 * 32x32 1.37 / 1.40; dilation 3, 32 -> 32 at 48x48 12.2 / 11.7 (dW 13.5 / 14.7); dilation 4, 32 ->
 * 32 at 64x64 21.9 / 25.7, at 32x32 5.9 / 8.2. Hence dilation 2, from 32 channels in and out, on
 * phase maps from 16 wide (or from 64 channels). */
#define UNFOLD_MAX_DILATION 2
#define UNFOLD_DILATED_MIN_CHANNELS 32
#define UNFOLD_DILATED_WIDE_CHANNELS 64
#define UNFOLD_DILATED_MIN_OUT 16
/* Stacks per image: one per output slice and in-plane phase. */
static int64_t unfold_per_image(const tg_conv_geom *g) { return g->out[0] * unfold_phases(g, 1) * unfold_phases(g, 2); }
/* The 2-D convolution of the stacks of `images` images, C*KD channels. The algorithm is chosen for
 * the whole batch's stacks (plan_n), as a split part's is. */
static conv_core unfold_core(const conv_core *k, int64_t images)
{
    const tg_conv_geom *g = &k->geom;
    conv_core c = *k;
    c.n = images * unfold_per_image(g);
    c.plan_n = core_plan_n(k) * unfold_per_image(g);
    c.ca = unfold_channels(k);
    c.geom.channels = c.ca;
    c.geom.in[0] = c.geom.out[0] = c.geom.kernel[0] = c.geom.stride[0] = c.geom.dilation[0] = 1;
    c.geom.pad[0] = 0;
    for (int i = 1; i < 3; i++)
        if (unfold_phases(g, i) > 1) {
            c.geom.out[i] = (g->out[i] + g->dilation[i] - 1) / g->dilation[i];
            c.geom.in[i] = c.geom.out[i] + g->kernel[i] - 1;
            c.geom.pad[i] = 0;
            c.geom.dilation[i] = 1;
        }
    return c;
}
/* A 3-D convolution of one group, or a 2-D one dilated in-plane, whose stacks' 2-D convolution the
 * Winograd kernels compute (3x3 stride 1 in-plane) and where their rule takes it (or Winograd is
 * asked for). */
static bool core_uses_unfold(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    const bool dilated = unfold_phases(g, 1) > 1 || unfold_phases(g, 2) > 1;
    if ((k->algo != TG_CONV_FWD_AUTO && k->algo != TG_CONV_FWD_WINOGRAD) || k->groups != 1 ||
        (g->in[0] == 1 && g->kernel[0] == 1 && !dilated) || g->stride[1] != 1 || g->stride[2] != 1 ||
        g->dilation[1] > TG_CONV_UNFOLD_MAX_PHASES || g->dilation[2] > TG_CONV_UNFOLD_MAX_PHASES)
        return false;
    const conv_core c = unfold_core(k, core_plan_n(k));
    if (!tg_winograd_supported(&c.geom, 1)) return false;
    if (k->algo == TG_CONV_FWD_WINOGRAD) return true;
    if (dilated) {
        const int64_t fewest = g->channels < k->cb ? g->channels : k->cb;
        const int64_t phase_out = c.geom.out[1] < c.geom.out[2] ? c.geom.out[1] : c.geom.out[2];
        if (g->dilation[1] > UNFOLD_MAX_DILATION || g->dilation[2] > UNFOLD_MAX_DILATION ||
            fewest < UNFOLD_DILATED_MIN_CHANNELS || (fewest < UNFOLD_DILATED_WIDE_CHANNELS && phase_out < UNFOLD_DILATED_MIN_OUT))
            return false;
    }
    return g->channels >= UNFOLD_MIN_IN_CHANNELS && winograd_pays(&c);
}
/* dW the same way where the 2-D rule takes Winograd's dW for the stacks (from 16 channels: fewer
 * left the 2-D core on its shift kernels, which lose to the 3-D ones: 4 -> 16 at 16x32x32 23.9 /
 * 19.3 ms); else the 3-D paths. dW ms, batch 64, one thread, 3-D / unfolded: 16 -> 32 at 12^3 13.3
 * / 8.6, 8 -> 16 at 8x16x16 5.1 / 3.8, 16 -> 16 at 16^3 20.3 / 12.2, 16 -> 32 at 4x8x8 1.9 / 1.8. */
static bool core_winograd_2d_dw(const conv_core *k);
static bool core_dw_uses_unfold(const conv_core *k)
{
    if (!core_uses_unfold(k)) return false;
    const conv_core c = unfold_core(k, core_plan_n(k));
    return core_winograd_2d_dw(&c);
}
/* Images per block: UNFOLD_BLOCK_BYTES of stacks, at least one (a function of the shapes). */
static int64_t unfold_block(const conv_core *k)
{
    const conv_core c = unfold_core(k, 1);
    const int64_t per_image = c.n * c.ca * c.geom.in[1] * c.geom.in[2];
    int64_t m = per_image > 0 ? (int64_t)(UNFOLD_BLOCK_BYTES / ((size_t)per_image * sizeof(tg_real))) : k->n;
    m = m < 1 ? 1 : m;
    return m < k->n ? m : (k->n > 0 ? k->n : 1);
}

/* The forward (and the rotated dX, a forward convolution) by the shift kernels. */
static bool core_uses_shift(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_SHIFT) return tg_conv_shift_supported(&k->geom);
    return k->algo == TG_CONV_FWD_AUTO && core_shift_fits(k) && !winograd_pays(k) && !core_uses_unfold(k);
}
/* dW by the shift kernels: wherever they fit, also when the forward is Winograd's (whose weight
 * gradient pays only from WINOGRAD_DW_MIN_CHANNELS, beyond what shift takes); strided, up to
 * SHIFT_STRIDED_DW_MAX_CHANNELS input channels */
static bool core_dw_uses_shift(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_SHIFT) return tg_conv_shift_supported(&k->geom);
    return k->algo == TG_CONV_FWD_AUTO && core_shift_fits(k) &&
           (!core_strided(k) || k->geom.channels <= SHIFT_STRIDED_DW_MAX_CHANNELS);
}

/* Where AUTO takes the output-channel-vector direct kernels (conv_ovec.h) for the forward (and so
 * the rotated dX, unstrided) and dW: not depthwise or 1x1, not Winograd's, with SIMD loops, on maps
 * where the shift kernels keep too few of their positions (below SHIFT_MIN_KEPT_PERCENT), from
 * OVEC_MIN_OUT_CHANNELS output channels per group (fewer leave its vectors mostly empty) up to
 * OVEC_MAX_OUT_CHANNELS, or OVEC_WIDE_MAX_OUT_CHANNELS with OVEC_WIDE_TAPS taps or more (where
 * im2col's packing grows with the taps and the GEMM's rows do not pay it back). Measured 5 Dec,
 * Zen 5, one thread, batch 64, forward / forward+backward ms, GEMM against these: 5x5 24 -> 48 at
 * 9x9 1.78 / 6.29, 1.20 / 4.39; 48 -> 24 2.27 / 7.12, 1.83 / 5.26; 24 -> 16 1.01 / 3.68, 0.75 /
 * 2.16; 64 -> 64 5.61 / 16.7, 4.65 / 15.4; 64 -> 128 9.50 / 28.9, 8.12 / 28.9; 7x7 32 -> 32 at
 * 16x16 10.0 / 28.2, 7.12 / 22.0; 3x3 32 -> 32 at 7x7 0.40 / 1.32, 0.36 / 1.07; at 5x5 0.22 /
 * 0.76, 0.23 / 0.64; 3x3 2 groups of 24 at 9x9 0.75 / 2.80, 0.73 / 2.33; 3x3 stride 2 48 -> 48 at
 * 16x16 dW 0.95 / 0.64; but 3x3 64 -> 64 at 7x7 ties (1.21 / 3.90, 1.30 / 3.89) and loses from 128
 * channels (4.13 / 13.0, 4.23 / 14.8) or on 4x4 maps (64 -> 64 0.40 / 1.49, 0.53 / 1.52). Not for
 * kernels along W alone (1-D): their im2col rows are runs of the input, cheap to pack (conv1d 32 ->
 * 32 at 16 long, 3 taps, 0.035 / 0.165 against 0.062 / 0.217). And only where the vectors of
 * output channels are at least half full in the last (its time follows the padded count, the
 * GEMM's the real one: 5x5 20 -> 50 at 14x14 forward 3.54 against 3.60, and as the rotated dX
 * 50 -> 20 4.65 against col2im's 3.85 fwd+dX share; 20 -> 48 2.47 against GEMM's 3.37). */
/* ... and from OVEC_MIN_TAPS taps: with fewer (2x2 stride 2) im2col is no bigger than the input
 * (32 -> 32 at 16x16, forward 0.24 / 0.27 ms, dW 0.24 / 0.39; but 3x3 stride 3 0.29 / 0.17) */
#define OVEC_MIN_TAPS 9
#define OVEC_MIN_OUT_CHANNELS 16
#define OVEC_MAX_OUT_CHANNELS 48
#define OVEC_WIDE_TAPS 25
#define OVEC_WIDE_MAX_OUT_CHANNELS 128
static bool core_ovec_fits(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t og = k->cb / k->groups;
    const int64_t max_out = core_taps(k) >= OVEC_WIDE_TAPS ? OVEC_WIDE_MAX_OUT_CHANNELS : OVEC_MAX_OUT_CHANNELS;
    if (core_is_thin(k) || core_is_pointwise(g) || og < OVEC_MIN_OUT_CHANNELS || og > max_out ||
        core_taps(k) < OVEC_MIN_TAPS || core_taps(k) == g->kernel[2] || !tg_conv_ovec_kernel_is_simd() ||
        !tg_conv_ovec_supported(g))
        return false;
    const int64_t lanes = tg_conv_ovec_lanes(), o_pad = (og + lanes - 1) / lanes * lanes;
    if (2 * (o_pad - og) > lanes) return false;
    return !tg_conv_shift_supported(g) ||
           tg_conv_geom_out_size(g) * 100 < tg_conv_shift_span(g, og) * SHIFT_MIN_KEPT_PERCENT;
}
/* dW by the output-channel-vector kernels: asked for, or where AUTO's rule takes them (also when the
 * unfolded 2-D core takes the forward but not dW: core_dw_uses_unfold) */
static bool core_dw_uses_ovec(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_OVEC) return tg_conv_ovec_supported(&k->geom);
    return k->algo == TG_CONV_FWD_AUTO && core_ovec_fits(k) && !winograd_pays(k);
}
/* The forward (and the rotated dX) by them: the same, unless AUTO unfolds the layer */
static bool core_uses_ovec(const conv_core *k)
{
    return core_dw_uses_ovec(k) && (k->algo == TG_CONV_FWD_OVEC || !core_uses_unfold(k));
}

/* The choice depends on the shapes of the whole batch (plan_n), never on the thread count or on
 * the part of a split batch being run: the same convolution takes the same path, so gives the
 * same bits, with any number of threads. (It once was taken with one thread only; the batch split
 * now runs its transforms on every thread.) */
static bool core_uses_winograd(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_GEMM || k->algo == TG_CONV_FWD_REFERENCE || k->algo == TG_CONV_FWD_SHIFT ||
        k->algo == TG_CONV_FWD_OVEC || !core_winograd_supported(k))
        return false;
    if (k->algo == TG_CONV_FWD_WINOGRAD) return true;
    return winograd_pays(k);
}

/* dW by the 2-D Winograd: with its forward, from WINOGRAD_DW_MIN_CHANNELS in and out (the rules
 * above). */
static bool core_winograd_2d_dw(const conv_core *k)
{
    if (!core_uses_winograd(k) || core_winograd_is_1d(k)) return false;
    const int64_t fewest = k->geom.channels < k->cb ? k->geom.channels : k->cb;
    if (!tg_winograd_kernel_is_simd()) return fewest >= WINOGRAD_DW_PORTABLE_MIN_CHANNELS;
    return fewest >= WINOGRAD_DW_MIN_CHANNELS &&
           (fewest >= WINOGRAD_DW_FEW_CHANNELS || k->geom.out[2] <= WINOGRAD_DW_FEW_MAX_OUT);
}

/* Winograd's transforms mix a tile's 4x4 inputs and the 3x3 filter: one NaN or Inf would reach
 * outputs whose window never reads it (through Inf − Inf = NaN too), where PyTorch's direct and
 * im2col loops give NaN or ±Inf exactly in the windows that read it. So operands holding a non-finite
 * value take the exact GEMM path instead. The Winograd kernels check x and dY inside their input
 * transforms and stop (tg_winograd_conv, tg_winograd_dw); only the small filter, and A when B
 * accumulates (a stop part way would leave B half summed), are scanned first. B (+)= conv(A, W):
 * true when done. */
static bool winograd_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                             tg_real *col)
{
    if (!tg_winograd_finite(w, k->cb * k->geom.channels * core_taps(k))) return false;
    if (accumulate && !tg_winograd_in_range(a, k->n * k->ca * core_a_size(k))) return false;
    if (core_winograd_is_1d(k)) return tg_winograd1d_conv(&k->geom, k->n, k->cb, a, w, b, accumulate, col);
    return tg_winograd_conv(&k->geom, k->n, k->cb, a, w, b, accumulate, col);
}

static int64_t round_to_line(int64_t elements) { return (elements + 15) / 16 * 16; }

/* The input row (or column) a phase's position j reads: j*d + r - pad along a dilated dim, j itself
 * along another; -1 outside the input. */
static int64_t unfold_source(const tg_conv_geom *g, int dim, int64_t r, int64_t j)
{
    const int64_t at = unfold_phases(g, dim) > 1 ? j * g->dilation[dim] + r - g->pad[dim] : j;
    return at >= 0 && at < g->in[dim] ? at : -1;
}

/* The stacks of m images of A (from image 0 of a), stack (i, d, rh, rw), channel (c, kd): the
 * depth slice A[i, c, d*sd + kd*dd - pd] (zeros past the depth edges), in phase (rh, rw) of its
 * dilated dims. c: the stacks' 2-D convolution (unfold_core). Along a dilated W the phases' rows
 * are one walk over the zero-padded input row, dealt out in turn (row[rw][x] = padded[x*dw + rw]). */
static void unfold_stacks(const conv_core *k, const conv_core *c, const tg_real *a, int64_t m, tg_real *s)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t ph = unfold_phases(g, 1), pw = unfold_phases(g, 2), sh = c->geom.in[1], sw = c->geom.in[2];
    const int64_t plane = g->in[1] * g->in[2], stack = c->ca * sh * sw;
    for (int64_t i = 0; i < m; i++)
        for (int64_t d = 0; d < g->out[0]; d++)
            for (int64_t rh = 0; rh < ph; rh++, s += pw * stack)
                for (int64_t ch = 0; ch < g->channels; ch++)
                    for (int64_t kd = 0; kd < g->kernel[0]; kd++) {
                        tg_real *dst = s + (ch * g->kernel[0] + kd) * sh * sw; /* phase rw: + rw * stack */
                        const int64_t z = d * g->stride[0] + kd * g->dilation[0] - g->pad[0];
                        const tg_real *src = z >= 0 && z < g->in[0] ? a + ((i * k->ca + ch) * g->in[0] + z) * plane : NULL;
                        if (src && ph == 1 && pw == 1) { /* the slice as it is */
                            memcpy(dst, src, (size_t)plane * sizeof *dst);
                            continue;
                        }
                        for (int64_t y = 0; y < sh; y++) {
                            const int64_t from = src ? unfold_source(g, 1, rh, y) : -1;
                            if (from < 0) {
                                for (int64_t rw = 0; rw < pw; rw++) memset(dst + rw * stack + y * sw, 0, (size_t)sw * sizeof *dst);
                                continue;
                            }
                            const tg_real *in = src + from * g->in[2];
                            if (pw == 1) {
                                memcpy(dst + y * sw, in, (size_t)sw * sizeof *dst);
                                continue;
                            }
                            tg_real *rows[TG_CONV_UNFOLD_MAX_PHASES];
                            for (int64_t rw = 0; rw < pw; rw++) rows[rw] = dst + rw * stack + y * sw;
                            tg_phase_rows_split(in, g->in[2], g->pad[2], pw, sw, rows);
                        }
                    }
}

/* Between B [n, o, d, h, w] and the stacks' 2-D output Y [(n, d, rh, rw), o, a, b] (c: the stacks'
 * convolution): Y's (a, b) is B's (a*dh + rh, b*dw + rw) along dilated dims, (a, b) along others.
 * Each row of B is one walk, its columns taken from (or dealt to) the phases in turn.
 *   to B:   B (+)= Y (accumulate adds), Y's positions past B's edge dropped;
 *   from B: Y = B (dW's gradient), zero past B's edge (those sums must add nothing). */
typedef struct unfold_rows {
    const tg_real *y_in, *b_in; /* to B: y_in; from B: b_in */
    tg_real *b_out, *y_out;
    bool accumulate;
} unfold_rows;
static void unfold_exchange(const conv_core *k, const conv_core *c, int64_t m, const unfold_rows *r)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t ph = unfold_phases(g, 1), pw = unfold_phases(g, 2), oh = c->geom.out[1], ow = c->geom.out[2];
    const int64_t plane = g->out[1] * g->out[2], stack = k->cb * oh * ow, width = g->out[2];
    const tg_elementwise_kernel *ew = tg_elementwise_kernel_get();
    int64_t at = 0; /* the stacks' group (i, d, rh): its phase rw at + rw * stack */
    for (int64_t i = 0; i < m; i++)
        for (int64_t d = 0; d < g->out[0]; d++)
            for (int64_t rh = 0; rh < ph; rh++, at += pw * stack)
                for (int64_t o = 0; o < k->cb; o++)
                    for (int64_t a = 0; a < oh; a++) {
                        const int64_t yrow = at + (o * oh + a) * ow, h = a * ph + rh;
                        const int64_t brow = ((i * k->cb + o) * g->out[0] + d) * plane + h * width;
                        if (r->y_out) { /* from B */
                            tg_real *rows[TG_CONV_UNFOLD_MAX_PHASES];
                            for (int64_t rw = 0; rw < pw; rw++) rows[rw] = r->y_out + yrow + rw * stack;
                            if (h >= g->out[1])
                                for (int64_t rw = 0; rw < pw; rw++) memset(rows[rw], 0, (size_t)ow * sizeof *rows[rw]);
                            else if (pw == 1) memcpy(rows[0], r->b_in + brow, (size_t)ow * sizeof *rows[0]);
                            else tg_phase_rows_split(r->b_in + brow, width, 0, pw, ow, rows);
                            continue;
                        }
                        if (h >= g->out[1]) continue;
                        tg_real *row = r->b_out + brow;
                        const tg_real *from = r->y_in + yrow;
                        if (pw == 1 && r->accumulate) ew->binary(TG_EW_ADD, row, false, from, false, row, ow);
                        else if (pw == 1) memcpy(row, from, (size_t)ow * sizeof *row);
                        else {
                            const tg_real *rows[TG_CONV_UNFOLD_MAX_PHASES];
                            for (int64_t rw = 0; rw < pw; rw++) rows[rw] = from + rw * stack;
                            if (!r->accumulate) memset(row, 0, (size_t)width * sizeof *row);
                            tg_phase_rows_add(row, width, pw, rows);
                        }
                    }
}

/* Floats of one block's stacks and of their 2-D output (whole cache lines each). */
static int64_t unfold_stacks_size(const conv_core *k)
{
    const conv_core c = unfold_core(k, unfold_block(k));
    return round_to_line(c.n * c.ca * core_a_size(&c));
}
static int64_t unfold_out_size(const conv_core *k)
{
    const conv_core c = unfold_core(k, unfold_block(k));
    return round_to_line(c.n * c.cb * core_b_size(&c));
}
/* Floats of the unfolded forward's scratch: a block's stacks and output, the 2-D Winograd's. */
static size_t unfold_forward_scratch(const conv_core *k)
{
    const conv_core c = unfold_core(k, unfold_block(k));
    return (size_t)(unfold_stacks_size(k) + unfold_out_size(k)) + tg_winograd_scratch(&c.geom, c.n, c.cb);
}

static void out_op_images(const conv_core *k, const tg_conv_out_op *out, tg_real *b, int64_t n0, int64_t m);
/* B (+)= conv(A, W) by the 2-D Winograd over depth slices, block by block, each block's slices put
 * in B's order and given `out` while in cache. false when W, A or a transform is not finite (B then
 * holds some blocks; with accumulate A is checked first, within the transforms' headroom, so it
 * never stops part way: tg_winograd_in_range), as winograd_forward. col: unfold_forward_scratch
 * floats. */
static bool unfold_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                           tg_real *col, const tg_conv_out_op *out)
{
    if (!tg_winograd_finite(w, k->cb * k->geom.channels * core_taps(k))) return false;
    if (accumulate && !tg_winograd_in_range(a, k->n * k->ca * core_a_size(k))) return false;
    const int64_t block = unfold_block(k), pa = core_a_size(k), pb = core_b_size(k);
    tg_real *stacks = col, *y = stacks + unfold_stacks_size(k), *wino = y + unfold_out_size(k);
    for (int64_t n0 = 0; n0 < k->n; n0 += block) {
        const int64_t m = k->n - n0 < block ? k->n - n0 : block;
        const conv_core c = unfold_core(k, m);
        unfold_stacks(k, &c, a + n0 * k->ca * pa, m, stacks);
        if (!tg_winograd_conv(&c.geom, c.n, c.cb, stacks, w, y, false, wino)) return false;
        unfold_exchange(k, &c, m, &(unfold_rows){.y_in = y, .b_out = b + n0 * k->cb * pb, .accumulate = accumulate});
        out_op_images(k, out, b, n0, m);
    }
    return true;
}

/* Floats of the shift forward's scratch: every group's packed filter, then one image's box and
 * wide output. */
static size_t shift_forward_scratch(const conv_core *k)
{
    tg_conv_shift_plan p;
    tg_conv_shift_plan_make(&k->geom, k->cb / k->groups, &p);
    return (size_t)(k->groups * round_to_line(tg_conv_shift_packed_w_size(&p, k->geom.channels)) +
                    tg_conv_shift_forward_scratch(&p, k->geom.channels));
}

/* B (+)= conv(A, W) by the shift kernels, image by image (one image alone: its positions split
 * among the threads). col: shift_forward_scratch floats. */
static void shift_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                          tg_real *col)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, rows = cg * core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k);
    tg_conv_shift_plan p;
    tg_conv_shift_plan_make(&k->geom, og, &p);
    const int64_t w_size = round_to_line(tg_conv_shift_packed_w_size(&p, cg));
    tg_real *scratch = col + k->groups * w_size;
    for (int64_t g = 0; g < k->groups; g++) tg_conv_shift_pack_w(&p, cg, w + g * og * rows, col + g * w_size);
    const bool split_positions = k->threads > 1;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t g = 0; g < k->groups; g++)
            tg_conv_shift_forward(&k->geom, &p, a + (n * k->ca + g * cg) * pa, col + g * w_size,
                                  b + (n * k->cb + g * og) * pb, accumulate, split_positions, scratch);
}

/* dW's images per shift call: their boxes and wide dB within this (a chunk of 28x28 images holds
 * 3; large images go one by one). */
#define SHIFT_DW_SCRATCH_BYTES ((size_t)2 << 20)
static int64_t shift_dw_images(const conv_core *k, const tg_conv_shift_plan *p)
{
    const size_t one = (size_t)tg_conv_shift_dw_scratch(p, k->geom.channels, 1) * sizeof(tg_real);
    int64_t m = one > 0 ? (int64_t)(SHIFT_DW_SCRATCH_BYTES / one) : k->n;
    m = m < 1 ? 1 : m;
    return m < k->n ? m : (k->n > 0 ? k->n : 1);
}

/* dW += corr(A, dB) by the shift kernels, its scratch from ws (sizing when ws has no block);
 * false (nothing added) when A holds NaN or Inf: the kernels multiply dB's zeros by inputs the
 * convolution never pairs with them (conv_shift.h). */
static bool shift_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, rows = cg * core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k);
    tg_conv_shift_plan p;
    tg_conv_shift_plan_make(&k->geom, og, &p);
    const int64_t m = shift_dw_images(k, &p);
    tg_real *scratch = ws_take(ws, (size_t)tg_conv_shift_dw_scratch(&p, cg, m) * sizeof *scratch);
    if (!ws->base || !tg_winograd_finite(a, k->n * k->ca * pa)) return false;
    for (int64_t g = 0; g < k->groups; g++)
        for (int64_t n0 = 0; n0 < k->n; n0 += m)
            tg_conv_shift_dw(&k->geom, &p, k->n - n0 < m ? k->n - n0 : m, a + (n0 * k->ca + g * cg) * pa, k->ca * pa,
                             db + (n0 * k->cb + g * og) * pb, k->cb * pb, dw + g * og * rows, scratch);
    return true;
}

/* Floats of the output-channel-vector forward's scratch: every group's packed filter, then one
 * image's boxes and offsets. */
static size_t ovec_forward_scratch(const conv_core *k)
{
    tg_conv_ovec_plan p;
    tg_conv_ovec_plan_make(&k->geom, k->cb / k->groups, &p);
    return (size_t)(k->groups * round_to_line(tg_conv_ovec_packed_w_size(&p, k->geom.channels)) +
                    tg_conv_ovec_forward_scratch(&p, k->geom.channels));
}

/* B (+)= conv(A, W) by the output-channel-vector kernels, image by image (one image alone: its
 * blocks split among the threads). col: ovec_forward_scratch floats. */
static void ovec_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                         tg_real *col)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, rows = cg * core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k);
    tg_conv_ovec_plan p;
    tg_conv_ovec_plan_make(&k->geom, og, &p);
    const int64_t w_size = round_to_line(tg_conv_ovec_packed_w_size(&p, cg));
    tg_real *scratch = col + k->groups * w_size;
    for (int64_t g = 0; g < k->groups; g++) tg_conv_ovec_pack_w(&p, cg, w + g * og * rows, col + g * w_size);
    const bool split = k->threads > 1;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t g = 0; g < k->groups; g++)
            tg_conv_ovec_forward(&k->geom, &p, a + (n * k->ca + g * cg) * pa, col + g * w_size,
                                 b + (n * k->cb + g * og) * pb, accumulate, split, scratch);
}

/* dW's images per call: their boxes and turned dB within this (as the shift kernels') */
#define OVEC_DW_SCRATCH_BYTES ((size_t)2 << 20)
/* dW += corr(A, dB) by the output-channel-vector kernels, its scratch from ws (sizing when ws has
 * no block). */
static void ovec_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, rows = cg * core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k);
    tg_conv_ovec_plan p;
    tg_conv_ovec_plan_make(&k->geom, og, &p);
    const int64_t per_image = tg_conv_ovec_dw_scratch(&p, cg, 2) - tg_conv_ovec_dw_scratch(&p, cg, 1);
    const size_t one = (size_t)per_image * sizeof(tg_real);
    int64_t m = one > 0 ? (int64_t)(OVEC_DW_SCRATCH_BYTES / one) : k->n;
    m = m < 1 ? 1 : m > k->n ? (k->n > 0 ? k->n : 1) : m;
    tg_real *scratch = ws_take(ws, (size_t)tg_conv_ovec_dw_scratch(&p, cg, m) * sizeof *scratch);
    if (!ws->base) return;
    for (int64_t g = 0; g < k->groups; g++)
        for (int64_t n0 = 0; n0 < k->n; n0 += m)
            tg_conv_ovec_dw(&k->geom, &p, k->n - n0 < m ? k->n - n0 : m, a + (n0 * k->ca + g * cg) * pa, k->ca * pa,
                            db + (n0 * k->cb + g * og) * pb, k->cb * pb, dw + g * og * rows, scratch);
}

/* Floats of the forward's scratch; dW takes it too (the Winograd dW and the GEMMs' stacked dB,
 * also when the shift dW falls back to them). */
static bool core_uses_lanes(const conv_core *k);
static size_t lanes_scratch(const conv_core *k);
static size_t core_forward_scratch(const conv_core *k)
{
    size_t gemm = core_scratch(k);
    if (core_uses_unfold(k)) return unfold_forward_scratch(k) > gemm ? unfold_forward_scratch(k) : gemm;
    if (core_uses_lanes(k)) return lanes_scratch(k) > gemm ? lanes_scratch(k) : gemm;
    if (core_uses_ovec(k)) {
        size_t ovec = ovec_forward_scratch(k);
        return ovec > gemm ? ovec : gemm;
    }
    if (core_uses_shift(k)) {
        size_t shift = shift_forward_scratch(k);
        return shift > gemm ? shift : gemm;
    }
    if (!core_uses_winograd(k)) return gemm;
    size_t wino = core_winograd_is_1d(k) ? tg_winograd1d_scratch(&k->geom, k->n, k->cb)
                                         : tg_winograd_scratch(&k->geom, k->n, k->cb);
    return wino > gemm ? wino : gemm;
}

/* Floats of dW's scratch: the forward's, or the Winograd weight gradient's (its chunks are larger
 * than the forward's 128 tiles; it once took the forward's and an assertion stopped it). */
static size_t core_dw_scratch(const conv_core *k)
{
    const size_t forward = core_forward_scratch(k);
    size_t dw = 0;
    if (core_winograd_2d_dw(k)) dw = tg_winograd_dw_scratch(&k->geom, k->n, k->cb);
    else if (core_winograd1d_dw(k)) dw = tg_winograd1d_dw_scratch(&k->geom, k->n, k->cb); /* its own since 5 Dec */
    return dw > forward ? dw : forward;
}

/* The direct kernel per (image, group) item, over A and B (forward: B (+)= conv(A); adjoint:
 * A += the exact adjoint on B, reading B in place). */
typedef struct direct_job {
    const conv_core *k;
    const tg_real *w;
    const tg_real *a, *b_in; /* forward reads a; the adjoint reads b_in */
    tg_real *a_out, *b;      /* the adjoint writes a_out; the forward writes b */
    bool accumulate, adjoint;
    const tg_conv_out_op *out; /* the forward's, or NULL */
    tg_real *scratch;          /* the lanes kernels': lanes_scratch elements a slot */
    int64_t slot_size;
} direct_job;

/* out on planes p0..p1 of y (plane p: channel p % channels, `size` values), each in one pass of
 * the elementwise kernels (their vector y = f(y + b): a plain loop stayed scalar at GCC's -O2, 9.5%
 * of signal1d's batch-64 inference, 4 Dec). */
static void out_op_run(const tg_conv_out_op *out, tg_real *y, int64_t p0, int64_t p1, int64_t channels, int64_t size)
{
    const tg_elementwise_kernel *ew = tg_elementwise_kernel_get();
    for (int64_t p = p0; p < p1; p++) {
        tg_real *plane = y + p * size;
        const tg_real *bias = out->bias ? out->bias + p % channels : NULL;
        if (bias && out->act) ew->bias_unary((tg_ew_unary)out->act_op, out->act_param, *bias, plane, size);
        else if (bias) ew->binary(TG_EW_ADD, plane, false, bias, true, plane, size);
        else if (out->act) ew->unary((tg_ew_unary)out->act_op, out->act_param, plane, plane, size);
    }
}
static void out_op_planes(const conv_core *k, const tg_conv_out_op *out, tg_real *b, int64_t p0, int64_t p1)
{
    out_op_run(out, b, p0, p1, k->cb, core_b_size(k));
}

typedef struct out_op_job {
    const tg_conv_out_op *out;
    tg_real *y;
    int64_t channels, size;
} out_op_job;
static void out_op_range(void *ctx, int64_t p0, int64_t p1)
{
    const out_op_job *j = ctx;
    out_op_run(j->out, j->y, p0, p1, j->channels, j->size);
}

void tg_conv_out_op_apply(const tg_conv_out_op *out, tg_real *y, int64_t planes, int64_t channels, int64_t size)
{
    if (!out || (!out->bias && !out->act)) return;
    out_op_job j = {out, y, channels, size};
    tg_parallel_for(planes, out_op_range, &j);
}

/* out as the GEMM's epilogue, when its activation is one the micro-kernels apply. */
static bool out_op_in_gemm(const tg_conv_out_op *out, tg_gemm_epilogue *ep)
{
    if (!out || (!out->bias && !out->act)) return false;
    *ep = (tg_gemm_epilogue){.bias = out->bias, .act = TG_GEMM_ACT_NONE};
    if (!out->act) return true;
    if (out->act_op == TG_EW_RELU) ep->act = TG_GEMM_ACT_RELU;
    else if (out->act_op == TG_EW_LEAKY_RELU) ep->act = TG_GEMM_ACT_LEAKY_RELU, ep->slope = out->act_param;
    else return false;
    return true;
}

/* out on images n0..n0+m-1 of B, shared among the threads (serial inside a part of a split batch:
 * a nested parallel call runs on its caller). */
static void out_op_images(const conv_core *k, const tg_conv_out_op *out, tg_real *b, int64_t n0, int64_t m)
{
    tg_conv_out_op_apply(out, b + n0 * k->cb * core_b_size(k), m * k->cb, k->cb, core_b_size(k));
}

/* Depthwise items per call of the batched kernel: their output (32 planes) still in cache for the
 * bias and activation after them. */
#define DEPTHWISE_ITEMS 32
/* dX planes of the depthwise 3x3 stride-2 adjoint beyond this many bytes ask for later planes row
 * by row; smaller ones whole, two items ahead (below). 64 x 64 planes from memory, dX ms, whole /
 * by rows (5 Dec, Zen 5): 56x56 8.5 / 3.2, 112x112 (16 images) 9.9 / 4.4; 28x28 (3 KiB) whole. */
#define ADJOINT_ROWS_MIN_BYTES 4096

/* Depthwise with one filter a channel (no multiplier): what the lanes kernels take (im2col.h). */
static bool core_is_depthwise(const conv_core *k) { return core_is_thin(k) && k->cb == k->groups; }
static bool core_uses_lanes(const conv_core *k) { return core_is_depthwise(k) && tg_conv_lanes_chosen(&k->geom); }

/* The lanes kernels' scratch: one tile per thread that may run them at once (the split's parts
 * run with threads 1 on workspace slices of their own). */
static int core_slots(const conv_core *k) { return k->threads > 1 ? k->threads : 1; }
static int64_t lanes_slot_size(const conv_core *k) { return tg_conv_lanes_scratch(&k->geom); }
static size_t lanes_scratch(const conv_core *k) { return (size_t)(core_slots(k) * lanes_slot_size(k)); }

/* Items (channel block, image) per call of the lanes kernel: its tile's padding is zeroed once a
 * call, and the bias and activation run over the items' planes while they are in cache
 * (convnext_block train / infer at batch 64, ms: 2 items 2.97 / 0.953, 8 items 2.94 / 0.937, 32
 * items 2.93 / 0.933; 5 Dec, Zen 5, one thread). */
#define LANES_ITEMS 8

static void lanes_range(void *ctx, int64_t begin, int64_t end, int slot)
{
    const direct_job *j = ctx;
    const conv_core *k = j->k;
    const int64_t lanes = tg_conv_lanes_width();
    tg_real *scratch = j->scratch + slot * j->slot_size;
    for (int64_t i0 = begin; i0 < end; i0 += LANES_ITEMS) {
        const int64_t i1 = end - i0 < LANES_ITEMS ? end : i0 + LANES_ITEMS;
        if (j->adjoint) { /* dA (+)= the full convolution of dB with the rotated filter */
            tg_conv_lanes_adjoint(&k->geom, k->groups, k->n, i0, i1, j->b_in, j->w, j->a_out, j->accumulate, scratch);
            continue;
        }
        tg_conv_lanes_forward(&k->geom, k->groups, k->n, i0, i1, j->a, j->w, j->b, j->accumulate, scratch);
        if (!j->out) continue;
        for (int64_t item = i0; item < i1; item++) { /* the item's planes: image n, channels c0.. */
            const int64_t n = item % k->n, c0 = item / k->n * lanes, c1 = c0 + lanes < k->groups ? c0 + lanes : k->groups;
            out_op_planes(k, j->out, j->b, n * k->cb + c0, n * k->cb + c1);
        }
    }
}

static void direct_range(void *ctx, int64_t begin, int64_t end)
{
    const direct_job *j = ctx;
    const conv_core *k = j->k;
    const int64_t og = k->cb / k->groups, cg = k->geom.channels;
    if (!j->adjoint && og == 1 && cg == 1) { /* depthwise: item = plane of A and of B */
        for (int64_t i0 = begin; i0 < end; i0 += DEPTHWISE_ITEMS) {
            const int64_t i1 = end - i0 < DEPTHWISE_ITEMS ? end : i0 + DEPTHWISE_ITEMS;
            tg_conv_direct_depthwise(&k->geom, k->groups, i0, i1, j->a, j->w, j->b, j->accumulate);
            if (j->out) out_op_planes(k, j->out, j->b, i0, i1);
        }
        return;
    }
    /* the depthwise adjoint on planes beyond ADJOINT_ROWS_MIN_BYTES: each plane asks for a later
     * plane's rows as it goes (whole planes asked for at once, below, stop helping there) */
    if (j->adjoint && og == 1 && cg == 1 && core_a_size(k) * (int64_t)sizeof(tg_real) > ADJOINT_ROWS_MIN_BYTES) {
        tg_conv_direct_adjoint_depthwise(&k->geom, k->groups, begin, end, j->b_in, j->w, j->a_out, j->accumulate);
        return;
    }
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / k->groups, g = item % k->groups;
        const int64_t a_at = (n * k->ca + g * cg) * core_a_size(k), b_at = (n * k->cb + g * og) * core_b_size(k);
        const tg_real *wg = j->w + g * og * cg * core_taps(k);
        /* the items' small planes (prefetch.h; 4, 8 and 16 items ahead measured alike) */
        if (j->adjoint && item + TG_PLANES_PREFETCH_AHEAD < end) {
            const int64_t ahead = item + TG_PLANES_PREFETCH_AHEAD, an = ahead / k->groups, ag = ahead % k->groups;
            const int64_t bytes = (int64_t)sizeof(tg_real);
            tg_prefetch_span(j->b_in + (an * k->cb + ag * og) * core_b_size(k), og * core_b_size(k) * bytes, false);
            tg_prefetch_span(j->a_out + (an * k->ca + ag * cg) * core_a_size(k), cg * core_a_size(k) * bytes, true);
        }
        if (j->adjoint) {
            tg_conv_direct_adjoint(&k->geom, og, j->b_in + b_at, wg, j->a_out + a_at, j->accumulate);
        } else {
            tg_conv_direct(&k->geom, og, j->a + a_at, wg, j->b + b_at, j->accumulate);
            if (j->out) out_op_planes(k, j->out, j->b, n * k->cb + g * og, n * k->cb + (g + 1) * og);
        }
    }
}

/* The im2col matrix of images n0..n0+m-1, group g, side by side ([Cg*K, m*P]) as the GEMM's packed
 * operand. A single pointwise image is its own im2col matrix: the caller multiplies A directly. */
static tg_im2col_src core_columns(const conv_core *k, const tg_real *a, int64_t n0, int64_t m, int64_t g)
{
    return (tg_im2col_src){.geom = &k->geom, .x = a + (n0 * k->ca + g * k->geom.channels) * core_a_size(k),
                           .image_stride = k->ca * core_a_size(k), .images = m};
}
static bool core_direct_operand(const conv_core *k, int64_t m) { return m == 1 && core_is_pointwise(&k->geom); }

/* B (+)= conv(A, W), by Winograd, the direct kernel or im2col + GEMM. col: core_forward_scratch elements. */
static void core_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                         tg_real *col, const tg_conv_out_op *out)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pb = core_b_size(k), rows = cg * taps, nb = core_block(k);
    if (k->algo == TG_CONV_FWD_REFERENCE) {
        tg_conv_reference_forward(k, a, w, b, accumulate);
        out_op_images(k, out, b, 0, k->n);
        return;
    }
    /* else (not finite) the GEMMs below, as Winograd's */
    if (core_uses_unfold(k) && unfold_forward(k, a, w, b, accumulate, col, out)) return;
    /* multiplies the zero padding as im2col does (0·Inf = NaN at the border, as PyTorch) */
    if (core_uses_ovec(k)) {
        ovec_forward(k, a, w, b, accumulate, col);
        out_op_images(k, out, b, 0, k->n);
        return;
    }
    if (core_uses_shift(k)) {
        shift_forward(k, a, w, b, accumulate, col);
        out_op_images(k, out, b, 0, k->n);
        return;
    }
    /* the direct kernel skips the zero padding, where im2col (PyTorch's) multiplies it: with a
     * NaN or Inf tap, 0·Inf = NaN must appear at the border, so such a filter takes the GEMMs */
    if (core_is_thin(k) && tg_winograd_finite(w, k->cb * rows)) {
        direct_job job = {.k = k, .w = w, .a = a, .b = b, .accumulate = accumulate, .out = out};
        if (core_uses_lanes(k)) {
            job.scratch = col, job.slot_size = lanes_slot_size(k);
            tg_parallel_for_slots(tg_conv_lanes_blocks(k->groups) * k->n, core_slots(k), lanes_range, &job);
        } else {
            tg_parallel_for(k->n * k->groups, direct_range, &job);
        }
        return;
    }
    if (core_uses_winograd(k) && winograd_forward(k, a, w, b, accumulate, col)) {
        out_op_images(k, out, b, 0, k->n);
        return;
    }
    tg_real *stacked = col, *packed_w = col + (nb > 1 ? og * nb * pb : 0);
    const int64_t w_size = tg_gemm_packed_a_size(og, rows);
    for (int64_t g = 0; g < k->groups; g++) tg_gemm_pack_a(false, og, rows, w + g * og * rows, rows, packed_w + g * w_size);
    /* the bias and a ReLU / leaky ReLU in the GEMM's own store (no pass over the block after it) */
    tg_gemm_epilogue gemm_out = {0};
    const bool in_gemm = !accumulate && out_op_in_gemm(out, &gemm_out);
    const tg_real *out_bias = gemm_out.bias;
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            tg_im2col_src src = core_columns(k, a, n0, m, g);
            const tg_real *wg = packed_w + g * w_size;
            tg_real *bn = b + (n0 * k->cb + g * og) * pb;
            if (out_bias) gemm_out.bias = out_bias + g * og; /* the group's channels are C's rows */
            const tg_gemm_epilogue *ep = in_gemm ? &gemm_out : NULL;
            if (core_direct_operand(k, m)) {
                tg_gemm_prepacked_epilogue(og, pb, rows, 1, wg, src.x, pb, NULL, NULL, accumulate ? 1 : 0, bn, pb, ep);
                continue;
            }
            if (m == 1) {
                tg_gemm_prepacked_epilogue(og, pb, rows, 1, wg, NULL, 0, tg_im2col_pack_b, &src, accumulate ? 1 : 0, bn,
                                           pb, ep);
                continue;
            }
            tg_gemm_prepacked_epilogue(og, m * pb, rows, 1, wg, NULL, 0, tg_im2col_pack_b, &src, 0, stacked, m * pb, ep);
            for (int64_t i = 0; i < m; i++) /* [Og, m*P] -> image i's rows of B */
                for (int64_t o = 0; o < og; o++) {
                    tg_real *dst = bn + (i * k->cb + o) * pb;
                    const tg_real *src = stacked + o * m * pb + i * pb;
                    if (accumulate)
                        for (int64_t e = 0; e < pb; e++) dst[e] += src[e];
                    else
                        memcpy(dst, src, (size_t)pb * sizeof *dst);
                }
        }
        if (!in_gemm) out_op_images(k, out, b, n0, m); /* the block's planes, still in cache */
    }
}

/* dB of images n0..n0+m-1, group g, gathered side by side: [Og, m*P] (dB itself for one image). */
static const tg_real *core_gather(const conv_core *k, const tg_real *db, int64_t n0, int64_t m, int64_t g,
                                  tg_real *stacked)
{
    const int64_t og = k->cb / k->groups, pb = core_b_size(k);
    if (m == 1) return db + (n0 * k->cb + g * og) * pb;
    for (int64_t i = 0; i < m; i++)
        for (int64_t o = 0; o < og; o++)
            memcpy(stacked + o * m * pb + i * pb, db + ((n0 + i) * k->cb + g * og + o) * pb, (size_t)pb * sizeof *stacked);
    return stacked;
}

/* The channels per block when a group's channels come in whole blocks of TG_IM2COL_BLOCK or
 * TG_IM2COL_HALF_BLOCK, else 0: dW's B = im2col(A)^T is then packed by plain copies from a
 * channel-blocked copy of A (tg_im2col_pack_bt_blocked) instead of im2col rows transposed 32 x 32
 * (measured, docs/convolution.md; 16-channel blocks: BN-ResNet's 16x16x28x28 layers). */
static int64_t core_dw_block_width(const conv_core *k)
{
    /* a single 1x1 image is already its own im2col^T (tg_gemm transposes it as it packs) */
    if (core_is_thin(k) || core_is_pointwise(&k->geom)) return 0;
    if (k->geom.channels % TG_IM2COL_BLOCK == 0) return TG_IM2COL_BLOCK;
    return k->geom.channels % TG_IM2COL_HALF_BLOCK == 0 ? TG_IM2COL_HALF_BLOCK : 0;
}

typedef struct block_job {
    const conv_core *k;
    const tg_real *a; /* first image of the block, first channel of the group */
    tg_real *xb;
    int64_t width;    /* channels per block */
} block_job;

/* Channel blocks begin..end (image-major) of the images, regrouped (one task per block: threads
 * share the copy even for a single image). */
static void block_range(void *ctx, int64_t begin, int64_t end)
{
    const block_job *j = ctx;
    const int64_t cg = j->k->geom.channels, pa = core_a_size(j->k), w = j->width, blocks = cg / w;
    for (int64_t task = begin; task < end; task++) {
        int64_t i = task / blocks, b = task % blocks;
        tg_im2col_block_channels(j->a + (i * j->k->ca + b * w) * pa, w, pa, 1, w, j->xb + (i * cg + b * w) * pa);
    }
}

/* One image channel-blocked with its zero padding stored, for dW with B read in place: A as
 * [block][D'][H'][W'][32], the input pre[] into the border, every tap's read of every output
 * inside (so the GEMM reads B's rows where they lie, no bounds checks, no packing). */
typedef struct padded_blocks {
    const conv_core *k;
    const tg_real *a;      /* the image's first channel of the group */
    tg_real *xp;
    int64_t pre[3], size[3], plane; /* plane: floats per block */
    const int64_t *tap_offset;      /* per tap, from a block's origin to output 0's read */
} padded_blocks;

static padded_blocks padded_blocks_of(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    padded_blocks p = {.k = k, .plane = TG_IM2COL_BLOCK};
    for (int d = 0; d < 3; d++) {
        p.pre[d] = g->pad[d] > 0 ? g->pad[d] : 0;
        int64_t reach = (g->out[d] - 1) * g->stride[d] + (g->kernel[d] - 1) * g->dilation[d] - g->pad[d] + p.pre[d] + 1;
        p.size[d] = g->in[d] + p.pre[d] > reach ? g->in[d] + p.pre[d] : reach;
        p.plane *= p.size[d];
    }
    return p;
}

/* Input rows begin..end ((block, d, h), block-major) of the image into xp: 32 channels transposed. */
static void padded_rows(void *ctx, int64_t begin, int64_t end)
{
    const padded_blocks *p = ctx;
    const tg_conv_geom *g = &p->k->geom;
    const int64_t rows = g->in[0] * g->in[1], pa = core_a_size(p->k);
    for (int64_t task = begin; task < end; task++) {
        const int64_t b = task / rows, row = task % rows, d = row / g->in[1], h = row % g->in[1];
        tg_real *dst = p->xp + b * p->plane + (((d + p->pre[0]) * p->size[1] + h + p->pre[1]) * p->size[2] + p->pre[2]) * TG_IM2COL_BLOCK;
        tg_gemm_pack_transposed(p->a + b * TG_IM2COL_BLOCK * pa + row * g->in[2], pa, TG_IM2COL_BLOCK, g->in[2],
                                TG_IM2COL_BLOCK, dst);
    }
}

/* tg_gemm_b_in_place's panel: column j of B = im2col(A)^T in (block, tap, channel) order. */
static const tg_real *padded_panel(const void *ctx, int64_t j)
{
    const padded_blocks *p = ctx;
    const int64_t taps = core_taps(p->k), group = j / TG_IM2COL_BLOCK;
    return p->xp + group / taps * p->plane + p->tap_offset[group % taps] + j % TG_IM2COL_BLOCK;
}

/* dW' += dB * im2col(A)^T image by image, B read in place from the padded blocked copy (2-D/1-D:
 * an image's output rows are B's row runs). The copy is about the price of the packing it
 * replaces, which was done afresh for every block of K. */
static void weight_grad_in_place(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dwb, conv_ws *ws)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t og = k->cb / k->groups, cg = g->channels, taps = core_taps(k), blocks = cg / TG_IM2COL_BLOCK;
    const int64_t pa = core_a_size(k), pb = core_b_size(k), rows = cg * taps;
    padded_blocks p = padded_blocks_of(k);
    p.xp = ws_take(ws, (size_t)(blocks * p.plane) * sizeof *p.xp);
    int64_t *tap_offset = ws_take(ws, (size_t)taps * sizeof *tap_offset);
    tg_real *packed_db = ws_take(ws, (size_t)tg_gemm_packed_a_size(og, pb) * sizeof *packed_db);
    if (!ws->base) return;
    memset(p.xp, 0, (size_t)(blocks * p.plane) * sizeof *p.xp); /* the border stays zero */
    for (int64_t tap = 0; tap < taps; tap++) {
        const int64_t kd = tap / (g->kernel[1] * g->kernel[2]), kh = tap / g->kernel[2] % g->kernel[1], kw = tap % g->kernel[2];
        const int64_t d = kd * g->dilation[0] - g->pad[0] + p.pre[0], h = kh * g->dilation[1] - g->pad[1] + p.pre[1];
        const int64_t w = kw * g->dilation[2] - g->pad[2] + p.pre[2];
        tap_offset[tap] = ((d * p.size[1] + h) * p.size[2] + w) * TG_IM2COL_BLOCK;
    }
    p.tap_offset = tap_offset;
    const tg_gemm_b_in_place b = {.panel = padded_panel, .ctx = &p, .seg_len = g->out[2],
                                  .seg_stride = g->stride[1] * p.size[2] * TG_IM2COL_BLOCK,
                                  .row_stride = g->stride[2] * TG_IM2COL_BLOCK};
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t grp = 0; grp < k->groups; grp++) {
            p.a = a + (n * k->ca + grp * cg) * pa;
            tg_parallel_for(blocks * g->in[0] * g->in[1], padded_rows, &p);
            /* dB packed in one pass (the GEMM would repack it for every panel block) */
            tg_gemm_pack_a(false, og, pb, db + (n * k->cb + grp * og) * pb, pb, packed_db);
            tg_gemm_prepacked_in_place(og, rows, pb, 1, packed_db, &b, 1, dwb + grp * og * rows, rows);
        }
}

/* dW' += dB * im2col(A)^T for blocks of images stacked side by side, A channel-blocked per block
 * and B packed from it (tg_im2col_pack_bt_blocked). stacked: core_scratch elements. */
static void weight_grad_packed(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dwb,
                               tg_real *stacked, conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, width = core_dw_block_width(k), blocks = cg / width;
    const int64_t pa = core_a_size(k), pb = core_b_size(k), rows = cg * core_taps(k), nb = core_block(k);
    tg_real *xb = ws_take(ws, (size_t)(nb * cg * pa) * sizeof *xb);
    if (!ws->base) return;
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            block_job job = {k, a + (n0 * k->ca + g * cg) * pa, xb, width};
            tg_parallel_for(m * blocks, block_range, &job);
            tg_im2col_blocked_src src = {.geom = &k->geom, .x = xb, .images = m, .blocks = blocks, .width = width};
            const tg_real *dbs = core_gather(k, db, n0, m, g, stacked);
            tg_gemm_packed_b(false, og, rows, m * pb, 1, dbs, m * pb, tg_im2col_pack_bt_blocked, &src, 1,
                             dwb + g * og * rows, rows);
        }
    }
}

/* dW += corr(A, dB) with A channel-blocked: dW' (rows in (block, tap, channel) order) by GEMM,
 * then added into dW's (channel, tap) order. */
static void core_weight_grad_blocked(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw,
                                     tg_real *stacked, conv_ws *ws)
{
    const int64_t cg = k->geom.channels, taps = core_taps(k), width = core_dw_block_width(k), blocks = cg / width;
    const int64_t rows = cg * taps;
    tg_real *dwb = ws_take(ws, (size_t)(k->cb * rows) * sizeof *dwb);
    if (ws->base) memset(dwb, 0, (size_t)(k->cb * rows) * sizeof *dwb);
    /* one image at a time, 2-D or 1-D: its output rows are runs of B's rows, read in place (one
     * (block, tap) per GEMM panel: whole blocks of 32) */
    const bool in_place = core_block(k) == 1 && k->geom.out[0] == 1 && width == TG_IM2COL_BLOCK;
    if (in_place)
        weight_grad_in_place(k, a, db, dwb, ws);
    else
        weight_grad_packed(k, a, db, dwb, stacked, ws);
    if (!ws->base) return;
    /* dwb[o, (block*taps + tap)*B + r] -> dw[o, (block*B + r)*taps + tap], without a division per
     * element (those took 0.1 ms per call on the 16x64x56x56 stride-2 layer) */
    for (int64_t o = 0; o < k->cb; o++) {
        const tg_real *src = dwb + o * rows;
        for (int64_t block = 0; block < blocks; block++)
            for (int64_t tap = 0; tap < taps; tap++, src += width) {
                tg_real *dst = dw + o * rows + block * width * taps + tap;
                for (int64_t r = 0; r < width; r++) dst[r * taps] += src[r];
            }
    }
}

/* The direct (thin) dW of groups g0..g1, every image in order. */
typedef struct thin_dw_job {
    const conv_core *k;
    const tg_real *a, *db;
    tg_real *dw;
    tg_real *scratch; /* the lanes kernels': lanes_slot_size elements a slot */
} thin_dw_job;

static void thin_dw_range(void *arg, int64_t g0, int64_t g1)
{
    const thin_dw_job *j = arg;
    const conv_core *k = j->k;
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, rows = cg * core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k);
    for (int64_t g = g0; g < g1; g++) /* every image of the group in one call: one reduction per weight */
        tg_conv_direct_dw_batch(&k->geom, og, j->a + g * cg * pa, k->ca * pa, j->db + g * og * pb, k->cb * pb, k->n,
                                j->dw + g * og * rows);
}

/* The same with the channels in the lanes: blocks b0..b1 of tg_conv_lanes_blocks (a block whose
 * dB is not finite by the direct kernel). */
static void lanes_dw_range(void *arg, int64_t b0, int64_t b1, int slot)
{
    thin_dw_job *j = arg;
    const conv_core *k = j->k;
    const int64_t lanes = tg_conv_lanes_width();
    tg_real *scratch = j->scratch + slot * lanes_slot_size(k);
    for (int64_t b = b0; b < b1; b++)
        if (!tg_conv_lanes_dw(&k->geom, k->groups, k->n, b, j->a, k->ca * core_a_size(k), j->db,
                              k->cb * core_b_size(k), j->dw, scratch)) {
            const int64_t c1 = (b + 1) * lanes < k->groups ? (b + 1) * lanes : k->groups;
            thin_dw_range(arg, b * lanes, c1);
        }
}

/* dW += corr(A, dB), its scratch taken from ws (sizing when ws has no block). */
/* dW of a 1x1, stride-1 convolution: dW[o, c] += sum over images and positions p of dB[o, p] * A[c, p],
 * both operands with the positions contiguous. The GEMM packed both with transposing packs for
 * few multiply-adds each (K = positions: 32 -> 64 channels at 28x28 ran at 80 GFLOP/s); here a slab
 * of about POINTWISE_DW_POSITIONS positions of dB is turned output-channels-in-lanes (the SIMD
 * transposing pack) and multiplied by the Winograd dW's register blocks (tg_winograd_dw_sums:
 * M[c, o] summed over the slab), A read where it lies — or, for images smaller than a slab, several
 * images' rows of A copied side by side (the sums' M is loaded and stored once a slab: at 4x4,
 * 512 -> 512 channels, image by image took twice the GEMM's time). The same products as the
 * convolution's (no padding): NaN and Inf land where the GEMM puts them; every sum in image and
 * position order, so the same bits for any thread count. */
#define POINTWISE_DW_POSITIONS 512 /* a slab of dB turned (o_pad lanes a position) stays in L2 */
/* Below this many positions an image the GEMM keeps it: 1024 -> 1024 channels at 2x2, dW 2.22 ms
 * against 5.35 (its M, C x O, loaded and stored once a slab, and a copy a row of 4 values); 4x4
 * and up the blocks win (512 -> 512 at 4x4 2.48 / 2.33, 256 -> 256 0.66 / 0.58). */
#define POINTWISE_DW_MIN_POSITIONS 16
#define POINTWISE_DW_COPY_CALL 32 /* positions from which a stacked row is copied by memcpy */
static bool core_pointwise_dw(const conv_core *k)
{
    return k->algo == TG_CONV_FWD_AUTO && core_is_pointwise(&k->geom) && !core_is_thin(k) &&
           core_b_size(k) >= POINTWISE_DW_MIN_POSITIONS;
}
static void pointwise_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, pb = core_b_size(k), o_pad = tg_winograd_dw_o_pad(og);
    const int64_t stack = pb < POINTWISE_DW_POSITIONS ? POINTWISE_DW_POSITIONS / pb : 1; /* images a slab */
    const int64_t slab = stack > 1 ? stack * pb : POINTWISE_DW_POSITIONS;
    tg_real *yt = ws_take(ws, (size_t)(slab * o_pad) * sizeof *yt), *m = ws_take(ws, (size_t)(cg * o_pad) * sizeof *m);
    tg_real *rows = stack > 1 ? ws_take(ws, (size_t)(cg * slab) * sizeof *rows) : NULL;
    tg_real *turned = ws_take(ws, (size_t)(og * cg) * sizeof *turned);
    if (!ws->base) return;
    for (int64_t g = 0; g < k->groups; g++) {
        memset(m, 0, (size_t)(cg * o_pad) * sizeof *m);
        for (int64_t n0 = 0; n0 < k->n; n0 += stack) {
            const int64_t images = k->n - n0 < stack ? k->n - n0 : stack;
            const tg_real *an = a + (n0 * k->ca + g * cg) * pb, *dbn = db + (n0 * k->cb + g * og) * pb;
            if (stack > 1) { /* rows[c][i*pb + p] = A[n0 + i][c][p], yt[i*pb + p][o] = dB[n0 + i][o][p] */
                for (int64_t i = 0; i < images; i++) {
                    for (int64_t c = 0; c < cg; c++) {
                        const tg_real *src = an + (i * k->ca + c) * pb;
                        tg_real *dst = rows + c * slab + i * pb;
                        /* rows of 4-16 values: a loop, not a copy call each; longer (7x7, 14x14
                         * maps) memcpy: this file's loops stay scalar at -O2, and the loop was 3 %
                         * of a MobileNet-style training step */
                        if (pb >= POINTWISE_DW_COPY_CALL) memcpy(dst, src, (size_t)pb * sizeof *dst);
                        else
                            for (int64_t p = 0; p < pb; p++) dst[p] = src[p];
                    }
                    tg_gemm_pack_transposed(dbn + i * k->cb * pb, pb, og, pb, (int)o_pad, yt + i * pb * o_pad);
                }
                tg_winograd_dw_sums(rows, slab, 0, cg, yt, o_pad, 0, images * pb, m, 0, 1);
                continue;
            }
            for (int64_t p0 = 0; p0 < pb; p0 += slab) {
                const int64_t count = pb - p0 < slab ? pb - p0 : slab;
                tg_gemm_pack_transposed(dbn + p0, pb, og, count, (int)o_pad, yt); /* yt[p][o] = dB[o, p0 + p] */
                tg_winograd_dw_sums(an + p0, pb, 0, cg, yt, o_pad, 0, count, m, 0, 1);
            }
        }
        /* M [C, o_pad] turned to [O, C] (a strided add-in was 2.6 % of a MobileNet-style step: it
         * runs once a dW chunk), then added */
        tg_gemm_pack_transposed(m, o_pad, cg, og, (int)cg, turned);
        tg_real *dwg = dw + g * og * cg;
        for (int64_t i = 0; i < og * cg; i++) dwg[i] += turned[i];
    }
}

static void core_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws);
/* dW += corr(A, dB) as the stacks' 2-D weight gradient (their channels (c, kd) are W's own order),
 * block by block in image order, dB's slices turned to [(n, d), o] beside them; the 2-D core picks
 * its own path (Winograd, or another where an operand is not finite). */
static void unfold_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws)
{
    const int64_t block = unfold_block(k), pa = core_a_size(k), pb = core_b_size(k);
    tg_real *stacks = ws_take(ws, (size_t)unfold_stacks_size(k) * sizeof *stacks);
    tg_real *dy = ws_take(ws, (size_t)unfold_out_size(k) * sizeof *dy);
    const size_t mark = ws->used;
    for (int64_t n0 = 0; n0 < k->n; n0 += block) {
        const int64_t m = k->n - n0 < block ? k->n - n0 : block;
        const conv_core c = unfold_core(k, m);
        ws->used = mark;
        if (ws->base) {
            unfold_stacks(k, &c, a + n0 * k->ca * pa, m, stacks);
            unfold_exchange(k, &c, m, &(unfold_rows){.b_in = db + n0 * k->cb * pb, .y_out = dy});
        }
        core_weight_grad(&c, stacks, dy, dw, ws); /* sizing (no block): the first block is the largest */
        if (!ws->base) return;
    }
}

static void core_weight_grad(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pb = core_b_size(k), rows = cg * taps, nb = core_block(k);
    if (k->algo == TG_CONV_FWD_REFERENCE) {
        if (ws->base) tg_conv_reference_dw(k, a, db, dw);
        return;
    }
    if (core_dw_uses_unfold(k)) {
        unfold_weight_grad(k, a, db, dw, ws);
        return;
    }
    tg_real *col = ws_take(ws, core_dw_scratch(k) * sizeof *col);
    /* the 1-D Winograd's dW where it pays (AUTO) or is asked for; else (NaN or Inf) the paths below */
    if (core_winograd1d_dw(k)) {
        TG_ASSERT(tg_winograd1d_dw_scratch(&k->geom, k->n, k->cb) <= core_dw_scratch(k));
        if (ws->base && tg_winograd1d_dw(&k->geom, k->n, k->cb, a, db, dw, col)) return;
    }
    /* Winograd, on the same tiles as the forward, where measured faster than the shift kernels
     * and the GEMMs below (core_winograd_2d_dw). col (core_dw_scratch) holds its chunks; else
     * (NaN or Inf) the paths below, sized after it. */
    if (core_winograd_2d_dw(k)) {
        TG_ASSERT(tg_winograd_dw_scratch(&k->geom, k->n, k->cb) <= core_dw_scratch(k));
        if (ws->base && tg_winograd_dw(&k->geom, k->n, k->cb, a, db, dw, col)) return;
    }
    /* measured (16->16 channels, 28x28, 3 images per call): 4.3 ms a batch of 64 against ~8.7 by
     * the blocked GEMM; else (A not finite) the GEMMs below, sized after it */
    if (core_dw_uses_shift(k) && shift_weight_grad(k, a, db, dw, ws)) return;
    /* multiplies the zero padding by dB as the GEMMs' im2col does: no finiteness condition */
    if (core_dw_uses_ovec(k)) {
        ovec_weight_grad(k, a, db, dw, ws);
        return;
    }
    if (core_is_thin(k)) {
        if (!ws->base) return;
        /* split over groups (a depthwise layer's channels): each group's dW its own, summed over
         * the images in order, so the same bits for any thread count. A batch of small maps is one
         * dW chunk (tg_conv_dw_chunks), and this loop was then all on the calling thread. */
        thin_dw_job j = {k, a, db, dw, col};
        if (core_uses_lanes(k)) tg_parallel_for_slots(tg_conv_lanes_blocks(k->groups), core_slots(k), lanes_dw_range, &j);
        else if (k->groups > 1) tg_parallel_for(k->groups, thin_dw_range, &j);
        else thin_dw_range(&j, 0, 1);
        return;
    }
    if (core_pointwise_dw(k)) {
        pointwise_weight_grad(k, a, db, dw, ws);
        return;
    }
    if (core_dw_block_width(k)) {
        core_weight_grad_blocked(k, a, db, dw, col, ws);
        return;
    }
    if (!ws->base) return;
    tg_real *stacked = col;
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            tg_im2col_src src = core_columns(k, a, n0, m, g);
            const tg_real *dbs = core_gather(k, db, n0, m, g, stacked);
            tg_real *dwg = dw + g * og * rows;
            if (core_direct_operand(k, m))
                tg_gemm(false, true, og, rows, pb, 1, dbs, pb, src.x, pb, 1, dwg, rows);
            else
                tg_gemm_packed_b(false, og, rows, m * pb, 1, dbs, m * pb, tg_im2col_pack_bt, &src, 1, dwg, rows);
        }
    }
}

/* The rotated path: dA += the full convolution of dB, zero-inserted by the stride, with the
 * 180°-rotated, channel-swapped filter (padding dilation*(K-1) - pad). Along a dim with stride s,
 * an output position i = s*a + r (phase r) meets a non-inserted entry of dB only through the taps
 * k with r + pad - dilation*k = s*e_k (then it reads dB[a + e_k]); every other product is with an
 * inserted zero. So each phase is a stride-1 forward convolution of dB itself with just those
 * taps of the rotated filter (dilation dilation/gcd(s, dilation), padding -e of the last tap),
 * written to every s-th position of dA: the zero-inserted convolution's values, none of its
 * wasted products. Unstrided, the one phase is the whole rotated convolution. */
typedef struct phase_dim {
    int64_t out;         /* positions i = s*a + r of A in this phase (a < out) */
    int64_t first, step; /* the phase's taps k = first + j*step, j < kernel */
    int64_t kernel, dilation, pad;
} phase_dim;

static int64_t gcd64(int64_t a, int64_t b) { return b ? gcd64(b, a % b) : a; }

/* Phase r of dim i; false when the phase has no positions or no taps (its dA gets nothing). */
static bool phase_dim_make(const tg_conv_geom *g, int i, int64_t r, phase_dim *pd)
{
    const int64_t s = g->stride[i], d = g->dilation[i], in = g->in[i];
    pd->out = r < in ? (in - r + s - 1) / s : 0;
    pd->first = -1;
    for (int64_t k = 0; k < g->kernel[i] && pd->first < 0; k++)
        if (((r + g->pad[i] - d * k) % s + s) % s == 0) pd->first = k;
    if (pd->out == 0 || pd->first < 0) return false;
    int64_t common = gcd64(s, d);
    pd->step = s / common;
    pd->kernel = (g->kernel[i] - 1 - pd->first) / pd->step + 1;
    pd->dilation = d / common;
    pd->pad = -(r + g->pad[i] - d * (pd->first + (pd->kernel - 1) * pd->step)) / s; /* exact */
    return true;
}

/* The core of one phase (pd[3]): dB -> the phase's positions of dA, n images. */
static conv_core phase_core(const conv_core *k, const phase_dim *pd, int64_t n)
{
    conv_core r = {.n = n, .groups = k->groups, .ca = k->cb, .cb = k->ca, .algo = k->algo, .dx_algo = k->dx_algo,
                   .plan_n = core_plan_n(k)};
    r.geom.channels = k->cb / k->groups;
    for (int i = 0; i < 3; i++) {
        r.geom.in[i] = k->geom.out[i];
        r.geom.out[i] = pd[i].out;
        r.geom.kernel[i] = pd[i].kernel;
        r.geom.stride[i] = 1;
        r.geom.dilation[i] = pd[i].dilation;
        r.geom.pad[i] = pd[i].pad;
    }
    return r;
}

/* Phase number ph (row-major over the strides) of every dim; false when it is empty. */
static bool phase_dims(const conv_core *k, int64_t ph, int64_t *r, phase_dim *pd)
{
    const int64_t *s = k->geom.stride;
    r[0] = ph / (s[1] * s[2]);
    r[1] = ph / s[2] % s[1];
    r[2] = ph % s[2];
    for (int i = 0; i < 3; i++)
        if (!phase_dim_make(&k->geom, i, r[i], &pd[i])) return false;
    return true;
}

/* Tap j of a phase's filter: the original filter's tap, reversed. */
static int64_t phase_tap(const conv_core *k, const phase_dim *pd, int64_t j)
{
    int64_t jd = j / (pd[1].kernel * pd[2].kernel), jh = j / pd[2].kernel % pd[1].kernel, jw = j % pd[2].kernel;
    int64_t kd = pd[0].first + (pd[0].kernel - 1 - jd) * pd[0].step;
    int64_t kh = pd[1].first + (pd[1].kernel - 1 - jh) * pd[1].step;
    int64_t kw = pd[2].first + (pd[2].kernel - 1 - jw) * pd[2].step;
    return (kd * k->geom.kernel[1] + kh) * k->geom.kernel[2] + kw;
}

/* The phase's taps of the rotated filter: R[g*Cg+c, o, j] = W[g*Og+o, c, the tap of reversed j],
 * written in R's order (tap by tap across the whole filter, its stores jt values apart, took 1.3%
 * of a 1-D CNN's training step at 128 -> 128 channels); the taps of up to PHASE_TAPS kept. */
#define PHASE_TAPS 512
static void phase_filter(const conv_core *k, const phase_dim *pd, const tg_real *w, tg_real *wr)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t jt = pd[0].kernel * pd[1].kernel * pd[2].kernel;
    int64_t tap[PHASE_TAPS];
    for (int64_t j = 0; j < jt && j < PHASE_TAPS; j++) tap[j] = phase_tap(k, pd, j);
    for (int64_t g = 0; g < k->groups; g++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t o = 0; o < og; o++) {
                const tg_real *src = w + ((g * og + o) * cg + c) * taps;
                tg_real *dst = wr + ((g * cg + c) * og + o) * jt;
                for (int64_t j = 0; j < jt; j++) dst[j] = src[j < PHASE_TAPS ? tap[j] : phase_tap(k, pd, j)];
            }
}

/* dA[plane, i] += phase (i mod s)'s output at i / s, for `planes` (image, channel) planes; out[p]:
 * phase p's outputs [planes, its positions], NULL for a phase without taps. dA is walked once,
 * row by row, each row interleaved from its column phases (tg_phase_rows_add). rows: s[2] pointers. */
static void phase_gather_add(const conv_core *k, const phase_dim *pd, tg_real *const *out, int64_t planes,
                             const tg_real **rows, tg_real *da)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t s0 = g->stride[0], s1 = g->stride[1], s2 = g->stride[2], pa = core_a_size(k);
    for (int64_t plane = 0; plane < planes; plane++)
        for (int64_t i0 = 0; i0 < g->in[0]; i0++)
            for (int64_t i1 = 0; i1 < g->in[1]; i1++) {
                const int64_t first = ((i0 % s0) * s1 + i1 % s1) * s2;
                for (int64_t r2 = 0; r2 < s2; r2++) {
                    const phase_dim *q = pd + 3 * (first + r2);
                    rows[r2] = out[first + r2] ? out[first + r2] + ((plane * q[0].out + i0 / s0) * q[1].out + i1 / s1) * q[2].out
                                               : NULL;
                }
                tg_phase_rows_add(da + plane * pa + (i0 * g->in[1] + i1) * g->in[2], g->in[2], s2, rows);
            }
}

/* dA (+)= the rotated convolution; overwrite: dA is written, not added to (a fresh gradient). */
static void core_data_grad_rotated(const conv_core *k, const tg_real *db, const tg_real *w, tg_real *da,
                                   bool overwrite, conv_ws *ws)
{
    const int64_t phases = k->geom.stride[0] * k->geom.stride[1] * k->geom.stride[2], pb = core_b_size(k);
    int64_t r[3];
    /* sizes: every phase's filter (each tap is in one phase: at most W's size); the largest
     * forward scratch; the phases' outputs for a block of images (at most dA's block) */
    size_t filters = 0, scratch = 0, positions = 0;
    int64_t block = k->n;
    for (int64_t ph = 0; ph < phases; ph++) {
        phase_dim pd3[3];
        if (!phase_dims(k, ph, r, pd3)) continue; /* no taps: dA's positions there get nothing */
        conv_core c = phase_core(k, pd3, k->n);
        size_t s = core_forward_scratch(&c);
        int64_t nb = core_block(&c);
        block = nb < block ? nb : block;
        scratch = s > scratch ? s : scratch;
        filters += (size_t)(k->ca * c.geom.channels * core_taps(&c));
        positions += (size_t)core_b_size(&c);
    }
    phase_dim *pd = ws_take(ws, (size_t)phases * 3 * sizeof *pd);
    tg_real **out = ws_take(ws, (size_t)phases * sizeof *out), **wr = ws_take(ws, (size_t)phases * sizeof *wr);
    const tg_real **rows = ws_take(ws, (size_t)k->geom.stride[2] * sizeof *rows);
    tg_real *filter = ws_take(ws, filters * sizeof *filter), *col = ws_take(ws, scratch * sizeof *col);
    tg_real *tmp = phases > 1 ? ws_take(ws, (size_t)(block * k->ca) * positions * sizeof *tmp) : NULL;
    if (!ws->base) return;
    for (int64_t ph = 0, at = 0; ph < phases; ph++) {
        out[ph] = wr[ph] = NULL;
        if (phase_dims(k, ph, r, pd + 3 * ph)) {
            conv_core c = phase_core(k, pd + 3 * ph, 1);
            wr[ph] = filter + at;
            phase_filter(k, pd + 3 * ph, w, wr[ph]);
            at += k->ca * c.geom.channels * core_taps(&c);
        }
    }
    if (phases == 1 && wr[0]) { /* the rotated convolution itself, straight into dA */
        conv_core c = phase_core(k, pd, k->n);
        core_forward(&c, db, wr[0], da, !overwrite, col, NULL);
        return;
    }
    if (overwrite) memset(da, 0, (size_t)(k->n * k->ca * core_a_size(k)) * sizeof *da);
    if (phases == 1) return; /* no taps: dA gets nothing */
    for (int64_t n0 = 0; n0 < k->n; n0 += block) {
        const int64_t m = k->n - n0 < block ? k->n - n0 : block;
        tg_real *next = tmp;
        for (int64_t ph = 0; ph < phases; ph++) {
            if (!wr[ph]) continue;
            conv_core c = phase_core(k, pd + 3 * ph, m);
            core_forward(&c, db + n0 * k->cb * pb, wr[ph], next, false, col, NULL);
            out[ph] = next;
            next += m * k->ca * core_b_size(&c);
        }
        phase_gather_add(k, pd, out, m * k->ca, rows, da + n0 * k->ca * core_a_size(k));
    }
}

/* The dA path for a finite filter when the caller asked for none (AUTO). */
static tg_conv_dx_algo core_dx_path(const conv_core *k)
{
    if (k->dx_algo != TG_CONV_DX_ALGO_AUTO) return k->dx_algo;
    /* measured (docs/convolution.md): for depthwise the rotated path runs the direct kernel and
     * wins 2x; when the rotated convolution runs by Winograd it wins (8x64x56x56: 33 vs 40 ms
     * fwd+bwd); elsewhere col2im is as fast or faster (one GEMM on dB itself, where each rotated
     * phase packs an im2col of dB: 16x64x56x56 stride 2, fwd+dX 23.1 vs 23.7 ms) */
    if (core_is_thin(k)) return TG_CONV_DX_ALGO_ROTATED;
    int64_t r[3];
    phase_dim pd[3];
    conv_core c = phase_dims(k, 0, r, pd) ? phase_core(k, pd, k->n) : *k;
    if (!core_strided(k) && (core_uses_winograd(&c) || core_uses_unfold(&c))) return TG_CONV_DX_ALGO_ROTATED;
    /* a rotated shift convolution into fewer than SHIFT_DX_MIN_CHANNELS channels leaves most
     * sums of its blocks empty: 64x1x28x28 -> 20, 5x5, forward + backward 4.5 ms rotated, 3.2 by
     * col2im. Strided: the phases (a 3x3 stride 2's are 2x2, 2x1, 1x2 and 1x1) run by the shift
     * kernels too where the first does; dX ms, batch 64, 3x3 stride 2, col2im / rotated (5 Dec,
     * Zen 5, one thread): 8 -> 8 at 56x56 1.08 / 0.76, 16 -> 16 at 32x32 0.91 / 0.78, at 56x56
     * 3.48 / 2.97, 24 -> 24 at 56x56 6.15 / 5.29, 16 -> 32 at 56x56 4.78 / 4.39, 32 -> 32 at 28x28
     * 2.20 / 2.06, 48 -> 48 at 32x32 5.37 / 5.23; but 32 -> 32 at 32x32 2.50 / 2.65. */
    if (core_uses_shift(&c) && k->geom.channels >= SHIFT_DX_MIN_CHANNELS) return TG_CONV_DX_ALGO_ROTATED;
    /* strided, its phases' small convolutions lost to col2im: 3x3 stride 2 48 -> 48 at 16x16, forward
     * + dX 2.65 / 2.53 ms */
    if (core_uses_ovec(&c) && !core_strided(k)) return TG_CONV_DX_ALGO_ROTATED;
    return TG_CONV_DX_ALGO_COL2IM;
}

/* dA[c] += dsplit[c] (split by column phase, tg_col2im_add_split) for the Cg channels of a group. */
static void split_rows_add(const conv_core *k, const tg_real *dsplit, const tg_real **rows, tg_real *da)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t sw = g->stride[2], pitch = tg_col2im_split_pitch(g), len = pitch / sw;
    const int64_t n_rows = g->channels * g->in[0] * g->in[1];
    for (int64_t row = 0; row < n_rows; row++) {
        for (int64_t r = 0; r < sw; r++) rows[r] = dsplit + row * pitch + r * len;
        tg_phase_rows_add(da + row * g->in[2], g->in[2], sw, rows);
    }
}

tg_conv_dx_algo tg_conv_dx_choose(const conv_core *k, const tg_real *w)
{
    if (k->dx_algo == TG_CONV_DX_ALGO_REFERENCE) return TG_CONV_DX_ALGO_REFERENCE;
    /* a NaN or Inf tap: the SIMD adjoint multiplies taps by dB's zero fringe, the rotated path
     * by its zero padding, 0·Inf = NaN where PyTorch's col2im forms no product: col2im */
    if (!tg_winograd_finite(w, k->cb * k->geom.channels * core_taps(k))) return TG_CONV_DX_ALGO_COL2IM;
    /* a depthwise layer the lanes kernels take (im2col.h): the full convolution of dB with every lane
     * busy, where the plane kernels' rows are narrow */
    if (k->dx_algo == TG_CONV_DX_ALGO_AUTO && core_is_depthwise(k) && tg_conv_lanes_adjoint_chosen(&k->geom))
        return TG_CONV_DX_ALGO_LANES;
    /* 3x3 stride 2 (measured, docs/convolution.md): the direct adjoint reads dB in place, the
     * rotated path convolves a zero-inserted copy that is 3/4 zeros */
    if (k->dx_algo == TG_CONV_DX_ALGO_AUTO && core_is_thin(k) && tg_conv_direct_adjoint_supported(&k->geom))
        return TG_CONV_DX_ALGO_ADJOINT;
    return core_dx_path(k) == TG_CONV_DX_ALGO_ROTATED ? TG_CONV_DX_ALGO_ROTATED : TG_CONV_DX_ALGO_COL2IM;
}

/* dA += W^T dB by GEMM, scattered by col2im (split by column phase when strided along W). */
/* A pointwise layer whose images go one per GEMM writes dA straight from the GEMM: nothing to scatter,
 * so a fresh gradient needs no zeroing pass before it (inverted-residual training step 43.7 -> 42.6
 * ms, 5 Dec; the separable net's alike). */
static bool core_dx_in_place(const conv_core *k)
{
    /* one image per GEMM whatever the batch (core_block): the same path for every split of it */
    return core_is_pointwise(&k->geom) && core_b_size(k) >= POINTWISE_OWN_PLANE_MIN;
}

/* overwrite (core_dx_in_place only): dA is written, not added to. */
static void core_data_grad_col2im(const conv_core *k, const tg_real *db, const tg_real *w, tg_real *da, bool overwrite,
                                  conv_ws *ws)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pb = core_b_size(k), rows = cg * taps;
    const int64_t nb = core_block(k);
    const int64_t col_size = rows * nb * pb;
    const int64_t w_size = tg_gemm_packed_a_size(rows, og);
    /* columns, gathered dB, W^T packed */
    tg_real *col = ws_take(ws, (size_t)(col_size + og * nb * pb + k->groups * w_size) * sizeof *col);
    /* strided along W: each image's dA is gathered split by column phase, then interleaved in */
    const bool split = k->geom.stride[2] > 1;
    const int64_t split_plane = k->geom.in[0] * k->geom.in[1] * tg_col2im_split_pitch(&k->geom);
    tg_real *dsplit = split ? ws_take(ws, (size_t)(cg * split_plane) * sizeof *dsplit) : NULL;
    const tg_real **phase_rows = split ? ws_take(ws, (size_t)k->geom.stride[2] * sizeof *phase_rows) : NULL;
    if (!ws->base) return;
    tg_real *stacked = col + col_size, *packed_wt = stacked + og * nb * pb;
    for (int64_t g = 0; g < k->groups; g++)
        tg_gemm_pack_a(true, rows, og, w + g * og * rows, rows, packed_wt + g * w_size);
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            const tg_real *dbs = core_gather(k, db, n0, m, g, stacked);
            tg_real *dan = da + (n0 * k->ca + g * cg) * core_a_size(k);
            if (m == 1 && core_is_pointwise(&k->geom)) { /* col2im of a 1x1 is the identity: add in place */
                tg_gemm_prepacked(rows, pb, og, 1, packed_wt + g * w_size, dbs, pb, NULL, NULL, overwrite ? 0 : 1, dan,
                                  pb);
                continue;
            }
            tg_gemm_prepacked(rows, m * pb, og, 1, packed_wt + g * w_size, dbs, m * pb, NULL, NULL, 0, col, m * pb);
            for (int64_t i = 0; i < m; i++) {
                tg_real *dai = dan + i * k->ca * core_a_size(k);
                if (!split) {
                    tg_col2im_add(&k->geom, col + i * pb, m * pb, dai);
                    continue;
                }
                memset(dsplit, 0, (size_t)(cg * split_plane) * sizeof *dsplit);
                tg_col2im_add_split(&k->geom, col + i * pb, m * pb, dsplit);
                split_rows_add(k, dsplit, phase_rows, dai);
            }
        }
    }
}

const char *tg_conv_forward_path(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_REFERENCE) return "reference";
    if (core_uses_unfold(k)) return "winograd";
    if (core_uses_ovec(k)) return "ovec";
    if (core_uses_shift(k)) return "shift";
    if (core_uses_lanes(k)) return "lanes";
    if (core_is_thin(k)) return "direct";
    return core_uses_winograd(k) ? "winograd" : "gemm";
}

const char *tg_conv_dw_path(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_REFERENCE) return "reference";
    if (core_dw_uses_unfold(k)) return "winograd";
    if (core_winograd1d_dw(k) || core_winograd_2d_dw(k)) return "winograd"; /* core_weight_grad's order */
    if (core_dw_uses_shift(k)) return "shift";
    if (core_dw_uses_ovec(k)) return "ovec";
    if (core_uses_lanes(k)) return "lanes";
    if (core_is_thin(k)) return "direct";
    return core_pointwise_dw(k) ? "pointwise" : "gemm";
}

/* ---- the passes: sizing and running share one code path each ---- */

/* dA (+)= the data gradient by algo; overwrite: dA is a fresh gradient, written (the rotated
 * stride-1 convolution writes it directly; the other paths add into a zeroed dA). */
static void run_dx(const conv_core *k, tg_conv_dx_algo algo, const tg_real *db, const tg_real *w, tg_real *da,
                   bool overwrite, conv_ws *ws)
{
    if (algo == TG_CONV_DX_ALGO_ROTATED) {
        core_data_grad_rotated(k, db, w, da, overwrite, ws);
        return;
    }
    if (algo == TG_CONV_DX_ALGO_LANES) { /* a fresh dA written by the sums: no zeroing pass */
        tg_real *scratch = ws_take(ws, lanes_scratch(k) * sizeof *scratch);
        if (ws->base) {
            direct_job job = {.k = k, .w = w, .b_in = db, .a_out = da, .adjoint = true, .accumulate = !overwrite,
                              .scratch = scratch, .slot_size = lanes_slot_size(k)};
            tg_parallel_for_slots(tg_conv_lanes_blocks(k->groups) * k->n, core_slots(k), lanes_range, &job);
        }
        return;
    }
    if (algo == TG_CONV_DX_ALGO_ADJOINT) { /* a fresh dA written by the adjoint itself: no zeroing pass */
        if (ws->base) {
            direct_job job = {.k = k, .w = w, .b_in = db, .a_out = da, .adjoint = true, .accumulate = !overwrite};
            tg_parallel_for(k->n * k->groups, direct_range, &job);
        }
        return;
    }
    const bool in_place = algo != TG_CONV_DX_ALGO_REFERENCE && core_dx_in_place(k);
    if (ws->base && overwrite && !in_place) memset(da, 0, (size_t)(k->n * k->ca * core_a_size(k)) * sizeof *da);
    switch (algo) {
    case TG_CONV_DX_ALGO_REFERENCE:
        if (ws->base) tg_conv_reference_dx(k, db, w, da);
        return;
    case TG_CONV_DX_ALGO_ADJOINT:
    case TG_CONV_DX_ALGO_LANES:
    case TG_CONV_DX_ALGO_ROTATED:
    case TG_CONV_DX_ALGO_AUTO:
    case TG_CONV_DX_ALGO_COL2IM: break;
    }
    core_data_grad_col2im(k, db, w, da, overwrite && in_place, ws);
}

/* ---- the batch split: images across threads ----
 * The forward and dA treat every image on its own, so the batch is cut into one contiguous range
 * of images per thread, each run as a convolution of its own (the algorithms chosen for the whole
 * batch: plan_n) on its own slice of the workspace; the GEMMs inside run on their thread. An
 * image's values do not depend on the range it falls in, so any thread count gives the same bits.
 * dW sums over the images, so it is cut into fixed chunks (tg_conv_dw_chunks: the shapes decide,
 * not the thread count); the threads share the chunks out, each chunk's dW is summed into a
 * partial of its own, and the partials are added in chunk order. A batch smaller than the thread
 * count, and dW when the partials would take too much memory, keep one range and let the GEMM
 * split its panels instead (also the same bits for any thread count). */

/* Ranges the forward and dA cut the batch into: one per thread when every thread gets an image;
 * a smaller batch (inference at batch 1) keeps one range and lets the GEMMs split their panels. */
static int64_t batch_parts(const conv_core *k)
{
    const int64_t threads = k->threads > 1 ? k->threads : 1;
    return threads <= k->n ? threads : 1;
}
/* The first image of range i of `parts` over n images (sizes differ by at most one). */
static int64_t part_begin(int64_t n, int64_t parts, int64_t i) { return n / parts * i + n % parts * i / parts; }
static int64_t part_size_max(int64_t n, int64_t parts) { return (n + parts - 1) / parts; }

/* Images n0.. (count of them) of k as a convolution of their own, on one thread. */
static conv_core core_part(const conv_core *k, int64_t count)
{
    conv_core c = *k;
    c.plan_n = core_plan_n(k);
    c.n = count;
    c.threads = 1;
    return c;
}

/* Winograd hands a batch whose operand holds NaN or Inf (accumulating: or values within the
 * transforms' headroom) to the exact GEMMs (winograd_forward); one range finding one would leave the
 * others on Winograd, other bits than one thread gives, so the whole operand is checked before the
 * split, as each range would check it. (dW's chunks are fixed: each decides alone.) */
static bool split_needs_exact(const conv_core *k, const tg_real *operand, int64_t channels, int64_t plane,
                              bool accumulate)
{
    if (!core_uses_winograd(k) && !core_uses_unfold(k)) return false;
    const int64_t n = k->n * channels * plane;
    return accumulate ? !tg_winograd_in_range(operand, n) : !tg_winograd_finite(operand, n);
}

static size_t round_to_align(size_t bytes) { return (bytes + CONV_WS_ALIGN - 1) / CONV_WS_ALIGN * CONV_WS_ALIGN; }

typedef enum split_pass { SPLIT_FORWARD, SPLIT_DX, SPLIT_DW } split_pass;

/* One pass over ranges of images, each with its slice of the workspace. */
typedef struct split_job {
    const conv_core *k;
    split_pass pass;
    int64_t parts, items;  /* thread ranges; the items (images, or dW chunks) they share */
    char *slices;          /* parts slices of slice_bytes, aligned */
    size_t slice_bytes;
    const tg_real *a, *w, *db; /* forward: a, w; dA: db, w; dW: a, db */
    tg_real *out;              /* forward: b; dA: da; dW: the chunks' partials */
    bool accumulate;
    bool overwrite; /* dA: a fresh gradient, each range's images written (run_dx) */
    tg_conv_dx_algo dx_algo;
    bool exact; /* Winograd's operand holds NaN or Inf: every range takes the exact GEMMs */
    const tg_conv_out_op *out_op; /* forward: applied to each range's images, or NULL */
} split_job;

static void split_range(void *ctx, int64_t begin, int64_t end)
{
    const split_job *j = ctx;
    const conv_core *k = j->k;
    const int64_t pa = core_a_size(k), pb = core_b_size(k), dw_size = k->cb * k->geom.channels * core_taps(k);
    for (int64_t p = begin; p < end; p++) {
        conv_ws ws = {.base = j->slices + (size_t)p * j->slice_bytes, .used = 0};
        /* the range's items: images (forward, dA) or chunks of images (dW) */
        for (int64_t item = part_begin(j->items, j->parts, p); item < part_begin(j->items, j->parts, p + 1); item++) {
            const int64_t chunks = j->pass == SPLIT_DW ? j->items : 1;
            const int64_t n0 = j->pass == SPLIT_DW ? part_begin(k->n, chunks, item) : part_begin(k->n, j->parts, p);
            const int64_t count = j->pass == SPLIT_DW ? part_begin(k->n, chunks, item + 1) - n0
                                                      : part_begin(k->n, j->parts, p + 1) - n0;
            conv_core c = core_part(k, count);
            if (j->exact) c.algo = TG_CONV_FWD_GEMM;
            ws.used = 0;
            switch (j->pass) {
            case SPLIT_FORWARD:
                core_forward(&c, j->a + n0 * k->ca * pa, j->w, j->out + n0 * k->cb * pb, j->accumulate,
                             ws_take(&ws, core_forward_scratch(&c) * sizeof(tg_real)), j->out_op);
                break;
            case SPLIT_DX:
                run_dx(&c, j->dx_algo, j->db + n0 * k->cb * pb, j->w, j->out + n0 * k->ca * pa, j->overwrite, &ws);
                break;
            case SPLIT_DW: {
                tg_real *partial = j->out + item * dw_size;
                memset(partial, 0, (size_t)dw_size * sizeof *partial);
                core_weight_grad(&c, j->a + n0 * k->ca * pa, j->db + n0 * k->cb * pb, partial, &ws);
                break;
            }
            }
            if (j->pass != SPLIT_DW) break; /* one range of images per part */
        }
    }
}

/* The workspace slice one part needs: the pass sized for the largest range. */
static size_t split_slice_bytes(const conv_core *k, split_pass pass, int64_t largest, tg_conv_dx_algo algo)
{
    const conv_core c = core_part(k, largest);
    conv_ws ws = {0};
    switch (pass) {
    case SPLIT_FORWARD: ws_take(&ws, core_forward_scratch(&c) * sizeof(tg_real)); break;
    case SPLIT_DX: run_dx(&c, algo, NULL, NULL, NULL, false, &ws); break;
    case SPLIT_DW: core_weight_grad(&c, NULL, NULL, NULL, &ws); break;
    }
    return round_to_align(ws.used);
}

/* Chunks of images dW is summed over: DW_MAX_CHUNKS (or one per image in a smaller batch; fewer when
 * a chunk would hold under DW_MIN_CHUNK_POSITIONS output positions), rounded down to a divisor of
 * DW_MAX_CHUNKS, halved
 * while the partials would pass DW_PARTIALS_BYTES (a large filter: its GEMMs are big enough to
 * split by panels, one chunk), one for the reference loops. A function of the shapes alone. */
#define DW_MAX_CHUNKS 48 /* 2^4 * 3: even over 1, 2, 3, 4, 6, 8, 12, 16, 24 and 48 threads */
#define DW_PARTIALS_BYTES ((size_t)4 << 20)
/* Output positions (images x positions per image) a chunk holds at least: each chunk costs a
 * zeroed partial, its own GEMM's C tiles and a term of the final sum, all the size of dW, so
 * small images (1-D rows of 32-256, 7x7 maps) in 48 chunks spent more on that than on the sums.
 * Measured (callgrind, signal1d zoo model, 4 training steps, 1 thread): 48 chunks 1.78 G
 * instructions, at least 2048 positions 1.66 G, 8192 1.65 G; 2048 keeps 16 chunks for 28x28 maps
 * (batch 64, after rounding to a divisor of 48), enough to share among 16 threads. */
#define DW_MIN_CHUNK_POSITIONS 2048
/* ... and where dW runs by the register-blocked sums of the 1-D Winograd or a 1x1 layer (not
 * parallel inside by panels as the GEMM is, and with no C tiles a chunk), at least this many: a
 * batch of 32-long rows was one chunk, one thread's work, and signal1d's step went from 1.80x to
 * 1.59x faster with two threads than with one. (The 2-D Winograd's dW keeps 2048: its input
 * transform of one or two images a call cost BN-ResNet and VGG-BN 5 % of a step.) */
#define DW_SMALL_CHUNK_POSITIONS 512
int64_t tg_conv_dw_chunks(const conv_core *k)
{
    if (k->algo == TG_CONV_FWD_REFERENCE || k->n < 2) return 1;
    const size_t dw_bytes = (size_t)(k->cb * k->geom.channels * core_taps(k)) * sizeof(tg_real);
    int64_t chunks = k->n < DW_MAX_CHUNKS ? k->n : DW_MAX_CHUNKS;
    const bool blocked_sums = core_winograd1d_dw(k) || core_pointwise_dw(k);
    const int64_t min_positions = blocked_sums ? DW_SMALL_CHUNK_POSITIONS : DW_MIN_CHUNK_POSITIONS;
    const int64_t positions = core_b_size(k), per_chunk = (min_positions + positions - 1) / positions;
    if (k->n / per_chunk < chunks) chunks = k->n / per_chunk > 1 ? k->n / per_chunk : 1;
    /* a divisor of DW_MAX_CHUNKS, so 2, 3, 4, 6 ... threads get equal shares: 28x28 maps took 21
     * chunks (11 and 10 on two threads), 14x14 ones 5 (3 and 2), now 16 and 4 */
    static const int64_t even[] = {48, 24, 16, 12, 8, 6, 4, 3, 2, 1};
    for (size_t i = 0; i < sizeof even / sizeof even[0]; i++)
        if (even[i] <= chunks) {
            chunks = even[i];
            break;
        }
    while (chunks > 1 && (size_t)chunks * dw_bytes > DW_PARTIALS_BYTES) chunks /= 2;
    return chunks;
}

/* Threads that share the dW chunks. */
static int64_t dw_parts(const conv_core *k, int64_t chunks)
{
    const int64_t threads = k->threads > 1 ? k->threads : 1;
    return threads < chunks ? threads : chunks;
}

/* dw[e] += the chunks' partials summed in chunk order, over elements begin..end. */
typedef struct partials_job {
    const tg_real *partials;
    int64_t chunks, size;
    tg_real *dw;
} partials_job;
#define PARTIALS_GRAIN 4096 /* elements per task of the partials' sum */
static void partials_blocks(void *ctx, int64_t begin, int64_t end)
{
    const partials_job *j = ctx;
    const int64_t last = end * PARTIALS_GRAIN < j->size ? end * PARTIALS_GRAIN : j->size;
    for (int64_t e = begin * PARTIALS_GRAIN; e < last; e++) {
        tg_real sum = j->partials[e];
        for (int64_t c = 1; c < j->chunks; c++) sum += j->partials[c * j->size + e];
        j->dw[e] += sum;
    }
}
size_t tg_conv_forward_scratch_bytes(const conv_core *k)
{
    conv_ws ws = {0};
    const int64_t parts = batch_parts(k);
    if (parts > 1)
        ws_take(&ws, (size_t)parts * split_slice_bytes(k, SPLIT_FORWARD, part_size_max(k->n, parts), 0));
    else
        ws_take(&ws, core_forward_scratch(k) * sizeof(tg_real));
    return ws_size(ws);
}

void tg_conv_forward(const conv_core *k, const tg_real *a, const tg_real *w, tg_real *b, bool accumulate,
                     const tg_conv_out_op *out, void *block)
{
    conv_ws ws = ws_of(block);
    const int64_t parts = batch_parts(k);
    if (parts == 1) {
        core_forward(k, a, w, b, accumulate, ws_take(&ws, core_forward_scratch(k) * sizeof(tg_real)), out);
        return;
    }
    const size_t slice = split_slice_bytes(k, SPLIT_FORWARD, part_size_max(k->n, parts), 0);
    split_job j = {.k = k, .pass = SPLIT_FORWARD, .parts = parts, .items = parts, .slice_bytes = slice,
                   .a = a, .w = w, .out = b, .accumulate = accumulate,
                   .exact = split_needs_exact(k, a, k->ca, core_a_size(k), accumulate), .out_op = out};
    j.slices = ws_take(&ws, (size_t)parts * slice);
    tg_parallel_for(parts, split_range, &j);
}

size_t tg_conv_dw_scratch_bytes(const conv_core *k)
{
    conv_ws ws = {0};
    const int64_t chunks = tg_conv_dw_chunks(k);
    if (chunks == 1) {
        core_weight_grad(k, NULL, NULL, NULL, &ws);
        return ws_size(ws);
    }
    const int64_t parts = dw_parts(k, chunks), dw_size = k->cb * k->geom.channels * core_taps(k);
    ws_take(&ws, (size_t)(chunks * dw_size) * sizeof(tg_real));
    ws_take(&ws, (size_t)parts * split_slice_bytes(k, SPLIT_DW, part_size_max(k->n, chunks), 0));
    return ws_size(ws);
}

void tg_conv_dw(const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, void *block)
{
    conv_ws ws = ws_of(block);
    const int64_t chunks = tg_conv_dw_chunks(k);
    if (chunks == 1) {
        core_weight_grad(k, a, db, dw, &ws);
        return;
    }
    const int64_t parts = dw_parts(k, chunks), dw_size = k->cb * k->geom.channels * core_taps(k);
    tg_real *partials = ws_take(&ws, (size_t)(chunks * dw_size) * sizeof(tg_real));
    const size_t slice = split_slice_bytes(k, SPLIT_DW, part_size_max(k->n, chunks), 0);
    split_job j = {.k = k, .pass = SPLIT_DW, .parts = parts, .items = chunks, .slice_bytes = slice,
                   .a = a, .db = db, .out = partials};
    j.slices = ws_take(&ws, (size_t)parts * slice);
    tg_parallel_for(parts, split_range, &j);
    partials_job sum = {.partials = partials, .chunks = chunks, .size = dw_size, .dw = dw};
    tg_parallel_for((dw_size + PARTIALS_GRAIN - 1) / PARTIALS_GRAIN, partials_blocks, &sum);
}

size_t tg_conv_dx_scratch_bytes(const conv_core *k, tg_conv_dx_algo algo)
{
    conv_ws ws = {0};
    const int64_t parts = algo == TG_CONV_DX_ALGO_REFERENCE ? 1 : batch_parts(k);
    if (parts > 1)
        ws_take(&ws, (size_t)parts * split_slice_bytes(k, SPLIT_DX, part_size_max(k->n, parts), algo));
    else
        run_dx(k, algo, NULL, NULL, NULL, false, &ws);
    return ws_size(ws);
}

/* The rotated dA runs the forward on dB for each phase of the stride: when one of them would take
 * Winograd and dB holds NaN or Inf, every range (and every block of images) takes the exact GEMMs. */
static bool dx_needs_exact(const conv_core *k, tg_conv_dx_algo algo, const tg_real *db, bool overwrite)
{
    if (algo != TG_CONV_DX_ALGO_ROTATED) return false;
    const int64_t phases = k->geom.stride[0] * k->geom.stride[1] * k->geom.stride[2];
    /* one phase adds into dA unless it is fresh (core_data_grad_rotated); several write scratch */
    const bool accumulate = phases == 1 && !overwrite;
    int64_t r[3];
    phase_dim pd[3];
    for (int64_t ph = 0; ph < phases; ph++)
        if (phase_dims(k, ph, r, pd)) {
            const conv_core c = phase_core(k, pd, k->n);
            if (core_uses_winograd(&c) || core_uses_unfold(&c))
                return split_needs_exact(&c, db, k->cb, core_b_size(k), accumulate);
        }
    return false;
}

void tg_conv_dx(const conv_core *k, tg_conv_dx_algo algo, const tg_real *db, const tg_real *w, tg_real *da,
                bool overwrite, void *block)
{
    conv_ws ws = ws_of(block);
    const int64_t parts = algo == TG_CONV_DX_ALGO_REFERENCE ? 1 : batch_parts(k);
    const bool exact = dx_needs_exact(k, algo, db, overwrite);
    if (parts == 1) {
        conv_core c = *k;
        if (exact) c.algo = TG_CONV_FWD_GEMM;
        run_dx(&c, algo, db, w, da, overwrite, &ws);
        return;
    }
    const size_t slice = split_slice_bytes(k, SPLIT_DX, part_size_max(k->n, parts), algo);
    split_job j = {.k = k, .pass = SPLIT_DX, .parts = parts, .items = parts, .slice_bytes = slice,
                   .db = db, .w = w, .out = da, .overwrite = overwrite, .dx_algo = algo, .exact = exact};
    j.slices = ws_take(&ws, (size_t)parts * slice);
    tg_parallel_for(parts, split_range, &j);
}
