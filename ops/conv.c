/* ops/conv.c — conv1d/2d/3d, conv_transpose1d/2d/3d and locally_connected2d (see conv.h).
 *
 * Every convolution here is one "core" convolution from an A-space to a B-space:
 *   B[n, g*Og+o, b] = sum_{c<Cg, k} W[g*Og+o, c, k] * A[n, g*Cg+c, b*stride + k*dilation - pad]
 * with W:[CB, CA/groups, K]. conv* has A = input and B = output; conv_transpose* has A = output
 * and B = input (its weight [C_in, C_out/groups, K] is exactly W), so its forward is the core's
 * dA and its backward the core's forward. The core always has three spatial dims (1-D and 2-D
 * convolutions get leading dims of size 1), so one implementation serves every rank.
 *
 * Core paths: forward = W times the im2col matrix per image (or stack of small images) and group,
 * the matrix packed by the GEMM straight from A (tg_gemm_packed_b + tg_im2col_pack_b: never
 * stored); a 1x1/stride-1 convolution multiplies A directly; thin groups (one input channel per
 * group: depthwise) use the direct kernel; 2-D 3x3 stride-1 single-group convolutions with enough
 * channels and positions use Winograd F(2x2,3x3) (kernels/winograd.c; tg_conv_set_algo). dA = (rotated) the
 * forward on dB zero-inserted by the stride, padded by dilation*(K-1) - pad, with the
 * 180°-rotated, channel-swapped filter, evaluated per phase of the stride so the inserted zeros
 * are never multiplied; or (col2im) W^T dB by GEMM scattered by col2im (split by column phase
 * when strided). dW = corr(A, dB) = dB * im2col(A)^T (again packed from A: tg_im2col_pack_bt, or
 * by plain copies from a channel-blocked A when groups have whole blocks of 32 channels; a single
 * large 2-D/1-D image's B is read in place from a zero-padded blocked copy, never packed);
 * db = sum of dB.
 * Padding modes other than zeros pad A explicitly (tg_pad_kernel) and run a valid convolution,
 * as PyTorch does; the gradient of the padded A goes back through tg_pad_backward_kernel.
 */
#include "conv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "kernels/im2col_pack.h"
#include "kernels/pad.h"
#include "kernels/parallel.h"
#include "kernels/winograd.h"

static tg_conv_dx_path conv_dx_path = TG_CONV_DX_AUTO;
void tg_conv_set_dx_path(tg_conv_dx_path path) { conv_dx_path = path; }
tg_conv_dx_path tg_conv_get_dx_path(void) { return conv_dx_path; }
const char *tg_conv_dx_path_name(tg_conv_dx_path path)
{
    switch (path) {
    case TG_CONV_DX_ROTATED: return "rotated";
    case TG_CONV_DX_COL2IM: return "col2im";
    case TG_CONV_DX_AUTO: break;
    }
    return "auto";
}

/* -1 until set: the environment variable TG_CONV_ALGO (auto, gemm, winograd) decides at first use. */
static _Atomic int conv_algo_setting = -1; /* atomic: ops on several threads read it */
void tg_conv_set_algo(tg_conv_algo algo) { atomic_store(&conv_algo_setting, (int)algo); }
tg_conv_algo tg_conv_get_algo(void)
{
    int algo = atomic_load(&conv_algo_setting);
    if (algo < 0) {
        const char *env = getenv("TG_CONV_ALGO");
        int from_env = TG_CONV_ALGO_AUTO;
        for (int a = TG_CONV_ALGO_AUTO; env && a <= TG_CONV_ALGO_WINOGRAD; a++)
            if (strcmp(env, tg_conv_algo_name((tg_conv_algo)a)) == 0) from_env = a;
        /* only an unset value is replaced: a concurrent tg_conv_set_algo wins */
        if (atomic_compare_exchange_strong(&conv_algo_setting, &algo, from_env)) algo = from_env;
    }
    return (tg_conv_algo)algo;
}
const char *tg_conv_algo_name(tg_conv_algo algo)
{
    switch (algo) {
    case TG_CONV_ALGO_GEMM: return "gemm";
    case TG_CONV_ALGO_WINOGRAD: return "winograd";
    case TG_CONV_ALGO_AUTO: break;
    }
    return "auto";
}

/* ---- the core convolution ---- */

typedef struct conv_core {
    int64_t n, groups, ca, cb;  /* batch, groups, channels of A and of B */
    tg_conv_geom geom;          /* channels = ca/groups; in = A sizes, out = B sizes */
} conv_core;

static int64_t core_a_size(const conv_core *k) { return tg_conv_geom_in_size(&k->geom); }
static int64_t core_b_size(const conv_core *k) { return tg_conv_geom_out_size(&k->geom); }
static int64_t core_taps(const conv_core *k) { return tg_conv_geom_taps(&k->geom); }
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

/* Images per GEMM: small images (under CONV_GEMM_COLUMNS output positions) are stacked side by side (im2col columns of several images in
 * one matrix) so each GEMM has enough columns to run at speed; large ones go one at a time. */
#define CONV_GEMM_COLUMNS 512 /* measured: 512..2048 alike, 8192 slower (cache) */
static int64_t core_block(const conv_core *k)
{
    int64_t pb = core_b_size(k), nb = pb >= CONV_GEMM_COLUMNS ? 1 : (CONV_GEMM_COLUMNS + pb - 1) / pb;
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

/* Winograd F(2x2,3x3) for the forward kernel: where the geometry allows and, by default, where
 * it was measured faster than im2col + GEMM (docs/convolution.md): at least 32 input and output
 * channels (its 16 GEMMs are 9x smaller than im2col's), outputs of 14x14 or more and at least
 * 512 tiles in the batch (below that the transforms cost what the GEMMs save), and one thread
 * (its transforms run on one thread and its small GEMMs split badly: 2 threads made it slower
 * than the GEMM path, 8.5 vs 5.6 ms on 8x64x56x56). */
static bool core_uses_winograd(const conv_core *k)
{
    const tg_conv_geom *g = &k->geom;
    tg_conv_algo algo = tg_conv_get_algo();
    if (algo == TG_CONV_ALGO_GEMM || !tg_winograd_supported(g, k->groups)) return false;
    if (algo == TG_CONV_ALGO_WINOGRAD) return true;
    int64_t tiles = k->n * ((g->out[1] + 1) / 2) * ((g->out[2] + 1) / 2);
    return g->channels >= 32 && k->cb >= 32 && g->out[1] >= 14 && g->out[2] >= 14 && tiles >= 512 &&
           tg_get_threads() == 1;
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
    if (accumulate && !tg_winograd_finite(a, k->n * k->ca * core_a_size(k))) return false;
    return tg_winograd_conv(&k->geom, k->n, k->cb, a, w, b, accumulate, col);
}

static size_t core_forward_scratch(const conv_core *k)
{
    size_t gemm = core_scratch(k);
    if (!core_uses_winograd(k)) return gemm;
    size_t wino = tg_winograd_scratch(&k->geom, k->cb);
    return wino > gemm ? wino : gemm;
}

typedef struct direct_job {
    const conv_core *k;
    const tg_real *a, *w;
    tg_real *b;
    bool accumulate;
} direct_job;

static void direct_range(void *ctx, int64_t begin, int64_t end)
{
    const direct_job *j = ctx;
    const conv_core *k = j->k;
    int64_t og = k->cb / k->groups, cg = k->geom.channels;
    for (int64_t item = begin; item < end; item++) {
        int64_t n = item / k->groups, g = item % k->groups;
        tg_conv_direct(&k->geom, og, j->a + (n * k->ca + g * cg) * core_a_size(k),
                       j->w + g * og * cg * core_taps(k), j->b + (n * k->cb + g * og) * core_b_size(k),
                       j->accumulate);
    }
}

/* dA += the direct kernel's adjoint on dB, per image and group (j->a = dB, j->b = dA). */
static void direct_adjoint_range(void *ctx, int64_t begin, int64_t end)
{
    const direct_job *j = ctx;
    const conv_core *k = j->k;
    int64_t og = k->cb / k->groups, cg = k->geom.channels;
    for (int64_t item = begin; item < end; item++) {
        int64_t n = item / k->groups, g = item % k->groups;
        tg_conv_direct_adjoint(&k->geom, og, j->a + (n * k->cb + g * og) * core_b_size(k),
                               j->w + g * og * cg * core_taps(k), j->b + (n * k->ca + g * cg) * core_a_size(k));
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
                         tg_real *col)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pb = core_b_size(k), rows = cg * taps, nb = core_block(k);
    /* the direct kernel skips the zero padding, where im2col (PyTorch's) multiplies it: with a
     * NaN or Inf tap, 0·Inf = NaN must appear at the border, so such a filter takes the GEMMs */
    if (core_is_thin(k) && tg_winograd_finite(w, k->cb * rows)) {
        direct_job job = {k, a, w, b, accumulate};
        tg_parallel_for(k->n * k->groups, direct_range, &job);
        return;
    }
    if (core_uses_winograd(k) && winograd_forward(k, a, w, b, accumulate, col)) return;
    tg_real *stacked = col, *packed_w = col + (nb > 1 ? og * nb * pb : 0);
    const int64_t w_size = tg_gemm_packed_a_size(og, rows);
    for (int64_t g = 0; g < k->groups; g++) tg_gemm_pack_a(false, og, rows, w + g * og * rows, rows, packed_w + g * w_size);
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            tg_im2col_src src = core_columns(k, a, n0, m, g);
            const tg_real *wg = packed_w + g * w_size;
            tg_real *bn = b + (n0 * k->cb + g * og) * pb;
            if (core_direct_operand(k, m)) {
                tg_gemm_prepacked(og, pb, rows, 1, wg, src.x, pb, NULL, NULL, accumulate ? 1 : 0, bn, pb);
                continue;
            }
            if (m == 1) {
                tg_gemm_prepacked(og, pb, rows, 1, wg, NULL, 0, tg_im2col_pack_b, &src, accumulate ? 1 : 0, bn, pb);
                continue;
            }
            tg_gemm_prepacked(og, m * pb, rows, 1, wg, NULL, 0, tg_im2col_pack_b, &src, 0, stacked, m * pb);
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

/* Whole blocks of TG_IM2COL_BLOCK channels per group: dW's B = im2col(A)^T is then packed by plain
 * copies from a channel-blocked copy of A (tg_im2col_pack_bt_blocked) instead of im2col rows
 * transposed 32 x 32 (measured, docs/convolution.md). */
static bool core_dw_blocked(const conv_core *k)
{
    /* a single 1x1 image is already its own im2col^T (tg_gemm transposes it as it packs) */
    return !core_is_thin(k) && k->geom.channels % TG_IM2COL_BLOCK == 0 && !core_is_pointwise(&k->geom);
}

typedef struct block_job {
    const conv_core *k;
    const tg_real *a; /* first image of the block, first channel of the group */
    tg_real *xb;
} block_job;

/* Channel blocks begin..end (image-major) of the images, regrouped (one task per block: threads
 * share the copy even for a single image). */
static void block_range(void *ctx, int64_t begin, int64_t end)
{
    const block_job *j = ctx;
    const int64_t cg = j->k->geom.channels, pa = core_a_size(j->k), blocks = cg / TG_IM2COL_BLOCK;
    for (int64_t task = begin; task < end; task++) {
        int64_t i = task / blocks, b = task % blocks;
        tg_im2col_block_channels(j->a + (i * j->k->ca + b * TG_IM2COL_BLOCK) * pa, TG_IM2COL_BLOCK, pa, 1,
                                 j->xb + (i * cg + b * TG_IM2COL_BLOCK) * pa);
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
static int weight_grad_in_place(tg_tape *t, const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dwb)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t og = k->cb / k->groups, cg = g->channels, taps = core_taps(k), blocks = cg / TG_IM2COL_BLOCK;
    const int64_t pa = core_a_size(k), pb = core_b_size(k), rows = cg * taps;
    padded_blocks p = padded_blocks_of(k);
    p.xp = tg_tape_alloc_zero(t, (size_t)(blocks * p.plane) * sizeof *p.xp);
    int64_t *tap_offset = tg_tape_alloc(t, (size_t)taps * sizeof *tap_offset);
    tg_real *packed_db = tg_tape_alloc(t, (size_t)tg_gemm_packed_a_size(og, pb) * sizeof *packed_db + 1);
    if (!p.xp || !tap_offset || !packed_db) return -1;
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
    return 0;
}

/* dW' += dB * im2col(A)^T for blocks of images stacked side by side, A channel-blocked per block
 * and B packed from it (tg_im2col_pack_bt_blocked). stacked: core_scratch elements. */
static int weight_grad_packed(tg_tape *t, const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dwb,
                              tg_real *stacked)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, blocks = cg / TG_IM2COL_BLOCK;
    const int64_t pa = core_a_size(k), pb = core_b_size(k), rows = cg * core_taps(k), nb = core_block(k);
    tg_real *xb = tg_tape_alloc(t, (size_t)(nb * cg * pa) * sizeof *xb);
    if (!xb) return -1;
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            block_job job = {k, a + (n0 * k->ca + g * cg) * pa, xb};
            tg_parallel_for(m * blocks, block_range, &job);
            tg_im2col_blocked_src src = {.geom = &k->geom, .x = xb, .images = m, .blocks = blocks};
            const tg_real *dbs = core_gather(k, db, n0, m, g, stacked);
            tg_gemm_packed_b(false, og, rows, m * pb, 1, dbs, m * pb, tg_im2col_pack_bt_blocked, &src, 1,
                             dwb + g * og * rows, rows);
        }
    }
    return 0;
}

/* dW += corr(A, dB) with A channel-blocked: dW' (rows in (block, tap, channel) order) by GEMM,
 * then added into dW's (channel, tap) order. */
static int core_weight_grad_blocked(tg_tape *t, const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw,
                                    tg_real *stacked)
{
    const int64_t cg = k->geom.channels, taps = core_taps(k), blocks = cg / TG_IM2COL_BLOCK, rows = cg * taps;
    tg_real *dwb = tg_tape_alloc_zero(t, (size_t)(k->cb * rows) * sizeof *dwb);
    if (!dwb) return -1;
    /* one image at a time, 2-D or 1-D: its output rows are runs of B's rows, read in place */
    const bool in_place = core_block(k) == 1 && k->geom.out[0] == 1;
    if (in_place ? weight_grad_in_place(t, k, a, db, dwb) : weight_grad_packed(t, k, a, db, dwb, stacked)) return -1;
    /* dwb[o, (block*taps + tap)*B + r] -> dw[o, (block*B + r)*taps + tap], without a division per
     * element (those took 0.1 ms per call on the 16x64x56x56 stride-2 layer) */
    for (int64_t o = 0; o < k->cb; o++) {
        const tg_real *src = dwb + o * rows;
        for (int64_t block = 0; block < blocks; block++)
            for (int64_t tap = 0; tap < taps; tap++, src += TG_IM2COL_BLOCK) {
                tg_real *dst = dw + o * rows + block * TG_IM2COL_BLOCK * taps + tap;
                for (int64_t r = 0; r < TG_IM2COL_BLOCK; r++) dst[r * taps] += src[r];
            }
    }
    return 0;
}

/* dW += corr(A, dB). col: core_scratch elements. Returns -1 when the arena is full. */
static int core_weight_grad(tg_tape *t, const conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw, tg_real *col)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pa = core_a_size(k), pb = core_b_size(k), rows = cg * taps, nb = core_block(k);
    if (core_is_thin(k)) {
        for (int64_t n = 0; n < k->n; n++)
            for (int64_t g = 0; g < k->groups; g++)
                tg_conv_direct_dw(&k->geom, og, a + (n * k->ca + g * cg) * pa, db + (n * k->cb + g * og) * pb,
                                  dw + g * og * rows);
        return 0;
    }
    /* Winograd, on the same tiles as the forward, where measured faster than the GEMMs below: with
     * 128 channels in and out (16x128x28x28 fwd+bwd 46.5 -> 44.3 ms); with 64 (8x64x56x56) it
     * only ties them. col (core_forward_scratch) holds the forward's Winograd scratch, which is
     * what the weight gradient needs. */
    if (core_uses_winograd(k) && k->geom.channels >= 128 && k->cb >= 128) {
        TG_ASSERT(tg_winograd_dw_scratch(&k->geom, k->cb) <= core_forward_scratch(k));
        if (tg_winograd_dw(&k->geom, k->n, k->cb, a, db, dw, col)) return 0; /* else NaN or Inf: exact GEMMs */
    }
    if (core_dw_blocked(k)) return core_weight_grad_blocked(t, k, a, db, dw, col);
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
    return 0;
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
    conv_core r = {.n = n, .groups = k->groups, .ca = k->cb, .cb = k->ca};
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

/* The phase's taps of the rotated filter: R[g*Cg+c, o, j] = W[g*Og+o, c, the tap of reversed j]. */
static void phase_filter(const conv_core *k, const phase_dim *pd, const tg_real *w, tg_real *wr)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t jt = pd[0].kernel * pd[1].kernel * pd[2].kernel;
    for (int64_t j = 0; j < jt; j++) {
        int64_t jd = j / (pd[1].kernel * pd[2].kernel), jh = j / pd[2].kernel % pd[1].kernel, jw = j % pd[2].kernel;
        int64_t kd = pd[0].first + (pd[0].kernel - 1 - jd) * pd[0].step;
        int64_t kh = pd[1].first + (pd[1].kernel - 1 - jh) * pd[1].step;
        int64_t kw = pd[2].first + (pd[2].kernel - 1 - jw) * pd[2].step;
        int64_t tap = (kd * k->geom.kernel[1] + kh) * k->geom.kernel[2] + kw;
        for (int64_t g = 0; g < k->groups; g++)
            for (int64_t o = 0; o < og; o++)
                for (int64_t c = 0; c < cg; c++)
                    wr[((g * cg + c) * og + o) * jt + j] = w[((g * og + o) * cg + c) * taps + tap];
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

static int core_data_grad_rotated(tg_tape *t, const conv_core *k, const tg_real *db, const tg_real *w, tg_real *da)
{
    const int64_t phases = k->geom.stride[0] * k->geom.stride[1] * k->geom.stride[2], pb = core_b_size(k);
    int64_t r[3];
    phase_dim *pd = tg_tape_alloc(t, (size_t)phases * 3 * sizeof *pd);
    tg_real **out = tg_tape_alloc(t, (size_t)phases * sizeof *out), **wr = tg_tape_alloc(t, (size_t)phases * sizeof *wr);
    const tg_real **rows = tg_tape_alloc(t, (size_t)k->geom.stride[2] * sizeof *rows);
    if (!pd || !out || !wr || !rows) return -1;
    /* sizes: every phase's filter (each tap is in one phase: at most W's size); the largest
     * forward scratch; the phases' outputs for a block of images (at most dA's block) */
    size_t filters = 0, scratch = 0, positions = 0;
    int64_t block = k->n;
    for (int64_t ph = 0; ph < phases; ph++) {
        out[ph] = wr[ph] = NULL;
        if (!phase_dims(k, ph, r, pd + 3 * ph)) continue; /* no taps: dA's positions there get nothing */
        conv_core c = phase_core(k, pd + 3 * ph, k->n);
        size_t s = core_forward_scratch(&c);
        int64_t nb = core_block(&c);
        block = nb < block ? nb : block;
        scratch = s > scratch ? s : scratch;
        filters += (size_t)(k->ca * c.geom.channels * core_taps(&c));
        positions += (size_t)core_b_size(&c);
    }
    tg_real *filter = tg_tape_alloc(t, filters * sizeof *filter + 1), *col = tg_tape_alloc(t, scratch * sizeof *col + 1);
    tg_real *tmp = phases > 1 ? tg_tape_alloc(t, (size_t)(block * k->ca) * positions * sizeof *tmp + 1) : NULL;
    if (!filter || !col || (phases > 1 && !tmp)) return -1;
    for (int64_t ph = 0, at = 0; ph < phases; ph++)
        if (phase_dims(k, ph, r, pd + 3 * ph)) {
            conv_core c = phase_core(k, pd + 3 * ph, 1);
            wr[ph] = filter + at;
            phase_filter(k, pd + 3 * ph, w, wr[ph]);
            at += k->ca * c.geom.channels * core_taps(&c);
        }
    if (phases == 1) { /* the rotated convolution itself, straight into dA */
        conv_core c = phase_core(k, pd, k->n);
        if (wr[0]) core_forward(&c, db, wr[0], da, true, col);
        return 0;
    }
    for (int64_t n0 = 0; n0 < k->n; n0 += block) {
        const int64_t m = k->n - n0 < block ? k->n - n0 : block;
        tg_real *next = tmp;
        for (int64_t ph = 0; ph < phases; ph++) {
            if (!wr[ph]) continue;
            conv_core c = phase_core(k, pd + 3 * ph, m);
            core_forward(&c, db + n0 * k->cb * pb, wr[ph], next, false, col);
            out[ph] = next;
            next += m * k->ca * core_b_size(&c);
        }
        phase_gather_add(k, pd, out, m * k->ca, rows, da + n0 * k->ca * core_a_size(k));
    }
    return 0;
}

static bool core_strided(const conv_core *k)
{
    return k->geom.stride[0] != 1 || k->geom.stride[1] != 1 || k->geom.stride[2] != 1;
}

static tg_conv_dx_path core_dx_path(const conv_core *k)
{
    if (conv_dx_path != TG_CONV_DX_AUTO) return conv_dx_path;
    /* measured (docs/convolution.md): for depthwise the rotated path runs the direct kernel and
     * wins 2x; when the rotated convolution runs by Winograd it wins (8x64x56x56: 33 vs 40 ms
     * fwd+bwd); elsewhere col2im is as fast or faster (one GEMM on dB itself, where each rotated
     * phase packs an im2col of dB: 16x64x56x56 stride 2, fwd+dX 23.1 vs 23.7 ms) */
    if (core_is_thin(k)) return TG_CONV_DX_ROTATED;
    if (!core_strided(k)) {
        int64_t r[3];
        phase_dim pd[3];
        conv_core c = phase_dims(k, 0, r, pd) ? phase_core(k, pd, k->n) : *k;
        if (core_uses_winograd(&c)) return TG_CONV_DX_ROTATED;
    }
    return TG_CONV_DX_COL2IM;
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

/* dA += conv^T(dB): the gradient of A, or a transposed convolution's forward. Allocates its
 * scratch from the tape once; returns -1 when the arena is full. */
static int core_data_grad(tg_tape *t, const conv_core *k, const tg_real *db, const tg_real *w, tg_real *da)
{
    const int64_t og = k->cb / k->groups, cg = k->geom.channels, taps = core_taps(k);
    const int64_t pb = core_b_size(k), rows = cg * taps;
    const bool finite_w = tg_winograd_finite(w, k->cb * rows);
    /* (a NaN or Inf tap: the SIMD adjoint multiplies taps by dB's zero fringe, the rotated path
     * by its zero padding, 0·Inf = NaN where PyTorch's col2im forms no product: col2im below) */
    if (conv_dx_path == TG_CONV_DX_AUTO && core_is_thin(k) && tg_conv_direct_adjoint_supported(&k->geom) && finite_w) {
        /* 3x3 stride 2 (measured, docs/convolution.md): the direct adjoint reads dB in place, the
         * rotated path convolves a zero-inserted copy that is 3/4 zeros */
        direct_job job = {k, db, w, da, true};
        tg_parallel_for(k->n * k->groups, direct_adjoint_range, &job);
        return 0;
    }
    if (core_dx_path(k) == TG_CONV_DX_ROTATED && finite_w) return core_data_grad_rotated(t, k, db, w, da);
    const int64_t nb = core_block(k);
    const int64_t col_size = rows * nb * pb;
    const int64_t w_size = tg_gemm_packed_a_size(rows, og);
    /* columns, gathered dB, W^T packed */
    tg_real *col = tg_tape_alloc(t, (size_t)(col_size + og * nb * pb + k->groups * w_size) * sizeof *col);
    /* strided along W: each image's dA is gathered split by column phase, then interleaved in */
    const bool split = k->geom.stride[2] > 1;
    const int64_t split_plane = k->geom.in[0] * k->geom.in[1] * tg_col2im_split_pitch(&k->geom);
    tg_real *dsplit = split ? tg_tape_alloc(t, (size_t)(cg * split_plane) * sizeof *dsplit) : NULL;
    const tg_real **phase_rows = split ? tg_tape_alloc(t, (size_t)k->geom.stride[2] * sizeof *phase_rows) : NULL;
    if (!col || (split && (!dsplit || !phase_rows))) return -1;
    tg_real *stacked = col + col_size, *packed_wt = stacked + og * nb * pb;
    for (int64_t g = 0; g < k->groups; g++)
        tg_gemm_pack_a(true, rows, og, w + g * og * rows, rows, packed_wt + g * w_size);
    for (int64_t n0 = 0; n0 < k->n; n0 += nb) {
        int64_t m = k->n - n0 < nb ? k->n - n0 : nb;
        for (int64_t g = 0; g < k->groups; g++) {
            const tg_real *dbs = core_gather(k, db, n0, m, g, stacked);
            tg_real *dan = da + (n0 * k->ca + g * cg) * core_a_size(k);
            if (m == 1 && core_is_pointwise(&k->geom)) { /* col2im of a 1x1 is the identity: add in place */
                tg_gemm_prepacked(rows, pb, og, 1, packed_wt + g * w_size, dbs, pb, NULL, NULL, 1, dan, pb);
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
    return 0;
}

/* ---- attributes and shapes ---- */

typedef struct conv_plan {
    const char *op;
    int rank;
    bool transposed;
    conv_core core;
    int mode;                         /* tg_pad_mode applied to A before a valid core */
    int64_t pad_lo[3], pad_hi[3];     /* explicit padding of A (non-zero modes) */
    int64_t a_shape[3];               /* A's own sizes (before explicit padding) */
    int out_ndim;
    int64_t out_shape[5];
} conv_plan;

static const char *const pad_mode_names[] = {"zeros", "reflect", "replicate", "circular", NULL};

#define CONV_COMMON_ATTRS                                                                   \
    {"stride", TG_ATTR_INTS, offsetof(tg_conv_attr, stride), "1", false, NULL, NULL},     \
    {"dilation", TG_ATTR_INTS, offsetof(tg_conv_attr, dilation), "1", false, NULL, NULL}, \
    {"groups", TG_ATTR_INT, offsetof(tg_conv_attr, groups), "1", false, NULL, NULL}
static const tg_attr_desc conv_attrs[] = {
    CONV_COMMON_ATTRS,
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", .alt_names = "same,valid"},
    {"padding_mode", TG_ATTR_ENUM, offsetof(tg_conv_attr, padding_mode), "zeros", .names = pad_mode_names},
};
static const tg_attr_desc conv_transpose_attrs[] = {
    CONV_COMMON_ATTRS,
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", false, NULL, NULL},
    {"output_padding", TG_ATTR_INTS, offsetof(tg_conv_attr, output_padding), "0", false, NULL, NULL},
};
static const tg_attr_desc locally_connected_attrs[] = {
    {"stride", TG_ATTR_INTS, offsetof(tg_conv_attr, stride), "1", false, NULL, NULL},
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", false, NULL, NULL},
    {"dilation", TG_ATTR_INTS, offsetof(tg_conv_attr, dilation), "1", false, NULL, NULL},
};

/* Tuple attribute `name` checked for length (1 or rank) and lower bound. */
static int tuple_ok(tg_tape *t, const char *op, const char *name, const tg_ints *v, int rank, int64_t min,
                    const char *shapes)
{
    if (v->n != 1 && v->n != rank) {
        tg_fail(t, "%s: %s needs 1 or %d values, got %d (%s)", op, name, rank, v->n, shapes);
        return -1;
    }
    for (int i = 0; i < v->n; i++)
        if (v->v[i] < min) {
            tg_fail(t, "%s: %s must be >= %lld, got %lld (%s)", op, name, (long long)min, (long long)v->v[i],
                    shapes);
            return -1;
        }
    return 0;
}

/* Validates a convolution's inputs and attributes and fills the plan. 0, or -1 via tg_fail. */
static int conv_plan_make(tg_tape *t, const char *op, int rank, bool transposed, tg_tensor *const *in, int n_in,
                          const tg_conv_attr *a, conv_plan *p)
{
    const tg_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    char sx[TG_SHAPE_STR_LEN], sw[TG_SHAPE_STR_LEN], shapes[2 * TG_SHAPE_STR_LEN + 16];
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    snprintf(shapes, sizeof shapes, "x=%s w=%s", sx, sw);
    static const char *const layouts[] = {"", "[N,C,L]", "[N,C,H,W]", "[N,C,D,H,W]"};
    memset(p, 0, sizeof *p);
    p->op = op;
    p->rank = rank;
    p->transposed = transposed;
    if (x->ndim != rank + 2) return tg_fail(t, "%s: input must be %d-D %s, got %s", op, rank + 2, layouts[rank], sx), -1;
    if (w->ndim != rank + 2)
        return tg_fail(t, "%s: weight must be %d-D, got %s (x=%s)", op, rank + 2, sw, sx), -1;
    if (tuple_ok(t, op, "stride", &a->stride, rank, 1, shapes) || tuple_ok(t, op, "dilation", &a->dilation, rank, 1, shapes))
        return -1;
    bool same = a->padding.n == 0 && a->padding.v[0] == TG_CONV_PAD_SAME;
    bool valid = a->padding.n == 0 && a->padding.v[0] == TG_CONV_PAD_VALID;
    if (!same && !valid && tuple_ok(t, op, "padding", &a->padding, rank, 0, shapes)) return -1;
    if (transposed && tuple_ok(t, op, "output_padding", &a->output_padding, rank, 0, shapes)) return -1;
    const int64_t groups = a->groups;
    if (groups < 1) return tg_fail(t, "%s: groups must be >= 1, got %lld (%s)", op, (long long)groups, shapes), -1;
    const int64_t c_in = x->shape[1];
    /* weight [CB, CA/g, K]: conv has A = x, transposed has B = x */
    const int64_t cb = transposed ? w->shape[0] : w->shape[0], ca_per_group = w->shape[1];
    if (c_in % groups != 0)
        return tg_fail(t, "%s: groups=%lld does not divide the %lld input channels (%s)", op, (long long)groups,
                       (long long)c_in, shapes), -1;
    if (transposed) {
        if (w->shape[0] != c_in)
            return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)c_in,
                           (long long)w->shape[0], shapes), -1;
    } else {
        if (cb % groups != 0)
            return tg_fail(t, "%s: groups=%lld does not divide the %lld output channels (%s)", op,
                           (long long)groups, (long long)cb, shapes), -1;
        if (ca_per_group * groups != c_in)
            return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)c_in,
                           (long long)(ca_per_group * groups), shapes), -1;
    }
    const int64_t c_out = transposed ? ca_per_group * groups : cb;
    if (b && (b->ndim != 1 || b->shape[0] != c_out)) {
        char sb[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: bias must be [%lld], got %s (%s)", op, (long long)c_out, tg_shape_str(b, sb, sizeof sb),
                       shapes), -1;
    }
    if (same && !transposed)
        for (int i = 0; i < rank; i++)
            if (tg_ints_at(&a->stride, i) != 1)
                return tg_fail(t, "%s: padding='same' needs stride 1 (%s)", op, shapes), -1;
    p->mode = transposed ? TG_PAD_CONSTANT : a->padding_mode;
    conv_core *k = &p->core;
    k->n = x->shape[0];
    k->groups = groups;
    k->ca = transposed ? c_out : c_in;
    k->cb = transposed ? c_in : c_out;
    k->geom.channels = k->ca / groups;
    p->out_ndim = rank + 2;
    p->out_shape[0] = k->n;
    p->out_shape[1] = c_out;
    for (int i = 0; i < 3; i++) {
        tg_conv_geom *g = &k->geom;
        int j = i - (3 - rank); /* spatial dim of the tensors; < 0: a unit leading dim */
        if (j < 0) {
            g->in[i] = g->out[i] = g->kernel[i] = g->stride[i] = g->dilation[i] = 1;
            p->a_shape[i] = 1;
            continue;
        }
        int64_t size = x->shape[2 + j], kern = w->shape[2 + j];
        int64_t s = tg_ints_at(&a->stride, j), d = tg_ints_at(&a->dilation, j), extent = d * (kern - 1) + 1;
        g->kernel[i] = kern;
        g->stride[i] = s;
        g->dilation[i] = d;
        if (transposed) {
            int64_t pad = tg_ints_at(&a->padding, j), op_ = tg_ints_at(&a->output_padding, j);
            if (op_ >= s && op_ >= d)
                return tg_fail(t, "%s: output_padding must be smaller than stride or dilation, got %lld (stride=%lld "
                               "dilation=%lld, %s)", op, (long long)op_, (long long)s, (long long)d, shapes), -1;
            int64_t out = (size - 1) * s - 2 * pad + extent + op_;
            if (out < 1)
                return tg_fail(t, "%s: output size %lld is not positive (%s)", op, (long long)out, shapes), -1;
            g->in[i] = p->a_shape[i] = out;
            g->out[i] = size;
            g->pad[i] = pad;
            p->out_shape[2 + j] = out;
            continue;
        }
        int64_t lo, hi;
        if (same) {
            lo = (extent - 1) / 2;
            hi = extent - 1 - lo;
        } else if (valid) {
            lo = hi = 0;
        } else {
            lo = hi = tg_ints_at(&a->padding, j);
        }
        if (size + lo + hi < extent)
            return tg_fail(t, "%s: kernel (extent %lld) is larger than the padded input (%lld) in spatial dim %d (%s)",
                           op, (long long)extent, (long long)(size + lo + hi), j, shapes), -1;
        if (p->mode == TG_PAD_REFLECT && (lo >= size || hi >= size))
            return tg_fail(t, "%s: reflect padding %lld must be smaller than the input size %lld (%s)", op,
                           (long long)(lo > hi ? lo : hi), (long long)size, shapes), -1;
        if (p->mode == TG_PAD_CIRCULAR && (lo > size || hi > size))
            return tg_fail(t, "%s: circular padding %lld must not exceed the input size %lld (%s)", op,
                           (long long)(lo > hi ? lo : hi), (long long)size, shapes), -1;
        int64_t out = (size + lo + hi - extent) / s + 1;
        p->a_shape[i] = size;
        p->pad_lo[i] = lo;
        p->pad_hi[i] = hi;
        g->out[i] = out;
        p->out_shape[2 + j] = out;
        if (p->mode == TG_PAD_CONSTANT) {
            g->in[i] = size;
            g->pad[i] = lo; /* the high side is implicit: reads past the input are zeros */
        } else {
            g->in[i] = size + lo + hi;
            g->pad[i] = 0;
        }
    }
    return 0;
}

/* ---- conv and conv_transpose ops ---- */

/* The plan of a recorded node: the descriptor says the rank and whether it is transposed. */
static int conv_plan_node(tg_tape *t, tg_node *node, conv_plan *p)
{
    const tg_op_desc *d = node->op;
    return conv_plan_make(t, d->name, d->spatial_dims, d->transposed, node->inputs, node->n_inputs, node->attr, p);
}

/* The explicit padding of A as tg_pad_kernel's arguments (the last `rank` dims of each plane). */
static void pad_args(const conv_plan *p, int64_t *shape, int64_t *lo, int64_t *hi)
{
    for (int j = 0; j < p->rank; j++) {
        int i = 3 - p->rank + j;
        shape[j] = p->a_shape[i];
        lo[j] = p->pad_lo[i];
        hi[j] = p->pad_hi[i];
    }
}

/* A as the core reads it: the input itself, or its explicitly padded copy (arena). */
static const tg_real *padded_a(tg_tape *t, const conv_plan *p, const tg_real *a)
{
    if (p->mode == TG_PAD_CONSTANT) return a;
    const conv_core *k = &p->core;
    tg_real *ap = tg_tape_alloc(t, (size_t)(k->n * k->ca * core_a_size(k)) * sizeof *ap);
    if (!ap) return NULL;
    int64_t shape[3], lo[3], hi[3];
    pad_args(p, shape, lo, hi);
    tg_pad_kernel(a, ap, k->n * k->ca, p->rank, shape, lo, hi, (tg_pad_mode)p->mode, 0);
    return ap;
}

static void add_bias(const conv_plan *p, const tg_tensor *bias, tg_real *y)
{
    if (!bias) return;
    int64_t c = p->out_shape[1], plane = 1;
    for (int i = 2; i < p->out_ndim; i++) plane *= p->out_shape[i];
    for (int64_t n = 0; n < p->out_shape[0]; n++)
        for (int64_t o = 0; o < c; o++) {
            tg_real *yp = y + (n * c + o) * plane, v = bias->data[o];
            for (int64_t i = 0; i < plane; i++) yp[i] += v;
        }
}

/* x:[N,C,in...] w:[O,C/g,k...] b:[O] -> y:[N,O,out...]        (conv)
 * x:[N,C,in...] w:[C,O/g,k...] b:[O] -> y:[N,O,out...]        (conv_transpose)
 * backward (conv):      dX = full conv of dY (zero-inserted by stride, padded dil*(K-1)-pad) with
 *                       the rotated, channel-swapped W (or col2im of W^T dY); dW = corr(X, dY);
 *                       db = sum dY over N and space.
 * backward (transpose): dX = conv(dY, W) (the forward); dW = corr(dY, X); db = sum dY. */
static int conv_shape_for(tg_tape *t, const tg_op_desc *d, tg_tensor *const *in, int n_in, void *attr, int *ndim,
                          int64_t *shape)
{
    conv_plan p;
    if (conv_plan_make(t, d->name, d->spatial_dims, d->transposed, in, n_in, attr, &p)) return -1;
    *ndim = p.out_ndim;
    memcpy(shape, p.out_shape, (size_t)p.out_ndim * sizeof *shape);
    return 0;
}
/* The shape function of one descriptor (a shape function is not told its op). */
#define CONV_SHAPE_FN(opname)                                                                            \
    extern const tg_op_desc tg_op_desc_##opname;                                                         \
    static int opname##_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim,         \
                              int64_t *shape)                                                            \
    {                                                                                                    \
        return conv_shape_for(t, &tg_op_desc_##opname, in, n_in, attr, ndim, shape);                     \
    }
CONV_SHAPE_FN(conv1d)
CONV_SHAPE_FN(conv2d)
CONV_SHAPE_FN(conv3d)
CONV_SHAPE_FN(conv_transpose1d)
CONV_SHAPE_FN(conv_transpose2d)
CONV_SHAPE_FN(conv_transpose3d)

static int conv_forward(tg_tape *t, tg_node *node)
{
    conv_plan p;
    if (conv_plan_node(t, node, &p)) return -1;
    const conv_core *k = &p.core;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1], *bias = node->n_inputs > 2 ? node->inputs[2] : NULL;
    tg_real *y = node->out->data;
    if (node->out->numel == 0) return 0;
    if (p.transposed) { /* y = conv^T(x): the core's data gradient with dB = x */
        memset(y, 0, (size_t)node->out->numel * sizeof *y);
        if (x->numel && core_data_grad(t, k, x->data, w->data, y)) return -1;
    } else {
        const tg_real *a = padded_a(t, &p, x->data);
        tg_real *col = tg_tape_alloc(t, core_forward_scratch(k) * sizeof *col + 1);
        if (!a || !col) return -1;
        core_forward(k, a, w->data, y, false, col);
    }
    add_bias(&p, bias, y);
    return 0;
}

static void conv_backward(tg_tape *t, tg_node *node)
{
    conv_plan p;
    if (conv_plan_node(t, node, &p)) return;
    const conv_core *k = &p.core;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const tg_real *dy = node->out->grad;
    tg_real *dx = tg_input_grad(t, node, 0), *dw = tg_input_grad(t, node, 1);
    tg_real *dbias = node->n_inputs > 2 ? tg_input_grad(t, node, 2) : NULL;
    if (node->out->numel == 0) return;
    if (dbias) {
        int64_t c = p.out_shape[1], plane = node->out->numel / (p.out_shape[0] * c);
        for (int64_t o = 0; o < c; o++) {
            double sum = 0;
            for (int64_t n = 0; n < p.out_shape[0]; n++)
                for (int64_t i = 0; i < plane; i++) sum += dy[(n * c + o) * plane + i];
            dbias[o] += (tg_real)sum;
        }
    }
    if (x->numel == 0) return;
    tg_real *col = tg_tape_alloc(t, core_forward_scratch(k) * sizeof *col + 1);
    if (!col) return;
    if (p.transposed) { /* A = y-space (dy), B = x-space */
        if (dx) core_forward(k, dy, w->data, dx, true, col);
        if (dw) core_weight_grad(t, k, dy, x->data, dw, col);
        return;
    }
    const tg_real *a = padded_a(t, &p, x->data);
    if (!a) return;
    if (dw && core_weight_grad(t, k, a, dy, dw, col)) return;
    if (!dx) return;
    if (p.mode == TG_PAD_CONSTANT) {
        core_data_grad(t, k, dy, w->data, dx);
        return;
    }
    tg_real *dap = tg_tape_alloc_zero(t, (size_t)(k->n * k->ca * core_a_size(k)) * sizeof *dap);
    if (!dap || core_data_grad(t, k, dy, w->data, dap)) return;
    int64_t shape[3], lo[3], hi[3];
    pad_args(&p, shape, lo, hi);
    tg_pad_backward_kernel(dap, dx, k->n * k->ca, p.rank, shape, lo, hi, (tg_pad_mode)p.mode);
}

static const char *const conv_inputs[] = {"input", "weight", "bias"};
#define CONV_WEIGHT_AND_BIAS (TG_INPUT_BIT(1) | TG_INPUT_BIT(2))
#define CONV_DESC(opname, rank, transposed_, attrs_, summary_)                                             \
    const tg_op_desc tg_op_desc_##opname = {                                                              \
        .name = #opname, .min_inputs = 2, .max_inputs = 3, .input_names = conv_inputs,                    \
        .optional_inputs = TG_INPUT_BIT(2), .param_inputs = CONV_WEIGHT_AND_BIAS,                         \
        .fan_in_inputs = TG_INPUT_BIT(1), .spatial_dims = rank, .transposed = transposed_,                \
        .attrs = attrs_, .n_attrs = TG_N_ATTRS(attrs_), .attr_size = sizeof(tg_conv_attr),                \
        .shape = opname##_shape, .forward = conv_forward, .backward = conv_backward, .summary = summary_}
CONV_DESC(conv1d, 1, false, conv_attrs, "1-D convolution (cross-correlation), torch.nn.functional.conv1d");
CONV_DESC(conv2d, 2, false, conv_attrs, "2-D convolution (cross-correlation), torch.nn.functional.conv2d");
CONV_DESC(conv3d, 3, false, conv_attrs, "3-D convolution (cross-correlation), torch.nn.functional.conv3d");
CONV_DESC(conv_transpose1d, 1, true, conv_transpose_attrs,
          "1-D transposed convolution, torch.nn.functional.conv_transpose1d");
CONV_DESC(conv_transpose2d, 2, true, conv_transpose_attrs,
          "2-D transposed convolution, torch.nn.functional.conv_transpose2d");
CONV_DESC(conv_transpose3d, 3, true, conv_transpose_attrs,
          "3-D transposed convolution, torch.nn.functional.conv_transpose3d");

static tg_tensor *apply3(tg_tape *t, int op, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    tg_tensor *in[3] = {x, w, b};
    return tg_op_apply(t, op, in, 3, a);
}
tg_tensor *tg_conv1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV1D, x, w, b, a);
}
tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV2D, x, w, b, a);
}
tg_tensor *tg_conv3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV3D, x, w, b, a);
}
tg_tensor *tg_conv_transpose1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE1D, x, w, b, a);
}
tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE2D, x, w, b, a);
}
tg_tensor *tg_conv_transpose3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE3D, x, w, b, a);
}

/* ---- locally connected 2-D ---- */

/* The geometry of a locally connected layer (one im2col over all C channels), validated. */
static int lc_geom(tg_tape *t, tg_tensor *const *in, int n_in, const tg_conv_attr *a, tg_conv_geom *g,
                   int64_t *out_channels)
{
    const char *op = "locally_connected2d";
    const tg_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    char sx[TG_SHAPE_STR_LEN], sw[TG_SHAPE_STR_LEN], shapes[2 * TG_SHAPE_STR_LEN + 16];
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    snprintf(shapes, sizeof shapes, "x=%s w=%s", sx, sw);
    if (x->ndim != 4) return tg_fail(t, "%s: input must be 4-D [N,C,H,W], got %s", op, sx), -1;
    if (w->ndim != 6) return tg_fail(t, "%s: weight must be 6-D [Ho,Wo,O,C,kh,kw], got %s (x=%s)", op, sw, sx), -1;
    if (tuple_ok(t, op, "stride", &a->stride, 2, 1, shapes) || tuple_ok(t, op, "dilation", &a->dilation, 2, 1, shapes) ||
        tuple_ok(t, op, "padding", &a->padding, 2, 0, shapes))
        return -1;
    if (w->shape[3] != x->shape[1])
        return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)x->shape[1],
                       (long long)w->shape[3], shapes), -1;
    memset(g, 0, sizeof *g);
    g->channels = x->shape[1];
    g->in[0] = g->out[0] = g->kernel[0] = g->stride[0] = g->dilation[0] = 1;
    for (int j = 0; j < 2; j++) {
        int i = j + 1;
        int64_t s = tg_ints_at(&a->stride, j), d = tg_ints_at(&a->dilation, j), pad = tg_ints_at(&a->padding, j);
        int64_t extent = d * (w->shape[4 + j] - 1) + 1, size = x->shape[2 + j];
        if (size + 2 * pad < extent)
            return tg_fail(t, "%s: kernel (extent %lld) is larger than the padded input (%lld) in spatial dim %d (%s)",
                           op, (long long)extent, (long long)(size + 2 * pad), j, shapes), -1;
        int64_t out = (size + 2 * pad - extent) / s + 1;
        if (w->shape[j] != out)
            return tg_fail(t, "%s: weight has %lld positions along spatial dim %d but the output has %lld (%s)", op,
                           (long long)w->shape[j], j, (long long)out, shapes), -1;
        g->in[i] = size;
        g->out[i] = out;
        g->kernel[i] = w->shape[4 + j];
        g->stride[i] = s;
        g->dilation[i] = d;
        g->pad[i] = pad;
    }
    *out_channels = w->shape[2];
    if (b && (b->ndim != 3 || b->shape[0] != w->shape[2] || b->shape[1] != w->shape[0] || b->shape[2] != w->shape[1])) {
        char sb[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: bias must be [%lld,%lld,%lld], got %s (%s)", op, (long long)w->shape[2],
                       (long long)w->shape[0], (long long)w->shape[1], tg_shape_str(b, sb, sizeof sb), shapes), -1;
    }
    return 0;
}

/* x:[N,C,H,W] w:[Ho,Wo,O,C,kh,kw] b:[O,Ho,Wo] -> y:[N,O,Ho,Wo];
 * y[n,o,p] = sum_j w[p,o,j] col_n[j,p] + b[o,p] with col_n = im2col(x_n), j over (c, kh, kw).
 * backward: dw[p,o,j] += dy[n,o,p] col_n[j,p]; dx_n += col2im(dcol), dcol[j,p] = sum_o w[p,o,j] dy[n,o,p];
 * db = sum_n dy. */
static int locally_connected2d_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim,
                                     int64_t *shape)
{
    tg_conv_geom g;
    int64_t o;
    if (lc_geom(t, in, n_in, attr, &g, &o)) return -1;
    *ndim = 4;
    shape[0] = in[0]->shape[0];
    shape[1] = o;
    shape[2] = g.out[1];
    shape[3] = g.out[2];
    return 0;
}

static int locally_connected2d_forward(tg_tape *t, tg_node *node)
{
    tg_conv_geom g;
    int64_t oc;
    if (lc_geom(t, node->inputs, node->n_inputs, node->attr, &g, &oc)) return -1;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1], *b = node->n_inputs > 2 ? node->inputs[2] : NULL;
    const int64_t pin = tg_conv_geom_in_size(&g), pout = tg_conv_geom_out_size(&g), rows = g.channels * tg_conv_geom_taps(&g);
    tg_real *y = node->out->data;
    tg_real *col = tg_tape_alloc(t, (size_t)(rows * pout) * sizeof *col + 1);
    if (!col) return -1;
    for (int64_t n = 0; n < x->shape[0]; n++) {
        tg_im2col(&g, x->data + n * g.channels * pin, col, pout);
        for (int64_t o = 0; o < oc; o++)
            for (int64_t pos = 0; pos < pout; pos++) {
                const tg_real *wp = w->data + (pos * oc + o) * rows;
                double sum = b ? b->data[o * pout + pos] : 0;
                for (int64_t j = 0; j < rows; j++) sum += (double)wp[j] * col[j * pout + pos];
                y[(n * oc + o) * pout + pos] = (tg_real)sum;
            }
    }
    return 0;
}

static void locally_connected2d_backward(tg_tape *t, tg_node *node)
{
    tg_conv_geom g;
    int64_t oc;
    if (lc_geom(t, node->inputs, node->n_inputs, node->attr, &g, &oc)) return;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const int64_t pin = tg_conv_geom_in_size(&g), pout = tg_conv_geom_out_size(&g), rows = g.channels * tg_conv_geom_taps(&g);
    const tg_real *dy = node->out->grad;
    tg_real *dx = tg_input_grad(t, node, 0), *dw = tg_input_grad(t, node, 1);
    tg_real *db = node->n_inputs > 2 ? tg_input_grad(t, node, 2) : NULL;
    tg_real *col = tg_tape_alloc(t, (size_t)(rows * pout) * sizeof *col + 1);
    if (!col) return;
    for (int64_t n = 0; n < x->shape[0]; n++) {
        const tg_real *dyn = dy + n * oc * pout;
        if (db)
            for (int64_t i = 0; i < oc * pout; i++) db[i] += dyn[i];
        if (dw) {
            tg_im2col(&g, x->data + n * g.channels * pin, col, pout);
            for (int64_t pos = 0; pos < pout; pos++)
                for (int64_t o = 0; o < oc; o++) {
                    tg_real *dwp = dw + (pos * oc + o) * rows, d = dyn[o * pout + pos];
                    for (int64_t j = 0; j < rows; j++) dwp[j] += d * col[j * pout + pos];
                }
        }
        if (dx) {
            for (int64_t j = 0; j < rows; j++)
                for (int64_t pos = 0; pos < pout; pos++) {
                    double sum = 0;
                    for (int64_t o = 0; o < oc; o++) sum += (double)w->data[(pos * oc + o) * rows + j] * dyn[o * pout + pos];
                    col[j * pout + pos] = (tg_real)sum;
                }
            tg_col2im_add(&g, col, pout, dx + n * g.channels * pin);
        }
    }
}

const tg_op_desc tg_op_desc_locally_connected2d = {
    .name = "locally_connected2d", .min_inputs = 2, .max_inputs = 3, .input_names = conv_inputs,
    .optional_inputs = TG_INPUT_BIT(2), .param_inputs = CONV_WEIGHT_AND_BIAS, .spatial_dims = 2,
    .attrs = locally_connected_attrs, .n_attrs = TG_N_ATTRS(locally_connected_attrs),
    .attr_size = sizeof(tg_conv_attr), .shape = locally_connected2d_shape, .forward = locally_connected2d_forward,
    .backward = locally_connected2d_backward,
    .summary = "2-D locally-connected layer (unshared weights per output position)"};

tg_tensor *tg_locally_connected2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_LOCALLY_CONNECTED2D, x, w, b, a);
}
