/* tests/test_conv.c — the convolution family: the notes' worked examples (recomputed by hand),
 * a naive reference loop on random configurations, both dX paths, gradient checks over every
 * attribute combination, transposed convolution, padding modes, locally-connected, bad input. */
#include "util.h"

#include <stdlib.h>

#include "../ops/conv.h"
#include "../ops/kernels/gemm.h"
#include "../ops/kernels/im2col_pack.h"
#include "../ops/kernels/parallel.h"

static tg_conv_attr conv_defaults(int op)
{
    tg_conv_attr a;
    tg_attr_defaults(op, &a);
    return a;
}
static tg_ints ints1(int64_t v) { return (tg_ints){1, {v}}; }
static tg_ints ints3(int n, int64_t a, int64_t b, int64_t c) { return (tg_ints){n, {a, b, c}}; }

/* ---- naive references (double, written from the definitions) ---- */

/* One configuration, spatial rank r; sizes padded to 3 dims with leading 1s. */
typedef struct ref_cfg {
    int rank;
    int64_t n, c, o, groups;
    int64_t in[3], k[3], s[3], p[3], d[3], op[3];
} ref_cfg;

static int64_t ref_conv_out(const ref_cfg *c, int i)
{
    return (c->in[i] + 2 * c->p[i] - c->d[i] * (c->k[i] - 1) - 1) / c->s[i] + 1;
}
static int64_t ref_tconv_out(const ref_cfg *c, int i)
{
    return (c->in[i] - 1) * c->s[i] - 2 * c->p[i] + c->d[i] * (c->k[i] - 1) + c->op[i] + 1;
}

/* y[n,o,out] = sum_{c in group, taps} w[o, c, taps] x[n, c, out*s + k*d - p] (+ b[o]) */
static void ref_conv(const ref_cfg *c, const tg_real *x, const tg_real *w, const tg_real *b, double *y)
{
    int64_t out[3], cg = c->c / c->groups, og = c->o / c->groups;
    for (int i = 0; i < 3; i++) out[i] = ref_conv_out(c, i);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t z = 0; z < out[0]; z++)
                for (int64_t h = 0; h < out[1]; h++)
                    for (int64_t v = 0; v < out[2]; v++) {
                        double acc = b ? b[o] : 0;
                        int64_t g = o / og;
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t a = 0; a < c->k[0]; a++)
                                for (int64_t e = 0; e < c->k[1]; e++)
                                    for (int64_t f = 0; f < c->k[2]; f++) {
                                        int64_t iz = z * c->s[0] + a * c->d[0] - c->p[0];
                                        int64_t ih = h * c->s[1] + e * c->d[1] - c->p[1];
                                        int64_t iw = v * c->s[2] + f * c->d[2] - c->p[2];
                                        if (iz < 0 || ih < 0 || iw < 0 || iz >= c->in[0] || ih >= c->in[1] || iw >= c->in[2])
                                            continue;
                                        double xv = x[(((n * c->c + g * cg + ci) * c->in[0] + iz) * c->in[1] + ih) * c->in[2] + iw];
                                        double wv = w[(((o * cg + ci) * c->k[0] + a) * c->k[1] + e) * c->k[2] + f];
                                        acc += xv * wv;
                                    }
                        y[(((n * c->o + o) * out[0] + z) * out[1] + h) * out[2] + v] = acc;
                    }
}

/* transposed: every x[n,c,i] scatters x * w[c, o, k] into y[n, o, i*s + k*d - p] (w:[C, O/g, K]) */
static void ref_tconv(const ref_cfg *c, const tg_real *x, const tg_real *w, const tg_real *b, double *y)
{
    int64_t out[3], cg = c->c / c->groups, og = c->o / c->groups, total = c->n * c->o;
    for (int i = 0; i < 3; i++) out[i] = ref_tconv_out(c, i);
    int64_t plane = out[0] * out[1] * out[2];
    for (int64_t i = 0; i < total * plane; i++) y[i] = b ? b[(i / plane) % c->o] : 0;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ci = 0; ci < c->c; ci++)
            for (int64_t z = 0; z < c->in[0]; z++)
                for (int64_t h = 0; h < c->in[1]; h++)
                    for (int64_t v = 0; v < c->in[2]; v++) {
                        double xv = x[(((n * c->c + ci) * c->in[0] + z) * c->in[1] + h) * c->in[2] + v];
                        int64_t g = ci / cg;
                        for (int64_t oi = 0; oi < og; oi++)
                            for (int64_t a = 0; a < c->k[0]; a++)
                                for (int64_t e = 0; e < c->k[1]; e++)
                                    for (int64_t f = 0; f < c->k[2]; f++) {
                                        int64_t oz = z * c->s[0] + a * c->d[0] - c->p[0];
                                        int64_t oh = h * c->s[1] + e * c->d[1] - c->p[1];
                                        int64_t ow = v * c->s[2] + f * c->d[2] - c->p[2];
                                        if (oz < 0 || oh < 0 || ow < 0 || oz >= out[0] || oh >= out[1] || ow >= out[2])
                                            continue;
                                        double wv = w[(((ci * og + oi) * c->k[0] + a) * c->k[1] + e) * c->k[2] + f];
                                        y[(((n * c->o + g * og + oi) * out[0] + oz) * out[1] + oh) * out[2] + ow] += xv * wv;
                                    }
                    }
}

/* Tensors of a configuration: x:[N,C,in...], w, b, and the attribute struct. */
typedef struct ref_case {
    tg_tensor *x, *w, *b;
    tg_conv_attr attr;
    int op;
} ref_case;

static ref_case make_case(const ref_cfg *c, bool transposed, uint64_t seed)
{
    static const int conv_ops[] = {0, TG_OP_CONV1D, TG_OP_CONV2D, TG_OP_CONV3D};
    static const int tconv_ops[] = {0, TG_OP_CONV_TRANSPOSE1D, TG_OP_CONV_TRANSPOSE2D, TG_OP_CONV_TRANSPOSE3D};
    ref_case r;
    int64_t xs[5] = {c->n, c->c}, ws[5], bs[1] = {c->o};
    ws[0] = transposed ? c->c : c->o;
    ws[1] = transposed ? c->o / c->groups : c->c / c->groups;
    r.op = transposed ? tconv_ops[c->rank] : conv_ops[c->rank];
    r.attr = conv_defaults(r.op);
    r.attr.groups = (int)c->groups;
    r.attr.stride.n = r.attr.padding.n = r.attr.dilation.n = r.attr.output_padding.n = c->rank;
    for (int j = 0; j < c->rank; j++) {
        int i = 3 - c->rank + j;
        xs[2 + j] = c->in[i];
        ws[2 + j] = c->k[i];
        r.attr.stride.v[j] = c->s[i];
        r.attr.padding.v[j] = c->p[i];
        r.attr.dilation.v[j] = c->d[i];
        r.attr.output_padding.v[j] = c->op[i];
    }
    r.x = tt_random(c->rank + 2, xs, seed, -1, 1);
    r.w = tt_random(c->rank + 2, ws, seed + 1, -1, 1);
    r.b = tt_random(1, bs, seed + 2, -1, 1);
    return r;
}

/* A configuration: rank r, then per-dim values for the LAST r dims. */
static ref_cfg cfg(int rank, int64_t n, int64_t c, int64_t o, int64_t groups, const int64_t *in, const int64_t *k,
                   const int64_t *s, const int64_t *p, const int64_t *d, const int64_t *op)
{
    ref_cfg r = {.rank = rank, .n = n, .c = c, .o = o, .groups = groups};
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - rank);
        r.in[i] = j < 0 ? 1 : in[j];
        r.k[i] = j < 0 ? 1 : k[j];
        r.s[i] = j < 0 ? 1 : s[j];
        r.p[i] = j < 0 ? 0 : p[j];
        r.d[i] = j < 0 ? 1 : d[j];
        r.op[i] = j < 0 || !op ? 0 : op[j];
    }
    return r;
}
#define V(...) ((const int64_t[]){__VA_ARGS__})

/* The grid used by the reference and gradient checks: every attribute and their combinations. */
static ref_cfg grid(int i)
{
    switch (i) {
    case 0: return cfg(2, 2, 3, 4, 1, V(5, 6), V(3, 3), V(1, 1), V(0, 0), V(1, 1), NULL);       /* plain */
    case 1: return cfg(2, 1, 2, 3, 1, V(7, 5), V(3, 2), V(2, 3), V(1, 0), V(1, 1), NULL);       /* odd, strides */
    case 2: return cfg(2, 2, 2, 2, 1, V(6, 7), V(2, 2), V(3, 3), V(0, 1), V(1, 1), NULL);       /* stride > kernel */
    case 3: return cfg(2, 1, 2, 2, 1, V(7, 6), V(3, 2), V(1, 2), V(2, 1), V(2, 3), NULL);       /* dilation + pad */
    case 4: return cfg(2, 2, 4, 6, 2, V(5, 4), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL);       /* groups */
    case 5: return cfg(2, 1, 3, 6, 3, V(5, 5), V(3, 3), V(2, 1), V(1, 1), V(1, 2), NULL);       /* depthwise x2 */
    case 6: return cfg(2, 2, 3, 3, 3, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL);       /* depthwise */
    case 7: return cfg(2, 2, 3, 4, 1, V(4, 5), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL);       /* 1x1 */
    case 8: return cfg(2, 1, 3, 2, 1, V(5, 4), V(1, 1), V(2, 2), V(0, 1), V(1, 1), NULL);       /* 1x1 strided */
    case 9: return cfg(2, 2, 2, 3, 1, V(3, 4), V(5, 4), V(1, 1), V(1, 0), V(1, 1), NULL);       /* kernel == padded input */
    case 10: return cfg(2, 1, 1, 1, 1, V(1, 1), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL);      /* all size 1 */
    case 11: return cfg(1, 2, 3, 4, 1, V(9), V(3), V(2), V(1), V(2), NULL);                    /* 1-D */
    case 12: return cfg(1, 1, 4, 4, 4, V(7), V(3), V(1), V(1), V(1), NULL);                    /* 1-D depthwise */
    case 13: return cfg(3, 1, 2, 3, 1, V(4, 5, 3), V(3, 2, 2), V(1, 2, 1), V(1, 0, 1), V(1, 1, 2), NULL); /* 3-D */
    case 14: return cfg(3, 2, 2, 2, 2, V(3, 4, 4), V(2, 3, 3), V(2, 1, 1), V(0, 1, 1), V(1, 1, 1), NULL); /* 3-D grouped */
    default: return cfg(2, 1, 6, 4, 2, V(8, 7), V(3, 3), V(2, 2), V(2, 1), V(2, 1), NULL);     /* groups+stride+dil */
    }
}
#define GRID 16

/* ---- implicit im2col (the GEMM packs the im2col matrix straight from the images) ---- */

/* The geometry of grid case i (channels of one group) and M = the plain im2col of `images`
 * images side by side (tg_im2col, column i*P + q), for comparison. */
typedef struct im2col_case {
    tg_conv_geom g;
    int64_t images, rows, cols, image_stride;
    tg_real *x, *m;
} im2col_case;

static im2col_case im2col_case_make(int i, int64_t images)
{
    ref_cfg c = grid(i);
    im2col_case r = {.images = images};
    r.g.channels = c.c / c.groups;
    for (int d = 0; d < 3; d++) {
        r.g.in[d] = c.in[d];
        r.g.out[d] = ref_conv_out(&c, d);
        r.g.kernel[d] = c.k[d];
        r.g.stride[d] = c.s[d];
        r.g.pad[d] = c.p[d];
        r.g.dilation[d] = c.d[d];
    }
    if (i % 3 == 1) r.g.pad[2] = -1; /* negative pads crop (the rotated dX path uses them) */
    if (r.g.out[2] < 1 || (r.g.out[2] - 1) * r.g.stride[2] + (r.g.kernel[2] - 1) * r.g.dilation[2] - r.g.pad[2] >= r.g.in[2] + 5)
        r.g.pad[2] = c.p[2];
    int64_t pa = tg_conv_geom_in_size(&r.g), pb = tg_conv_geom_out_size(&r.g);
    r.rows = r.g.channels * tg_conv_geom_taps(&r.g);
    r.cols = images * pb;
    r.image_stride = r.g.channels * pa + 3; /* images need not be adjacent */
    int64_t xs[1] = {images * r.image_stride}, ms[1] = {r.rows * r.cols};
    r.x = tt_random(1, xs, 40 + (uint64_t)i, -1, 1)->data;
    r.m = tt_tensor(1, ms, NULL)->data;
    for (int64_t n = 0; n < images; n++) tg_im2col(&r.g, r.x + n * r.image_stride, r.m + n * pb, r.cols);
    return r;
}

/* Both packing functions equal the plain matrix element for element on unaligned blocks, panel
 * widths 1..32, with the panel tails zero (dst starts as NaN). */
START_TEST(im2col_pack_matches_plain)
{
    static const int widths[] = {1, 3, 8, 16, 32};
    for (int i = 0; i < GRID; i++) {
        im2col_case c = im2col_case_make(i, i % 2 ? 3 : 1);
        for (int w = 0; w < 5; w++)
            for (int transposed = 0; transposed < 2; transposed++) {
                int nr = widths[w];
                int64_t krange = transposed ? c.cols : c.rows, nrange = transposed ? c.rows : c.cols;
                int64_t blocks[3][4] = {{0, krange, 0, nrange},
                                        {krange / 3, krange - krange / 3, nrange / 2, nrange - nrange / 2},
                                        {krange > 2 ? 1 : 0, krange > 2 ? krange - 2 : krange, nrange > 4 ? 3 : 0,
                                         nrange > 4 ? nrange - 4 : nrange}};
                for (int b = 0; b < 3; b++) {
                    int64_t p0 = blocks[b][0], kc = blocks[b][1], j0 = blocks[b][2], nc = blocks[b][3];
                    int64_t panels = (nc + nr - 1) / nr, size = panels * kc * nr;
                    tg_real *dst = malloc((size_t)size * sizeof *dst);
                    for (int64_t e = 0; e < size; e++) dst[e] = (tg_real)NAN;
                    tg_im2col_src src = {&c.g, c.x, c.image_stride, c.images};
                    (transposed ? tg_im2col_pack_bt : tg_im2col_pack_b)(&src, p0, kc, j0, nc, nr, dst);
                    for (int64_t p = 0; p < kc; p++)
                        for (int64_t j = 0; j < panels * nr; j++) {
                            tg_real got = dst[(j / nr) * kc * nr + p * nr + j % nr];
                            tg_real want = j >= nc ? 0
                                           : transposed ? c.m[(j0 + j) * c.cols + p0 + p]
                                                        : c.m[(p0 + p) * c.cols + j0 + j];
                            if (!(got == want))
                                ck_abort_msg("case %d nr=%d transposed=%d block %d: B[%lld,%lld] = %g, want %g", i, nr,
                                             transposed, b, (long long)p, (long long)j, (double)got, (double)want);
                        }
                    free(dst);
                }
            }
    }
}
END_TEST

/* tg_gemm_packed_b with either packing function equals tg_gemm on the stored matrix (W*M and
 * dY*M^T, A plain or transposed, beta 0 and 1) for every micro-kernel, and gives bit-identical
 * results on 1 and 2 threads. */
START_TEST(implicit_im2col_gemm_matches_explicit)
{
    static const char *const kernels[] = {"portable", "avx2", "avx512"};
    for (int kind = 0; kind < 3; kind++) {
        if (tg_gemm_set_kernel(kernels[kind]) != 0) continue;
        for (int i = 0; i < GRID; i++) {
            im2col_case c = im2col_case_make(i, i % 3 + 1);
            for (int transposed = 0; transposed < 2; transposed++) {
                int64_t m = 13 + i, k = transposed ? c.cols : c.rows, n = transposed ? c.rows : c.cols;
                int64_t as[1] = {m * k}, cs[1] = {m * n};
                tg_real *a = tt_random(1, as, 60 + (uint64_t)i, -1, 1)->data;
                tg_real *want = tt_random(1, cs, 70 + (uint64_t)i, -1, 1)->data;
                tg_real *got = tt_tensor(1, cs, NULL)->data, *got2 = tt_tensor(1, cs, NULL)->data;
                memcpy(got, want, (size_t)(m * n) * sizeof *got);
                memcpy(got2, want, (size_t)(m * n) * sizeof *got);
                bool ta = i % 2, beta = i % 4 < 2;
                tg_im2col_src src = {&c.g, c.x, c.image_stride, c.images};
                tg_gemm_pack_b_fn pack = transposed ? tg_im2col_pack_bt : tg_im2col_pack_b;
                tg_gemm(ta, transposed, m, n, k, 1, a, ta ? m : k, c.m, c.cols, beta, want, n);
                tg_set_threads(1);
                tg_gemm_packed_b(ta, m, n, k, 1, a, ta ? m : k, pack, &src, beta, got, n);
                tg_set_threads(2);
                tg_gemm_packed_b(ta, m, n, k, 1, a, ta ? m : k, pack, &src, beta, got2, n);
                tg_set_threads(1);
                for (int64_t e = 0; e < m * n; e++)
                    ck_assert_msg(fabs((double)got[e] - (double)want[e]) <= (TT_DOUBLE ? 1e-12 : 1e-4) * (double)(k + 1),
                                  "%s case %d transposed %d: C[%lld] = %g, want %g", kernels[kind], i, transposed,
                                  (long long)e, (double)got[e], (double)want[e]);
                ck_assert_msg(memcmp(got, got2, (size_t)(m * n) * sizeof *got) == 0,
                              "%s case %d: 1 and 2 threads differ", kernels[kind], i);
            }
        }
    }
    tg_gemm_set_kernel(NULL);
}
END_TEST

/* The oracle for gradients: the library's reference convolution (algo=reference,
 * dx_algo=reference: the definitions as loops, ops/kernels/conv_reference.c; its forward is held
 * to ref_conv above, its gradients to gradchecks and PyTorch's fixtures). Runs case r's op on
 * its own tape with upstream gradient dy and returns dX and dW (either may be NULL) as doubles. */
static void reference_grads(const ref_case *r, const tg_tensor *dy, double *dx, double *dw)
{
    tg_tape *t = tg_tape_new(0);
    tg_conv_attr a = r->attr;
    a.algo = TG_CONV_ALGO_REFERENCE;
    a.dx_algo = TG_CONV_DX_REFERENCE;
    tg_tensor *x = tg_tensor_new(TG_REAL, r->x->ndim, r->x->shape), *w = tg_tensor_new(TG_REAL, r->w->ndim, r->w->shape);
    memcpy(x->data, r->x->data, (size_t)x->numel * sizeof *x->data);
    memcpy(w->data, r->w->data, (size_t)w->numel * sizeof *w->data);
    x->requires_grad = w->requires_grad = true;
    tg_tensor *y = tg_op_apply(t, r->op, (tg_tensor *[]){x, w, NULL}, 3, &a);
    ck_assert_msg(y != NULL, "reference: %s", tg_error(t));
    ck_assert_int_eq(y->numel, dy->numel);
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    for (int64_t i = 0; dx && i < x->numel; i++) dx[i] = x->grad[i];
    for (int64_t i = 0; dw && i < w->numel; i++) dw[i] = w->grad[i];
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tape_free(t);
}

/* Groups of whole 32- or 16-channel blocks take the channel-blocked dW (tg_im2col_pack_bt_blocked:
 * rows in (block, tap, channel) order, then permuted back): against naive loops for every
 * micro-kernel (panels of 32, 16 and 8 columns split the blocks differently), 1 and 2 threads,
 * ranks 1-3, strides, dilations, pads, groups, stacked small images and single large ones (B read
 * in place: 32-channel blocks only). 16-channel blocks share a 32-column panel two (block, tap)
 * groups at a time, so an odd number of groups (9 taps of one block) leaves half a panel empty. */
START_TEST(weight_grad_channel_blocked)
{
    static const char *const kernels[] = {"portable", "avx2", "avx512"};
    const ref_cfg cases[] = {
        cfg(2, 2, 32, 5, 1, V(9, 8), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL),
        cfg(2, 3, 64, 7, 1, V(11, 10), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL),
        cfg(2, 2, 64, 6, 2, V(7, 9), V(2, 3), V(1, 2), V(0, 2), V(2, 1), NULL),
        cfg(2, 1, 32, 4, 1, V(30, 29), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), /* 870 positions: alone */
        cfg(2, 2, 32, 3, 1, V(6, 6), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),   /* 1x1 */
        cfg(1, 2, 32, 5, 1, V(17), V(5), V(3), V(2), V(1), NULL),
        cfg(3, 2, 32, 3, 1, V(4, 5, 6), V(2, 3, 2), V(1, 2, 1), V(1, 1, 0), V(1, 1, 2), NULL),
        /* single images of 512+ outputs, 2-D/1-D or one output plane deep: B read in place from the
         * padded copy (strides, pads, dilations, groups; images one after another) */
        cfg(2, 2, 32, 5, 1, V(46, 47), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL),
        cfg(2, 1, 64, 6, 2, V(36, 33), V(3, 3), V(2, 1), V(1, 2), V(1, 2), NULL),
        cfg(1, 1, 32, 3, 1, V(700), V(4), V(1), V(2), V(3), NULL),
        cfg(3, 1, 32, 4, 1, V(3, 24, 25), V(3, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1), NULL),
        /* blocks of 16 channels */
        cfg(2, 3, 16, 16, 1, V(9, 8), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL),   /* 9 groups: half a panel left */
        cfg(2, 2, 48, 5, 1, V(7, 9), V(2, 3), V(2, 1), V(0, 2), V(1, 2), NULL),    /* 3 blocks of 16, 6 taps */
        cfg(2, 2, 32, 6, 2, V(8, 7), V(3, 3), V(1, 1), V(1, 1), V(2, 1), NULL),    /* groups of 16 */
        cfg(2, 2, 16, 3, 1, V(6, 6), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),    /* 1x1: one group */
        cfg(1, 2, 16, 5, 1, V(17), V(5), V(3), V(2), V(1), NULL),
        cfg(3, 2, 16, 3, 1, V(4, 5, 6), V(2, 3, 2), V(1, 2, 1), V(1, 1, 0), V(1, 1, 2), NULL),
        cfg(2, 1, 16, 4, 1, V(46, 47), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL),  /* one large image: packed */
    };
    tg_tape *t = tt_tape();
    for (int kind = 0; kind < 3; kind++) {
        if (tg_gemm_set_kernel(kernels[kind]) != 0) continue;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int threads = 1; threads <= 2; threads++) {
                tg_set_threads(threads);
                const ref_cfg *c = &cases[i];
                ref_case r = make_case(c, false, 1100 + i);
                r.w->requires_grad = true;
                tg_tape_reset(t);
                tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
                ck_assert_ptr_nonnull(y);
                tg_tensor *dy = tt_random(y->ndim, y->shape, 1200 + i, -1, 1);
                ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                double *want = malloc((size_t)r.w->numel * sizeof *want);
                reference_grads(&r, dy, NULL, want);
                tt_assert_close(r.w->grad, want, r.w->numel, TT_DOUBLE ? 1e-10 : 1e-3);
                free(want);
            }
    }
    tg_set_threads(1);
    tg_gemm_set_kernel(NULL);
}
END_TEST

START_TEST(notes_dO_dF_dX_3x3_with_2x2)
{
    /* X = 1..9, F = [[1,2],[3,4]]: O11 = 1+4+12+20 = 37, O12 = 47, O21 = 67, O22 = 77.
     * dO = [[1,-1],[2,0]]: dF_ij = sum dO * X shifted = [[7,9],[13,15]];
     * dX = full conv of dO with the rotated F = [[1,1,-2],[5,5,-4],[6,8,0]]. */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, 4, 1, 1, 3, 3);
    tg_tensor *w = tt_tensorv((double[]){1, 2, 3, 4}, 4, 1, 1, 2, 2);
    x->requires_grad = w->requires_grad = true;
    for (int path = TG_CONV_DX_ROTATED; path <= TG_CONV_DX_COL2IM; path++) {
        tg_conv_set_dx_path((tg_conv_dx_path)path);
        tg_tape_reset(t);
        tg_tensor_zero_grad(x);
        tg_tensor_zero_grad(w);
        tg_tensor *y = tg_conv2d(t, x, w, NULL, NULL);
        ck_assert_ptr_nonnull(y);
        tt_assert_shape(y, 1, 1, 2, 2);
        tt_assert_close(y->data, ((double[]){37, 47, 67, 77}), 4, TT_TOL);
        ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, -1, 2, 0}), TG_OK);
        tt_assert_close(w->grad, ((double[]){7, 9, 13, 15}), 4, TT_TOL);
        tt_assert_close(x->grad, ((double[]){1, 1, -2, 5, 5, -4, 6, 8, 0}), 9, TT_TOL);
    }
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
}
END_TEST

START_TEST(notes_accelerometer_conv1d_stride2)
{
    /* rows x,y,z over 5 steps; one filter [1,0,-1; -1,1,0; 0,-1,1], stride 2:
     * Y1 = (2-1) + (-1+2) + (-1+2) = 3, Y2 = (1-4) + (0+1) + (-3+1) = -4 */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){2, 3, 1, 0, 4, 1, 2, 0, 1, 3, 0, 1, 2, 3, 1}, 3, 1, 3, 5);
    tg_tensor *w = tt_tensorv((double[]){1, 0, -1, -1, 1, 0, 0, -1, 1}, 3, 1, 3, 3);
    tg_conv_attr a = conv_defaults(TG_OP_CONV1D);
    a.stride = ints1(2);
    tg_tensor *y = tg_conv1d(t, x, w, NULL, &a);
    ck_assert_ptr_nonnull(y);
    tt_assert_shape(y, 1, 1, 2);
    tt_assert_close(y->data, ((double[]){3, -4}), 2, TT_TOL);
}
END_TEST

START_TEST(notes_volumetric_conv3d)
{
    /* the notes' 4x4x4 volume and 3x3x3 kernel, recomputed: the notes print 13 at (0,1,0) and
     * -61 at (1,0,1); summing the 27 products gives 21 and -67 */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, -2, 5, 2, -1, 1, 4, -3, 1, 5, 5, 2, -1, -2, 2, 2,
                                         -3, 0, -1, -4, 2, 0, -4, -1, -5, 4, 0, 3, -5, 5, 5, 4,
                                         -3, 1, -2, 3, -3, -1, -3, 1, -1, 3, 1, -4, -2, 3, -4, 4,
                                         3, 4, -1, -4, -2, 1, 2, -3, -5, -2, -4, 2, -2, -4, 0, 0},
                              5, 1, 1, 4, 4, 4);
    tg_tensor *w = tt_tensorv((double[]){-2, 0, 2, 1, 3, -2, -2, 0, -2, -2, 2, 0, 2, 3, 3, 2, 3, 0,
                                         -3, 2, 1, 1, -2, 3, 1, -2, -3},
                              5, 1, 1, 3, 3, 3);
    tg_tensor *y = tg_conv3d(t, x, w, NULL, NULL);
    ck_assert_ptr_nonnull(y);
    tt_assert_shape(y, 1, 1, 2, 2, 2);
    tt_assert_close(y->data, ((double[]){-21, 21, 21, 28, 32, -67, 17, -29}), 8, TT_TOL);
}
END_TEST

START_TEST(notes_1x1_convolution)
{
    /* two channels [1,2,3,4] and [5,6,7,8]; filters (1,1) and (2,-1): y0 = c0 + c1, y1 = 2 c0 - c1 */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6, 7, 8}, 4, 1, 2, 2, 2);
    tg_tensor *w = tt_tensorv((double[]){1, 1, 2, -1}, 4, 2, 2, 1, 1);
    tg_tensor *b = tt_tensorv((double[]){0.5, -1}, 1, 2);
    tg_tensor *y = tg_conv2d(t, x, w, b, NULL);
    ck_assert_ptr_nonnull(y);
    tt_assert_shape(y, 1, 2, 2, 2);
    tt_assert_close(y->data, ((double[]){6.5, 8.5, 10.5, 12.5, -4, -3, -2, -1}), 8, TT_TOL);
}
END_TEST

START_TEST(notes_760_params_768000_macs)
{
    /* 3x32x32 input, ten 5x5 filters, padding 2: (3*5*5 + 1) * 10 = 760 parameters, and
     * 10*32*32 outputs of 75 MACs each = 768,000 */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv(NULL, 4, 1, 3, 32, 32);
    tg_tensor *w = tt_tensorv(NULL, 4, 10, 3, 5, 5), *b = tt_tensorv(NULL, 1, 10);
    tg_conv_attr a = conv_defaults(TG_OP_CONV2D);
    a.padding = ints1(2);
    tg_tensor *y = tg_conv2d(t, x, w, b, &a);
    ck_assert_ptr_nonnull(y);
    tt_assert_shape(y, 1, 10, 32, 32);
    ck_assert_int_eq(w->numel + b->numel, 760);
    ck_assert_int_eq(y->numel / y->shape[0] * (w->numel / w->shape[0]), 768000);
}
END_TEST

START_TEST(matches_reference_on_grid)
{
    for (int i = 0; i < GRID; i++) {
        ref_cfg c = grid(i);
        ref_case r = make_case(&c, false, 100 + (uint64_t)i);
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, r.b}, 3, &r.attr);
        ck_assert_msg(y != NULL, "case %d: %s", i, tg_error(t));
        double *want = malloc((size_t)y->numel * sizeof *want);
        ref_conv(&c, r.x->data, r.w->data, r.b->data, want);
        tt_assert_close(y->data, want, y->numel, TT_DOUBLE ? 1e-12 : 1e-5);
        free(want);
    }
}
END_TEST

START_TEST(transposed_matches_reference)
{
    static const int64_t outpad[][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 2}};
    for (int i = 0; i < GRID; i++) {
        ref_cfg c = grid(i);
        /* output_padding < stride (or < dilation) where the grid allows it */
        for (int j = 0; j < 3; j++) {
            int64_t want = outpad[i % 4][j % 2];
            c.op[j] = want < c.s[j] || want < c.d[j] ? want : 0;
        }
        ref_case r = make_case(&c, true, 200 + (uint64_t)i);
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, r.b}, 3, &r.attr);
        if (!y && strstr(tg_error(t), "not positive")) continue; /* padding eats the whole output */
        ck_assert_msg(y != NULL, "case %d: %s", i, tg_error(t));
        double *want = malloc((size_t)y->numel * sizeof *want);
        ref_tconv(&c, r.x->data, r.w->data, r.b->data, want);
        tt_assert_close(y->data, want, y->numel, TT_DOUBLE ? 1e-12 : 1e-5);
        free(want);
    }
}
END_TEST

/* The library's reference convolution (algo=reference, dx_algo=reference): its forward equals the
 * naive loops above on the grid (conv and transposed), and its dX and dW equal every fast path's. */
START_TEST(reference_path_matches_loops_and_fast_paths)
{
    tg_tape *t = tt_tape();
    for (int i = 0; i < GRID; i++)
        for (int transposed = 0; transposed < 2; transposed++) {
            ref_cfg c = grid(i);
            ref_case r = make_case(&c, transposed, 700 + (uint64_t)i);
            tg_conv_attr ref = r.attr;
            ref.algo = TG_CONV_ALGO_REFERENCE;
            ref.dx_algo = TG_CONV_DX_REFERENCE;
            tg_tape_reset(t);
            tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, r.b}, 3, &ref);
            if (!y && transposed && strstr(tg_error(t), "not positive")) continue;
            ck_assert_msg(y != NULL, "case %d: %s", i, tg_error(t));
            double *want = malloc((size_t)y->numel * sizeof *want);
            (transposed ? ref_tconv : ref_conv)(&c, r.x->data, r.w->data, r.b->data, want);
            tt_assert_close(y->data, want, y->numel, TT_DOUBLE ? 1e-12 : 1e-5);
            free(want);
            if (y->numel == 0) continue;
            tg_tensor *dy = tt_random(y->ndim, y->shape, 800 + (uint64_t)i, -1, 1);
            double *want_dx = malloc((size_t)r.x->numel * sizeof *want_dx), *want_dw = malloc((size_t)r.w->numel * sizeof *want_dw);
            reference_grads(&r, dy, want_dx, want_dw);
            r.x->requires_grad = r.w->requires_grad = true;
            for (int path = TG_CONV_DX_AUTO; path <= TG_CONV_DX_COL2IM; path++) {
                r.attr.dx_algo = path;
                tg_tape_reset(t);
                tg_tensor_zero_grad(r.x);
                tg_tensor_zero_grad(r.w);
                y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
                ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                tt_assert_close(r.x->grad, want_dx, r.x->numel, TT_DOUBLE ? 1e-12 : 1e-5);
                tt_assert_close(r.w->grad, want_dw, r.w->numel, TT_DOUBLE ? 1e-11 : 1e-4);
            }
            free(want_dx), free(want_dw);
        }
}
END_TEST

/* The reference path by hand: conv1d x=[1..5], w=[1,-1], stride 2, padding 1, dilation 2 reads
 * x[2o-1] and x[2o+1]: y = [0-2, 2-4, 4-0] = [-2,-2,4]. dY = [1,2,3], zero-inserted [1,0,2,0,3],
 * padded by dilation*(K-1) - pad = 1 and convolved with the rotated filter [-1,1] at dilation 2:
 * dX[i] = -Z[i-1] + Z[i+1] = [0,1,0,1,0]; dW = [sum dY x[2o-1], sum dY x[2o+1]] = [16,10].
 * `algo=`/`dx_algo=` parse from text like every attribute, and an unknown name is refused. */
START_TEST(reference_path_hand_computed)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5}, 3, 1, 1, 5);
    tg_tensor *w = tt_tensorv((double[]){1, -1}, 3, 1, 1, 2);
    x->requires_grad = w->requires_grad = true;
    tg_conv_attr a;
    char err[256];
    tg_attr_defaults(TG_OP_CONV1D, &a);
    const char *const settings[] = {"stride=2", "padding=1", "dilation=2", "algo=reference", "dx_algo=reference"};
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        ck_assert_msg(tg_attr_parse(TG_OP_CONV1D, &a, settings[i], err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(a.algo, TG_CONV_ALGO_REFERENCE);
    ck_assert_int_eq(a.dx_algo, TG_CONV_DX_REFERENCE);
    tg_tensor *y = tg_conv1d(t, x, w, NULL, &a);
    ck_assert_ptr_nonnull(y);
    tt_assert_close(y->data, ((double[]){-2, -2, 4}), 3, TT_TOL);
    ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, 2, 3}), TG_OK);
    tt_assert_close(x->grad, ((double[]){0, 1, 0, 1, 0}), 5, TT_TOL);
    tt_assert_close(w->grad, ((double[]){16, 10}), 2, TT_TOL);
    char buf[256];
    ck_assert_ptr_nonnull(strstr(tg_attr_format(TG_OP_CONV1D, &a, false, buf, sizeof buf), "algo=reference dx_algo=reference"));
    ck_assert_int_eq(tg_attr_parse(TG_OP_CONV2D, &a, "algo=fastest", err, sizeof err), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "fastest"));
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_REFERENCE), "reference");
    ck_assert_str_eq(tg_conv_dx_path_name(TG_CONV_DX_REFERENCE), "reference");
}
END_TEST

/* Both dX paths give the same gradients on random shapes (and so does every dW/db). */
/* x's gradient by the col2im path equals the rotated path's for case r (dy from dy_seed);
 * nothing to compare when the output is empty (a transposed convolution of size 0). */
static void assert_dx_paths_agree(ref_case *r, tg_tape *t, uint64_t dy_seed)
{
    r->x->requires_grad = r->w->requires_grad = true;
    tg_real *grads[2] = {NULL, NULL};
    for (int path = 0; path < 2; path++) {
        tg_conv_set_dx_path(path ? TG_CONV_DX_COL2IM : TG_CONV_DX_ROTATED);
        tg_tape_reset(t);
        tg_tensor_zero_grad(r->x);
        tg_tensor *y = tg_op_apply(t, r->op, (tg_tensor *[]){r->x, r->w, r->b}, 3, &r->attr);
        if (!y || y->numel == 0) break;
        tg_tensor *dy = tt_random(y->ndim, y->shape, dy_seed, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        grads[path] = malloc((size_t)r->x->numel * sizeof(tg_real));
        memcpy(grads[path], r->x->grad, (size_t)r->x->numel * sizeof(tg_real));
    }
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    if (grads[0] && grads[1]) {
        double *want = malloc((size_t)r->x->numel * sizeof *want);
        for (int64_t e = 0; e < r->x->numel; e++) want[e] = grads[0][e];
        tt_assert_close(grads[1], want, r->x->numel, TT_DOUBLE ? 1e-12 : 1e-5);
        free(want);
    }
    free(grads[0]);
    free(grads[1]);
}

START_TEST(dx_paths_agree)
{
    tg_tape *t = tt_tape();
    for (int i = 0; i < GRID; i++) {
        ref_cfg c = grid(i);
        for (int transposed = 0; transposed < 2; transposed++) {
            ref_case r = make_case(&c, transposed, 300 + (uint64_t)i);
            assert_dx_paths_agree(&r, t, 400 + (uint64_t)i);
        }
    }
}
END_TEST

/* The rotated path splits a strided dX into phases (one stride-1 convolution of dY per residue of
 * the position modulo the stride); it must agree with col2im on random geometries: ranks 1-3,
 * strides 1-4 (above the kernel too: phases without taps), dilations sharing a factor with the
 * stride, groups, conv and transposed conv with output_padding, and images large enough that the
 * phases are computed one image at a time as well as stacked. */
static uint64_t lcg_next(uint64_t *s) { return (*s = *s * 6364136223846793005ull + 1442695040888963407ull) >> 33; }
static ref_cfg random_cfg(uint64_t *seed, bool large)
{
    ref_cfg c = {.rank = 1 + (int)(lcg_next(seed) % 3), .groups = 1 + (int64_t)(lcg_next(seed) % 3)};
    c.n = 1 + (int64_t)(lcg_next(seed) % 3);
    c.c = c.groups * (1 + (int64_t)(lcg_next(seed) % 3));
    c.o = c.groups * (1 + (int64_t)(lcg_next(seed) % 3));
    for (int i = 0; i < 3; i++) {
        c.in[i] = c.k[i] = c.s[i] = c.d[i] = 1;
        c.p[i] = c.op[i] = 0;
        if (i < 3 - c.rank) continue;
        c.k[i] = 1 + (int64_t)(lcg_next(seed) % 4);
        c.s[i] = 1 + (int64_t)(lcg_next(seed) % 4);
        c.d[i] = 1 + (int64_t)(lcg_next(seed) % 3);
        int64_t span = c.d[i] * (c.k[i] - 1) + 1;
        c.p[i] = (int64_t)(lcg_next(seed) % (uint64_t)(span / 2 + 1));
        c.in[i] = span - 2 * c.p[i] + (int64_t)(lcg_next(seed) % (large ? 40 : 7));
        if (c.in[i] < 1) c.in[i] = 1;
        c.op[i] = (int64_t)(lcg_next(seed) % (uint64_t)c.s[i]);
    }
    if (large) c.rank = 2, c.in[0] = c.k[0] = c.s[0] = c.d[0] = 1, c.p[0] = c.op[0] = 0;
    return c;
}

START_TEST(dx_paths_agree_random)
{
    uint64_t seed = 12345;
    tg_tape *t = tt_tape();
    for (int i = 0; i < 240; i++) {
        ref_cfg c = random_cfg(&seed, i % 8 == 0);
        for (int transposed = 0; transposed < 2; transposed++) {
            ref_case r = make_case(&c, transposed, 700 + (uint64_t)i);
            assert_dx_paths_agree(&r, t, 900 + (uint64_t)i);
        }
    }
}
END_TEST

static void gradcheck_grid(bool transposed, tg_conv_dx_path path)
{
    tg_conv_set_dx_path(path);
    for (int i = 0; i < GRID; i++) {
        ref_cfg c = grid(i);
        if (transposed)
            for (int j = 0; j < 3; j++) c.op[j] = c.s[j] > 1 ? 1 : 0;
        ref_case r = make_case(&c, transposed, 500 + (uint64_t)i);
        tg_tape *t = tt_tape();
        if (!tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, r.b}, 3, &r.attr)) continue; /* empty transposed */
        tt_gradcheck_op(r.op, &r.attr, ((tg_tensor *[]){r.x, r.w, r.b}), 3);
    }
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
}
START_TEST(gradcheck_conv_rotated) { gradcheck_grid(false, TG_CONV_DX_ROTATED); }
END_TEST
START_TEST(gradcheck_conv_col2im) { gradcheck_grid(false, TG_CONV_DX_COL2IM); }
END_TEST
START_TEST(gradcheck_transposed) { gradcheck_grid(true, TG_CONV_DX_AUTO); }
END_TEST
/* the reference loops are each other's gradient: forward and dW by reference, dX by reference */
START_TEST(gradcheck_reference)
{
    tg_conv_set_algo(TG_CONV_ALGO_REFERENCE);
    gradcheck_grid(false, TG_CONV_DX_REFERENCE);
    gradcheck_grid(true, TG_CONV_DX_REFERENCE);
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
}
END_TEST

START_TEST(padding_modes_match_explicit_pad_and_gradcheck)
{
    static const tg_pad_mode modes[] = {TG_PAD_REFLECT, TG_PAD_REPLICATE, TG_PAD_CIRCULAR};
    for (int m = 0; m < 3; m++) {
        /* padding (1,2) on a 4x5 image with a 3x3 kernel, stride (2,1), then the same as pad + valid conv */
        tg_tape *t = tt_tape();
        int64_t xs[4] = {2, 2, 4, 5}, ws[4] = {3, 2, 3, 3};
        tg_tensor *x = tt_random(4, xs, 10 + (uint64_t)m, -1, 1), *w = tt_random(4, ws, 20, -1, 1);
        tg_tensor *b = tt_tensorv((double[]){0.1, 0.2, -0.3}, 1, 3);
        tg_conv_attr a = conv_defaults(TG_OP_CONV2D);
        a.padding = ints3(2, 1, 2, 0);
        a.stride = ints3(2, 2, 1, 0);
        a.padding_mode = modes[m];
        tg_tensor *y = tg_conv2d(t, x, w, b, &a);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        tg_tensor *xp = tg_pad(t, x, 4, (int64_t[]){2, 2, 1, 1}, modes[m], 0);
        tg_conv_attr v = conv_defaults(TG_OP_CONV2D);
        v.stride = a.stride;
        tg_tensor *y2 = tg_conv2d(t, xp, w, b, &v);
        ck_assert_ptr_nonnull(y2);
        ck_assert_int_eq(y->numel, y2->numel);
        double *want = malloc((size_t)y->numel * sizeof *want);
        for (int64_t i = 0; i < y->numel; i++) want[i] = y2->data[i];
        tt_assert_close(y->data, want, y->numel, TT_TOL);
        free(want);
        tt_gradcheck_op(TG_OP_CONV2D, &a, ((tg_tensor *[]){x, w, b}), 3);
        /* 1-D and 3-D too */
        int64_t x1[3] = {1, 2, 6}, w1[3] = {2, 2, 3};
        tg_conv_attr a1 = conv_defaults(TG_OP_CONV1D);
        a1.padding = ints1(2);
        a1.dilation = ints1(2);
        a1.padding_mode = modes[m];
        tt_gradcheck_op(TG_OP_CONV1D, &a1, ((tg_tensor *[]){tt_random(3, x1, 30, -1, 1), tt_random(3, w1, 31, -1, 1), NULL}), 3);
        int64_t x3[5] = {1, 1, 3, 3, 4}, w3[5] = {2, 1, 2, 2, 3};
        tg_conv_attr a3 = conv_defaults(TG_OP_CONV3D);
        a3.padding = ints3(3, 1, 0, 2);
        a3.padding_mode = modes[m];
        tt_gradcheck_op(TG_OP_CONV3D, &a3, ((tg_tensor *[]){tt_random(5, x3, 32, -1, 1), tt_random(5, w3, 33, -1, 1), NULL}), 3);
    }
}
END_TEST

START_TEST(padding_same_and_valid)
{
    tg_tape *t = tt_tape();
    int64_t xs[4] = {1, 2, 5, 6}, ws[4] = {2, 2, 4, 3};
    tg_tensor *x = tt_random(4, xs, 40, -1, 1), *w = tt_random(4, ws, 41, -1, 1);
    char err[128];
    tg_conv_attr a = conv_defaults(TG_OP_CONV2D);
    ck_assert_int_eq(tg_attr_set(TG_OP_CONV2D, &a, "padding", "same", err, sizeof err), 0);
    a.dilation = ints3(2, 1, 2, 0);
    tg_tensor *y = tg_conv2d(t, x, w, NULL, &a);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tt_assert_shape(y, 1, 2, 5, 6);
    /* same = total padding d*(k-1) split left = total/2, right = the rest (PyTorch): rows 3 -> 1 + 2,
     * cols 4 -> 2 + 2; equal to explicit zero padding then a valid conv */
    tg_tensor *xp = tg_pad(t, x, 4, (int64_t[]){2, 2, 1, 2}, TG_PAD_CONSTANT, 0);
    tg_conv_attr v = conv_defaults(TG_OP_CONV2D);
    v.dilation = a.dilation;
    tg_tensor *y2 = tg_conv2d(t, xp, w, NULL, &v);
    double want[60];
    for (int i = 0; i < 60; i++) want[i] = y2->data[i];
    tt_assert_close(y->data, want, 60, TT_TOL);
    tt_gradcheck_op(TG_OP_CONV2D, &a, ((tg_tensor *[]){x, w, NULL}), 3);
    a.padding_mode = TG_PAD_REFLECT;
    tt_gradcheck_op(TG_OP_CONV2D, &a, ((tg_tensor *[]){x, w, NULL}), 3);
    ck_assert_int_eq(tg_attr_set(TG_OP_CONV2D, &a, "padding", "valid", err, sizeof err), 0);
    y = tg_conv2d(t, x, w, NULL, &a);
    tt_assert_shape(y, 1, 2, 2, 2);
}
END_TEST

START_TEST(transposed_is_adjoint_of_conv)
{
    /* <conv_transpose(x, W), u> == <x, conv(u, W)> for the same stride/padding/dilation/groups */
    for (int i = 0; i < GRID; i++) {
        ref_cfg c = grid(i);
        ref_case r = make_case(&c, false, 600 + (uint64_t)i);
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
        ck_assert_ptr_nonnull(y);
        tg_tensor *v = tt_random(y->ndim, y->shape, 700 + (uint64_t)i, -1, 1);
        tg_conv_attr ta = r.attr;
        for (int j = 0; j < c.rank; j++) { /* output_padding restores the size the forward floored away */
            int d = 3 - c.rank + j;
            int64_t back = (y->shape[2 + j] - 1) * c.s[d] - 2 * c.p[d] + c.d[d] * (c.k[d] - 1) + 1;
            ta.output_padding.v[j] = c.in[d] - back;
        }
        int top = r.op - TG_OP_CONV1D + TG_OP_CONV_TRANSPOSE1D;
        tg_tensor *u = tg_op_apply(t, top, (tg_tensor *[]){v, r.w, NULL}, 3, &ta);
        if (!u) continue; /* output_padding past PyTorch's limit for this shape */
        ck_assert_int_eq(u->numel, r.x->numel);
        double lhs = 0, rhs = 0;
        for (int64_t e = 0; e < u->numel; e++) lhs += (double)u->data[e] * r.x->data[e];
        for (int64_t e = 0; e < y->numel; e++) rhs += (double)v->data[e] * y->data[e];
        ck_assert_msg(fabs(lhs - rhs) <= (TT_DOUBLE ? 1e-10 : 1e-3) * (1 + fabs(rhs)), "case %d: %g vs %g", i, lhs, rhs);
    }
}
END_TEST

START_TEST(locally_connected2d_values_and_gradcheck)
{
    tg_tape *t = tt_tape();
    /* x = 1..9 (3x3), 2x2 windows -> 2x2 positions, one filter per position:
     * p00 all ones -> 1+2+4+5 = 12; p01 (window 2,3,5,6) picks the top-left tap -> 2; p10 (window 4,5,7,8) bottom-right -> 8;
     * p11 (window 5,6,8,9) [1,-1,0,0] -> -1, plus bias 10 -> 9 */
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, 4, 1, 1, 3, 3);
    tg_tensor *w = tt_tensorv((double[]){1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, -1, 0, 0}, 6, 2, 2, 1, 1, 2, 2);
    tg_tensor *b = tt_tensorv((double[]){0, 0, 0, 10}, 3, 1, 2, 2);
    tg_tensor *y = tg_locally_connected2d(t, x, w, b, NULL);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tt_assert_shape(y, 1, 1, 2, 2);
    tt_assert_close(y->data, ((double[]){12, 2, 8, 9}), 4, TT_TOL);
    /* the same weights at every position equal conv2d */
    int64_t xs[4] = {2, 3, 6, 5}, ks[4] = {4, 3, 3, 2};
    tg_tensor *xr = tt_random(4, xs, 50, -1, 1), *k = tt_random(4, ks, 51, -1, 1);
    tg_conv_attr a = conv_defaults(TG_OP_LOCALLY_CONNECTED2D);
    a.stride = ints3(2, 2, 1, 0);
    a.padding = ints1(1);
    a.dilation = ints3(2, 1, 2, 0);
    a.groups = 1; /* conv2d reads groups; the locally-connected table has none */
    tg_tensor *yc = tg_conv2d(t, xr, k, NULL, &a);
    ck_assert_ptr_nonnull(yc);
    int64_t ho = yc->shape[2], wo = yc->shape[3];
    int64_t wls[6] = {ho, wo, 4, 3, 3, 2};
    tg_tensor *wl = tt_tensor(6, wls, NULL);
    for (int64_t p = 0; p < ho * wo; p++) memcpy(wl->data + p * k->numel, k->data, (size_t)k->numel * sizeof(tg_real));
    tg_tensor *yl = tg_locally_connected2d(t, xr, wl, NULL, &a);
    ck_assert_msg(yl != NULL, "%s", tg_error(t));
    double *want = malloc((size_t)yc->numel * sizeof *want);
    for (int64_t i = 0; i < yc->numel; i++) want[i] = yc->data[i];
    tt_assert_close(yl->data, want, yl->numel, TT_TOL);
    free(want);
    int64_t bs[3] = {4, ho, wo};
    tg_tensor *wr = tt_random(6, wls, 52, -1, 1), *br = tt_random(3, bs, 53, -1, 1);
    int64_t xsmall[4] = {1, 3, 6, 5};
    tt_gradcheck_op(TG_OP_LOCALLY_CONNECTED2D, &a, ((tg_tensor *[]){tt_random(4, xsmall, 54, -1, 1), wr, br}), 3);
    tt_assert_error(t, tg_locally_connected2d(t, xr, k, NULL, &a), "locally_connected2d: weight must be 6-D");
}
END_TEST

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv(NULL, 4, 8, 3, 28, 28), *w = tt_tensorv(NULL, 4, 16, 4, 3, 3);
    tt_assert_error(t, tg_conv2d(t, x, w, NULL, NULL),
                    "conv2d: input has 3 channels but weight expects 4 (x=[8,3,28,28] w=[16,4,3,3])");
    tg_tape_reset(t);
    tg_conv_attr a = conv_defaults(TG_OP_CONV2D);
    a.groups = 2;
    tt_assert_error(t, tg_conv2d(t, x, tt_tensorv(NULL, 4, 16, 1, 3, 3), NULL, &a),
                    "conv2d: groups=2 does not divide the 3 input channels");
    tg_tape_reset(t);
    tg_tensor *x4 = tt_tensorv(NULL, 4, 1, 4, 5, 5);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 3, 2, 3, 3), NULL, &a),
                    "conv2d: groups=2 does not divide the 3 output channels");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 6, 3), NULL, NULL),
                    "conv2d: kernel (extent 6) is larger than the padded input (5) in spatial dim 0");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.dilation = ints1(3);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a),
                    "conv2d: kernel (extent 7) is larger than the padded input (5)");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.stride = ints1(0);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a), "conv2d: stride must be >= 1, got 0");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.dilation = ints3(2, 1, -1, 0);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a), "conv2d: dilation must be >= 1, got -1");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.padding = ints3(3, 1, 1, 1);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a), "conv2d: padding needs 1 or 2 values, got 3");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.groups = 0;
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a), "conv2d: groups must be >= 1, got 0");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv2d(t, tt_tensorv(NULL, 3, 4, 5, 5), tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, NULL),
                    "conv2d: input must be 4-D [N,C,H,W], got [4,5,5]");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv3d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, NULL),
                    "conv3d: input must be 5-D [N,C,D,H,W], got [1,4,5,5]");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv1d(t, tt_tensorv(NULL, 3, 1, 4, 5), tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, NULL),
                    "conv1d: weight must be 3-D, got [2,4,3,3] (x=[1,4,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), tt_tensorv(NULL, 1, 3), NULL),
                    "conv2d: bias must be [2], got [3]");
    tg_tape_reset(t);
    char err[128];
    a = conv_defaults(TG_OP_CONV2D);
    tg_attr_set(TG_OP_CONV2D, &a, "padding", "same", err, sizeof err);
    a.stride = ints1(2);
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a), "conv2d: padding='same' needs stride 1");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV2D);
    a.padding = ints1(5);
    a.padding_mode = TG_PAD_REFLECT;
    tt_assert_error(t, tg_conv2d(t, x4, tt_tensorv(NULL, 4, 2, 4, 3, 3), NULL, &a),
                    "conv2d: reflect padding 5 must be smaller than the input size 5");
    tg_tape_reset(t);
    a = conv_defaults(TG_OP_CONV_TRANSPOSE2D);
    a.stride = ints1(2);
    a.output_padding = ints1(2);
    tt_assert_error(t, tg_conv_transpose2d(t, x4, tt_tensorv(NULL, 4, 4, 2, 3, 3), NULL, &a),
                    "conv_transpose2d: output_padding must be smaller than stride or dilation, got 2 (stride=2 dilation=1");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv_transpose2d(t, x4, tt_tensorv(NULL, 4, 3, 2, 3, 3), NULL, NULL),
                    "conv_transpose2d: input has 4 channels but weight expects 3");
    tg_tape_reset(t);
    tt_assert_error(t, tg_conv2d(t, NULL, w, NULL, NULL), "conv2d: input is NULL");
    ck_assert_int_ne(tg_attr_set(TG_OP_CONV2D, &a, "padding_mode", "mirror", err, sizeof err), 0);
    ck_assert_int_ne(tg_attr_set(TG_OP_CONV_TRANSPOSE2D, &a, "padding", "same", err, sizeof err), 0);
}
END_TEST

static TCase *direct_kernel_tcase(void); /* the direct-kernel block at the end of the file */
static TCase *winograd_tcase(void);      /* the Winograd block at the end of the file */
static TCase *winograd1d_tcase(void);    /* the 1-D Winograd block after it */
static TCase *pack_rows_tcase(void);     /* the dW packing block at the end of the file */
static TCase *nonfinite_tcase(void);     /* NaN and Inf through every path, at the end of the file */
static TCase *shift_tcase(void);         /* the shift kernels, at the end of the file */

/* The batch split (ops/kernels/conv_engine.c): with 2 and 3 threads the forward and dX run one
 * range of images per thread and dW sums fixed chunks of images in order, so y, dX and dW must be
 * the same bits as with one thread, on every path (stacked GEMM, pointwise, depthwise direct and
 * its adjoint, Winograd forward and dW, rotated and col2im dX, strided phases, channel-blocked dW,
 * transposed, 1-D and 3-D), for odd batches (ranges of unequal size, fewer images than chunks);
 * and they must match the reference loops (a wrong slice would not). A NaN in x stays in the
 * outputs whose window reads it, and a NaN in dY in dX's, whatever the split. */
/* A convolution whose input is an op output writes that input's first gradient instead of adding
 * to a zeroed one (each range of images zeroes its part; the transposed one's forward writes it;
 * other padding modes zero it before folding the padded gradient back): x -> relu (identity on
 * these positive values) -> conv must give x the gradient a leaf input gets, with 1, 2 and 3
 * threads, on an arena left full of old values, and again (summed) on a second backward call. */
START_TEST(fresh_input_gradient_is_written)
{
    enum { CASES = 4 };
    for (int c = 0; c < CASES; c++) {
        tg_conv_attr a;
        tg_attr_defaults(c == 3 ? TG_OP_CONV_TRANSPOSE2D : TG_OP_CONV2D, &a);
        a.padding = (tg_ints){1, {1}};
        if (c == 1) a.padding_mode = TG_PAD_REFLECT;
        if (c == 2) a.stride = (tg_ints){1, {2}}, a.dx_algo = TG_CONV_DX_ROTATED;
        if (c == 3) a.stride = (tg_ints){1, {2}};
        const int64_t xs[4] = {5, 3, 9, 8}, ws[4] = {c == 3 ? 3 : 4, c == 3 ? 4 : 3, 3, 3};
        tg_tensor *x = tt_random(4, xs, 2100 + c, 0.5, 1.5), *w = tt_random(4, ws, 2200 + c, -1, 1);
        x->requires_grad = w->requires_grad = true;
        tg_tape *t = tt_tape();
        tg_tensor *y = c == 3 ? tg_conv_transpose2d(t, x, w, NULL, &a) : tg_conv2d(t, x, w, NULL, &a);
        ck_assert_msg(y != NULL, "case %d: %s", c, tg_error(t));
        tg_tensor *dy = tt_random(y->ndim, y->shape, 2300 + c, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        double *want = tt_grad_copy(x);
        for (int threads = 1; threads <= 3; threads++) {
            tg_set_threads(threads);
            tt_dirty_arena(t, 4608);
            tg_tensor_zero_grad(x);
            tg_tensor *h = tg_relu(t, x);
            y = c == 3 ? tg_conv_transpose2d(t, h, w, NULL, &a) : tg_conv2d(t, h, w, NULL, &a);
            ck_assert_msg(y != NULL, "case %d: %s", c, tg_error(t));
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
            tt_assert_close(x->grad, want, x->numel, TT_DOUBLE ? 1e-12 : 1e-5);
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK); /* again: h's gradient fresh again */
            for (int64_t i = 0; i < x->numel; i++) ck_assert_msg(fabs(x->grad[i] - 2 * want[i]) <= 1e-5 * (1 + fabs(want[i])),
                                                               "case %d, %d threads, second call, x.grad[%lld]", c, threads, (long long)i);
        }
        tg_set_threads(1);
        free(want); /* x, w, dy and the tape are the test's: freed at teardown */
    }
}
END_TEST

START_TEST(batch_split_bit_identical)
{
    const struct {
        ref_cfg c;
        bool transposed, rotated, winograd; /* rotated: dx_algo=rotated; winograd: algo=winograd */
    } cases[] = {
        {cfg(2, 7, 3, 5, 1, V(9, 8), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false},     /* stacked GEMM */
        {cfg(2, 5, 6, 4, 1, V(5, 7), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL), false, false, false},     /* pointwise */
        {cfg(2, 6, 4, 4, 4, V(9, 9), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false, false, false},     /* depthwise s2: adjoint */
        {cfg(2, 3, 3, 6, 3, V(7, 6), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false},     /* channel multiplier */
        /* depthwise with the channels in the lanes: one image (no split: the lanes' scratch slots,
         * three channel blocks among the threads), then a batch split */
        {cfg(2, 1, 40, 40, 40, V(8, 8), V(7, 7), V(1, 1), V(3, 3), V(1, 1), NULL), false, false, false},
        {cfg(2, 5, 20, 20, 20, V(11, 10), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false, false, false},
        {cfg(2, 11, 32, 32, 1, V(14, 14), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false}, /* Winograd */
        {cfg(2, 3, 128, 128, 1, V(6, 7), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, true}, /* Winograd dW */
        {cfg(2, 5, 32, 8, 1, V(10, 9), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false, false, false},   /* blocked dW, strided */
        {cfg(2, 2, 32, 5, 1, V(30, 29), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false},  /* dW B in place */
        {cfg(2, 7, 16, 16, 1, V(12, 11), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false}, /* 16-channel blocks */
        {cfg(2, 13, 4, 6, 2, V(6, 7), V(2, 3), V(2, 1), V(1, 0), V(1, 2), NULL), false, false, false},    /* groups, dilation */
        {cfg(1, 9, 3, 4, 1, V(17), V(5), V(2), V(2), V(1), NULL), false, false, false},                   /* 1-D */
        {cfg(3, 4, 2, 3, 1, V(4, 5, 6), V(3, 2, 3), V(1, 2, 1), V(1, 0, 1), V(1, 1, 1), NULL), false, false, false}, /* 3-D */
        /* 3-D by the 2-D Winograd over depth slices (conv_engine.c "unfold"): forward, rotated dX, dW */
        {cfg(3, 5, 6, 16, 1, V(4, 8, 8), V(3, 3, 3), V(1, 1, 1), V(1, 1, 1), V(1, 1, 1), NULL), false, false, false},
        {cfg(3, 5, 6, 16, 1, V(5, 8, 9), V(3, 3, 3), V(2, 1, 1), V(1, 1, 1), V(1, 1, 1), NULL), false, false, true},
        /* conv2d dilated 2 by its phases (the same mechanism), Winograd asked for */
        {cfg(2, 5, 16, 16, 1, V(13, 12), V(3, 3), V(1, 1), V(2, 2), V(2, 2), NULL), false, false, true},
        {cfg(2, 5, 4, 3, 1, V(5, 6), V(3, 3), V(2, 2), V(1, 1), V(1, 1), V(1, 0)), true, false, false},   /* transposed */
        /* dW's chunks (a chunk holds at least DW_MIN_CHUNK_POSITIONS = 2048 output positions):
         * small maps take one chunk, 48x48 one image per chunk, 20x20 6-image chunks (13 images:
         * chunks of 6 and 7), 1-D rows of 2050 more images than DW_MAX_CHUNKS = 48 chunks */
        {cfg(2, 14, 5, 7, 1, V(8, 8), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), false, false, false},    /* one chunk */
        {cfg(2, 5, 5, 7, 1, V(48, 48), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), false, false, false},   /* one image per chunk */
        {cfg(2, 13, 3, 4, 1, V(20, 20), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false, false, false},  /* chunks of 6 and 7 */
        {cfg(1, 53, 2, 3, 1, V(2050), V(3), V(1), V(1), V(1), NULL), false, false, false},          /* more images than chunks */
        /* rotated dX, stride 2 dilation 2: one phase is a 3x3 stride-1 convolution by Winograd */
        {cfg(2, 8, 32, 32, 1, V(29, 29), V(3, 3), V(2, 2), V(2, 2), V(2, 2), NULL), false, true, false},
    };
    tg_tape *t = tt_tape();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int nan = 0; nan < 2; nan++) {
            ref_case r = make_case(&cases[i].c, cases[i].transposed, 1300 + i);
            if (cases[i].rotated) r.attr.dx_algo = TG_CONV_DX_ROTATED;
            if (cases[i].winograd) r.attr.algo = TG_CONV_ALGO_WINOGRAD;
            if (nan) { /* the middle of image n/2's first plane (read by a window in every case) */
                const int64_t plane = r.x->numel / (r.x->shape[0] * r.x->shape[1]);
                r.x->data[r.x->shape[0] / 2 * r.x->shape[1] * plane + plane / 2] = (tg_real)NAN;
            }
            r.x->requires_grad = r.w->requires_grad = true;
            tg_real *y1 = NULL, *dx1 = NULL, *dw1 = NULL;
            tg_tensor *dy = NULL;
            for (int threads = 1; threads <= 3; threads++) {
                tg_set_threads(threads);
                tg_tensor_zero_grad(r.x);
                tg_tensor_zero_grad(r.w);
                tg_tape_reset(t);
                tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
                ck_assert_msg(y != NULL, "case %zu: %s", i, tg_error(t));
                if (!dy) {
                    dy = tt_random(y->ndim, y->shape, 1400 + i, -1, 1);
                    if (nan) dy->data[dy->numel / 3] = (tg_real)NAN; /* dX's Winograd operand */
                }
                ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                if (threads == 1) {
                    y1 = malloc((size_t)y->numel * sizeof *y1);
                    dx1 = malloc((size_t)r.x->numel * sizeof *dx1);
                    dw1 = malloc((size_t)r.w->numel * sizeof *dw1);
                    memcpy(y1, y->data, (size_t)y->numel * sizeof *y1);
                    memcpy(dx1, r.x->grad, (size_t)r.x->numel * sizeof *dx1);
                    memcpy(dw1, r.w->grad, (size_t)r.w->numel * sizeof *dw1);
                    if (!nan) { /* and right: against the reference loops */
                        double *want_dx = malloc((size_t)r.x->numel * sizeof *want_dx);
                        double *want_dw = malloc((size_t)r.w->numel * sizeof *want_dw);
                        reference_grads(&r, dy, want_dx, want_dw);
                        tt_assert_close(r.x->grad, want_dx, r.x->numel, TT_DOUBLE ? 1e-10 : 2e-3);
                        tt_assert_close(r.w->grad, want_dw, r.w->numel, TT_DOUBLE ? 1e-10 : 2e-3);
                        free(want_dx);
                        free(want_dw);
                    } else { /* the NaN reaches outputs; not every one */
                        int64_t nans = 0;
                        for (int64_t e = 0; e < y->numel; e++) nans += isnan(y->data[e]);
                        ck_assert_msg(nans > 0 && nans < y->numel, "case %zu: %lld NaN outputs", i, (long long)nans);
                    }
                    continue;
                }
                ck_assert_msg(memcmp(y1, y->data, (size_t)y->numel * sizeof *y1) == 0, "case %zu nan %d: y differs, %d threads", i, nan, threads);
                ck_assert_msg(memcmp(dx1, r.x->grad, (size_t)r.x->numel * sizeof *dx1) == 0, "case %zu nan %d: dX differs, %d threads", i, nan, threads);
                ck_assert_msg(memcmp(dw1, r.w->grad, (size_t)r.w->numel * sizeof *dw1) == 0, "case %zu nan %d: dW differs, %d threads", i, nan, threads);
            }
            free(y1), free(dx1), free(dw1);
        }
    tg_set_threads(1);
}
END_TEST

Suite *suite_conv(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tt_tcase("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, notes_dO_dF_dX_3x3_with_2x2);
    tcase_add_test(tc, notes_accelerometer_conv1d_stride2);
    tcase_add_test(tc, notes_volumetric_conv3d);
    tcase_add_test(tc, notes_1x1_convolution);
    tcase_add_test(tc, notes_760_params_768000_macs);
    tcase_add_test(tc, matches_reference_on_grid);
    tcase_add_test(tc, transposed_matches_reference);
    tcase_add_test(tc, dx_paths_agree);
    tcase_add_test(tc, dx_paths_agree_random);
    tcase_add_test(tc, gradcheck_conv_rotated);
    tcase_add_test(tc, gradcheck_conv_col2im);
    tcase_add_test(tc, gradcheck_transposed);
    tcase_add_test(tc, gradcheck_reference);
    tcase_add_test(tc, reference_path_matches_loops_and_fast_paths);
    tcase_add_test(tc, reference_path_hand_computed);
    tcase_add_test(tc, padding_modes_match_explicit_pad_and_gradcheck);
    tcase_add_test(tc, padding_same_and_valid);
    tcase_add_test(tc, transposed_is_adjoint_of_conv);
    tcase_add_test(tc, locally_connected2d_values_and_gradcheck);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, im2col_pack_matches_plain);
    tcase_add_test(tc, implicit_im2col_gemm_matches_explicit);
    tcase_add_test(tc, weight_grad_channel_blocked);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, direct_kernel_tcase());
    suite_add_tcase(s, winograd_tcase());
    suite_add_tcase(s, winograd1d_tcase());
    TCase *split = tt_tcase("batch split"); /* 1, 2 and 3 threads and the reference loops: slow under ASan */
    tcase_set_timeout(split, 600);
    tcase_add_test(split, batch_split_bit_identical);
    tcase_add_test(split, fresh_input_gradient_is_written);
    suite_add_tcase(s, split);
    suite_add_tcase(s, pack_rows_tcase());
    suite_add_tcase(s, nonfinite_tcase());
    suite_add_tcase(s, shift_tcase());
    return s;
}

/* ==== direct (depthwise) kernels — owned by the depthwise work ====
 * tg_conv_direct / _dw / _adjoint against im2col + GEMM (+ col2im) on the same geometry, for every
 * kernel this CPU runs (portable, avx2, avx512): odd widths across vector and row blocks, strides,
 * dilations, pads (negative ones crop, as the rotated dX path uses), 1-D/2-D/3-D, channel
 * multipliers, accumulate; then depthwise conv2d end to end (values and gradients against naive
 * loops, gradient checks), and non-finite inputs that no output reads. */

#include "../ops/kernels/cpu.h"
#include "../ops/kernels/gemm.h"
#include "../ops/kernels/im2col.h"

static const char *const direct_kernels[] = {"portable", "avx2", "avx512"};
#define N_DIRECT_KERNELS 3

/* One plane geometry: 3 dims (D, H, W) each {in, kernel, stride, pad, dilation}; false when the
 * output would be empty. */
static bool direct_geom(tg_conv_geom *g, int64_t channels, const int64_t in[3], const int64_t k[3],
                        const int64_t s[3], const int64_t p[3], const int64_t d[3])
{
    g->channels = channels;
    for (int i = 0; i < 3; i++) {
        int64_t span = in[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1;
        if (span < 0) return false;
        g->in[i] = in[i];
        g->kernel[i] = k[i];
        g->stride[i] = s[i];
        g->pad[i] = p[i];
        g->dilation[i] = d[i];
        g->out[i] = span / s[i] + 1;
    }
    return true;
}

/* tt_assert_close with one assertion per array, not per element (Check writes every passing
 * assertion to its pipe, which dominates on these large grids). */
#define direct_assert_close(got, want, n, tol) direct_assert_close_at(__LINE__, (got), (want), (n), (tol))
static void direct_assert_close_at(int line, const tg_real *got, const double *want, int64_t n, double tol)
{
    ck_assert_msg(got != NULL, "line %d: got NULL", line);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        double g = got[i], w = want[i];
        if (!(fabs(g - w) <= tol + tol * fabs(w))) bad = i;
    }
    ck_assert_msg(bad < 0, "line %d: element %lld: got %.9g, want %.9g (tol %g)", line, (long long)bad,
                  bad < 0 ? 0 : (double)got[bad], bad < 0 ? 0 : want[bad], tol);
}

/* An untracked 1-D tensor of n uniform values in [-1, 1) (the grid makes thousands). */
static tg_tensor *direct_random(int64_t n, uint64_t seed)
{
    tg_tensor *t = tg_tensor_new(TG_REAL, 1, (int64_t[]){n});
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) t->data[i] = (tg_real)(2 * tg_rng_uniform(&r) - 1);
    return t;
}

static int direct_adjoint_checked; /* geometries where some kernel's adjoint was compared */

/* Compares the direct kernels with im2col + GEMM on one geometry and out_channels; seed varies
 * the data. Every available kernel; accumulate both ways. */
static void check_direct_geom(const tg_conv_geom *g, int64_t out_channels, uint64_t seed)
{
    const int64_t cg = g->channels, taps = tg_conv_geom_taps(g);
    const int64_t pin = tg_conv_geom_in_size(g), pout = tg_conv_geom_out_size(g), rows = cg * taps;
    int64_t xs[1] = {cg * pin}, ws[1] = {out_channels * rows}, ys[1] = {out_channels * pout};
    tg_tensor *x = direct_random(xs[0], seed), *w = direct_random(ws[0], seed + 1);
    tg_tensor *y0 = direct_random(ys[0], seed + 2), *dy = direct_random(ys[0], seed + 3);
    tg_real *col = malloc((size_t)(rows * pout) * sizeof *col), *y = malloc((size_t)ys[0] * sizeof *y);
    tg_real *want_y = malloc((size_t)ys[0] * sizeof *want_y), *dw = malloc((size_t)ws[0] * sizeof *dw);
    tg_real *want_dw = malloc((size_t)ws[0] * sizeof *want_dw);
    double *want = malloc((size_t)(ys[0] > ws[0] ? ys[0] : ws[0]) * sizeof *want);
    tg_im2col(g, x->data, col, pout);
    for (int acc = 0; acc < 2; acc++) {
        memcpy(want_y, y0->data, (size_t)ys[0] * sizeof *y);
        tg_gemm_reference(false, false, out_channels, pout, rows, 1, w->data, rows, col, pout, acc ? 1 : 0, want_y, pout);
        for (int64_t i = 0; i < ys[0]; i++) want[i] = want_y[i];
        for (int k = 0; k < N_DIRECT_KERNELS; k++) {
            if (tg_conv_direct_set_kernel(direct_kernels[k])) continue; /* this CPU cannot run it */
            memcpy(y, y0->data, (size_t)ys[0] * sizeof *y);
            tg_conv_direct(g, out_channels, x->data, w->data, y, acc);
            direct_assert_close(y, want, ys[0], TT_DOUBLE ? 1e-12 : 2e-5);
        }
    }
    for (int64_t i = 0; i < ws[0]; i++) want_dw[i] = w->data[i]; /* dW accumulates onto this */
    tg_gemm_reference(false, true, out_channels, rows, pout, 1, dy->data, pout, col, pout, 1, want_dw, rows);
    for (int64_t i = 0; i < ws[0]; i++) want[i] = want_dw[i];
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k])) continue;
        memcpy(dw, w->data, (size_t)ws[0] * sizeof *dw);
        tg_conv_direct_dw(g, out_channels, x->data, dy->data, dw);
        direct_assert_close(dw, want, ws[0], TT_DOUBLE ? 1e-11 : 1e-4);
    }
    /* three images at once: image i is (i+1)·x with the same dy, so dW gains 1+2+3 = 6 times the
     * one image's (an image step the kernel ignored would give 3) */
    tg_real *xb = malloc((size_t)(3 * xs[0] + 5) * sizeof *xb), *dyb = malloc((size_t)(3 * ys[0] + 7) * sizeof *dyb);
    const int64_t x_step = xs[0] + 1, dy_step = ys[0] + 2; /* gaps between the images */
    for (int i = 0; i < 3; i++)
        for (int64_t e = 0; e < xs[0]; e++) xb[i * x_step + e] = (tg_real)((i + 1) * x->data[e]);
    for (int i = 0; i < 3; i++) memcpy(dyb + i * dy_step, dy->data, (size_t)ys[0] * sizeof *dyb);
    for (int64_t i = 0; i < ws[0]; i++) want[i] = w->data[i] + 6 * (want_dw[i] - (double)w->data[i]);
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k])) continue;
        memcpy(dw, w->data, (size_t)ws[0] * sizeof *dw);
        tg_conv_direct_dw_batch(g, out_channels, xb, x_step, dyb, dy_step, 3, dw);
        direct_assert_close(dw, want, ws[0], TT_DOUBLE ? 1e-10 : 6e-4);
    }
    free(xb);
    free(dyb);
    /* the adjoint, where a kernel has one: dx = x0 + col2im(W^T dy) */
    tg_real *dcol = malloc((size_t)(rows * pout) * sizeof *dcol), *dx = malloc((size_t)xs[0] * sizeof *dx);
    double *want_dx = malloc((size_t)xs[0] * sizeof *want_dx);
    tg_gemm_reference(true, false, rows, pout, out_channels, 1, w->data, rows, dy->data, pout, 0, dcol, pout);
    memcpy(dx, x->data, (size_t)xs[0] * sizeof *dx);
    tg_col2im_add(g, dcol, pout, dx);
    for (int64_t i = 0; i < xs[0]; i++) want_dx[i] = dx[i];
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k]) || !tg_conv_direct_adjoint_supported(g)) continue;
        memcpy(dx, x->data, (size_t)xs[0] * sizeof *dx);
        tg_conv_direct_adjoint(g, out_channels, dy->data, w->data, dx, true);
        direct_assert_close(dx, want_dx, xs[0], TT_DOUBLE ? 1e-12 : 2e-5);
        /* written, not added: NaN left in dx (never read) would show */
        for (int64_t i = 0; i < xs[0]; i++) dx[i] = (tg_real)NAN, want_dx[i] -= x->data[i];
        tg_conv_direct_adjoint(g, out_channels, dy->data, w->data, dx, false);
        direct_assert_close(dx, want_dx, xs[0], TT_DOUBLE ? 1e-12 : 2e-5);
        for (int64_t i = 0; i < xs[0]; i++) want_dx[i] += x->data[i];
        direct_adjoint_checked++;
    }
    tg_conv_direct_set_kernel(NULL);
    free(col), free(y), free(want_y), free(dw), free(want_dw), free(want), free(dcol), free(dx), free(want_dx);
    tg_tensor_free(x), tg_tensor_free(w), tg_tensor_free(y0), tg_tensor_free(dy);
}

START_TEST(direct_kernels_match_im2col_gemm_2d)
{
    static const int64_t widths[] = {1, 3, 17, 33, 100}, heights[] = {1, 4, 9, 20};
    static const int64_t kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {5, 5}, {3, 1}, {1, 3}};
    static const int64_t strides[][2] = {{1, 1}, {2, 2}, {3, 3}, {1, 2}, {2, 1}};
    static const int64_t pads[][2] = {{0, 0}, {1, 1}, {2, 2}, {-1, -1}, {1, 0}};
    static const int64_t dils[][2] = {{1, 1}, {2, 2}, {1, 2}};
    uint64_t seed = 5000;
    int checked = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (size_t hi = 0; hi < sizeof heights / sizeof *heights; hi++)
            for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++)
                for (size_t si = 0; si < sizeof strides / sizeof *strides; si++)
                    for (size_t pi = 0; pi < sizeof pads / sizeof *pads; pi++)
                        for (size_t di = 0; di < sizeof dils / sizeof *dils; di++) {
                            /* keep the 3x3 dilation-1 cases (the specialised kernel) complete, sample the rest */
                            bool k3 = kernels[ki][0] == 3 && kernels[ki][1] == 3 && di == 0;
                            if (!k3 && (wi + hi + ki + si + pi + di) % 3 != 0) continue;
                            tg_conv_geom g;
                            if (!direct_geom(&g, 1, V(1, heights[hi], widths[wi]), V(1, kernels[ki][0], kernels[ki][1]),
                                             V(1, strides[si][0], strides[si][1]), V(0, pads[pi][0], pads[pi][1]),
                                             V(1, dils[di][0], dils[di][1])))
                                continue;
                            check_direct_geom(&g, 1 + (int64_t)(seed % 3 == 0), seed); /* some with 2 outputs */
                            seed += 4;
                            checked++;
                        }
    ck_assert_int_gt(checked, 500);
    if (tg_cpu_has_avx2_fma()) ck_assert_int_gt(direct_adjoint_checked, 50); /* 3x3 stride 2: every pad */
}
END_TEST

/* Planes at most half a vector wide with "same" padding go several rows to a vector
 * (conv_direct_template.h, packed_plane): widths 1-8 (each a different number of rows a vector),
 * heights 1-9 (a last partial vector of rows), kernels 1-7 along each dim, dilations 1-2, the
 * padding that keeps the width (the rows' tap range then leaves the input at both edges), and for
 * contrast pads that narrow it; every kernel against im2col + GEMM. */
START_TEST(direct_kernels_small_planes)
{
    uint64_t seed = 5500;
    int checked = 0;
    for (int64_t w = 1; w <= 8; w++)
        for (int64_t h = 1; h <= 9; h += 2)
            for (int64_t kh = 1; kh <= 7; kh += 2)
                for (int64_t kw = 1; kw <= 7; kw++)
                    for (int64_t d = 1; d <= 2; d++) {
                        const int64_t ph = d * (kh - 1) / 2, pw = (d * (kw - 1) + 1) / 2 - (kw + w + h) % 2;
                        tg_conv_geom g;
                        if (!direct_geom(&g, 1, V(1, h, w), V(1, kh, kw), V(1, 1, 1), V(0, ph, pw), V(1, d, d))) continue;
                        check_direct_geom(&g, 1 + (int64_t)(seed % 4 == 0), seed);
                        seed += 4;
                        checked++;
                    }
    ck_assert_int_gt(checked, 300);
}
END_TEST

START_TEST(direct_kernels_match_im2col_gemm_1d_3d_channels)
{
    tg_conv_geom g;
    /* 1-D rows (wide, ragged), 3-D volumes, several input channels and output channels */
    ck_assert(direct_geom(&g, 1, V(1, 1, 130), V(1, 1, 7), V(1, 1, 1), V(0, 0, 3), V(1, 1, 1)));
    check_direct_geom(&g, 3, 7000);
    ck_assert(direct_geom(&g, 1, V(1, 1, 41), V(1, 1, 33), V(1, 1, 1), V(0, 0, 16), V(1, 1, 1))); /* wider than the SIMD limit */
    check_direct_geom(&g, 1, 7010);
    ck_assert(direct_geom(&g, 1, V(1, 1, 64), V(1, 1, 3), V(1, 1, 2), V(0, 0, 1), V(1, 1, 3)));
    check_direct_geom(&g, 2, 7020);
    ck_assert(direct_geom(&g, 1, V(5, 9, 17), V(3, 3, 3), V(1, 1, 1), V(1, 1, 1), V(1, 1, 1)));
    check_direct_geom(&g, 2, 7030);
    ck_assert(direct_geom(&g, 1, V(6, 10, 19), V(3, 3, 3), V(2, 2, 2), V(1, 0, 1), V(1, 1, 1)));
    check_direct_geom(&g, 1, 7040);
    ck_assert(direct_geom(&g, 1, V(7, 12, 9), V(2, 3, 2), V(2, 1, 3), V(-1, 2, 0), V(2, 1, 2)));
    check_direct_geom(&g, 1, 7050);
    ck_assert(direct_geom(&g, 1, V(4, 6, 7), V(5, 5, 5), V(1, 1, 1), V(2, 2, 2), V(1, 1, 1))); /* 125 taps: kd passes */
    check_direct_geom(&g, 1, 7060);
    ck_assert(direct_geom(&g, 1, V(1, 12, 12), V(1, 9, 9), V(1, 1, 1), V(0, 4, 4), V(1, 1, 1))); /* 81 taps per plane */
    check_direct_geom(&g, 1, 7070);
    ck_assert(direct_geom(&g, 3, V(1, 11, 21), V(1, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1))); /* 3 input channels */
    check_direct_geom(&g, 2, 7080);
    ck_assert(direct_geom(&g, 2, V(1, 9, 18), V(1, 3, 3), V(1, 2, 2), V(0, 1, 1), V(1, 1, 1)));
    check_direct_geom(&g, 3, 7090);
}
END_TEST

/* conv2d with groups == C (and multiplier m) end to end, every direct kernel: y, dX (every dX
 * path; auto takes the direct adjoint for 3x3 stride 2) and dW against the reference convolution. */
START_TEST(depthwise_conv2d_matches_reference_every_kernel)
{
    static const int64_t widths[] = {1, 3, 17, 33, 100};
    tg_tape *t = tt_tape();
    int idx = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (int64_t stride = 1; stride <= 2; stride++)
            for (int64_t pad = 0; pad <= 2; pad++)
                for (int64_t dil = 1; dil <= 2; dil++)
                    for (int64_t mult = 1; mult <= 2; mult++, idx++) {
                        int64_t h = 3 + (int64_t)(idx % 9) * 2; /* 3..19: partial and whole row blocks */
                        ref_cfg c = cfg(2, 2, 3, 3 * mult, 3, V(h, widths[wi]), V(3, 3), V(stride, stride), V(pad, pad),
                                        V(dil, 1), NULL);
                        if (ref_conv_out(&c, 1) < 1 || ref_conv_out(&c, 2) < 1) continue;
                        ref_case r = make_case(&c, false, 8000 + (uint64_t)idx * 8);
                        r.x->requires_grad = r.w->requires_grad = true;
                        double *want = NULL, *want_dx = calloc((size_t)r.x->numel, sizeof *want_dx);
                        double *want_dw = calloc((size_t)r.w->numel, sizeof *want_dw);
                        tg_tensor *dy = NULL;
                        for (int k = 0; k < N_DIRECT_KERNELS; k++)
                            for (int path = 0; path < 2 * (TG_CONV_DX_COL2IM + 1); path++) {
                                if (tg_conv_direct_set_kernel(direct_kernels[k])) continue;
                                /* each dX path with the lanes kernels off and forced (im2col.h) */
                                tg_conv_lanes_set_mode(path % 2 ? TG_CONV_LANES_ALWAYS : TG_CONV_LANES_NEVER);
                                tg_conv_set_dx_path((tg_conv_dx_path)(path / 2));
                                tg_tape_reset(t);
                                tg_tensor_zero_grad(r.x);
                                tg_tensor_zero_grad(r.w);
                                tg_tensor *y = tg_conv2d(t, r.x, r.w, NULL, &r.attr);
                                ck_assert_msg(y != NULL, "case %d: %s", idx, tg_error(t));
                                if (!want) {
                                    want = malloc((size_t)y->numel * sizeof *want);
                                    ref_conv(&c, r.x->data, r.w->data, NULL, want);
                                    dy = tt_random(y->ndim, y->shape, 9000 + (uint64_t)idx, -1, 1);
                                    reference_grads(&r, dy, want_dx, want_dw);
                                }
                                direct_assert_close(y->data, want, y->numel, TT_DOUBLE ? 1e-12 : 1e-5);
                                ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                                direct_assert_close(r.x->grad, want_dx, r.x->numel, TT_DOUBLE ? 1e-12 : 1e-5);
                                direct_assert_close(r.w->grad, want_dw, r.w->numel, TT_DOUBLE ? 1e-11 : 1e-4);
                            }
                        free(want), free(want_dx), free(want_dw);
                    }
    tg_conv_direct_set_kernel(NULL);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    tg_conv_lanes_set_mode(TG_CONV_LANES_AUTO);
}
END_TEST

START_TEST(gradcheck_depthwise_every_kernel)
{
    /* shapes that cross vector blocks (W 17 > 16 floats / 8 doubles) and row blocks (H > 8) */
    static const int64_t shapes[][6] = {
        /* H, W, stride, pad, dilation, multiplier */
        {10, 17, 1, 1, 1, 1}, {11, 9, 2, 1, 1, 2}, {9, 18, 1, 2, 2, 1}, {12, 5, 2, 0, 1, 1}, {1, 20, 1, 1, 1, 1},
    };
    for (int k = 0; k < 2 * N_DIRECT_KERNELS; k++) { /* each kernel with the lanes kernels off, then forced */
        if (tg_conv_direct_set_kernel(direct_kernels[k / 2])) continue;
        tg_conv_lanes_set_mode(k % 2 ? TG_CONV_LANES_ALWAYS : TG_CONV_LANES_NEVER);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            const int64_t *s = shapes[i];
            ref_cfg c = cfg(2, 1, 2, 2 * s[5], 2, V(s[0], s[1]), V(3, 3), V(s[2], s[2]), V(s[3], s[3]), V(s[4], s[4]), NULL);
            ref_case r = make_case(&c, false, 9500 + (uint64_t)i);
            r.x->requires_grad = r.w->requires_grad = r.b->requires_grad = true;
            tt_gradcheck_op(TG_OP_CONV2D, &r.attr, ((tg_tensor *[]){r.x, r.w, r.b}), 3);
        }
    }
    tg_conv_direct_set_kernel(NULL);
    tg_conv_lanes_set_mode(TG_CONV_LANES_AUTO);
}
END_TEST

/* Inputs no output reads (the row and column past the last stride step) may be inf: y and dW stay
 * finite and equal to the reference, as with im2col (rows past a partial block are not summed). */
START_TEST(depthwise_ignores_unread_inputs)
{
    ref_cfg c = cfg(2, 1, 2, 2, 2, V(10, 20), V(3, 3), V(2, 2), V(0, 0), V(1, 1), NULL); /* reads rows 0..8, cols 0..18 */
    ref_case r = make_case(&c, false, 9700);
    for (int64_t ch = 0; ch < 2; ch++) {
        for (int64_t j = 0; j < 20; j++) r.x->data[ch * 200 + 9 * 20 + j] = (tg_real)INFINITY;
        for (int64_t i = 0; i < 10; i++) r.x->data[ch * 200 + i * 20 + 19] = (tg_real)INFINITY;
    }
    r.x->requires_grad = r.w->requires_grad = true;
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k])) continue;
        tg_tape *t = tt_tape();
        tg_tensor_zero_grad(r.w);
        tg_tensor *y = tg_conv2d(t, r.x, r.w, NULL, &r.attr);
        ck_assert_ptr_nonnull(y);
        double want[2 * 4 * 9], want_dw[18] = {0}, *want_dx = calloc((size_t)r.x->numel, sizeof *want_dx);
        ref_conv(&c, r.x->data, r.w->data, NULL, want);
        direct_assert_close(y->data, want, y->numel, TT_DOUBLE ? 1e-12 : 1e-5);
        tg_tensor *dy = tt_random(y->ndim, y->shape, 9703, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        reference_grads(&r, dy, want_dx, want_dw);
        direct_assert_close(r.w->grad, want_dw, 18, TT_DOUBLE ? 1e-12 : 1e-5);
        free(want_dx);
    }
    tg_conv_direct_set_kernel(NULL);
}
END_TEST

/* ---- depthwise with the channels in the lanes (tg_conv_lanes_*, conv_lanes_avx512.c) ---- */

static int lanes_adjoint_checked; /* geometries whose lanes adjoint was compared */

/* One depthwise geometry (g->channels 1): `channels` channels, `images` images; the lanes forward
 * (overwrite and accumulate) and dW against im2col + GEMM plane by plane, for every kernel with
 * lanes kernels. Returns whether some kernel ran them. */
static bool check_lanes_geom(const tg_conv_geom *g, int64_t channels, int64_t images, uint64_t seed)
{
    const int64_t taps = tg_conv_geom_taps(g), pin = tg_conv_geom_in_size(g), pout = tg_conv_geom_out_size(g);
    const int64_t planes = images * channels;
    tg_tensor *x = direct_random(planes * pin, seed), *w = direct_random(channels * taps, seed + 1);
    tg_tensor *y0 = direct_random(planes * pout, seed + 2), *dy = direct_random(planes * pout, seed + 3);
    tg_real *col = malloc((size_t)(taps * pout) * sizeof *col), *y = malloc((size_t)(planes * pout) * sizeof *y);
    tg_real *want_y = malloc((size_t)(planes * pout) * sizeof *want_y), *dw = malloc((size_t)(channels * taps) * sizeof *dw);
    double *want = malloc((size_t)(planes * pout + channels * taps) * sizeof *want), *want_dw = want + planes * pout;
    /* y = y0 + conv (accumulate) per plane; dW = w + sum over images per channel */
    memcpy(want_y, y0->data, (size_t)(planes * pout) * sizeof *want_y);
    tg_real *dw_ref = malloc((size_t)(channels * taps) * sizeof *dw_ref);
    memcpy(dw_ref, w->data, (size_t)(channels * taps) * sizeof *dw_ref);
    for (int64_t n = 0; n < images; n++)
        for (int64_t c = 0; c < channels; c++) {
            const int64_t plane = n * channels + c;
            tg_im2col(g, x->data + plane * pin, col, pout);
            tg_gemm_reference(false, false, 1, pout, taps, 1, w->data + c * taps, taps, col, pout, 1,
                              want_y + plane * pout, pout);
            tg_gemm_reference(false, true, 1, taps, pout, 1, dy->data + plane * pout, pout, col, pout, 1,
                              dw_ref + c * taps, taps);
        }
    for (int64_t i = 0; i < channels * taps; i++) want_dw[i] = dw_ref[i];
    bool ran = false;
    tg_real *scratch = NULL;
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k]) || !tg_conv_lanes_supported(g)) continue;
        ran = true;
        /* exactly the size asked for, so that ASan sees any write past it */
        free(scratch);
        scratch = malloc((size_t)tg_conv_lanes_scratch(g) * sizeof *scratch);
        const int64_t blocks = tg_conv_lanes_blocks(channels), items = blocks * images;
        ck_assert_int_eq(blocks, (channels + tg_conv_lanes_width() - 1) / tg_conv_lanes_width());
        for (int acc = 0; acc < 2; acc++) {
            for (int64_t i = 0; i < planes * pout; i++) {
                y[i] = acc ? y0->data[i] : (tg_real)NAN; /* written, not added: NaN would show */
                want[i] = acc ? want_y[i] : want_y[i] - y0->data[i];
            }
            /* the items in three calls of uneven length, as threads split them */
            const int64_t cut1 = items / 3, cut2 = items - items / 4;
            tg_conv_lanes_forward(g, channels, images, 0, cut1, x->data, w->data, y, acc, scratch);
            tg_conv_lanes_forward(g, channels, images, cut1, cut2, x->data, w->data, y, acc, scratch);
            tg_conv_lanes_forward(g, channels, images, cut2, items, x->data, w->data, y, acc, scratch);
            direct_assert_close(y, want, planes * pout, TT_DOUBLE ? 1e-12 : 2e-5);
        }
        memcpy(dw, w->data, (size_t)(channels * taps) * sizeof *dw);
        for (int64_t b = 0; b < blocks; b++)
            ck_assert(tg_conv_lanes_dw(g, channels, images, b, x->data, channels * pin, dy->data, channels * pout, dw,
                                       scratch));
        direct_assert_close(dw, want_dw, channels * taps, TT_DOUBLE ? 1e-11 : 2e-4);
        /* dY with an Inf (or NaN) in the last block: false, and that block's dw untouched */
        const tg_real saved = dy->data[planes * pout - 1];
        for (int bad = 0; bad < 2; bad++) {
            dy->data[planes * pout - 1] = bad ? (tg_real)NAN : (tg_real)INFINITY;
            memcpy(dw, w->data, (size_t)(channels * taps) * sizeof *dw);
            ck_assert(!tg_conv_lanes_dw(g, channels, images, blocks - 1, x->data, channels * pin, dy->data,
                                        channels * pout, dw, scratch));
            ck_assert_mem_eq(dw, w->data, (size_t)(channels * taps) * sizeof *dw);
        }
        dy->data[planes * pout - 1] = saved;
    }
    /* the adjoint: dx (+)= col2im(w^T dy) plane by plane, where the lanes kernels take it */
    tg_real *dx = malloc((size_t)(planes * pin) * sizeof *dx), *want_dx = malloc((size_t)(planes * pin) * sizeof *want_dx);
    double *want_x = malloc((size_t)(planes * pin) * sizeof *want_x);
    memcpy(want_dx, x->data, (size_t)(planes * pin) * sizeof *want_dx);
    for (int64_t n = 0; n < images; n++)
        for (int64_t c = 0; c < channels; c++) {
            const int64_t plane = n * channels + c;
            tg_gemm_reference(true, false, taps, pout, 1, 1, w->data + c * taps, taps, dy->data + plane * pout, pout, 0,
                              col, pout);
            tg_col2im_add(g, col, pout, want_dx + plane * pin);
        }
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k]) || !tg_conv_lanes_adjoint_supported(g)) continue;
        free(scratch);
        scratch = malloc((size_t)tg_conv_lanes_scratch(g) * sizeof *scratch);
        const int64_t items = tg_conv_lanes_blocks(channels) * images, cut = items / 2;
        for (int acc = 0; acc < 2; acc++) {
            for (int64_t i = 0; i < planes * pin; i++) {
                dx[i] = acc ? x->data[i] : (tg_real)NAN;
                want_x[i] = acc ? want_dx[i] : want_dx[i] - x->data[i];
            }
            tg_conv_lanes_adjoint(g, channels, images, 0, cut, dy->data, w->data, dx, acc, scratch);
            tg_conv_lanes_adjoint(g, channels, images, cut, items, dy->data, w->data, dx, acc, scratch);
            direct_assert_close(dx, want_x, planes * pin, TT_DOUBLE ? 1e-12 : 2e-5);
        }
        lanes_adjoint_checked++;
    }
    free(dx), free(want_dx), free(want_x), free(scratch);
    tg_conv_direct_set_kernel(NULL);
    free(col), free(y), free(want_y), free(dw), free(want), free(dw_ref);
    tg_tensor_free(x), tg_tensor_free(w), tg_tensor_free(y0), tg_tensor_free(dy);
    return ran;
}

START_TEST(lanes_kernels_match_im2col_gemm)
{
    /* {in D, H, W}, {kernel}, {stride}, {pad}, {dilation}, channels, images: maps narrower and wider
     * than a vector, rows of 1, kernels 1..7 (and 9 along W: more taps than a dW pass keeps),
     * strides 1-2, dilations, odd and zero pads, a pad wider than the kernel needs, channels in
     * partial and several blocks, 1-D and 3-D */
    static const int64_t cases[][17] = {
        {1, 8, 8, 1, 7, 7, 1, 1, 1, 0, 3, 3, 1, 1, 1, 32, 2},   {1, 8, 8, 1, 7, 7, 1, 1, 1, 0, 3, 3, 1, 1, 1, 5, 3},
        {1, 7, 7, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1, 17, 2},   {1, 14, 14, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1, 1, 1, 40, 2},
        {1, 9, 13, 1, 5, 5, 1, 2, 1, 0, 2, 2, 1, 1, 1, 16, 1},  {1, 6, 6, 1, 3, 3, 1, 1, 1, 0, 2, 2, 1, 2, 2, 9, 2},
        {1, 5, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 3, 2},    {1, 4, 11, 1, 2, 2, 1, 2, 2, 0, 0, 0, 1, 1, 1, 33, 1},
        {1, 1, 20, 1, 1, 5, 1, 1, 1, 0, 0, 2, 1, 1, 1, 7, 2},   {1, 1, 30, 1, 1, 3, 1, 1, 2, 0, 0, 1, 1, 1, 3, 16, 2},
        {4, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 18, 2},   {5, 5, 6, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 6, 1},
        {1, 10, 10, 1, 3, 9, 1, 1, 1, 0, 1, 4, 1, 1, 1, 16, 1}, {1, 3, 3, 1, 3, 3, 1, 1, 1, 0, 3, 3, 1, 1, 1, 20, 2},
        {1, 16, 16, 1, 5, 5, 1, 1, 1, 0, 2, 2, 1, 1, 1, 16, 2}, {1, 2, 2, 1, 2, 2, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 3},
        {1, 30, 29, 1, 7, 7, 1, 1, 1, 0, 3, 3, 1, 1, 1, 17, 2}, {1, 40, 33, 1, 5, 5, 1, 2, 2, 0, 2, 2, 1, 1, 1, 16, 1},
        {1, 1, 700, 1, 1, 9, 1, 1, 2, 0, 0, 4, 1, 1, 1, 3, 1},  {6, 20, 20, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 16, 1},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const int64_t *c = cases[i];
        tg_conv_geom g;
        ck_assert(direct_geom(&g, 1, c, c + 3, c + 6, c + 9, c + 12));
        ran += check_lanes_geom(&g, c[15], c[16], 12000 + 8 * (uint64_t)i);
    }
    if (tg_cpu_has_avx512()) {
        ck_assert_int_eq(ran, (int)(sizeof cases / sizeof *cases));
        ck_assert_int_ge(lanes_adjoint_checked, 16); /* all but pads wider than the full convolution's */
    }
}
END_TEST

/* The depthwise adjoint over a layer's items (tg_conv_direct_adjoint_depthwise: each plane asks for
 * a later plane's rows as it goes) gives the per-plane adjoint's bits, overwrite and accumulate,
 * for every kernel with an adjoint; items split at an odd point, the filter by item % groups. */
START_TEST(direct_adjoint_depthwise_items)
{
    tg_conv_geom g;
    ck_assert(direct_geom(&g, 1, V(1, 45, 58), V(1, 3, 3), V(1, 2, 2), V(0, 1, 1), V(1, 1, 1)));
    const int64_t groups = 5, items = 3 * groups, pin = tg_conv_geom_in_size(&g), pout = tg_conv_geom_out_size(&g);
    tg_tensor *dy = direct_random(items * pout, 12700), *w = direct_random(groups * 9, 12701);
    tg_tensor *x0 = direct_random(items * pin, 12702);
    tg_real *got = malloc((size_t)(items * pin) * sizeof *got), *want = malloc((size_t)(items * pin) * sizeof *want);
    int ran = 0;
    for (int k = 0; k < N_DIRECT_KERNELS; k++) {
        if (tg_conv_direct_set_kernel(direct_kernels[k]) || !tg_conv_direct_adjoint_supported(&g)) continue;
        for (int acc = 0; acc < 2; acc++) {
            memcpy(want, x0->data, (size_t)(items * pin) * sizeof *want);
            memcpy(got, x0->data, (size_t)(items * pin) * sizeof *got);
            for (int64_t i = 0; i < items; i++)
                tg_conv_direct_adjoint(&g, 1, dy->data + i * pout, w->data + i % groups * 9, want + i * pin, acc);
            tg_conv_direct_adjoint_depthwise(&g, groups, 0, 7, dy->data, w->data, got, acc);
            tg_conv_direct_adjoint_depthwise(&g, groups, 7, items, dy->data, w->data, got, acc);
            ck_assert_msg(!memcmp(got, want, (size_t)(items * pin) * sizeof *got), "kernel %s, accumulate %d",
                          direct_kernels[k], acc);
        }
        ran++;
    }
    tg_conv_direct_set_kernel(NULL);
    if (tg_cpu_has_avx2_fma()) ck_assert_int_gt(ran, 0);
    free(got), free(want);
    tg_tensor_free(dy), tg_tensor_free(w), tg_tensor_free(x0);
}
END_TEST

/* What the lanes kernels take, and which depthwise layers AUTO gives them. */
START_TEST(lanes_kernels_geometry_rule)
{
    tg_conv_geom g;
    ck_assert_int_eq(tg_conv_direct_set_kernel("portable"), 0);
    ck_assert(direct_geom(&g, 1, V(1, 8, 8), V(1, 7, 7), V(1, 1, 1), V(0, 3, 3), V(1, 1, 1)));
    ck_assert(!tg_conv_lanes_supported(&g)); /* no lanes kernel in the portable C */
    ck_assert_int_eq(tg_conv_lanes_width(), 0);
    tg_conv_direct_set_kernel(NULL);
    if (!tg_cpu_has_avx512()) return;
    ck_assert_int_eq(tg_conv_lanes_width(), TT_DOUBLE ? 8 : 16);
    ck_assert(tg_conv_lanes_supported(&g) && tg_conv_lanes_chosen(&g)); /* 7x7 on 8x8 */
    ck_assert(direct_geom(&g, 1, V(1, 8, 8), V(1, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_chosen(&g)); /* rows of 8 */
    ck_assert(direct_geom(&g, 1, V(1, 14, 14), V(1, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_supported(&g) && !tg_conv_lanes_chosen(&g)); /* rows of 14: the plane kernels */
    tg_conv_lanes_set_mode(TG_CONV_LANES_ALWAYS);
    ck_assert(tg_conv_lanes_chosen(&g));
    tg_conv_lanes_set_mode(TG_CONV_LANES_NEVER);
    ck_assert(!tg_conv_lanes_chosen(&g));
    tg_conv_lanes_set_mode(TG_CONV_LANES_AUTO);
    ck_assert(direct_geom(&g, 1, V(1, 16, 16), V(1, 5, 5), V(1, 1, 1), V(0, 2, 2), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_chosen(&g)); /* 25 taps */
    ck_assert(direct_geom(&g, 1, V(1, 28, 28), V(1, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_supported(&g) && !tg_conv_lanes_chosen(&g)); /* 3x3 on 28x28: the plane kernels */
    ck_assert(direct_geom(&g, 1, V(1, 56, 56), V(1, 7, 7), V(1, 1, 1), V(0, 3, 3), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_chosen(&g) && tg_conv_lanes_adjoint_chosen(&g)); /* 49 taps, any size */
    ck_assert(direct_geom(&g, 1, V(1, 130, 130), V(1, 3, 3), V(1, 1, 1), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(!tg_conv_lanes_supported(&g)); /* 132x132 padded: beyond the plan's tile */
    ck_assert(direct_geom(&g, 1, V(1, 8, 8), V(1, 3, 3), V(1, 3, 3), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(!tg_conv_lanes_supported(&g)); /* stride 3 */
    ck_assert(direct_geom(&g, 1, V(1, 8, 8), V(1, 3, 3), V(1, 1, 1), V(0, -1, -1), V(1, 1, 1)));
    ck_assert(!tg_conv_lanes_supported(&g)); /* a crop */
    ck_assert(direct_geom(&g, 1, V(1, 12, 12), V(1, 9, 9), V(1, 1, 1), V(0, 4, 4), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_chosen(&g)); /* 81 taps */
    ck_assert(direct_geom(&g, 1, V(1, 14, 14), V(1, 3, 3), V(1, 2, 2), V(0, 1, 1), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_chosen(&g) && tg_conv_lanes_adjoint_chosen(&g)); /* 3x3 stride 2 to 7x7 */
    ck_assert(direct_geom(&g, 1, V(1, 8, 8), V(1, 3, 3), V(1, 1, 1), V(0, 3, 3), V(1, 1, 1)));
    ck_assert(tg_conv_lanes_supported(&g) && !tg_conv_lanes_adjoint_supported(&g)); /* pad 3 > (3-1)*1 */
}
END_TEST

/* A depthwise conv -> bias -> ReLU model (the convolution's fused epilogue) gives the same output
 * and gradients with the lanes kernels forced as without them, on a map they take by AUTO. */
START_TEST(lanes_kernels_in_a_model)
{
    static const char spec[] = "input 20x8x8\nconv2d out=20 kernel=7 padding=3 groups=20\nrelu\n"
                               "conv2d out=20 kernel=3 stride=2 padding=1 groups=20\nrelu\nflatten\nlinear out=3\n";
    double out[2][3 * 3], grads[2][20 * 49 + 20];
    for (int mode = 0; mode < 2; mode++) {
        tg_conv_lanes_set_mode(mode ? TG_CONV_LANES_ALWAYS : TG_CONV_LANES_NEVER);
        char err[256];
        tg_model *m = tg_model_parse(spec, "lanes", 7, err, sizeof err);
        ck_assert_msg(m != NULL, "%s", err);
        tg_tape *t = tg_tape_new(0);
        tg_tensor *x = tt_random(4, (int64_t[]){3, 20, 8, 8}, 12500, -1, 1);
        tg_tensor *y = tg_module_forward(m->net, t, x);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        for (int i = 0; i < 9; i++) out[mode][i] = y->data[i];
        tg_tensor *loss = tg_sum(t, tg_mul(t, y, y), TG_DIM_NONE, false);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_named_tensor named[8];
        const int np = tg_module_named_tensors(m->net, false, named, 8);
        ck_assert_int_ge(np, 2);
        const tg_tensor *w0 = named[0].tensor, *b0 = named[1].tensor;
        ck_assert_int_eq(w0->numel, 20 * 49);
        for (int64_t i = 0; i < w0->numel; i++) grads[mode][i] = w0->grad[i];
        for (int64_t i = 0; i < b0->numel; i++) grads[mode][w0->numel + i] = b0->grad[i];
        tg_tape_free(t);
        tg_model_free(m); /* x belongs to the test's tensors (tt_random) */
    }
    tg_conv_lanes_set_mode(TG_CONV_LANES_AUTO);
    for (int i = 0; i < 9; i++) ck_assert_double_eq_tol(out[1][i], out[0][i], TT_DOUBLE ? 1e-12 : 1e-5);
    for (int i = 0; i < 20 * 49 + 20; i++)
        ck_assert_msg(fabs(grads[1][i] - grads[0][i]) <= (TT_DOUBLE ? 1e-11 : 1e-4) * (1 + fabs(grads[0][i])),
                      "gradient %d: %g vs %g", i, grads[1][i], grads[0][i]);
}
END_TEST

START_TEST(direct_kernel_choice)
{
    ck_assert_int_eq(tg_conv_direct_set_kernel("portable"), 0);
    ck_assert_str_eq(tg_conv_direct_kernel_name(), "portable");
    ck_assert_int_eq(tg_conv_direct_set_kernel("no-such-kernel"), -1);
    ck_assert_str_eq(tg_conv_direct_kernel_name(), "portable"); /* unchanged */
    ck_assert_int_eq(tg_conv_direct_set_kernel(NULL), 0); /* the best this CPU runs */
    ck_assert_str_eq(tg_conv_direct_kernel_name(),
                     tg_cpu_has_avx512() ? "avx512" : tg_cpu_has_avx2_fma() ? "avx2" : "portable");
}
END_TEST

static TCase *direct_kernel_tcase(void)
{
    TCase *tc = tt_tcase("direct kernels");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, direct_kernels_match_im2col_gemm_2d);
    tcase_add_test(tc, direct_kernels_small_planes);
    tcase_add_test(tc, direct_kernels_match_im2col_gemm_1d_3d_channels);
    tcase_add_test(tc, depthwise_conv2d_matches_reference_every_kernel);
    tcase_add_test(tc, gradcheck_depthwise_every_kernel);
    tcase_add_test(tc, depthwise_ignores_unread_inputs);
    tcase_add_test(tc, direct_adjoint_depthwise_items);
    tcase_add_test(tc, lanes_kernels_match_im2col_gemm);
    tcase_add_test(tc, lanes_kernels_geometry_rule);
    tcase_add_test(tc, lanes_kernels_in_a_model);
    tcase_add_test(tc, direct_kernel_choice);
    return tc;
}

/* ==== Winograd F(2x2,3x3) — owned by the Winograd work ====
 * The kernel against naive double loops (overwrite and accumulate, partial edge tiles, padding
 * 0..2), hand-computed values through conv2d, conv2d forced onto Winograd against the GEMM path
 * (forward and dX through the rotated path) over odd sizes, padding, batch and channel counts in
 * both precisions, and gradient checks with Winograd forced. */

#include "../ops/kernels/conv_engine.h"
#include "../ops/kernels/conv_ovec.h"
#include "../ops/kernels/conv_shift.h"
#include "../ops/kernels/elementwise.h"
#include "../ops/kernels/winograd.h"

/* Float32 Winograd vs the float32 GEMM path: both round; Winograd's transforms add a few ulps of
 * the (up to 4x larger) transformed values. Inputs are in [-1, 1), sums of at most 17*9 terms. */
#define WINO_TOL (TT_DOUBLE ? 1e-10 : 2e-5)

static tg_tensor *wino_random(int ndim, const int64_t *shape, uint64_t seed)
{
    return tt_random(ndim, shape, seed, -1, 1);
}

/* y[n,o,i,j] = sum_{c,a,b} w[o,c,a,b] x[n,c,i+a-p,j+b-p] in double (zeros outside x). */
static void wino_naive(const tg_real *x, const tg_real *w, int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o,
                       int64_t pad, double *y)
{
    const int64_t ho = h + 2 * pad - 2, wo = wd + 2 * pad - 2;
    for (int64_t b = 0; b < n; b++)
        for (int64_t oc = 0; oc < o; oc++)
            for (int64_t i = 0; i < ho; i++)
                for (int64_t j = 0; j < wo; j++) {
                    double sum = 0;
                    for (int64_t ic = 0; ic < c; ic++)
                        for (int a = 0; a < 3; a++)
                            for (int e = 0; e < 3; e++) {
                                int64_t r = i + a - pad, col = j + e - pad;
                                if (r >= 0 && r < h && col >= 0 && col < wd)
                                    sum += (double)w[((oc * c + ic) * 3 + a) * 3 + e] * x[((b * c + ic) * h + r) * wd + col];
                            }
                    y[((b * o + oc) * ho + i) * wo + j] = sum;
                }
}

/* tg_winograd_conv of n images of g (3x3, stride 1) into o output channels, x and w random from
 * seed, against the naive sums: y overwritten, then (accumulate too) added to. */
static void wino_conv_matches(const tg_conv_geom *g, int64_t n, int64_t o, uint64_t seed, double tol, bool accumulate)
{
    const int64_t c = g->channels, h = g->in[1], wd = g->in[2], pad = g->pad[1];
    tg_tensor *x = wino_random(1, (int64_t[]){n * c * h * wd}, seed);
    tg_tensor *w = wino_random(1, (int64_t[]){o * c * 9}, seed + 50);
    const int64_t ny = n * o * g->out[1] * g->out[2];
    tg_tensor *y = wino_random(1, (int64_t[]){ny}, seed + 90); /* garbage to overwrite, then to add to */
    double *want = malloc((size_t)ny * sizeof *want);
    tg_real *scratch = malloc(tg_winograd_scratch(g, n, o) * sizeof *scratch);
    wino_naive(x->data, w->data, n, c, h, wd, o, pad, want);
    ck_assert(tg_winograd_conv(g, n, o, x->data, w->data, y->data, false, scratch));
    direct_assert_close(y->data, want, ny, tol);
    if (accumulate) {
        for (int64_t i = 0; i < ny; i++) want[i] *= 2;
        ck_assert(tg_winograd_conv(g, n, o, x->data, w->data, y->data, true, scratch));
        direct_assert_close(y->data, want, ny, 2 * tol);
    }
    free(want);
    free(scratch);
}

/* The Winograd tests run once per tile (tcase loop index i): F(2x2) and F(4x4) forced; each restores
 * AUTO's rule (tg_winograd_set_tile(0)) at its end. */
static void wino_force_tile(int i) { ck_assert_int_eq(tg_winograd_set_tile(i ? 4 : 2), 0); }
/* F(4x4)'s transforms scale a patch by up to 10 a side (B^T's rows), F(2x2)'s by 2: its float32
 * error against the exact sum is a few times larger (docs/convolution.md). */
#define WINO_TILE_TOL(i) ((i) ? 4 * WINO_TOL : WINO_TOL)

START_TEST(winograd_kernel_matches_naive)
{
    /* 33 and 47 wide: rows of more than one block of 16 tiles, and a last block the plane ends in */
    static const int64_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 33, 47};
    static const char *const kernels[] = {"portable", "avx512"};
    int cases = 0;
    wino_force_tile(_i);
    for (int kernel = 0; kernel < 2; kernel++) {
        if (tg_winograd_set_kernel(kernels[kernel])) continue; /* a CPU without AVX-512 */
        ck_assert_str_eq(tg_winograd_kernel_name(), kernels[kernel]);
        for (int hi = 0; hi < 12; hi++)
            for (int64_t pad = 0; pad <= 2; pad++) {
                int64_t h = sizes[hi], wd = sizes[(hi + 4) % 12], n = 1 + hi % 3, c = hi % 2 ? 3 : 5, o = 1 + hi % 4;
                if (h + 2 * pad < 3 || wd + 2 * pad < 3) continue;
                tg_conv_geom g = {.channels = c, .in = {1, h, wd}, .out = {1, h + 2 * pad - 2, wd + 2 * pad - 2},
                                  .kernel = {1, 3, 3}, .stride = {1, 1, 1}, .pad = {0, pad, pad}, .dilation = {1, 1, 1}};
                ck_assert(tg_winograd_supported(&g, 1));
                wino_conv_matches(&g, n, o, 900 + (uint64_t)(3 * hi + pad), WINO_TILE_TOL(_i), true);
                cases++;
            }
    }
    tg_winograd_set_kernel(NULL);
    tg_winograd_set_tile(0);
    ck_assert_int_eq(tg_winograd_set_kernel("no-such-kernel"), -1);
    ck_assert_int_ge(cases, 25);
}
END_TEST

/* The forward's multiply runs over a chunk's tiles in vectors of 16, two at a time, in blocks of 8, 4
 * and 1 output channels: chunks whose tile count is not a multiple of 16 and spans several vector
 * pairs (3 images of 9x9 outputs: 75 tiles; 28x28: 126-tile chunks), every output-channel block
 * shape (1, 4 + 1, 8 + 4 + 2, 16), and channel counts past the chunk's one-pass size. */
START_TEST(winograd_multiply_blocks_match_naive)
{
    static const int64_t shapes[][5] = {/* n, c, h (= w), o, pad */
                                        {3, 2, 11, 1, 0}, {3, 5, 9, 5, 1}, {2, 7, 28, 14, 1}, {1, 16, 13, 16, 2},
                                        {2, 33, 10, 12, 1}, {1, 3, 40, 9, 0}};
    static const char *const kernels[] = {"portable", "avx512"};
    wino_force_tile(_i);
    for (int kernel = 0; kernel < 2; kernel++) {
        if (tg_winograd_set_kernel(kernels[kernel])) continue;
        for (int i = 0; i < 6; i++) {
            const int64_t n = shapes[i][0], c = shapes[i][1], h = shapes[i][2], o = shapes[i][3], pad = shapes[i][4];
            tg_conv_geom g = {.channels = c, .in = {1, h, h}, .out = {1, h + 2 * pad - 2, h + 2 * pad - 2},
                              .kernel = {1, 3, 3}, .stride = {1, 1, 1}, .pad = {0, pad, pad}, .dilation = {1, 1, 1}};
            wino_conv_matches(&g, n, o, 1700 + (uint64_t)i, WINO_TILE_TOL(_i) * (double)c, false);
        }
    }
    tg_winograd_set_kernel(NULL);
    tg_winograd_set_tile(0);
}
END_TEST

/* dW = corr(x, dy) by naive loops (w:[O, C, 3, 3], padding pad on both sides, stride 1). */
static void wino_naive_dw(const tg_real *x, const tg_real *dy, int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o,
                          int64_t pad, double *dw)
{
    const int64_t ho = h + 2 * pad - 2, wo = wd + 2 * pad - 2;
    for (int64_t oc = 0; oc < o; oc++)
        for (int64_t ic = 0; ic < c; ic++)
            for (int64_t t = 0; t < 9; t++) {
                double sum = 0;
                for (int64_t b = 0; b < n; b++)
                    for (int64_t i = 0; i < ho; i++)
                        for (int64_t j = 0; j < wo; j++) {
                            int64_t r = i + t / 3 - pad, s = j + t % 3 - pad;
                            if (r < 0 || r >= h || s < 0 || s >= wd) continue;
                            sum += (double)x[((b * c + ic) * h + r) * wd + s] * dy[((b * o + oc) * ho + i) * wo + j];
                        }
                dw[(oc * c + ic) * 9 + t] = sum;
            }
}

/* The Winograd weight gradient, G^T [sum over tiles (A dY A^T) .* (B^T d B)] G, against naive loops
 * for both row-transform kernels: odd and even sizes (partial tiles), padding 0-2, several images,
 * added to what dw held. */
START_TEST(winograd_dw_matches_naive)
{
    /* 33 and 47 wide: rows of more than one block of 16 tiles, and a last block the plane ends in */
    static const int64_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 33, 47};
    static const char *const kernels[] = {"portable", "avx512"};
    int cases = 0;
    wino_force_tile(_i);
    for (int kernel = 0; kernel < 2; kernel++) {
        if (tg_winograd_set_kernel(kernels[kernel])) continue; /* a CPU without AVX-512 */
        for (int hi = 0; hi < 12; hi++)
            for (int64_t pad = 0; pad <= 2; pad++) {
                int64_t h = sizes[hi], wd = sizes[(hi + 3) % 12], n = 1 + hi % 3, c = hi % 2 ? 3 : 5, o = 1 + hi % 4;
                if (h + 2 * pad < 3 || wd + 2 * pad < 3) continue;
                tg_conv_geom g = {.channels = c, .in = {1, h, wd}, .out = {1, h + 2 * pad - 2, wd + 2 * pad - 2},
                                  .kernel = {1, 3, 3}, .stride = {1, 1, 1}, .pad = {0, pad, pad}, .dilation = {1, 1, 1}};
                int64_t ny = n * o * g.out[1] * g.out[2];
                tg_tensor *x = wino_random(1, (int64_t[]){n * c * h * wd}, 1300 + (uint64_t)hi);
                tg_tensor *dy = wino_random(1, (int64_t[]){ny}, 1350 + (uint64_t)pad);
                tg_tensor *dw = wino_random(1, (int64_t[]){o * c * 9}, 1390); /* added to */
                double *want = malloc((size_t)(o * c * 9) * sizeof *want);
                tg_real *scratch = malloc(tg_winograd_dw_scratch(&g, n, o) * sizeof *scratch);
                wino_naive_dw(x->data, dy->data, n, c, h, wd, o, pad, want);
                for (int64_t i = 0; i < o * c * 9; i++) want[i] += dw->data[i];
                tg_winograd_dw(&g, n, o, x->data, dy->data, dw->data, scratch);
                direct_assert_close(dw->data, want, o * c * 9, WINO_TILE_TOL(_i) * (double)(n * g.out[1] * g.out[2]));
                free(want);
                free(scratch);
                cases++;
            }
        /* the multiply's blocks: input channels in blocks of 16 / 8, then 4, then 1; output channels
         * in vectors of 16 (padded: 17, 33, 40), two at a time then one; and the input transform's
         * runs of tile rows */
        static const int64_t blocks[][6] = {/* c, o, h, w, n, pad */
                                            {17, 16, 9, 10, 2, 1}, {16, 33, 7, 8, 1, 1}, {9, 48, 6, 13, 2, 0},
                                            {20, 40, 11, 9, 1, 2}, {33, 17, 5, 5, 3, 1}, {8, 64, 4, 6, 2, 1},
                                            /* rows of 16 and 32 tiles: a run of inside rows a call */
                                            {3, 4, 21, 32, 2, 1}, {3, 4, 20, 64, 2, 1},
                                            /* F(4x4): quarters over three chunks of 1024 slots */
                                            {3, 4, 16, 16, 40, 1}};
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            const int64_t c = blocks[bi][0], o = blocks[bi][1], h = blocks[bi][2], wd = blocks[bi][3];
            const int64_t n = blocks[bi][4], pad = blocks[bi][5];
            tg_conv_geom g = {.channels = c, .in = {1, h, wd}, .out = {1, h + 2 * pad - 2, wd + 2 * pad - 2},
                              .kernel = {1, 3, 3}, .stride = {1, 1, 1}, .pad = {0, pad, pad}, .dilation = {1, 1, 1}};
            tg_tensor *x = wino_random(1, (int64_t[]){n * c * h * wd}, 1400 + (uint64_t)bi);
            tg_tensor *dy = wino_random(1, (int64_t[]){n * o * g.out[1] * g.out[2]}, 1450 + (uint64_t)bi);
            tg_tensor *dw = wino_random(1, (int64_t[]){o * c * 9}, 1490);
            double *want = malloc((size_t)(o * c * 9) * sizeof *want);
            tg_real *scratch = malloc(tg_winograd_dw_scratch(&g, n, o) * sizeof *scratch);
            wino_naive_dw(x->data, dy->data, n, c, h, wd, o, pad, want);
            for (int64_t i = 0; i < o * c * 9; i++) want[i] += dw->data[i];
            ck_assert(tg_winograd_dw(&g, n, o, x->data, dy->data, dw->data, scratch));
            direct_assert_close(dw->data, want, o * c * 9, WINO_TILE_TOL(_i) * (double)(n * g.out[1] * g.out[2]));
            free(want);
            free(scratch);
            cases++;
        }
    }
    tg_winograd_set_kernel(NULL);
    tg_winograd_set_tile(0);
    ck_assert_int_ge(cases, 33);
}
END_TEST

/* conv2d's backward with 128 channels in and out takes the Winograd weight gradient when the
 * forward runs by Winograd (forced here, so a small image will do): dW and dX equal the GEMM
 * paths'. */
START_TEST(winograd_dw_in_conv_matches_gemm)
{
    tg_set_threads(1);
    /* 12 images of 8x8: dW's chunk (192 tiles) is larger than the forward's (128), and the workspace
     * must hold it (it once held only the forward's: an assertion stopped the backward) */
    wino_force_tile(_i / 2); /* the forward and the rotated dX by either tile */
    ref_cfg c = _i % 2 ? cfg(2, 12, 128, 128, 1, V(8, 8), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL)
                       : cfg(2, 2, 128, 128, 1, V(7, 6), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL);
    ref_case r = make_case(&c, false, 1500);
    r.x->requires_grad = r.w->requires_grad = true;
    tg_real *grads[2][2];
    for (int algo = 0; algo < 2; algo++) {
        tg_conv_set_algo(algo ? TG_CONV_ALGO_GEMM : TG_CONV_ALGO_WINOGRAD);
        tg_tensor_zero_grad(r.x);
        tg_tensor_zero_grad(r.w);
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
        ck_assert_ptr_nonnull(y);
        tg_tensor *dy = tt_random(y->ndim, y->shape, 1501, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        for (int i = 0; i < 2; i++) {
            tg_tensor *p = i ? r.w : r.x;
            grads[algo][i] = malloc((size_t)p->numel * sizeof(tg_real));
            memcpy(grads[algo][i], p->grad, (size_t)p->numel * sizeof(tg_real));
        }
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    for (int i = 0; i < 2; i++) {
        int64_t n = i ? r.w->numel : r.x->numel;
        double *want = malloc((size_t)n * sizeof *want);
        for (int64_t e = 0; e < n; e++) want[e] = grads[1][i][e];
        /* dW sums 2*7*6 products per element: float32 rounding of both paths; dX sums 128 x 9 by the
         * rotated Winograd convolution, F(4x4)'s error a few times F(2x2)'s */
        tt_assert_close(grads[0][i], want, n, TT_DOUBLE ? 1e-9 : _i / 2 ? 8e-4 : 2e-4);
        free(want);
        free(grads[0][i]);
        free(grads[1][i]);
    }
    tg_winograd_set_tile(0);
}
END_TEST

/* The finiteness scan the threads share (blocks of 64 Ki values): a NaN or ±Inf anywhere, in the
 * first block, the last value or a block another thread takes, is found on 1-3 threads. */
START_TEST(winograd_finite_scan_finds_any_value)
{
    const int64_t n = 300001; /* five blocks, the last one partial */
    tg_real *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (tg_real)(i % 97) - 48;
    const int64_t at[] = {0, 65535, 65536, 200000, n - 1};
    /* and (tg_winograd_in_range) finite values within the transforms' headroom of the largest */
    const tg_real top = TT_DOUBLE ? (tg_real)DBL_MAX : (tg_real)FLT_MAX, edge = top / TG_WINOGRAD_HEADROOM;
    const tg_real bad[] = {NAN, INFINITY, -INFINITY, edge * (tg_real)1.01, -top};
    const int before = tg_get_threads();
    for (int threads = 1; threads <= 3; threads++) {
        tg_set_threads(threads);
        ck_assert(tg_winograd_finite(v, n) && tg_winograd_in_range(v, n));
        ck_assert(tg_winograd_finite(v, 1000) && tg_winograd_in_range(v, 1000));
        for (size_t a = 0; a < sizeof at / sizeof *at; a++)
            for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
                const tg_real keep = v[at[a]];
                v[at[a]] = bad[b];
                const bool finite = b >= 3;
                ck_assert_msg(tg_winograd_finite(v, n) == finite && !tg_winograd_in_range(v, n),
                              "threads %d, value %g at %ld", threads, (double)bad[b], (long)at[a]);
                ck_assert(tg_winograd_in_range(v, at[a])); /* the values before it */
                v[at[a]] = edge * (tg_real)0.99;            /* just inside: accepted */
                ck_assert(tg_winograd_in_range(v, n));
                v[at[a]] = keep;
            }
    }
    tg_set_threads(before);
    free(v);
}
END_TEST

START_TEST(winograd_geometry_limits)
{
    tg_conv_geom g = {.channels = 2, .in = {1, 6, 6}, .out = {1, 4, 4}, .kernel = {1, 3, 3}, .stride = {1, 1, 1},
                      .pad = {0, 0, 0}, .dilation = {1, 1, 1}};
    ck_assert(tg_winograd_supported(&g, 1));
    ck_assert(!tg_winograd_supported(&g, 2)); /* groups */
    g.stride[2] = 2;
    ck_assert(!tg_winograd_supported(&g, 1));
    g.stride[2] = 1, g.dilation[1] = 2;
    ck_assert(!tg_winograd_supported(&g, 1));
    g.dilation[1] = 1, g.kernel[2] = 5;
    ck_assert(!tg_winograd_supported(&g, 1));
    g.kernel[2] = 3, g.in[0] = g.out[0] = 2; /* 3-D */
    ck_assert(!tg_winograd_supported(&g, 1));
    g.in[0] = g.out[0] = 1, g.pad[1] = -1; /* the rotated path of a padding-3 conv */
    ck_assert(!tg_winograd_supported(&g, 1));
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_WINOGRAD), "winograd");
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_GEMM), "gemm");
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_AUTO), "auto");
}
END_TEST

/* x = 1..16 as 4x4, w = ones: y = the four 3x3 window sums 54 63 90 99 (by hand: 1+2+3+5+6+7+9+10+11
 * = 54, each step right adds 3*3 = 9, each step down 3*12 = 36); with padding 1 the corner 1+2+5+6 = 14. */
START_TEST(winograd_hand_computed)
{
    double xv[16], ones[9];
    for (int i = 0; i < 16; i++) xv[i] = i + 1;
    for (int i = 0; i < 9; i++) ones[i] = 1;
    tg_tensor *x = tt_tensor(4, (int64_t[]){1, 1, 4, 4}, xv), *w = tt_tensor(4, (int64_t[]){1, 1, 3, 3}, ones);
    wino_force_tile(_i);
    tg_conv_set_algo(TG_CONV_ALGO_WINOGRAD);
    tg_conv_attr a;
    tg_attr_defaults(TG_OP_CONV2D, &a);
    tg_tensor *y = tg_conv2d(tt_tape(), x, w, NULL, &a);
    tt_assert_shape(y, 1, 1, 2, 2);
    tt_assert_close(y->data, ((double[]){54, 63, 90, 99}), 4, TT_TOL);
    a.padding = (tg_ints){1, {1}};
    y = tg_conv2d(tt_tape(), x, w, NULL, &a);
    tt_assert_shape(y, 1, 1, 4, 4);
    /* row 0: 1+2+5+6, 1+2+3+5+6+7, 2+3+4+6+7+8, 3+4+7+8; row 1 adds the row below; ... */
    tt_assert_close(y->data,
                    ((double[]){14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54}), 16, TT_TOL);
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_winograd_set_tile(0);
}
END_TEST

/* conv2d with Winograd forced vs the GEMM path: y and dX (rotated path, itself a Winograd
 * convolution of dY when forced) and dW over odd sizes (partial edge tiles), padding 0..2, N 1..3,
 * C and O in {1, 3, 17}. */
START_TEST(winograd_conv2d_matches_gemm)
{
    static const int64_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 28};
    static const int64_t chans[] = {1, 3, 17};
    int cases = 0;
    tg_tape *t = tt_tape();
    wino_force_tile(_i);
    for (int hi = 0; hi < 11; hi++)
        for (int64_t pad = 0; pad <= 2; pad++)
            for (int ci = 0; ci < 3; ci++)
                for (int oi = 0; oi < 3; oi++) {
                    int64_t h = sizes[hi], wd = sizes[(hi + 3 * ci + oi + 1) % 11], n = 1 + (hi + oi) % 3;
                    int64_t c = chans[ci], o = chans[oi];
                    if (h + 2 * pad < 3 || wd + 2 * pad < 3) continue;
                    if (c * o > 17 * 3 && (h > 9 || wd > 9)) wd = 5; /* keep the suite fast */
                    tg_tensor *x = wino_random(4, (int64_t[]){n, c, h, wd}, 1000 + (uint64_t)cases);
                    tg_tensor *w = wino_random(4, (int64_t[]){o, c, 3, 3}, 2000 + (uint64_t)cases);
                    tg_tensor *b = wino_random(1, (int64_t[]){o}, 3000 + (uint64_t)cases);
                    x->requires_grad = w->requires_grad = true;
                    tg_conv_attr a;
                    tg_attr_defaults(TG_OP_CONV2D, &a);
                    a.padding = (tg_ints){1, {pad}};
                    tg_tensor *dy = NULL;
                    double *want[3] = {NULL, NULL, NULL};
                    for (int algo = 0; algo < 2; algo++) {
                        tg_conv_set_algo(algo ? TG_CONV_ALGO_WINOGRAD : TG_CONV_ALGO_GEMM);
                        tg_conv_set_dx_path(algo ? TG_CONV_DX_ROTATED : TG_CONV_DX_COL2IM);
                        tg_tensor_zero_grad(x);
                        tg_tensor_zero_grad(w);
                        tg_tape_reset(t);
                        tg_tensor *y = tg_conv2d(t, x, w, b, &a);
                        ck_assert_ptr_nonnull(y);
                        if (!dy) dy = wino_random(4, y->shape, 4000 + (uint64_t)cases);
                        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                        const tg_tensor *got[3] = {y, x, w};
                        for (int v = 0; v < 3; v++) {
                            const tg_real *data = v ? got[v]->grad : got[v]->data;
                            if (!algo) {
                                want[v] = malloc((size_t)got[v]->numel * sizeof *want[v]);
                                for (int64_t e = 0; e < got[v]->numel; e++) want[v][e] = data[e];
                            } else {
                                direct_assert_close(data, want[v], got[v]->numel, WINO_TILE_TOL(_i));
                                free(want[v]);
                            }
                        }
                    }
                    cases++;
                }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    tg_winograd_set_tile(0);
    ck_assert_int_ge(cases, 250);
}
END_TEST

/* F(4x4)'s blocks of parts: quarters of 4 tiles (rows of 1 to 4 tiles: maps up to 16 wide) and
 * halves of 8 (widths giving 5 to 20 tiles a row: one, two and three halves, the last part full or
 * not), heights with partial tile rows, padding 0..3, batches whose parts fill several chunks (128
 * slots) and leave the last block's last parts empty, 1 to 5 channels (the prefetch runs 2 planes
 * ahead), with every build of the transforms. */
START_TEST(winograd4_parts_match_naive)
{
    static const int64_t shapes[][6] = {/* n, c, h, w, o, pad */
                                        {1, 1, 3, 3, 1, 0},  {2, 2, 5, 6, 3, 1},   {3, 3, 9, 30, 2, 1},
                                        {1, 5, 7, 32, 4, 0}, {2, 4, 13, 34, 5, 2}, {1, 2, 6, 63, 3, 3},
                                        {3, 1, 30, 66, 2, 1}, {1, 3, 4, 80, 17, 0}, {5, 2, 17, 17, 3, 1},
                                        {7, 3, 28, 28, 6, 1}, {9, 3, 16, 16, 2, 1}, {11, 2, 14, 13, 3, 1},
                                        {3, 4, 8, 10, 5, 0},  {2, 3, 7, 7, 2, 2},   {40, 1, 6, 4, 1, 1}};
    static const char *const kernels[] = {"portable", "avx512"};
    ck_assert_int_eq(tg_winograd_set_tile(4), 0);
    int cases = 0;
    for (int kernel = 0; kernel < 2; kernel++) {
        if (tg_winograd_set_kernel(kernels[kernel])) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            const int64_t n = shapes[i][0], c = shapes[i][1], h = shapes[i][2], wd = shapes[i][3];
            const int64_t o = shapes[i][4], pad = shapes[i][5];
            tg_conv_geom g = {.channels = c, .in = {1, h, wd}, .out = {1, h + 2 * pad - 2, wd + 2 * pad - 2},
                              .kernel = {1, 3, 3}, .stride = {1, 1, 1}, .pad = {0, pad, pad}, .dilation = {1, 1, 1}};
            ck_assert_int_eq(tg_winograd_tile(&g, o), 4);
            wino_conv_matches(&g, n, o, 2100 + (uint64_t)i, WINO_TILE_TOL(1), true);
            cases++;
        }
    }
    tg_winograd_set_kernel(NULL);
    tg_winograd_set_tile(0);
    ck_assert_int_ge(cases, 10);
}
END_TEST

/* F(4x4) stops (returns false) on a NaN or ±Inf anywhere in x — the first or last channel, the
 * first or last image, an edge column — and on inputs whose transforms overflow (|x| near FLT_MAX:
 * a transformed value is up to 100 times an input); its weight gradient on one in x or dY, dW
 * untouched; with every build of the transforms. */
START_TEST(winograd4_stops_on_nonfinite)
{
    static const char *const kernels[] = {"portable", "avx512"};
    const int64_t n = 3, c = 4, h = 12, wd = 37, o = 2;
    tg_conv_geom g = {.channels = c, .in = {1, h, wd}, .out = {1, h, wd}, .kernel = {1, 3, 3},
                      .stride = {1, 1, 1}, .pad = {0, 1, 1}, .dilation = {1, 1, 1}};
    const int64_t plane = h * wd, at[] = {0, plane * c - 1, (n - 1) * c * plane + 5 * wd + wd - 1,
                                          plane * c * n - 1, 2 * c * plane + 3 * plane + 6 * wd};
    const tg_real bad[] = {(tg_real)NAN, (tg_real)INFINITY, (tg_real)-INFINITY};
    ck_assert_int_eq(tg_winograd_set_tile(4), 0);
    for (int kernel = 0; kernel < 2; kernel++) {
        if (tg_winograd_set_kernel(kernels[kernel])) continue;
        tg_tensor *x = wino_random(1, (int64_t[]){n * c * plane}, 2300);
        tg_tensor *w = wino_random(1, (int64_t[]){o * c * 9}, 2301);
        tg_tensor *y = wino_random(1, (int64_t[]){n * o * plane}, 2302);
        tg_real *scratch = malloc(tg_winograd_scratch(&g, n, o) * sizeof *scratch);
        ck_assert(tg_winograd_conv(&g, n, o, x->data, w->data, y->data, false, scratch));
        for (size_t a = 0; a < sizeof at / sizeof *at; a++)
            for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
                const tg_real keep = x->data[at[a]];
                x->data[at[a]] = bad[b];
                ck_assert_msg(!tg_winograd_conv(&g, n, o, x->data, w->data, y->data, false, scratch),
                              "%s: %g at %lld", kernels[kernel], (double)bad[b], (long long)at[a]);
                x->data[at[a]] = keep;
            }
        /* the weight gradient: x's and dY's values, dw untouched when it stops */
        tg_real *dw_scratch = malloc(tg_winograd_dw_scratch(&g, n, o) * sizeof *dw_scratch);
        tg_tensor *dw = wino_random(1, (int64_t[]){o * c * 9}, 2303);
        tg_real keep_dw[2 * 4 * 9];
        memcpy(keep_dw, dw->data, sizeof keep_dw);
        for (size_t a = 0; a < sizeof at / sizeof *at; a++)
            for (int which = 0; which < 2; which++) {
                tg_real *data = which ? y->data : x->data; /* y stands for dY: the same shape */
                const int64_t e = which ? at[a] % (n * o * plane) : at[a];
                const tg_real keep = data[e];
                data[e] = bad[a % 3];
                ck_assert_msg(!tg_winograd_dw(&g, n, o, x->data, y->data, dw->data, dw_scratch),
                              "%s: dW, %s %g at %lld", kernels[kernel], which ? "dy" : "x", (double)bad[a % 3],
                              (long long)e);
                ck_assert_mem_eq(dw->data, keep_dw, sizeof keep_dw);
                data[e] = keep;
            }
        ck_assert(tg_winograd_dw(&g, n, o, x->data, y->data, dw->data, dw_scratch));
        free(dw_scratch);
        if (!TT_DOUBLE) { /* finite inputs, transformed past float's range */
            for (int64_t e = 0; e < 6 * wd; e++) x->data[plane + e] = (tg_real)((e % 2 ? -1 : 1) * 3e37);
            ck_assert(!tg_winograd_conv(&g, n, o, x->data, w->data, y->data, false, scratch));
        }
        free(scratch);
    }
    tg_winograd_set_kernel(NULL);
    tg_winograd_set_tile(0);
}
END_TEST

/* AUTO's tile: F(4x4) with the AVX-512 float transforms, on maps of any width (quarters and
 * halves), F(2x2) with the portable ones and in double; forcing takes 2, 4 or 0 (the rule) only. */
START_TEST(winograd_tile_rule)
{
    tg_conv_geom g = {.channels = 16, .in = {1, 28, 28}, .out = {1, 28, 28}, .kernel = {1, 3, 3},
                      .stride = {1, 1, 1}, .pad = {0, 1, 1}, .dilation = {1, 1, 1}};
    const bool f4 = !TT_DOUBLE && tg_winograd_kernel_is_simd();
    static const int64_t widths[] = {28, 17, 16, 8, 7, 56};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        g.in[2] = g.out[2] = widths[i];
        ck_assert_int_eq(tg_winograd_tile(&g, 16), f4 ? 4 : 2);
    }
    ck_assert_int_eq(tg_winograd_set_tile(4), 0);
    ck_assert_int_eq(tg_winograd_tile(&g, 16), 4);
    ck_assert_int_eq(tg_winograd_set_tile(3), -1);
    ck_assert_int_eq(tg_winograd_tile(&g, 16), 4); /* unchanged */
    ck_assert_int_eq(tg_winograd_set_tile(2), 0);
    ck_assert_int_eq(tg_winograd_tile(&g, 16), 2);
    ck_assert_int_eq(tg_winograd_set_tile(0), 0);
    if (tg_winograd_set_kernel("portable") == 0) {
        ck_assert_int_eq(tg_winograd_tile(&g, 16), 2);
        tg_winograd_set_kernel(NULL);
    }
}
END_TEST

/* Gradient checks with Winograd forced, dX by the rotated path (Winograd) and by auto. */
START_TEST(gradcheck_winograd)
{
    static const int64_t shapes[][5] = {/* N, C, H, W, O */
                                        {1, 1, 3, 3, 1}, {2, 3, 5, 4, 2}, {1, 2, 7, 1, 3}, {3, 1, 4, 6, 1}, {1, 3, 9, 9, 2}};
    wino_force_tile(_i);
    tg_conv_set_algo(TG_CONV_ALGO_WINOGRAD);
    for (int dx = 0; dx < 2; dx++) {
        tg_conv_set_dx_path(dx ? TG_CONV_DX_AUTO : TG_CONV_DX_ROTATED);
        for (int i = 0; i < 5; i++)
            for (int64_t pad = 0; pad <= 2; pad++) {
                const int64_t *s = shapes[i];
                if (s[2] + 2 * pad < 3 || s[3] + 2 * pad < 3) continue;
                tg_conv_attr a;
                tg_attr_defaults(TG_OP_CONV2D, &a);
                a.padding = (tg_ints){1, {pad}};
                tg_tensor *x = wino_random(4, (int64_t[]){s[0], s[1], s[2], s[3]}, 5000 + (uint64_t)i);
                tg_tensor *w = wino_random(4, (int64_t[]){s[4], s[1], 3, 3}, 5100 + (uint64_t)i);
                tg_tensor *b = wino_random(1, (int64_t[]){s[4]}, 5200 + (uint64_t)i);
                tt_gradcheck_op(TG_OP_CONV2D, &a, ((tg_tensor *[]){x, w, b}), 3);
            }
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    tg_winograd_set_tile(0);
}
END_TEST

/* 3-D convolutions whose in-plane part is 3x3 stride 1 run as the 2-D Winograd over depth slices
 * (conv_engine.c, "unfold": each output slice the 2-D convolution of a stack of KD input slices):
 * the forward (overwriting, accumulating, with a bias and fused ReLU), dX by the rotated path
 * (itself such a convolution: it unfolds too) and dW against the reference loops, for depth
 * kernels 1, 2, 3 and 5, depth strides 1-3, dilation 2, depth pads 0-2 (stacks with zero slices),
 * in-plane pads 0-2, batches of several blocks with a partial last one, 1 and 2 threads (the batch
 * split), F(2x2) and F(4x4). AUTO takes it (path "winograd") for the first shape, not for one
 * input channel or a grouped layer; a NaN input leaves it for the exact GEMMs (NaN exactly where
 * the reference has them). */
typedef struct unfold_shape {
    int64_t n, c, o, in[3], kd, sd, pd, dd, ph, pw;
    int64_t dil_h, dil_w; /* in-plane dilations (0: 1) */
} unfold_shape;

static tg_conv_core unfold_test_core(const unfold_shape *u, tg_conv_fwd_algo algo, int threads)
{
    tg_conv_core k = {.n = u->n, .groups = 1, .ca = u->c, .cb = u->o, .algo = algo, .threads = threads};
    tg_conv_geom *g = &k.geom;
    const int64_t kernel[3] = {u->kd, 3, 3}, stride[3] = {u->sd, 1, 1}, pad[3] = {u->pd, u->ph, u->pw},
                  dil[3] = {u->dd, u->dil_h ? u->dil_h : 1, u->dil_w ? u->dil_w : 1};
    g->channels = u->c;
    for (int i = 0; i < 3; i++) {
        g->in[i] = u->in[i], g->kernel[i] = kernel[i], g->stride[i] = stride[i], g->pad[i] = pad[i],
        g->dilation[i] = dil[i];
        g->out[i] = (u->in[i] + 2 * pad[i] - dil[i] * (kernel[i] - 1) - 1) / stride[i] + 1;
    }
    return k;
}

static void *unfold_ws(size_t bytes) { return malloc(bytes + 64); }

/* The 2-D convolution of the stacks of k's images (what the engine runs; its dW path decides the 3-D
 * layer's). */
static tg_conv_core unfold_stacks_core(const tg_conv_core *k)
{
    tg_conv_core c = *k;
    c.n = k->n * k->geom.out[0];
    c.ca = c.geom.channels = k->geom.channels * k->geom.kernel[0];
    c.geom.in[0] = c.geom.out[0] = c.geom.kernel[0] = c.geom.stride[0] = c.geom.dilation[0] = 1;
    c.geom.pad[0] = 0;
    for (int i = 1; i < 3; i++) { /* a dilated dim: d phases, each its own stack, padded explicitly */
        const int64_t d = k->geom.dilation[i];
        if (d == 1) continue;
        c.n *= d;
        c.geom.out[i] = (k->geom.out[i] + d - 1) / d;
        c.geom.in[i] = c.geom.out[i] + 2;
        c.geom.pad[i] = 0;
        c.geom.dilation[i] = 1;
    }
    return c;
}

START_TEST(unfold_3d_matches_reference)
{
    static const unfold_shape shapes[] = {
        {7, 16, 16, {8, 16, 16}, 3, 1, 1, 1, 1, 1, 1, 1}, /* blocks of 5 (2 in double) images, a partial last */
        {3, 8, 16, {5, 9, 10}, 2, 2, 0, 1, 0, 2, 1, 1},
        {2, 6, 16, {6, 7, 8}, 3, 1, 2, 2, 2, 1, 1, 1},
        {2, 16, 16, {4, 8, 8}, 1, 1, 0, 1, 1, 1, 1, 1},
        {1, 4, 16, {3, 8, 9}, 5, 1, 2, 1, 1, 0, 1, 1},
        {2, 6, 10, {7, 9, 9}, 3, 3, 1, 1, 1, 1, 1, 1}, /* 10 outputs: dW by the 3-D paths (few for its 2-D rule) */
        /* dilated in-plane: each dilated dim split into phases, each phase a stack */
        {3, 16, 16, {1, 13, 14}, 1, 1, 0, 1, 2, 2, 2, 2},  /* conv2d, dilation 2, "same" */
        {2, 4, 16, {1, 11, 9}, 1, 1, 0, 1, 3, 1, 3, 1},   /* dilated along H alone */
        {2, 6, 16, {1, 17, 15}, 1, 1, 0, 1, 1, 4, 2, 4},  /* dilations 2 and 4, pads 1 and 4 */
        {2, 6, 16, {4, 9, 10}, 3, 1, 1, 1, 2, 2, 2, 2},   /* 3-D, dilated in-plane */
    };
    wino_force_tile(_i);
    int unfolded_dw = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const unfold_shape *u = &shapes[si];
        tg_conv_core k = unfold_test_core(u, TG_CONV_FWD_WINOGRAD, 1);
        const int64_t pa = tg_conv_core_a_size(&k), pb = tg_conv_core_b_size(&k), taps = 9 * u->kd;
        const int64_t na = u->n * u->c * pa, nb = u->n * u->o * pb, nw = u->o * u->c * taps;
        tg_tensor *x = wino_random(1, (int64_t[]){na}, 7000 + si), *w = wino_random(1, (int64_t[]){nw}, 7100 + si);
        tg_tensor *dy = wino_random(1, (int64_t[]){nb}, 7200 + si), *bias = wino_random(1, (int64_t[]){u->o}, 7300 + si);
        tg_real *want_y = malloc((size_t)nb * sizeof *want_y), *want_dx = calloc((size_t)na, sizeof *want_dx);
        tg_real *want_dw = calloc((size_t)nw, sizeof *want_dw);
        tg_conv_core ref = k;
        ref.algo = TG_CONV_FWD_REFERENCE;
        tg_conv_reference_forward(&ref, x->data, w->data, want_y, false);
        tg_conv_reference_dx(&ref, dy->data, w->data, want_dx);
        tg_conv_reference_dw(&ref, x->data, dy->data, want_dw);
        double *want = malloc((size_t)(na > nb ? (na > nw ? na : nw) : (nb > nw ? nb : nw)) * sizeof *want);
        const double tol = TT_DOUBLE ? 1e-10 : 2e-4 * (double)taps;
        for (int threads = 1; threads <= 2; threads++) {
            k.threads = threads;
            tg_set_threads(threads);
            ck_assert_str_eq(tg_conv_forward_path(&k), "winograd");
            /* forward, overwriting, then accumulating onto it with the bias and a fused ReLU */
            tg_real *y = malloc((size_t)nb * sizeof *y);
            void *ws = unfold_ws(tg_conv_forward_scratch_bytes(&k));
            tg_conv_forward(&k, x->data, w->data, y, false, NULL, ws);
            for (int64_t e = 0; e < nb; e++) want[e] = want_y[e];
            tt_assert_close(y, want, nb, tol);
            const tg_conv_out_op out = {.bias = bias->data, .act = true, .act_op = TG_EW_RELU};
            tg_conv_forward(&k, x->data, w->data, y, true, &out, ws);
            for (int64_t e = 0; e < nb; e++) {
                const double v = 2 * want_y[e] + bias->data[e / pb % u->o];
                want[e] = v > 0 ? v : 0;
            }
            tt_assert_close(y, want, nb, 2 * tol);
            free(ws);
            /* dX by the rotated path (stride 1 in depth: one phase, itself unfolded), written */
            if (u->sd == 1) {
                tg_real *dx = malloc((size_t)na * sizeof *dx);
                ws = unfold_ws(tg_conv_dx_scratch_bytes(&k, TG_CONV_DX_ALGO_ROTATED));
                tg_conv_dx(&k, TG_CONV_DX_ALGO_ROTATED, dy->data, w->data, dx, true, ws);
                for (int64_t e = 0; e < na; e++) want[e] = want_dx[e];
                tt_assert_close(dx, want, na, tol);
                free(ws);
                free(dx);
            }
            /* dW, added to what dw held: unfolded where the stacks' 2-D dW is Winograd's */
            const tg_conv_core stacks = unfold_stacks_core(&k);
            const bool by_stacks = strcmp(tg_conv_dw_path(&stacks), "winograd") == 0;
            ck_assert_int_eq(strcmp(tg_conv_dw_path(&k), "winograd") == 0, by_stacks);
            unfolded_dw += by_stacks && threads == 1;
            tg_real *dw = malloc((size_t)nw * sizeof *dw);
            for (int64_t e = 0; e < nw; e++) dw[e] = 1;
            ws = unfold_ws(tg_conv_dw_scratch_bytes(&k));
            tg_conv_dw(&k, x->data, dy->data, dw, ws);
            for (int64_t e = 0; e < nw; e++) want[e] = 1 + want_dw[e];
            tt_assert_close(dw, want, nw, tol * 4);
            free(ws);
            free(dw);
            /* a NaN input: the exact GEMMs, NaN exactly where the reference has them */
            const tg_real keep = x->data[na / 2];
            x->data[na / 2] = (tg_real)NAN;
            ws = unfold_ws(tg_conv_forward_scratch_bytes(&k));
            tg_conv_forward(&k, x->data, w->data, y, false, NULL, ws);
            tg_conv_reference_forward(&ref, x->data, w->data, want_y, false);
            for (int64_t e = 0; e < nb; e++)
                ck_assert_msg(!isnan(y[e]) == !isnan(want_y[e]), "shape %zu: NaN at %lld: %g against %g", si,
                              (long long)e, (double)y[e], (double)want_y[e]);
            x->data[na / 2] = keep;
            tg_conv_reference_forward(&ref, x->data, w->data, want_y, false);
            free(ws);
            free(y);
        }
        tg_set_threads(1);
        free(want), free(want_y), free(want_dx), free(want_dw); /* the tensors are the test's: freed at teardown */
    }
    /* with the vector transforms the 2-D rule takes Winograd's dW from 16 channels (C*KD and O) */
    if (tg_winograd_kernel_is_simd()) ck_assert_int_eq(unfolded_dw, 7);
    tg_winograd_set_tile(0);
    /* AUTO (with the vector transforms; the portable ones' rule wants 32 channels): the first shape
     * unfolds, forward and dW; one input channel, or two groups, do not */
    tg_conv_core k = unfold_test_core(&shapes[0], TG_CONV_FWD_AUTO, 1);
    if (tg_winograd_kernel_is_simd()) {
        ck_assert_str_eq(tg_conv_forward_path(&k), "winograd");
        ck_assert_str_eq(tg_conv_dw_path(&k), "winograd");
    }
    k.ca = k.geom.channels = 1;
    ck_assert_str_ne(tg_conv_forward_path(&k), "winograd");
    k = unfold_test_core(&shapes[0], TG_CONV_FWD_AUTO, 1);
    k.groups = 2, k.geom.channels = 8;
    ck_assert_str_ne(tg_conv_forward_path(&k), "winograd");
    k = unfold_test_core(&shapes[0], TG_CONV_FWD_GEMM, 1);
    ck_assert_str_eq(tg_conv_forward_path(&k), "gemm");
    /* dilated conv2d, 32 -> 32 at 32x32 "same": phases at dilation 2, not 4 (measured slower) */
    if (tg_winograd_kernel_is_simd())
        for (int64_t d = 2; d <= 4; d += 2) {
            const unfold_shape dilated = {64, 32, 32, {1, 32, 32}, 1, 1, 0, 1, d, d, d, d};
            k = unfold_test_core(&dilated, TG_CONV_FWD_AUTO, 1);
            ck_assert_int_eq(strcmp(tg_conv_forward_path(&k), "winograd") == 0, d == 2);
        }
}
END_TEST

/* An accumulating Winograd forward (a rotated dX into a gradient that holds a value) whose input is
 * finite but so large that a transform overflows, or within the headroom below that: the scan first
 * (tg_winograd_in_range) sends it to the GEMMs whole, so every output is added once, and the same
 * for 1-3 threads (a split checks as each range would). It had stopped part way with some tiles
 * added, and the GEMMs added them again (2-D F(4x4): 163791 of 262144 outputs wrong). 2-D and 3-D
 * (unfolded). */
START_TEST(winograd_accumulate_adds_each_output_once)
{
    wino_force_tile(_i);
    const tg_real top = TT_DOUBLE ? (tg_real)DBL_MAX : (tg_real)FLT_MAX;
    /* a transform overflows / below that, within the headroom (the same path for any split) */
    const tg_real bigs[] = {top / 8, top / TG_WINOGRAD_HEADROOM * 4};
    for (int rank = 2; rank <= 3; rank++)
        for (int bi = 0; bi < 2; bi++) {
            const unfold_shape u = {7, 16, 16, {rank == 3 ? 8 : 1, 16, 16}, rank == 3 ? 3 : 1, 1, rank == 3, 1, 1, 1, 1, 1};
            tg_conv_core k = unfold_test_core(&u, TG_CONV_FWD_WINOGRAD, 1), ref = k;
            ref.algo = TG_CONV_FWD_REFERENCE;
            ck_assert_str_eq(tg_conv_forward_path(&k), "winograd");
            const int64_t pa = tg_conv_core_a_size(&k), pb = tg_conv_core_b_size(&k);
            const int64_t na = u.n * u.c * pa, nb = u.n * u.o * pb, nw = u.o * u.c * 9 * u.kd;
            tg_tensor *x = wino_random(1, (int64_t[]){na}, 7500), *w = wino_random(1, (int64_t[]){nw}, 7501);
            tg_tensor *b = wino_random(1, (int64_t[]){nb}, 7502);
            x->data[6 * u.c * pa + 3 * pa + pa / 2 + 7] = bigs[bi]; /* image 6 of 7: late in the batch */
            tg_real *y = malloc((size_t)nb * sizeof *y), *y1 = malloc((size_t)nb * sizeof *y1);
            tg_real *want_y = malloc((size_t)nb * sizeof *want_y);
            tg_conv_reference_forward(&ref, x->data, w->data, want_y, false);
            double *want = malloc((size_t)nb * sizeof *want);
            for (int64_t e = 0; e < nb; e++) want[e] = (double)b->data[e] + (double)want_y[e];
            for (int threads = 1; threads <= 3; threads++) {
                k.threads = threads;
                tg_set_threads(threads);
                memcpy(y, b->data, (size_t)nb * sizeof *y);
                void *ws = unfold_ws(tg_conv_forward_scratch_bytes(&k));
                tg_conv_forward(&k, x->data, w->data, y, true, NULL, ws);
                free(ws);
                tt_assert_close(y, want, nb, TT_DOUBLE ? 1e-9 : 1e-4);
                if (threads == 1) memcpy(y1, y, (size_t)nb * sizeof *y1);
                else ck_assert_msg(!memcmp(y, y1, (size_t)nb * sizeof *y), "rank %d, value %g: %d threads differ", rank,
                                   (double)bigs[bi], threads);
            }
            tg_set_threads(1);
            free(y), free(y1), free(want_y), free(want);
        }
    tg_winograd_set_tile(0);
}
END_TEST

/* A row dealt out to its phases (the dilated layers' stacks, im2col.h): against the definition
 * rows[r][a] = src[a*stride + r - lead] (zero outside src), strides 1-4, leads 0-5 (odd and even),
 * rows from 1 to 70 values (whole vectors, masked tails), counts past the row's end. */
START_TEST(phase_rows_split_matches_definition)
{
    tg_tensor *src = wino_random(1, (int64_t[]){80}, 7400);
    tg_real out[4][48], *rows[4] = {out[0], out[1], out[2], out[3]};
    for (int64_t stride = 1; stride <= 4; stride++)
        for (int64_t lead = 0; lead <= 5; lead++)
            for (int64_t n = 1; n <= 70; n += 3)
                for (int64_t count = 1; count * stride <= 4 * 48 && count <= 48; count += 7) {
                    for (int r = 0; r < 4; r++)
                        for (int a = 0; a < 48; a++) out[r][a] = -7;
                    tg_phase_rows_split(src->data, n, lead, stride, count, rows);
                    for (int64_t r = 0; r < 4; r++)
                        for (int64_t a = 0; a < 48; a++) {
                            const int64_t t = a * stride + r - lead;
                            const tg_real want = r >= stride || a >= count ? -7 : t >= 0 && t < n ? src->data[t] : 0;
                            ck_assert_msg(out[r][a] == want, "stride %lld lead %lld n %lld count %lld: rows[%lld][%lld]",
                                          (long long)stride, (long long)lead, (long long)n, (long long)count,
                                          (long long)r, (long long)a);
                        }
                }
}
END_TEST

/* Gradient checks of conv3d with Winograd asked for: 3x3 in-plane kernels unfold over the depth
 * slices (forward, rotated dX, dW by the stacks), with depth kernels 1-3, depth stride 2, pads; and
 * of dilated conv2d, split into its phases. */
START_TEST(gradcheck_unfold_3d)
{
    static const int64_t shapes[][8] = {/* N, C, D, H, W, O, KD, stride D */
                                        {1, 2, 3, 4, 5, 3, 3, 1}, {2, 3, 4, 3, 3, 2, 2, 2}, {1, 1, 2, 5, 4, 2, 1, 1}};
    wino_force_tile(_i);
    tg_conv_set_algo(TG_CONV_ALGO_WINOGRAD);
    for (int i = 0; i < 3; i++)
        for (int64_t pad = 0; pad <= 1; pad++) {
            const int64_t *s = shapes[i];
            tg_conv_attr a;
            tg_attr_defaults(TG_OP_CONV3D, &a);
            a.padding = (tg_ints){3, {pad, pad, 1 - pad}};
            a.stride = (tg_ints){3, {s[7], 1, 1}};
            tg_tensor *x = wino_random(5, (int64_t[]){s[0], s[1], s[2], s[3], s[4]}, 5300 + (uint64_t)i);
            tg_tensor *w = wino_random(5, (int64_t[]){s[5], s[1], s[6], 3, 3}, 5400 + (uint64_t)i);
            tg_tensor *b = wino_random(1, (int64_t[]){s[5]}, 5500 + (uint64_t)i);
            tt_gradcheck_op(TG_OP_CONV3D, &a, ((tg_tensor *[]){x, w, b}), 3);
        }
    /* conv2d dilated by 2 and 3 (its phases, each a stack), pads 1 and 2 */
    for (int64_t d = 2; d <= 3; d++) {
        tg_conv_attr a;
        tg_attr_defaults(TG_OP_CONV2D, &a);
        a.padding = (tg_ints){2, {1, 2}};
        a.dilation = (tg_ints){2, {d, d - 1}};
        tg_tensor *x = wino_random(4, (int64_t[]){2, 3, 7, 8}, 5600 + (uint64_t)d);
        tg_tensor *w = wino_random(4, (int64_t[]){2, 3, 3, 3}, 5700 + (uint64_t)d);
        tg_tensor *b = wino_random(1, (int64_t[]){2}, 5800 + (uint64_t)d);
        tt_gradcheck_op(TG_OP_CONV2D, &a, ((tg_tensor *[]){x, w, b}), 3);
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_winograd_set_tile(0);
}
END_TEST

static TCase *winograd_tcase(void)
{
    TCase *tc = tt_tcase("winograd");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, winograd_kernel_matches_naive, 0, 2);
    tcase_add_test(tc, winograd_finite_scan_finds_any_value);
    tcase_add_loop_test(tc, winograd_multiply_blocks_match_naive, 0, 2);
    tcase_add_loop_test(tc, winograd_dw_matches_naive, 0, 2);
    tcase_add_loop_test(tc, winograd_dw_in_conv_matches_gemm, 0, 4);
    tcase_add_test(tc, winograd_geometry_limits);
    tcase_add_loop_test(tc, winograd_hand_computed, 0, 2);
    tcase_add_loop_test(tc, winograd_conv2d_matches_gemm, 0, 2);
    tcase_add_loop_test(tc, gradcheck_winograd, 0, 2);
    tcase_add_test(tc, winograd4_parts_match_naive);
    tcase_add_test(tc, winograd4_stops_on_nonfinite);
    tcase_add_test(tc, winograd_tile_rule);
    tcase_add_loop_test(tc, unfold_3d_matches_reference, 0, 2);
    tcase_add_loop_test(tc, gradcheck_unfold_3d, 0, 2);
    tcase_add_test(tc, phase_rows_split_matches_definition);
    tcase_add_loop_test(tc, winograd_accumulate_adds_each_output_once, 0, 2);
    return tc;
}

/* ==== 1-D Winograd F(m, r) ====
 * The kernel against naive double sums for every tile shape it has (2..7 taps), dilation 1..3,
 * padding up to past the kernel's extent, lengths that leave partial tiles, rows of several blocks
 * of 16 tiles and batches of several chunks, with every build of its loops; its stop on NaN and
 * Inf; hand-computed values; conv1d forced onto it against the GEMM path (y, dX by the rotated
 * path, dW) and gradient checks; AUTO's choice. */

#include "../ops/kernels/winograd1d.h"

/* The tolerances are relative to the scale of the values a tile mixes: the largest sum of |terms|
 * over the row (forward) or over a filter's taps (dW). Measured worst float32 error against that
 * scale: 2e-6 forward, 3e-5 dW at 7 taps (alpha 8 with m = 2), 8e-6 at 5. */
#define W1_TOL (TT_DOUBLE ? 1e-11 : 2e-5)
#define W1_DW_TOL (TT_DOUBLE ? 1e-11 : 1e-4)

typedef struct w1_case {
    int64_t n, c, o, len, taps, dilation, pad, out;
} w1_case;

static tg_conv_geom w1_geom(const w1_case *k)
{
    tg_conv_geom g = {.channels = k->c, .in = {1, 1, k->len}, .out = {1, 1, k->out}, .kernel = {1, 1, k->taps},
                      .stride = {1, 1, 1}, .pad = {0, 0, k->pad}, .dilation = {1, 1, k->dilation}};
    return g;
}

/* |got - (base + sum)| <= tol * scale for every output of the forward, scale per row: the largest
 * sum of |terms| of an output, and at least every tap's |w| times its channel's largest |x| — a
 * tile mixes all the filter's taps, also those that land on padding (a 1-long row with 5 taps
 * uses one tap, and float32 rounding of the other four's transforms showed in it: 2.4e-5 of the
 * one term's size with clang's contractions). */
static void w1_check_forward(const w1_case *k, const tg_real *x, const tg_real *w, const tg_real *got, double base,
                             double tol)
{
    for (int64_t b = 0; b < k->n; b++)
        for (int64_t o = 0; o < k->o; o++) {
            double scale = fabs(base), worst = 0, all_taps = fabs(base);
            int64_t worst_at = -1;
            for (int64_t c = 0; c < k->c; c++) {
                double x_max = 0, w_sum = 0;
                for (int64_t at = 0; at < k->len; at++) x_max = fmax(x_max, fabs((double)x[(b * k->c + c) * k->len + at]));
                for (int64_t t = 0; t < k->taps; t++) w_sum += fabs((double)w[(o * k->c + c) * k->taps + t]);
                all_taps += w_sum * x_max;
            }
            scale = all_taps;
            for (int pass = 0; pass < 2; pass++)
                for (int64_t q = 0; q < k->out; q++) {
                    double sum = 0, mag = 0;
                    for (int64_t c = 0; c < k->c; c++)
                        for (int64_t t = 0; t < k->taps; t++) {
                            int64_t at = q - k->pad + k->dilation * t;
                            if (at < 0 || at >= k->len) continue;
                            double term = (double)w[(o * k->c + c) * k->taps + t] * x[(b * k->c + c) * k->len + at];
                            sum += term;
                            mag += fabs(term);
                        }
                    if (pass == 0) scale = mag + fabs(base) > scale ? mag + fabs(base) : scale;
                    else if (fabs(got[(b * k->o + o) * k->out + q] - (base + sum)) > worst) {
                        worst = fabs(got[(b * k->o + o) * k->out + q] - (base + sum));
                        worst_at = q;
                    }
                }
            ck_assert_msg(worst <= tol * scale + 1e-30,
                          "n%lld c%lld o%lld len %lld taps %lld dil %lld pad %lld: row (%lld, %lld) at %lld off by %g (scale %g)",
                          (long long)k->n, (long long)k->c, (long long)k->o, (long long)k->len, (long long)k->taps,
                          (long long)k->dilation, (long long)k->pad, (long long)b, (long long)o, (long long)worst_at,
                          worst, scale);
        }
}

/* dw = base + corr(x, dy) checked per filter (o, c), scale the largest of its taps' sums of |terms|. */
static void w1_check_dw(const w1_case *k, const tg_real *x, const tg_real *dy, const tg_real *got, const tg_real *base,
                        double tol)
{
    for (int64_t o = 0; o < k->o; o++)
        for (int64_t c = 0; c < k->c; c++) {
            double want[8] = {0}, mag[8] = {0}, scale = 0;
            for (int64_t t = 0; t < k->taps; t++) {
                for (int64_t b = 0; b < k->n; b++)
                    for (int64_t q = 0; q < k->out; q++) {
                        int64_t at = q - k->pad + k->dilation * t;
                        if (at < 0 || at >= k->len) continue;
                        double term = (double)dy[(b * k->o + o) * k->out + q] * x[(b * k->c + c) * k->len + at];
                        want[t] += term;
                        mag[t] += fabs(term);
                    }
                const double base_t = base[(o * k->c + c) * k->taps + t];
                want[t] += base_t;
                scale = mag[t] + fabs(base_t) > scale ? mag[t] + fabs(base_t) : scale;
            }
            for (int64_t t = 0; t < k->taps; t++)
                ck_assert_msg(fabs(got[(o * k->c + c) * k->taps + t] - want[t]) <= tol * scale + 1e-30,
                              "dW n%lld c%lld o%lld len %lld taps %lld dil %lld pad %lld: (%lld, %lld, %lld) %.9g want %.9g",
                              (long long)k->n, (long long)k->c, (long long)k->o, (long long)k->len, (long long)k->taps,
                              (long long)k->dilation, (long long)k->pad, (long long)o, (long long)c, (long long)t,
                              (double)got[(o * k->c + c) * k->taps + t], want[t]);
        }
}

/* One geometry through the kernel: forward overwriting garbage, forward adding to 0.5s, dW added
 * to what dw held. */
static void w1_run_case(const w1_case *k, uint64_t seed)
{
    const tg_conv_geom g = w1_geom(k);
    ck_assert(tg_winograd1d_supported(&g, 1));
    const int64_t nx = k->n * k->c * k->len, nw = k->o * k->c * k->taps, ny = k->n * k->o * k->out;
    tg_real *x = tt_random(1, (int64_t[]){nx}, seed, -1, 1)->data;
    tg_real *w = tt_random(1, (int64_t[]){nw}, seed + 1, -1, 1)->data;
    tg_real *dy = tt_random(1, (int64_t[]){ny}, seed + 2, -1, 1)->data;
    tg_real *y = tt_random(1, (int64_t[]){ny}, seed + 3, 50, 60)->data; /* garbage to overwrite */
    tg_real *dw = tt_random(1, (int64_t[]){nw}, seed + 4, -1, 1)->data;
    tg_real *dw0 = malloc((size_t)nw * sizeof *dw0);
    memcpy(dw0, dw, (size_t)nw * sizeof *dw0);
    tg_real *scratch = malloc(tg_winograd1d_scratch(&g, k->n, k->o) * sizeof *scratch);
    ck_assert(tg_winograd1d_conv(&g, k->n, k->o, x, w, y, false, scratch));
    w1_check_forward(k, x, w, y, 0, W1_TOL);
    for (int64_t i = 0; i < ny; i++) y[i] = (tg_real)0.5;
    ck_assert(tg_winograd1d_conv(&g, k->n, k->o, x, w, y, true, scratch));
    w1_check_forward(k, x, w, y, 0.5, W1_TOL);
    free(scratch);
    scratch = malloc(tg_winograd1d_dw_scratch(&g, k->n, k->o) * sizeof *scratch);
    ck_assert(tg_winograd1d_dw(&g, k->n, k->o, x, dy, dw, scratch));
    w1_check_dw(k, x, dy, dw, dw0, W1_DW_TOL);
    free(scratch);
    free(dw0);
}

START_TEST(winograd1d_kernel_matches_naive)
{
    static const char *const kernels[] = {"portable", "avx2", "avx512"};
    static const int64_t lengths[] = {1, 3, 8, 31, 150};
    int cases = 0;
    for (int kernel = 0; kernel < 3; kernel++) {
        if (tg_winograd1d_set_kernel(kernels[kernel])) continue; /* this CPU cannot run it */
        ck_assert_str_eq(tg_winograd1d_kernel_name(), kernels[kernel]);
        for (int64_t taps = 2; taps <= 7; taps++)
            for (int64_t dil = 1; dil <= 3; dil++)
                for (int li = 0; li < 5; li++)
                    for (int pi = 0; pi < 3; pi++) {
                        const int64_t extent = dil * (taps - 1) + 1;
                        const int64_t pads[3] = {0, (extent - 1) / 2, extent};
                        w1_case k = {.n = 1 + (li + pi) % 3, .c = 1 + (taps + li) % 4, .o = 1 + (dil + pi) % 4,
                                     .len = lengths[li], .taps = taps, .dilation = dil, .pad = pads[pi]};
                        k.out = k.len + 2 * k.pad - extent + 1;
                        if (k.out < 1) continue;
                        w1_run_case(&k, 20000 + 10 * (uint64_t)cases);
                        cases++;
                    }
        /* a batch of several chunks (2048 tiles at most: 60 rows of 39 tiles) */
        for (int64_t taps = 2; taps <= 7; taps++) {
            w1_case k = {.n = 60, .c = 2, .o = 3, .len = 150, .taps = taps, .dilation = 1, .pad = 1};
            k.out = k.len + 2 * k.pad - taps + 1;
            w1_run_case(&k, 30000 + (uint64_t)taps);
            cases++;
        }
    }
    tg_winograd1d_set_kernel(NULL);
    ck_assert_int_eq(tg_winograd1d_set_kernel("no-such-kernel"), -1);
    ck_assert_int_ge(cases, 400);
}
END_TEST

/* The tile sizes: F(4, r) up to alpha 8, then fewer outputs per tile. */
START_TEST(winograd1d_geometry_limits)
{
    static const int tiles[][2] = {{2, 4}, {3, 4}, {4, 4}, {5, 4}, {6, 3}, {7, 2}};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(tg_winograd1d_tile(tiles[i][0]), tiles[i][1]);
        ck_assert_int_eq(tg_winograd1d_alpha(tiles[i][0]), tiles[i][0] + tiles[i][1] - 1);
        ck_assert_int_le(tg_winograd1d_alpha(tiles[i][0]), 8);
    }
    w1_case k = {.n = 1, .c = 2, .o = 2, .len = 10, .taps = 3, .dilation = 2, .pad = 2, .out = 10};
    tg_conv_geom g = w1_geom(&k);
    ck_assert(tg_winograd1d_supported(&g, 1));
    ck_assert(!tg_winograd1d_supported(&g, 2)); /* groups */
    g.stride[2] = 2;
    ck_assert(!tg_winograd1d_supported(&g, 1));
    g.stride[2] = 1, g.kernel[2] = 8; /* alpha would pass 8 */
    ck_assert(!tg_winograd1d_supported(&g, 1));
    g.kernel[2] = 1; /* pointwise */
    ck_assert(!tg_winograd1d_supported(&g, 1));
    g.kernel[2] = 3, g.in[1] = g.out[1] = 4, g.kernel[1] = 3; /* 2-D */
    ck_assert(!tg_winograd1d_supported(&g, 1));
    g = w1_geom(&k);
    g.pad[2] = -1;
    ck_assert(!tg_winograd1d_supported(&g, 1));
}
END_TEST

/* A NaN or Inf in x stops the forward (false), in x or dy the weight gradient (false, dw untouched),
 * so the caller can take the exact path; through conv1d with Winograd forced the NaN and Inf land
 * exactly where the GEMM path puts them. */
START_TEST(winograd1d_stops_on_nonfinite)
{
    w1_case k = {.n = 2, .c = 3, .o = 2, .len = 20, .taps = 3, .dilation = 1, .pad = 1, .out = 20};
    tg_conv_geom g = w1_geom(&k);
    const int64_t nx = k.n * k.c * k.len, nw = k.o * k.c * k.taps, ny = k.n * k.o * k.out;
    tg_real *x = tt_random(1, (int64_t[]){nx}, 31, -1, 1)->data, *w = tt_random(1, (int64_t[]){nw}, 32, -1, 1)->data;
    tg_real *dy = tt_random(1, (int64_t[]){ny}, 33, -1, 1)->data, *y = tt_tensor(1, (int64_t[]){ny}, NULL)->data;
    tg_real *dw = tt_random(1, (int64_t[]){nw}, 34, -1, 1)->data, dw0[18];
    memcpy(dw0, dw, sizeof dw0);
    const size_t fwd_size = tg_winograd1d_scratch(&g, k.n, k.o), dw_size = tg_winograd1d_dw_scratch(&g, k.n, k.o);
    tg_real *scratch = malloc((fwd_size > dw_size ? fwd_size : dw_size) * sizeof *scratch);
    const tg_real bad[2] = {(tg_real)NAN, (tg_real)INFINITY};
    for (int i = 0; i < 2; i++) {
        x[47] = bad[i];
        ck_assert(!tg_winograd1d_conv(&g, k.n, k.o, x, w, y, false, scratch));
        ck_assert(!tg_winograd1d_dw(&g, k.n, k.o, x, dy, dw, scratch));
        ck_assert(memcmp(dw, dw0, sizeof dw0) == 0);
        x[47] = 0;
        dy[61] = -bad[i];
        ck_assert(!tg_winograd1d_dw(&g, k.n, k.o, x, dy, dw, scratch));
        ck_assert(memcmp(dw, dw0, sizeof dw0) == 0);
        dy[61] = 0;
    }
    ck_assert(tg_winograd1d_conv(&g, k.n, k.o, x, w, y, false, scratch));
    free(scratch);
    /* through conv1d: the GEMM path's NaN / Inf pattern, forward and backward */
    tg_tensor *xt = wino_random(3, (int64_t[]){2, 32, 40}, 35), *wt = wino_random(3, (int64_t[]){32, 32, 3}, 36);
    xt->data[32 * 40 + 5 * 40 + 17] = (tg_real)NAN;
    xt->data[11] = (tg_real)INFINITY;
    xt->requires_grad = wt->requires_grad = true;
    tg_conv_attr a;
    tg_attr_defaults(TG_OP_CONV1D, &a);
    a.padding = (tg_ints){1, {1}};
    tg_real *got[2][3];
    for (int algo = 0; algo < 2; algo++) {
        tg_conv_set_algo(algo ? TG_CONV_ALGO_WINOGRAD : TG_CONV_ALGO_GEMM);
        tg_tensor_zero_grad(xt);
        tg_tensor_zero_grad(wt);
        tg_tensor *yt = tg_conv1d(tt_tape(), xt, wt, NULL, &a);
        ck_assert_ptr_nonnull(yt);
        tg_tensor *dyt = wino_random(3, yt->shape, 37);
        dyt->data[40 + 23] = (tg_real)NAN; /* dX's non-finite values come from dY */
        ck_assert_int_eq(tg_backward_with(yt, dyt->data), TG_OK);
        const tg_tensor *v[3] = {yt, xt, wt};
        for (int j = 0; j < 3; j++) {
            got[algo][j] = malloc((size_t)v[j]->numel * sizeof(tg_real));
            memcpy(got[algo][j], j ? v[j]->grad : v[j]->data, (size_t)v[j]->numel * sizeof(tg_real));
        }
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    const int64_t counts[3] = {2 * 32 * 40, 2 * 32 * 40, 32 * 32 * 3};
    for (int j = 0; j < 3; j++) {
        int64_t nonfinite = 0;
        for (int64_t e = 0; e < counts[j]; e++) {
            ck_assert_msg(isfinite(got[0][j][e]) == isfinite(got[1][j][e]) && isnan(got[0][j][e]) == isnan(got[1][j][e]),
                          "value %d element %lld: gemm %g, winograd %g", j, (long long)e, (double)got[0][j][e],
                          (double)got[1][j][e]);
            nonfinite += !isfinite(got[0][j][e]);
        }
        ck_assert_int_gt(nonfinite, 0);
        free(got[0][j]);
        free(got[1][j]);
    }
}
END_TEST

/* x = 1..6, w = [1 2 3]: y_i = x_i + 2 x_(i+1) + 3 x_(i+2) = 14 20 26 32; padding 1 adds
 * 0 + 2*1 + 3*2 = 8 in front and 5 + 2*6 + 0 = 17 behind; dilation 2 with padding 2 reads
 * p_i + 2 p_(i+2) + 3 p_(i+4) of [0 0 1 2 3 4 5 6 0 0]: 0+2+9 = 11, 0+4+12 = 16, 1+6+15 = 22,
 * 2+8+18 = 28, 3+10+0 = 13, 4+12+0 = 16. Every tile shape's matrices on the same values: w padded
 * with zero taps to 2..7 taps changes nothing. */
START_TEST(winograd1d_hand_computed)
{
    double xv[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tt_tensor(3, (int64_t[]){1, 1, 6}, xv);
    tg_conv_set_algo(TG_CONV_ALGO_WINOGRAD);
    tg_conv_attr a;
    tg_attr_defaults(TG_OP_CONV1D, &a);
    tg_tensor *w = tt_tensor(3, (int64_t[]){1, 1, 3}, ((double[]){1, 2, 3}));
    tg_tensor *y = tg_conv1d(tt_tape(), x, w, NULL, &a);
    tt_assert_shape(y, 1, 1, 4);
    tt_assert_close(y->data, ((double[]){14, 20, 26, 32}), 4, TT_TOL);
    a.padding = (tg_ints){1, {1}};
    y = tg_conv1d(tt_tape(), x, w, NULL, &a);
    tt_assert_close(y->data, ((double[]){8, 14, 20, 26, 32, 17}), 6, TT_TOL);
    a.padding = (tg_ints){1, {2}};
    a.dilation = (tg_ints){1, {2}};
    y = tg_conv1d(tt_tape(), x, w, NULL, &a);
    tt_assert_close(y->data, ((double[]){11, 16, 22, 28, 13, 16}), 6, TT_TOL);
    tg_attr_defaults(TG_OP_CONV1D, &a);
    for (int64_t taps = 3; taps <= 6; taps++) { /* [1 2 3 0 ...]: the first 7 - taps outputs */
        double wv[6] = {1, 2, 3, 0, 0, 0};
        w = tt_tensor(3, (int64_t[]){1, 1, taps}, wv);
        y = tg_conv1d(tt_tape(), x, w, NULL, &a);
        tt_assert_shape(y, 1, 1, 7 - taps);
        tt_assert_close(y->data, ((double[]){14, 20, 26, 32}), 7 - taps, TT_TOL);
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
}
END_TEST

/* conv1d with Winograd forced vs the GEMM path: y, dX (the rotated path, itself a 1-D Winograd
 * convolution of dY) and dW over taps 2..7, dilation 1..3, padding, lengths with partial tiles,
 * channels {1, 5, 17}, batches 1..3, on 1 and 3 threads. */
START_TEST(winograd1d_conv1d_matches_gemm)
{
    static const int64_t lengths[] = {4, 9, 33, 70};
    static const int64_t chans[] = {1, 5, 17};
    int cases = 0;
    tg_tape *t = tt_tape();
    for (int64_t taps = 2; taps <= 7; taps++)
        for (int64_t dil = 1; dil <= 3; dil++)
            for (int li = 0; li < 4; li++) {
                const int64_t c = chans[(taps + li) % 3], o = chans[(dil + li) % 3], n = 1 + (taps + dil + li) % 3;
                const int64_t len = lengths[li], pad = (taps + li) % 2 ? dil * (taps - 1) / 2 : dil;
                if (len + 2 * pad < dil * (taps - 1) + 1) continue;
                tg_tensor *x = wino_random(3, (int64_t[]){n, c, len}, 6000 + (uint64_t)cases);
                tg_tensor *w = wino_random(3, (int64_t[]){o, c, taps}, 6100 + (uint64_t)cases);
                tg_tensor *b = wino_random(1, (int64_t[]){o}, 6200 + (uint64_t)cases);
                x->requires_grad = w->requires_grad = true;
                tg_conv_attr a;
                tg_attr_defaults(TG_OP_CONV1D, &a);
                a.padding = (tg_ints){1, {pad}};
                a.dilation = (tg_ints){1, {dil}};
                tg_tensor *dy = NULL;
                double *want[3] = {NULL, NULL, NULL};
                for (int run = 0; run < 3; run++) { /* GEMM, then Winograd on 1 and 3 threads */
                    tg_set_threads(run == 2 ? 3 : 1);
                    tg_conv_set_algo(run ? TG_CONV_ALGO_WINOGRAD : TG_CONV_ALGO_GEMM);
                    tg_conv_set_dx_path(run ? TG_CONV_DX_ROTATED : TG_CONV_DX_COL2IM);
                    tg_tensor_zero_grad(x);
                    tg_tensor_zero_grad(w);
                    tg_tape_reset(t);
                    tg_tensor *y = tg_conv1d(t, x, w, b, &a);
                    ck_assert_ptr_nonnull(y);
                    if (!dy) dy = wino_random(3, y->shape, 6300 + (uint64_t)cases);
                    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                    const tg_tensor *got[3] = {y, x, w};
                    for (int v = 0; v < 3; v++) {
                        const tg_real *data = v ? got[v]->grad : got[v]->data;
                        if (!run) {
                            want[v] = malloc((size_t)got[v]->numel * sizeof *want[v]);
                            for (int64_t e = 0; e < got[v]->numel; e++) want[v][e] = data[e];
                        } else {
                            /* dW sums n * out products per tap: scale the tolerance with them */
                            const double tol = v == 2 ? W1_DW_TOL * (double)(n * y->shape[2]) : 4 * W1_TOL * (double)c;
                            direct_assert_close(data, want[v], got[v]->numel, tol);
                        }
                    }
                }
                for (int v = 0; v < 3; v++) free(want[v]);
                cases++;
            }
    tg_set_threads(1);
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    ck_assert_int_ge(cases, 60);
}
END_TEST

/* Gradient checks of conv1d with Winograd forced (dX by the rotated path and by auto). */
START_TEST(gradcheck_winograd1d)
{
    static const int64_t shapes[][6] = {/* N, C, L, O, taps, dilation */
                                        {1, 1, 6, 1, 3, 1}, {2, 3, 9, 2, 5, 1}, {1, 2, 11, 3, 2, 2}, {2, 2, 13, 2, 7, 1},
                                        {1, 3, 10, 2, 3, 3}, {3, 1, 5, 1, 4, 1}};
    tg_conv_set_algo(TG_CONV_ALGO_WINOGRAD);
    for (int dx = 0; dx < 2; dx++) {
        tg_conv_set_dx_path(dx ? TG_CONV_DX_AUTO : TG_CONV_DX_ROTATED);
        for (int i = 0; i < 6; i++) {
            const int64_t *s = shapes[i];
            tg_conv_attr a;
            tg_attr_defaults(TG_OP_CONV1D, &a);
            a.padding = (tg_ints){1, {s[5] * (s[4] - 1) / 2 + i % 2}};
            a.dilation = (tg_ints){1, {s[5]}};
            tg_tensor *x = wino_random(3, (int64_t[]){s[0], s[1], s[2]}, 8000 + (uint64_t)i);
            tg_tensor *w = wino_random(3, (int64_t[]){s[3], s[1], s[4]}, 8100 + (uint64_t)i);
            tg_tensor *b = wino_random(1, (int64_t[]){s[3]}, 8200 + (uint64_t)i);
            tt_gradcheck_op(TG_OP_CONV1D, &a, ((tg_tensor *[]){x, w, b}), 3);
        }
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
}
END_TEST

/* Which forward path AUTO takes for conv1d at batch 64: the 1-D Winograd from 32 channels in and
 * out and 32 outputs (64 channels past 5 taps; dilation 2 from 64 channels), shift below (dilated
 * rows of fewer channels too), GEMM for dilation 4, strides, groups and short rows. */
START_TEST(winograd1d_auto_choice)
{
    typedef struct { int64_t c, o, len, taps, dilation, stride, groups; const char *want; } choice_case;
    const choice_case cases[] = {
        {32, 32, 128, 3, 1, 1, 1, "winograd"}, {32, 64, 128, 5, 1, 1, 1, "winograd"},
        {64, 128, 64, 3, 1, 1, 1, "winograd"}, {64, 64, 64, 7, 1, 1, 1, "winograd"},
        {128, 128, 32, 3, 2, 1, 1, "winograd"}, {64, 64, 128, 3, 4, 1, 1, "gemm"},
        {32, 32, 256, 3, 2, 1, 1, "shift"},
        {32, 32, 16, 3, 1, 1, 1, "gemm"},
        {64, 64, 128, 3, 1, 2, 1, "gemm"},     {128, 128, 128, 3, 1, 1, 2, "gemm"},
        {16, 16, 128, 3, 1, 1, 1, "shift"},    {32, 32, 128, 7, 1, 1, 1, "shift"},
    };
    if (!tg_conv_shift_kernel_is_simd()) return; /* then GEMM takes the shift cases */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const choice_case *c = &cases[i];
        tg_conv_core k = {.n = 64, .groups = c->groups, .ca = c->c, .cb = c->o, .algo = TG_CONV_FWD_AUTO};
        k.geom.channels = c->c / c->groups;
        for (int d = 0; d < 3; d++) k.geom.in[d] = k.geom.out[d] = k.geom.kernel[d] = k.geom.stride[d] = k.geom.dilation[d] = 1;
        k.geom.in[2] = c->len;
        k.geom.kernel[2] = c->taps;
        k.geom.dilation[2] = c->dilation;
        k.geom.stride[2] = c->stride;
        k.geom.pad[2] = c->dilation * (c->taps - 1) / 2;
        k.geom.out[2] = (c->len + 2 * k.geom.pad[2] - c->dilation * (c->taps - 1) - 1) / c->stride + 1;
        for (int threads = 1; threads <= 3; threads++) {
            k.threads = threads;
            ck_assert_msg(strcmp(tg_conv_forward_path(&k), c->want) == 0, "case %zu, %d threads: %s, want %s", i,
                          threads, tg_conv_forward_path(&k), c->want);
        }
    }
}
END_TEST

static TCase *winograd1d_tcase(void)
{
    TCase *tc = tt_tcase("winograd1d");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, winograd1d_kernel_matches_naive);
    tcase_add_test(tc, winograd1d_geometry_limits);
    tcase_add_test(tc, winograd1d_stops_on_nonfinite);
    tcase_add_test(tc, winograd1d_hand_computed);
    tcase_add_test(tc, winograd1d_conv1d_matches_gemm);
    tcase_add_test(tc, gradcheck_winograd1d);
    tcase_add_test(tc, winograd1d_auto_choice);
    return tc;
}

/* ==== dW's transposed packing over many rows ====
 * tg_im2col_pack_bt fills blocks of up to 256 rows of M at a time (AVX-512), few rows in wide
 * spans of columns; on layer-sized geometries (more rows than one block, and C = 1; 5x5 and 3x3,
 * stride 1 and 2, two images, unaligned block starts and k counts that are not multiples of 32)
 * it must equal the plain im2col matrix element for element, with the last panel's tail zero. */
START_TEST(im2col_pack_bt_many_rows_matches_plain)
{
    static const int64_t cases[][5] = {/* channels, size, kernel, stride, pad */
                                       {20, 14, 5, 1, 2}, {37, 13, 3, 1, 1}, {64, 11, 3, 2, 1}, {29, 17, 3, 2, 0}, {1, 28, 5, 1, 2}};
    for (int i = 0; i < 5; i++) {
        const int64_t *c = cases[i];
        tg_conv_geom g = {.channels = c[0]};
        for (int d = 0; d < 3; d++) g.in[d] = g.out[d] = g.kernel[d] = g.stride[d] = g.dilation[d] = 1;
        for (int d = 1; d < 3; d++) {
            g.in[d] = c[1];
            g.kernel[d] = c[2];
            g.stride[d] = c[3];
            g.pad[d] = c[4];
            g.out[d] = (c[1] + 2 * c[4] - c[2]) / c[3] + 1;
        }
        const int64_t images = 2, pa = tg_conv_geom_in_size(&g), pb = tg_conv_geom_out_size(&g);
        const int64_t rows = c[0] * c[2] * c[2], cols = images * pb, stride = c[0] * pa + 5;
        tg_real *x = tt_random(1, (int64_t[]){images * stride}, 7000 + (uint64_t)i, -1, 1)->data;
        tg_real *m = tt_tensor(1, (int64_t[]){rows * cols}, NULL)->data;
        for (int64_t n = 0; n < images; n++) tg_im2col(&g, x + n * stride, m + n * pb, cols);
        /* B = M^T: k runs over M's columns, B's columns over M's rows */
        const int64_t blocks[3][4] = {{0, cols, 0, rows}, {7, cols - 7 > 200 ? 200 : cols - 7, 3, rows - 3},
                                      {33, cols - 40, 261, rows - 261 > 0 ? rows - 261 : rows}};
        for (int b = 0; b < 3; b++) {
            int64_t p0 = blocks[b][0], kc = blocks[b][1], j0 = blocks[b][2], nc = blocks[b][3];
            if (j0 + nc > rows) j0 = 0;
            const int nr = 32;
            int64_t panels = (nc + nr - 1) / nr, size = panels * kc * nr;
            tg_real *dst = tt_tensor(1, (int64_t[]){size}, NULL)->data;
            for (int64_t e = 0; e < size; e++) dst[e] = (tg_real)NAN;
            tg_im2col_src src = {&g, x, stride, images};
            tg_im2col_pack_bt(&src, p0, kc, j0, nc, nr, dst);
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = 0; j < panels * nr; j++) {
                    tg_real got = dst[(j / nr) * kc * nr + p * nr + j % nr];
                    tg_real want = j >= nc ? 0 : m[(j0 + j) * cols + p0 + p];
                    if (!(got == want))
                        ck_abort_msg("case %d block %d: B[%lld,%lld] = %g, want %g", i, b, (long long)p, (long long)j,
                                     (double)got, (double)want);
                }
        }
    }
}
END_TEST

static TCase *pack_rows_tcase(void)
{
    TCase *tc = tt_tcase("pack_rows");
    tcase_add_test(tc, im2col_pack_bt_many_rows_matches_plain);
    return tc;
}

/* ==== NaN and Inf through every convolution path ====
 * PyTorch (direct and im2col loops) gives NaN or ±Inf exactly in the outputs whose window reads a
 * non-finite input, and in the weight-gradient entries that multiply it. Every path here must
 * agree with the naive loops on that pattern: GEMM with stacked and single images, pointwise,
 * depthwise (direct kernel), Winograd forced (forward, the rotated dX it also runs, its dW), and
 * both dX paths. A Winograd tile mixes its 4x4 inputs, so one NaN pixel would reach outputs
 * whose window does not read it. */

static bool same_nonfinite(double g, double w, double tol)
{
    return isnan(w) ? isnan(g) : isinf(w) ? g == w : isfinite(g) && fabs(g - w) <= tol * (1 + fabs(w));
}

/* want NaN: got NaN; want ±Inf: the same; want finite: got finite and within tol. alt (or NULL):
 * a second accepted answer per element. */
static void assert_same_nonfinite(const char *what, const char *path, const tg_real *got, const double *want,
                                  const double *alt, int64_t n, double tol, bool expect_nan)
{
    int64_t nan_seen = 0;
    for (int64_t i = 0; i < n; i++) {
        const double g = (double)got[i], w = want[i];
        const bool ok = same_nonfinite(g, w, tol) || (alt && same_nonfinite(g, alt[i], tol));
        nan_seen += isnan(w);
        ck_assert_msg(ok, "%s (%s): element %lld is %g, want %g", what, path, (long long)i, g, w);
    }
    ck_assert_msg(!expect_nan || nan_seen > 0, "%s (%s): the case has no NaN to check", what, path);
}

/* PyTorch's float64 CPU weight gradient is dY times im2col(x)^T, whose zero padding is a real
 * product: a NaN or Inf in dY at a border output reaches the taps that read padding too (0·NaN =
 * NaN); its float32 (oneDNN) kernels skip the padding, as the reference convolution does. PyTorch itself
 * differs there, so either answer is accepted for those entries; this adds the products. */
static void ref_dw_padding_products(const ref_cfg *c, const tg_real *dy, double *dw)
{
    int64_t out[3], cg = c->c / c->groups;
    for (int i = 0; i < 3; i++) out[i] = ref_conv_out(c, i);
    const int64_t plane = out[0] * out[1] * out[2];
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t pos = 0; pos < plane; pos++) {
                const double g = dy[(n * c->o + o) * plane + pos];
                if (isfinite(g)) continue;
                const int64_t z = pos / (out[1] * out[2]), h = pos / out[2] % out[1], v = pos % out[2];
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t a = 0; a < c->k[0]; a++)
                        for (int64_t e = 0; e < c->k[1]; e++)
                            for (int64_t f = 0; f < c->k[2]; f++) {
                                const int64_t iz = z * c->s[0] + a * c->d[0] - c->p[0];
                                const int64_t ih = h * c->s[1] + e * c->d[1] - c->p[1];
                                const int64_t iw = v * c->s[2] + f * c->d[2] - c->p[2];
                                if (iz < 0 || ih < 0 || iw < 0 || iz >= c->in[0] || ih >= c->in[1] || iw >= c->in[2])
                                    dw[(((o * cg + ci) * c->k[0] + a) * c->k[1] + e) * c->k[2] + f] += g * 0.0;
                            }
            }
}

START_TEST(nonfinite_inputs_every_path)
{
    /* nan_dy: NaN and +Inf in dY too; finite_x: x without NaN/Inf (to reach a dY check on its own) */
    typedef struct { ref_cfg c; tg_conv_algo algo; tg_conv_dx_path dx; const char *name; bool nan_dy, finite_x; } nf_case;
    const nf_case cases[] = {
        {cfg(2, 2, 17, 17, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_GEMM, TG_CONV_DX_COL2IM, "gemm stacked, col2im", false, false},
        {cfg(2, 2, 17, 17, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_GEMM, TG_CONV_DX_ROTATED, "gemm stacked, rotated", false, false},
        {cfg(2, 2, 17, 17, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_ROTATED, "winograd, rotated", false, false},
        {cfg(2, 2, 17, 17, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_COL2IM, "winograd, col2im", false, false},
        {cfg(2, 1, 128, 128, 1, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_AUTO, "winograd dW (128 channels)", false, false},
        {cfg(2, 1, 128, 128, 1, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_AUTO, "winograd dW, NaN and Inf in dY", true, false},
        {cfg(2, 1, 128, 128, 1, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_AUTO, "winograd dW, NaN and Inf in dY only", true, true},
        /* 2 x 1024 tiles: two Winograd chunks, the NaN in the second; dX accumulates */
        {cfg(2, 2, 4, 4, 1, V(64, 64), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_ROTATED, "winograd rotated dX, two chunks, NaN and Inf in dY only", true, true},
        {cfg(2, 2, 4, 4, 1, V(64, 64), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_ROTATED, "winograd forward, two chunks", false, false},
        {cfg(2, 1, 32, 8, 1, V(30, 31), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_GEMM, TG_CONV_DX_COL2IM, "dW in place (32 channels, one large image), NaN and Inf in dY", true, false},
        {cfg(2, 2, 4, 4, 4, V(9, 11), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "depthwise (direct), NaN and Inf in dY", true, false},
        {cfg(2, 2, 4, 4, 4, V(9, 11), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "depthwise stride 2 (direct adjoint), NaN and Inf in dY", true, false},
        {cfg(2, 2, 6, 4, 1, V(9, 11), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_GEMM, TG_CONV_DX_ROTATED, "stride 2 rotated dX, NaN and Inf in dY", true, false},
        {cfg(2, 2, 17, 17, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_WINOGRAD, TG_CONV_DX_ROTATED, "winograd rotated dX, NaN and Inf in dY", true, false},
        {cfg(2, 1, 3, 4, 1, V(24, 25), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_ROTATED, "gemm one large image, stride 2, rotated", false, false},
        {cfg(2, 1, 3, 4, 1, V(24, 25), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_COL2IM, "gemm one large image, stride 2, col2im", false, false},
        {cfg(2, 2, 8, 5, 1, V(7, 6), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "pointwise", false, false},
        {cfg(2, 1, 8, 5, 1, V(23, 24), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "pointwise, one large image", false, false},
        {cfg(2, 2, 4, 4, 4, V(9, 11), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "depthwise (direct)", false, false},
        {cfg(2, 2, 4, 8, 4, V(9, 11), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_ROTATED, "depthwise x2, stride 2, rotated", false, false},
        {cfg(1, 2, 6, 4, 2, V(40), V(5), V(1), V(2), V(2), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "conv1d groups 2, dilation 2", false, false},
        /* the shift kernels: dW falls back to the GEMMs when x holds NaN or Inf (its zeros of dY's
         * thrown-away positions meet inputs the convolution never pairs with them) */
        {cfg(2, 2, 16, 16, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_SHIFT, TG_CONV_DX_AUTO, "shift", false, false},
        {cfg(2, 2, 16, 16, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_SHIFT, TG_CONV_DX_ROTATED, "shift, NaN and Inf in dY", true, false},
        {cfg(2, 2, 16, 16, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_SHIFT, TG_CONV_DX_ROTATED, "shift, NaN and Inf in dY only", true, true},
        {cfg(2, 2, 5, 3, 1, V(8, 9), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_SHIFT, TG_CONV_DX_ROTATED, "shift rotated phases (stride 2), NaN and Inf in dY", true, false},
        {cfg(2, 2, 16, 16, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "16 channels (auto: shift)", false, false},
        /* the output-channel-vector kernels multiply the zero padding as im2col does, and dB only
         * with the inputs the convolution pairs it with: no fallback needed */
        {cfg(2, 2, 8, 20, 1, V(7, 6), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), TG_CONV_ALGO_OVEC, TG_CONV_DX_ROTATED, "ovec", false, false},
        {cfg(2, 2, 8, 20, 1, V(7, 6), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), TG_CONV_ALGO_OVEC, TG_CONV_DX_ROTATED, "ovec, NaN and Inf in dY", true, false},
        {cfg(2, 2, 6, 18, 1, V(9, 8), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), TG_CONV_ALGO_OVEC, TG_CONV_DX_ROTATED, "ovec rotated phases (stride 2), NaN and Inf in dY only", true, true},
        {cfg(2, 2, 24, 48, 1, V(9, 9), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), TG_CONV_ALGO_AUTO, TG_CONV_DX_AUTO, "5x5 24 -> 48 at 9x9 (auto: ovec)", false, false},
    };
    tg_tape *t = tt_tape();
    ck_assert_int_eq(tg_winograd_set_tile(_i ? 4 : 0), 0);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const ref_cfg *c = &cases[ci].c;
        ref_case r = make_case(c, false, 7000 + ci);
        /* NaN, +Inf and -Inf at spread positions (different images and channels) */
        const int64_t plane = c->in[0] * c->in[1] * c->in[2], numel = r.x->numel;
        if (!cases[ci].finite_x) {
            r.x->data[plane / 2 + plane / 3] = (tg_real)NAN;                              /* image 0, channel 0 */
            r.x->data[(c->c - 1) * plane + plane / 5] = (tg_real)INFINITY;                /* last channel */
            r.x->data[numel - plane - 1 - c->in[2]] = (tg_real)-INFINITY;                 /* an edge pixel */
        }
        r.x->requires_grad = r.w->requires_grad = true;
        tg_conv_set_algo(cases[ci].algo);
        tg_conv_set_dx_path(cases[ci].dx);
        tg_tape_reset(t);
        tg_tensor *y = tg_op_apply(t, r.op, (tg_tensor *[]){r.x, r.w, r.b}, 3, &r.attr);
        ck_assert_msg(y != NULL, "%s: %s", cases[ci].name, tg_error(t));
        tg_tensor *dy = tt_random(y->ndim, y->shape, 8000 + ci, -1, 1);
        if (cases[ci].nan_dy) { /* NaN at a border output, +Inf at an inner one */
            dy->data[dy->numel / 2 + 3] = (tg_real)NAN;
            dy->data[dy->numel - 2 * y->shape[y->ndim - 1] - 2] = (tg_real)INFINITY;
        }
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        double *want_y = calloc((size_t)y->numel, sizeof *want_y), *want_dx = calloc((size_t)numel, sizeof *want_dx);
        double *want_dw = calloc((size_t)r.w->numel, sizeof *want_dw), *im2col_dw = malloc((size_t)r.w->numel * sizeof *im2col_dw);
        ref_conv(c, r.x->data, r.w->data, r.b->data, want_y);
        reference_grads(&r, dy, want_dx, want_dw);
        memcpy(im2col_dw, want_dw, (size_t)r.w->numel * sizeof *im2col_dw);
        ref_dw_padding_products(c, dy->data, im2col_dw);
        /* Winograd F(4x4) (AUTO's tile with the AVX-512 transforms): its float32 error on 128-channel
         * sums is a few times the other paths' */
        const double tol = TT_DOUBLE ? 1e-9 : cases[ci].algo == TG_CONV_ALGO_WINOGRAD ? 4e-4 : 1e-4;
        assert_same_nonfinite("y", cases[ci].name, y->data, want_y, NULL, y->numel, tol, !cases[ci].finite_x);
        /* dX reads W and dY only: finite unless dY holds the NaN */
        assert_same_nonfinite("dx", cases[ci].name, r.x->grad, want_dx, NULL, numel, tol, cases[ci].nan_dy);
        assert_same_nonfinite("dw", cases[ci].name, r.w->grad, want_dw, im2col_dw, r.w->numel, tol, true);
        free(want_y), free(want_dx), free(want_dw), free(im2col_dw);
    }
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_conv_set_dx_path(TG_CONV_DX_AUTO);
    tg_winograd_set_tile(0);
}
END_TEST

static TCase *nonfinite_tcase(void)
{
    TCase *tc = tt_tcase("nonfinite");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, nonfinite_inputs_every_path, 0, 2); /* Winograd's tile by AUTO's rule, then F(4x4) */
    return tc;
}

/* ==== the shift kernels (ops/kernels/conv_shift.h) ==== */

/* y, dX and dW of case r with an algorithm forced (attr algo=; dX by the rotated path, whose
 * stride-1 phases run it too), copied out. */
static void forced_run(const ref_case *r, tg_conv_algo algo, int threads, tg_real *y_out, tg_real *dx_out,
                       tg_real *dw_out, const tg_tensor *dy)
{
    tg_set_threads(threads);
    tg_tape *t = tg_tape_new(0);
    tg_conv_attr a = r->attr;
    a.algo = algo;
    a.dx_algo = TG_CONV_DX_ROTATED;
    tg_tensor_zero_grad(r->x);
    tg_tensor_zero_grad(r->w);
    tg_tensor *y = tg_op_apply(t, r->op, (tg_tensor *[]){r->x, r->w, NULL}, 3, &a);
    ck_assert_msg(y != NULL, "%s: %s", tg_conv_algo_name(algo), tg_error(t));
    ck_assert_int_eq(y->numel, dy->numel);
    memcpy(y_out, y->data, (size_t)y->numel * sizeof *y_out);
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    memcpy(dx_out, r->x->grad, (size_t)r->x->numel * sizeof *dx_out);
    memcpy(dw_out, r->w->grad, (size_t)r->w->numel * sizeof *dw_out);
    tg_tape_free(t);
    tg_set_threads(1);
}

/* The shift tests' oracle for case r: y by the reference loops, dY drawn from seed, dX and dW by
 * reference_grads. false (nothing kept) when the output is empty (a transposed geometry). */
typedef struct shift_oracle {
    tg_tensor *dy;
    double *y, *dx, *dw;
    int64_t ny, nx, nw;
} shift_oracle;

static bool shift_oracle_make(const ref_case *r, uint64_t seed, shift_oracle *o)
{
    tg_tape *rt = tg_tape_new(0);
    tg_conv_attr a = r->attr;
    a.algo = TG_CONV_ALGO_REFERENCE;
    tg_tensor *yr = tg_op_apply(rt, r->op, (tg_tensor *[]){r->x, r->w, NULL}, 3, &a);
    if (!yr || yr->numel == 0) {
        tg_tape_free(rt);
        return false;
    }
    o->ny = yr->numel, o->nx = r->x->numel, o->nw = r->w->numel;
    o->y = malloc((size_t)o->ny * sizeof *o->y);
    o->dx = malloc((size_t)o->nx * sizeof *o->dx);
    o->dw = malloc((size_t)o->nw * sizeof *o->dw);
    for (int64_t e = 0; e < o->ny; e++) o->y[e] = yr->data[e];
    o->dy = tt_random(yr->ndim, yr->shape, seed, -1, 1);
    tg_tape_free(rt);
    reference_grads(r, o->dy, o->dx, o->dw);
    return true;
}

/* y, dX and dW against the oracle (dW sums more products: a looser float32 bound), then freed. */
static void shift_oracle_check_free(shift_oracle *o, const tg_real *y, const tg_real *dx, const tg_real *dw)
{
    const double tol = TT_DOUBLE ? 1e-10 : 2e-4;
    tt_assert_close(y, o->y, o->ny, tol);
    tt_assert_close(dx, o->dx, o->nx, tol);
    tt_assert_close(dw, o->dw, o->nw, tol * 4);
    free(o->y), free(o->dx), free(o->dw);
}

/* A case for forced_cases_match_reference: a geometry, as a convolution or a transposed one. */
typedef struct forced_case {
    ref_cfg c;
    bool transposed;
} forced_case;

/* Each of `n` cases with `algo` forced and each kernel set_kernel accepts (portable, AVX2,
 * AVX-512 where the CPU runs them): y, dX and dW against the oracle (seeds from `seed`), and 2
 * and 3 threads give the same bits as 1. */
static void forced_cases_match_reference(const forced_case *cases, size_t n, tg_conv_algo algo,
                                         int (*set_kernel)(const char *), uint64_t seed)
{
    static const char *const kernels[] = {"portable", "avx2", "avx512"};
    int ran = 0;
    for (int kind = 0; kind < 3; kind++) {
        if (set_kernel(kernels[kind]) != 0) continue;
        ran++;
        for (size_t i = 0; i < n; i++) {
            ref_case r = make_case(&cases[i].c, cases[i].transposed, seed + i);
            r.x->requires_grad = r.w->requires_grad = true;
            shift_oracle o;
            ck_assert(shift_oracle_make(&r, seed + 100 + i, &o));
            const int64_t ny = o.ny, nx = o.nx, nw = o.nw;
            tg_real *got[3][3];
            for (int threads = 1; threads <= 3; threads++) {
                tg_real **g = got[threads - 1];
                g[0] = tt_tensor(1, (int64_t[]){ny}, NULL)->data;
                g[1] = tt_tensor(1, (int64_t[]){nx}, NULL)->data;
                g[2] = tt_tensor(1, (int64_t[]){nw}, NULL)->data;
                forced_run(&r, algo, threads, g[0], g[1], g[2], o.dy);
            }
            shift_oracle_check_free(&o, got[0][0], got[0][1], got[0][2]);
            for (int threads = 2; threads <= 3; threads++)
                ck_assert_msg(memcmp(got[0][0], got[threads - 1][0], (size_t)ny * sizeof(tg_real)) == 0 &&
                                  memcmp(got[0][1], got[threads - 1][1], (size_t)nx * sizeof(tg_real)) == 0 &&
                                  memcmp(got[0][2], got[threads - 1][2], (size_t)nw * sizeof(tg_real)) == 0,
                              "%s %s case %zu: %d threads differ from 1", tg_conv_algo_name(algo), kernels[kind], i,
                              threads);
        }
    }
    set_kernel(NULL);
    ck_assert_int_ge(ran, 1);
}

/* Every kernel (portable, AVX2, AVX-512 where the CPU runs them) against the reference loops:
 * 1-D/2-D/3-D, odd sizes, kernels 1..5 wide, dilations, pads from 0 to past the kernel (the
 * rotated path's negative pads crop), groups, output channels that fill no whole block (3, 11),
 * transposed convolutions (their forward is the rotated dX, their dX the forward), strides (the
 * rotated phases), one image (its positions split among the threads) and batches split by image;
 * and 2 and 3 threads give the same bits as 1. */
START_TEST(shift_matches_reference)
{
    const forced_case cases[] = {
        {cfg(2, 3, 16, 16, 1, V(9, 8), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 3, 11, 1, V(7, 12), V(5, 3), V(1, 1), V(2, 0), V(1, 2), NULL), false},
        {cfg(2, 2, 6, 10, 2, V(6, 7), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 4, 3, 1, V(5, 6), V(3, 3), V(1, 1), V(3, 2), V(1, 1), NULL), false}, /* pad past the kernel */
        {cfg(2, 1, 5, 9, 1, V(40, 37), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false}, /* one image */
        {cfg(1, 3, 4, 9, 1, V(37), V(5), V(1), V(2), V(2), NULL), false},
        {cfg(1, 2, 2, 3, 1, V(3), V(1), V(1), V(1), V(1), NULL), false},                  /* 1-wide, padded */
        {cfg(3, 2, 2, 3, 1, V(4, 5, 6), V(2, 3, 2), V(1, 1, 1), V(1, 1, 0), V(1, 1, 2), NULL), false},
        {cfg(2, 2, 5, 7, 1, V(9, 8), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false},   /* stride 2: phases */
        {cfg(2, 2, 8, 6, 2, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), true},
        {cfg(2, 2, 4, 5, 1, V(4, 5), V(3, 3), V(2, 2), V(1, 1), V(1, 1), V(1, 0)), true},
        /* a last block of at most half the channels (12 = 8 + 4; the rotated dX into 36 = 32 + 4):
         * the half-channel shape over pairs of position steps, a range's odd last step in full */
        {cfg(2, 2, 36, 12, 1, V(9, 10), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 1, 20, 12, 1, V(13, 14), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false}, /* one image */
        /* strides: the phase boxes (rows long enough for whole vectors of the stride-2 deal, odd
         * and even pads, odd and even widths), stride 3 with dilation, 1-D, 3-D, groups, 1x1 */
        {cfg(2, 2, 5, 7, 1, V(21, 70), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 4, 6, 1, V(19, 67), V(3, 5), V(2, 2), V(0, 2), V(1, 1), NULL), false},
        {cfg(2, 1, 3, 5, 1, V(20, 41), V(3, 3), V(3, 3), V(1, 1), V(1, 2), NULL), false},
        {cfg(1, 2, 3, 4, 1, V(75), V(5), V(2), V(2), V(1), NULL), false},
        {cfg(3, 2, 2, 3, 1, V(5, 9, 36), V(3, 3, 3), V(2, 1, 2), V(1, 1, 1), V(1, 1, 1), NULL), false},
        {cfg(2, 2, 6, 8, 2, V(16, 33), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 4, 6, 1, V(9, 40), V(1, 1), V(2, 2), V(0, 0), V(1, 1), NULL), false},
    };
    forced_cases_match_reference(cases, sizeof cases / sizeof cases[0], TG_CONV_ALGO_SHIFT, tg_conv_shift_set_kernel,
                                 9100);
}
END_TEST

/* The class, not the instance: 160 random geometries (ranks 1-3, kernels 1-4, dilations 1-3, pads,
 * groups, 1-3 images, every other one with stride 1 so the forward and dW run by the shift kernels,
 * the others through the rotated dX's phases), conv and transposed conv, the shift path forced,
 * against the reference loops, on 1 and 2 threads. */
START_TEST(shift_random_geometries)
{
    uint64_t seed = 4242;
    int checked = 0;
    for (int i = 0; i < 160; i++) {
        ref_cfg c = random_cfg(&seed, i % 8 == 0);
        if (i % 2 == 0)
            for (int d = 0; d < 3; d++) c.s[d] = 1, c.op[d] = 0;
        for (int transposed = 0; transposed < 2; transposed++) {
            ref_case r = make_case(&c, transposed, 9600 + (uint64_t)(2 * i + transposed));
            r.x->requires_grad = r.w->requires_grad = true;
            shift_oracle o;
            if (!shift_oracle_make(&r, 9900 + (uint64_t)i, &o)) continue; /* an empty transposed output */
            tg_real *got_y = tt_tensor(1, (int64_t[]){o.ny}, NULL)->data;
            tg_real *got_dx = tt_tensor(1, (int64_t[]){o.nx}, NULL)->data;
            tg_real *got_dw = tt_tensor(1, (int64_t[]){o.nw}, NULL)->data;
            forced_run(&r, TG_CONV_ALGO_SHIFT, 1 + i % 2, got_y, got_dx, got_dw, o.dy);
            shift_oracle_check_free(&o, got_y, got_dx, got_dw);
            checked++;
        }
    }
    ck_assert_int_ge(checked, 250);
}
END_TEST

/* The layout by hand: a 3x3 filter over a 4x5 image with padding 1 keeps boxes of 6x7 (out 4x5 +
 * 2), so tap (kh, kw) reads 7*kh + kw further; the last kept position is 3*7 + 4 = 25, the
 * computed span whole blocks past it and every read of it inside the box plane. */
START_TEST(shift_plan_by_hand)
{
    tg_conv_geom g = {.channels = 2, .in = {1, 4, 5}, .out = {1, 4, 5}, .kernel = {1, 3, 3}, .stride = {1, 1, 1},
                      .pad = {0, 1, 1}, .dilation = {1, 1, 1}};
    ck_assert(tg_conv_shift_supported(&g));
    tg_conv_shift_plan p;
    tg_conv_shift_plan_make(&g, 5, &p);
    ck_assert_int_eq(p.extent[1], 6);
    ck_assert_int_eq(p.extent[2], 7);
    ck_assert_int_eq(p.taps, 9);
    const int32_t want[9] = {0, 1, 2, 7, 8, 9, 14, 15, 16};
    for (int t = 0; t < 9; t++) ck_assert_int_eq(p.offset[t], want[t]);
    ck_assert_int_ge(p.span, 26);
    ck_assert_int_ge(p.plane, p.span + 16);
    ck_assert_int_ge(p.plane, 6 * 7);
    g.dilation[2] = 2, g.out[2] = 3; /* dilation 2 along W: taps 0, 2, 4 of a box 3 + 4 wide */
    tg_conv_shift_plan_make(&g, 5, &p);
    ck_assert_int_eq(p.extent[2], 7);
    ck_assert_int_eq(p.offset[1], 2);
    ck_assert_int_eq(p.offset[5], 7 + 4);
    /* stride 2, 3x3, padding 1 over 7x9: out 4x5, each of the 4 phases' boxes 5x6 (out + 2/2);
     * tap (kh, kw) reads phase (kh % 2, kw % 2) shifted by (kh / 2) * 6 + kw / 2 */
    g = (tg_conv_geom){.channels = 2, .in = {1, 7, 9}, .out = {1, 4, 5}, .kernel = {1, 3, 3}, .stride = {1, 2, 2},
                       .pad = {0, 1, 1}, .dilation = {1, 1, 1}};
    ck_assert(tg_conv_shift_supported(&g));
    tg_conv_shift_plan_make(&g, 5, &p);
    ck_assert_int_eq(p.extent[1], 5);
    ck_assert_int_eq(p.extent[2], 6);
    ck_assert_int_eq(p.phases, 4);
    const int64_t phase[9] = {0, 1, 0, 2, 3, 2, 0, 1, 0}, shift[9] = {0, 0, 1, 0, 0, 1, 6, 6, 7};
    for (int t = 0; t < 9; t++) ck_assert_int_eq(p.offset[t], phase[t] * p.phase_plane + shift[t]);
    ck_assert_int_ge(p.span, 3 * 6 + 5);
    ck_assert_int_ge(p.phase_plane, p.span + 7);
    ck_assert_int_eq(p.plane, 4 * p.phase_plane);
    g.stride[2] = 65; /* 130 phases: too many */
    ck_assert(!tg_conv_shift_supported(&g));
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_SHIFT), "shift");
    ck_assert_int_eq(tg_conv_shift_set_kernel("no-such-kernel"), -1);
    ck_assert_str_eq(tg_conv_algo_name(TG_CONV_ALGO_OVEC), "ovec");
    ck_assert_int_eq(tg_conv_ovec_set_kernel("no-such-kernel"), -1);
}
END_TEST

/* A 2-D convolution core as AUTO sees it at batch 64: c -> o channels in `groups` groups over
 * size x size maps, a k x k kernel with stride and "same"-style padding k/2. */
static tg_conv_core square_core(int64_t c, int64_t o, int64_t groups, int64_t size, int64_t k, int64_t stride)
{
    tg_conv_core core = {.n = 64, .groups = groups, .ca = c, .cb = o, .algo = TG_CONV_FWD_AUTO};
    core.geom.channels = c / groups;
    for (int d = 0; d < 3; d++)
        core.geom.in[d] = core.geom.out[d] = core.geom.kernel[d] = core.geom.stride[d] = core.geom.dilation[d] = 1;
    for (int d = 1; d < 3; d++) {
        core.geom.in[d] = size;
        core.geom.kernel[d] = k;
        core.geom.stride[d] = stride;
        core.geom.pad[d] = k / 2;
        core.geom.out[d] = (size + 2 * (k / 2) - k) / stride + 1;
    }
    return core;
}

/* Which forward path AUTO takes: with the AVX-512 Winograd kernels Winograd from 8 channels in and
 * out at 8x8 outputs and more (in float, F(4x4)'s: from 7x7 and 3 input channels) (the BN-ResNet's and
 * the DenseNet's layers), the shift kernels below (2 -> 16, 8 -> 4; 4 -> 16 in double) and for 5x5; with the portable ones Winograd from 32
 * channels and shift below (a rule once left 14x14 to Winograd by rounding the shift span too
 * coarsely); GEMM or ovec for smaller maps,
 * 1x1 (also strided) and strided layers past 48 channels or with a tap a phase (3x3 stride 3),
 * the shift kernels for the other strided ones, the direct kernel for depthwise — the same for
 * 1-3 threads and for the part of a split batch. Only with SIMD shift loops (the portable ones are scalar: GEMM then). */
START_TEST(shift_auto_choice)
{
    typedef struct { int64_t c, o, groups, size, k, stride; const char *want, *want_portable; } choice_case;
    const choice_case cases[] = {
        {16, 16, 1, 28, 3, 1, "winograd", "shift"}, {32, 32, 1, 14, 3, 1, "winograd", "winograd"},
        {16, 32, 1, 14, 3, 1, "winograd", "shift"}, {32, 32, 1, 28, 3, 1, "winograd", "winograd"},
        {32, 16, 1, 28, 3, 1, "winograd", "shift"}, {24, 12, 1, 28, 3, 1, "winograd", "shift"},
        {4, 16, 1, 28, 3, 1, TT_DOUBLE ? "shift" : "winograd", "shift"}, {8, 4, 1, 28, 3, 1, "shift", "shift"},
        {2, 16, 1, 28, 3, 1, "shift", "shift"},
        {1, 20, 1, 28, 5, 1, "shift", "shift"},     {64, 64, 1, 14, 3, 1, "winograd", "winograd"},
        {32, 32, 1, 7, 3, 1, TT_DOUBLE ? "ovec" : "winograd", "ovec"}, {16, 16, 1, 28, 3, 2, "shift", "shift"},
        {64, 64, 1, 28, 3, 2, "gemm", "gemm"},      {16, 16, 1, 28, 1, 2, "gemm", "gemm"},
        {32, 32, 1, 12, 3, 3, "ovec", "ovec"},
        {16, 32, 1, 28, 1, 1, "gemm", "gemm"},      {32, 32, 32, 28, 3, 1, "direct", "direct"},
    };
    if (!tg_conv_shift_kernel_is_simd()) return; /* no SIMD shift loops on this CPU: AUTO never takes them */
    for (size_t run = 0; run < 2 * (sizeof cases / sizeof cases[0]); run++) {
        const size_t i = run % (sizeof cases / sizeof cases[0]);
        const int kernel = run >= sizeof cases / sizeof cases[0]; /* avx512, then portable */
        if (tg_winograd_set_kernel(kernel ? "portable" : "avx512")) continue; /* no AVX-512 here */
        const choice_case *c = &cases[i];
        tg_conv_core k = square_core(c->c, c->o, c->groups, c->size, c->k, c->stride);
        const char *want = kernel ? c->want_portable : c->want;
        for (int threads = 1; threads <= 3; threads++) {
            k.threads = threads;
            ck_assert_msg(strcmp(tg_conv_forward_path(&k), want) == 0, "case %zu, %d threads: %s, want %s", i, threads,
                          tg_conv_forward_path(&k), want);
        }
        tg_conv_core part = k;
        part.n = 21, part.plan_n = 64, part.threads = 1;
        ck_assert_str_eq(tg_conv_forward_path(&part), want);
    }
    tg_winograd_set_kernel(NULL);
}
END_TEST

/* Which dW path AUTO takes (2-D, with the AVX-512 Winograd kernels): Winograd with its forward from 16
 * channels in and out (below 32 only on maps up to 48 wide; from 7x7 in float), the shift kernels for fewer channels
 * and for the strided layers they fit, GEMM beyond them; with the portable Winograd kernels its dW
 * only from 128 channels. The same for 1-3 threads and for a part of a split batch. */
START_TEST(dw_auto_choice)
{
    typedef struct { int64_t c, o, size, k, stride; const char *want, *want_portable; } dw_case;
    const dw_case cases[] = {
        {16, 16, 28, 3, 1, "winograd", "shift"}, {16, 32, 14, 3, 1, "winograd", "shift"},
        {32, 32, 28, 3, 1, "winograd", "shift"},  {64, 64, 14, 3, 1, "winograd", "gemm"},
        {128, 128, 28, 3, 1, "winograd", "winograd"}, {64, 64, 56, 3, 1, "winograd", "gemm"},
        {16, 16, 56, 3, 1, "shift", "shift"},     {24, 24, 56, 3, 1, "shift", "shift"},
        {32, 32, 56, 3, 1, "winograd", "shift"},  {8, 8, 28, 3, 1, "shift", "shift"},
        {12, 12, 28, 3, 1, "shift", "shift"},     {16, 16, 28, 3, 2, "shift", "shift"},
        {32, 32, 32, 3, 2, "gemm", "gemm"},       {16, 16, 28, 5, 1, "shift", "shift"},
        {64, 64, 7, 3, 1, TT_DOUBLE ? "gemm" : "winograd", "gemm"},
    };
    if (!tg_conv_shift_kernel_is_simd()) return; /* no SIMD shift loops here: the table does not hold */
    for (size_t run = 0; run < 2 * (sizeof cases / sizeof cases[0]); run++) {
        const size_t i = run % (sizeof cases / sizeof cases[0]);
        const int portable = run >= sizeof cases / sizeof cases[0];
        if (tg_winograd_set_kernel(portable ? "portable" : "avx512")) continue; /* no AVX-512 here */
        const dw_case *c = &cases[i];
        tg_conv_core k = square_core(c->c, c->o, 1, c->size, c->k, c->stride);
        const char *want = portable ? c->want_portable : c->want;
        for (int threads = 1; threads <= 3; threads++) {
            k.threads = threads;
            ck_assert_msg(strcmp(tg_conv_dw_path(&k), want) == 0, "case %zu (%s): %s, want %s", i,
                          portable ? "portable" : "avx512", tg_conv_dw_path(&k), want);
        }
        tg_conv_core part = k;
        part.n = 21, part.plan_n = 64, part.threads = 1;
        ck_assert_str_eq(tg_conv_dw_path(&part), want);
    }
    tg_winograd_set_kernel(NULL);
    /* conv1d: the 1-D Winograd's dW with its forward (32 channels, 64 past 5 taps, dilation up to 2;
     * up to 5 taps), the shift kernels below, GEMM for dilation 4 */
    typedef struct { int64_t c, o, len, taps, dilation; const char *want; } dw1_case;
    const dw1_case cases1[] = {
        {32, 64, 128, 5, 1, "winograd"}, {64, 128, 64, 3, 1, "winograd"}, {32, 32, 256, 3, 1, "winograd"},
        {16, 16, 256, 3, 1, "shift"},    {32, 32, 96, 7, 1, "shift"},     {128, 128, 32, 3, 2, "winograd"},
        {64, 64, 128, 3, 4, "gemm"},
    };
    for (size_t i = 0; i < sizeof cases1 / sizeof cases1[0]; i++) {
        const dw1_case *c = &cases1[i];
        tg_conv_core k = {.n = 64, .groups = 1, .ca = c->c, .cb = c->o, .algo = TG_CONV_FWD_AUTO, .threads = 1};
        k.geom.channels = c->c;
        for (int d = 0; d < 3; d++) k.geom.in[d] = k.geom.out[d] = k.geom.kernel[d] = k.geom.stride[d] = k.geom.dilation[d] = 1;
        k.geom.in[2] = k.geom.out[2] = c->len;
        k.geom.kernel[2] = c->taps;
        k.geom.dilation[2] = c->dilation;
        k.geom.pad[2] = c->dilation * (c->taps - 1) / 2;
        ck_assert_msg(strcmp(tg_conv_dw_path(&k), c->want) == 0, "1-D case %zu: %s, want %s", i, tg_conv_dw_path(&k),
                      c->want);
    }
}
END_TEST

/* The forward's bias and activation (tg_conv_out_op), applied by the engine as it finishes each
 * block of output — in the GEMM's store (ReLU, leaky ReLU, the bias alone), after the direct
 * kernel's planes, after Winograd's and the shift kernels' images, or a pass per block (ELU) — are
 * bit for bit the forward followed by the elementwise pass over the output: 1x1 layers whose
 * images are multiplied one by one and stacked, strided im2col GEMMs, grouped GEMMs (the bias by
 * group), depthwise stride 1 and 2, Winograd, shift; one and two threads. */
START_TEST(forward_out_op_matches_separate_pass)
{
    typedef struct out_case {
        int64_t c, o, groups, size, k, stride, n;
        tg_conv_fwd_algo algo;
    } out_case;
    static const out_case cases[] = {
        {32, 48, 1, 28, 1, 1, 5, TG_CONV_FWD_AUTO},  {16, 40, 1, 7, 1, 1, 9, TG_CONV_FWD_AUTO},
        {24, 20, 1, 15, 3, 2, 3, TG_CONV_FWD_GEMM},  {6, 20, 1, 9, 3, 1, 7, TG_CONV_FWD_GEMM},
        {8, 12, 2, 10, 3, 1, 3, TG_CONV_FWD_GEMM},   {16, 16, 16, 12, 3, 1, 3, TG_CONV_FWD_AUTO},
        {16, 32, 16, 13, 3, 2, 3, TG_CONV_FWD_AUTO}, {32, 32, 1, 14, 3, 1, 3, TG_CONV_FWD_WINOGRAD},
        {16, 16, 1, 20, 3, 1, 3, TG_CONV_FWD_SHIFT}, {5, 7, 1, 6, 3, 1, 2, TG_CONV_FWD_REFERENCE},
        {24, 48, 1, 9, 5, 1, 3, TG_CONV_FWD_AUTO},   {6, 20, 2, 7, 3, 2, 2, TG_CONV_FWD_OVEC},
    };
    const tg_elementwise_kernel *ew = tg_elementwise_kernel_get();
    const int before = tg_get_threads();
    bool seen_gemm = false, seen_direct = false, seen_winograd = false, seen_shift = false, seen_ovec = false;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const out_case *c = &cases[ci];
        tg_conv_core k = square_core(c->c, c->o, c->groups, c->size, c->k, c->stride);
        k.n = c->n;
        k.algo = c->algo;
        const char *path = tg_conv_forward_path(&k);
        seen_gemm |= !strcmp(path, "gemm"), seen_direct |= !strcmp(path, "direct");
        seen_winograd |= !strcmp(path, "winograd"), seen_shift |= !strcmp(path, "shift");
        seen_ovec |= !strcmp(path, "ovec");
        const int64_t pa = tg_conv_core_a_size(&k), pb = tg_conv_core_b_size(&k);
        const int64_t a_n = k.n * k.ca * pa, b_n = k.n * k.cb * pb, w_n = k.cb * k.geom.channels * c->k * c->k;
        tg_tensor *a = direct_random(a_n, 7000 + ci), *w = direct_random(w_n, 7100 + ci), *bias = direct_random(k.cb, 7200 + ci);
        bias->data[0] = (tg_real)-0.0;
        tg_real *want = malloc((size_t)b_n * sizeof *want), *got = malloc((size_t)b_n * sizeof *got);
        for (int variant = 0; variant < 7; variant++) {
            const int act = variant % 4; /* none (bias only), ReLU, leaky ReLU, ELU */
            const bool with_bias = variant < 4;
            if (!with_bias && act == 0) continue;
            const tg_ew_unary op = act == 1 ? TG_EW_RELU : act == 2 ? TG_EW_LEAKY_RELU : TG_EW_ELU;
            const tg_conv_out_op out = {with_bias ? bias->data : NULL, act != 0, op, (tg_real)0.2};
            for (int threads = 1; threads <= 2; threads++) {
                tg_set_threads(threads);
                k.threads = threads;
                const size_t bytes = tg_conv_forward_scratch_bytes(&k);
                void *ws = malloc(bytes + 64);
                tg_conv_forward(&k, a->data, w->data, want, false, NULL, ws);
                for (int64_t plane = 0; plane < k.n * k.cb; plane++) {
                    tg_real *y = want + plane * pb;
                    const tg_real bo = bias->data[plane % k.cb];
                    if (with_bias && act) ew->bias_unary(op, out.act_param, bo, y, pb);
                    else if (with_bias) ew->binary(TG_EW_ADD, y, false, &bo, true, y, pb);
                    else ew->unary(op, out.act_param, y, y, pb);
                }
                for (int64_t i = 0; i < b_n; i++) got[i] = (tg_real)NAN;
                tg_conv_forward(&k, a->data, w->data, got, false, &out, ws);
                ck_assert_msg(!memcmp(want, got, (size_t)b_n * sizeof *got), "case %zu (%s), act %d, bias %d, %d threads",
                              ci, path, act, with_bias, threads);
                free(ws);
            }
        }
        free(want), free(got);
        tg_tensor_free(a), tg_tensor_free(w), tg_tensor_free(bias);
    }
    tg_set_threads(before);
    ck_assert(seen_gemm && seen_direct && seen_shift && seen_ovec);
    if (tg_winograd_kernel_is_simd()) ck_assert(seen_winograd);
}
END_TEST

/* dW of a 1x1 convolution by register blocks over slabs of positions (AUTO; conv_engine.c) against
 * the GEMM's (algo=gemm): images larger than a slab (two slabs and a part), smaller ones stacked
 * side by side (a partial last stack), groups, 1-D and 3-D, odd channel counts (output-channel
 * vectors padded); the same bits for 1, 2 and 3 threads; NaN and Inf in x land where the GEMM puts
 * them; maps under 4x4 keep the GEMM. */
static void pointwise_grads(const ref_case *r, tg_conv_algo algo, int threads, const tg_tensor *dy, tg_real *dw)
{
    tg_set_threads(threads);
    tg_conv_set_algo(algo);
    tg_tensor_zero_grad(r->w);
    tg_tape *t = tt_tape();
    tg_tensor *y = tg_op_apply(t, r->op, (tg_tensor *[]){r->x, r->w, NULL}, 3, &r->attr);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    memcpy(dw, r->w->grad, (size_t)r->w->numel * sizeof *dw);
    tg_conv_set_algo(TG_CONV_ALGO_AUTO);
    tg_set_threads(1);
}

START_TEST(pointwise_dw_matches_gemm)
{
    const ref_cfg cases[] = {
        cfg(2, 3, 3, 16, 1, V(32, 36), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),  /* 1152 positions: 3 slabs */
        cfg(2, 9, 24, 40, 1, V(7, 7), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),   /* 10 images a slab */
        cfg(2, 40, 8, 8, 1, V(4, 4), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),    /* 32 a slab, then 8 */
        cfg(2, 5, 8, 12, 2, V(5, 6), V(1, 1), V(1, 1), V(0, 0), V(1, 1), NULL),    /* groups */
        cfg(1, 4, 17, 33, 1, V(100), V(1), V(1), V(0), V(1), NULL),
        cfg(3, 3, 5, 19, 1, V(2, 3, 4), V(1, 1, 1), V(1, 1, 1), V(0, 0, 0), V(1, 1, 1), NULL),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ref_case r = make_case(&cases[i], false, 1700 + i);
        r.x->requires_grad = r.w->requires_grad = true;
        tg_tape *t0 = tt_tape();
        tg_tensor *y0 = tg_op_apply(t0, r.op, (tg_tensor *[]){r.x, r.w, NULL}, 3, &r.attr);
        ck_assert_ptr_nonnull(y0);
        tg_tensor *dy = tt_random(y0->ndim, y0->shape, 1750 + i, -1, 1);
        const int64_t nw = r.w->numel;
        tg_real *want = tt_tensor(1, (int64_t[]){nw}, NULL)->data, *got[3];
        pointwise_grads(&r, TG_CONV_ALGO_GEMM, 1, dy, want);
        for (int threads = 1; threads <= 3; threads++) {
            got[threads - 1] = tt_tensor(1, (int64_t[]){nw}, NULL)->data;
            pointwise_grads(&r, TG_CONV_ALGO_AUTO, threads, dy, got[threads - 1]);
        }
        double *want_d = malloc((size_t)nw * sizeof *want_d);
        for (int64_t e = 0; e < nw; e++) want_d[e] = want[e];
        tt_assert_close(got[0], want_d, nw, TT_DOUBLE ? 1e-10 : 1e-4);
        free(want_d);
        for (int threads = 2; threads <= 3; threads++)
            ck_assert_msg(!memcmp(got[0], got[threads - 1], (size_t)nw * sizeof(tg_real)),
                          "case %zu: %d threads differ from 1", i, threads);
        /* NaN and Inf in x: dW's NaNs exactly where the GEMM's are */
        r.x->data[1] = (tg_real)NAN;
        r.x->data[r.x->numel - 1] = (tg_real)INFINITY;
        pointwise_grads(&r, TG_CONV_ALGO_GEMM, 1, dy, want);
        pointwise_grads(&r, TG_CONV_ALGO_AUTO, 1, dy, got[0]);
        for (int64_t e = 0; e < nw; e++)
            ck_assert_msg(isnan(got[0][e]) == isnan(want[e]) && (isnan(want[e]) || isinf(got[0][e]) == isinf(want[e])),
                          "case %zu: dW[%lld] = %g, the GEMM's %g", i, (long long)e, (double)got[0][e], (double)want[e]);
    }
    /* the choice: 1x1 from 4x4 maps under AUTO; 2x2 and forced GEMM keep the GEMM */
    tg_conv_core k = {.n = 64, .groups = 1, .ca = 64, .cb = 64, .algo = TG_CONV_FWD_AUTO};
    k.geom.channels = 64;
    for (int d = 0; d < 3; d++) k.geom.in[d] = k.geom.out[d] = k.geom.kernel[d] = k.geom.stride[d] = k.geom.dilation[d] = 1;
    k.geom.in[1] = k.geom.out[1] = k.geom.in[2] = k.geom.out[2] = 4;
    ck_assert_str_eq(tg_conv_dw_path(&k), "pointwise");
    k.geom.in[1] = k.geom.out[1] = k.geom.in[2] = k.geom.out[2] = 2;
    ck_assert_str_eq(tg_conv_dw_path(&k), "gemm");
    k.geom.in[1] = k.geom.out[1] = k.geom.in[2] = k.geom.out[2] = 14, k.algo = TG_CONV_FWD_GEMM;
    ck_assert_str_eq(tg_conv_dw_path(&k), "gemm");
}
END_TEST

/* ==== the output-channel-vector direct kernels (ops/kernels/conv_ovec.h) ==== */

/* Every kernel (portable, AVX2, AVX-512 where the CPU runs them) against the reference loops, the
 * algorithm forced: output channels per group from 3 to 100 (1 to 7 vectors: every block width and
 * the half-empty last vector), position counts with and without a last partial block, 1-D/2-D/3-D,
 * kernels 1..7 wide, dilations, strides (the rotated dX's phases), pads from 0 to past the kernel,
 * groups, transposed convolutions, one image (its blocks split among the threads) and batches split
 * by image; 2 and 3 threads give the same bits as 1. */
START_TEST(ovec_matches_reference)
{
    const forced_case cases[] = {
        {cfg(2, 2, 24, 48, 1, V(9, 9), V(5, 5), V(1, 1), V(2, 2), V(1, 1), NULL), false},
        {cfg(2, 2, 6, 17, 1, V(7, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 5, 40, 1, V(6, 7), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 4, 50, 1, V(5, 6), V(3, 3), V(1, 1), V(0, 1), V(1, 1), NULL), false},
        {cfg(2, 1, 3, 64, 1, V(9, 8), V(3, 2), V(1, 1), V(1, 0), V(1, 1), NULL), false}, /* one image */
        {cfg(2, 2, 3, 100, 1, V(4, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false},
        {cfg(2, 2, 4, 3, 1, V(5, 6), V(3, 3), V(1, 1), V(3, 2), V(1, 1), NULL), false}, /* pad past the kernel */
        {cfg(2, 2, 8, 36, 2, V(8, 7), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), false}, /* groups */
        {cfg(2, 2, 5, 20, 1, V(11, 10), V(7, 7), V(1, 1), V(3, 3), V(1, 1), NULL), false},
        {cfg(2, 2, 5, 19, 1, V(9, 11), V(3, 3), V(2, 2), V(1, 1), V(1, 1), NULL), false}, /* stride 2: phases */
        {cfg(2, 2, 4, 21, 1, V(13, 12), V(3, 5), V(3, 2), V(1, 2), V(2, 1), NULL), false},
        {cfg(2, 2, 4, 18, 1, V(12, 12), V(3, 3), V(1, 1), V(2, 2), V(2, 2), NULL), false}, /* dilation 2 */
        {cfg(1, 3, 4, 33, 1, V(37), V(5), V(1), V(2), V(2), NULL), false},
        {cfg(3, 2, 3, 20, 1, V(4, 5, 6), V(2, 3, 2), V(1, 1, 1), V(1, 1, 0), V(1, 1, 2), NULL), false},
        {cfg(3, 2, 2, 17, 1, V(5, 6, 7), V(3, 3, 3), V(2, 1, 2), V(1, 1, 1), V(1, 1, 1), NULL), false},
        {cfg(2, 2, 20, 6, 2, V(6, 5), V(3, 3), V(1, 1), V(1, 1), V(1, 1), NULL), true},
        {cfg(2, 2, 24, 5, 1, V(4, 5), V(3, 3), V(2, 2), V(1, 1), V(1, 1), V(1, 0)), true},
        {cfg(2, 2, 4, 24, 1, V(9, 40), V(1, 1), V(2, 2), V(0, 0), V(1, 1), NULL), false}, /* 1x1 stride 2 */
    };
    forced_cases_match_reference(cases, sizeof cases / sizeof cases[0], TG_CONV_ALGO_OVEC, tg_conv_ovec_set_kernel,
                                 9300);
}
END_TEST

/* The class, not the instance: 160 random geometries (ranks 1-3, kernels 1-4, dilations 1-3, pads,
 * groups, strides, 1-3 images), conv and transposed conv, the kernels forced, against the
 * reference loops, on 1 and 2 threads. */
START_TEST(ovec_random_geometries)
{
    uint64_t seed = 5151;
    int checked = 0;
    for (int i = 0; i < 160; i++) {
        ref_cfg c = random_cfg(&seed, i % 8 == 0);
        for (int transposed = 0; transposed < 2; transposed++) {
            ref_case r = make_case(&c, transposed, 9700 + (uint64_t)(2 * i + transposed));
            r.x->requires_grad = r.w->requires_grad = true;
            shift_oracle o;
            if (!shift_oracle_make(&r, 9800 + (uint64_t)i, &o)) continue; /* an empty transposed output */
            tg_real *got_y = tt_tensor(1, (int64_t[]){o.ny}, NULL)->data;
            tg_real *got_dx = tt_tensor(1, (int64_t[]){o.nx}, NULL)->data;
            tg_real *got_dw = tt_tensor(1, (int64_t[]){o.nw}, NULL)->data;
            forced_run(&r, TG_CONV_ALGO_OVEC, 1 + i % 2, got_y, got_dx, got_dw, o.dy);
            shift_oracle_check_free(&o, got_y, got_dx, got_dw);
            checked++;
        }
    }
    ck_assert_int_ge(checked, 250);
}
END_TEST

/* The layout by hand: a 3x3 filter, stride 2, dilation (1, 2), padding 1 over 7x9, out 4x3: the box
 * holds every read, (4-1)*2 + 2 + 1 = 9 rows of (3-1)*2 + 4 + 1 = 9 columns; tap (kh, kw) reads
 * 9*kh + 2*kw further, output (oh, ow) starts at 9*2*oh + 2*ow; o_pad whole vectors. */
START_TEST(ovec_plan_by_hand)
{
    const tg_conv_geom g = {.channels = 2, .in = {1, 7, 9}, .out = {1, 4, 3}, .kernel = {1, 3, 3},
                            .stride = {1, 2, 2}, .pad = {0, 1, 1}, .dilation = {1, 1, 2}};
    ck_assert(tg_conv_ovec_supported(&g));
    tg_conv_ovec_plan p;
    tg_conv_ovec_plan_make(&g, 5, &p);
    ck_assert_int_eq(p.extent[0], 1);
    ck_assert_int_eq(p.extent[1], 9);
    ck_assert_int_eq(p.extent[2], 9);
    ck_assert_int_eq(p.taps, 9);
    ck_assert_int_eq(p.positions, 12);
    const int32_t want[9] = {0, 2, 4, 9, 11, 13, 18, 20, 22};
    for (int t = 0; t < 9; t++) ck_assert_int_eq(p.offset[t], want[t]);
    ck_assert_int_ge(p.plane, 81);
    ck_assert_int_eq(p.plane % 16, 0);
    ck_assert_int_eq(p.o_pad % tg_conv_ovec_lanes(), 0);
    ck_assert(p.o_pad >= 5 && p.o_pad < 5 + tg_conv_ovec_lanes());
    /* one image of one channel by hand: x = 1..63 row by row, w = 1 at tap (1, 1) of output 0 and
     * tap (0, 0) of output 1 (zero elsewhere): y0 = x at (2*oh, 2*ow + 1), y1 = x at (2*oh - 1,
     * 2*ow - 1) or 0 in the padding */
    tg_conv_geom g1 = g;
    g1.channels = 1;
    tg_conv_ovec_plan_make(&g1, 2, &p);
    tg_real x[63], w[2 * 9] = {0}, y[2 * 12], *packed = malloc((size_t)tg_conv_ovec_packed_w_size(&p, 1) * sizeof *packed);
    tg_real *scratch = malloc((size_t)tg_conv_ovec_forward_scratch(&p, 1) * sizeof *scratch);
    for (int i = 0; i < 63; i++) x[i] = (tg_real)(i + 1);
    w[4] = 1, w[9] = 1;
    tg_conv_ovec_pack_w(&p, 1, w, packed);
    tg_conv_ovec_forward(&g1, &p, x, packed, y, false, false, scratch);
    for (int oh = 0; oh < 4; oh++)
        for (int ow = 0; ow < 3; ow++) {
            const int r0 = 2 * oh, c0 = 2 * ow + 1, r1 = 2 * oh - 1, c1 = 2 * ow - 1;
            ck_assert_double_eq(y[oh * 3 + ow], (double)x[r0 * 9 + c0]);
            ck_assert_double_eq(y[12 + oh * 3 + ow], r1 < 0 || c1 < 0 ? 0.0 : (double)x[r1 * 9 + c1]);
        }
    free(packed), free(scratch);
}
END_TEST

/* Which forward, dW and dX paths AUTO takes where the output-channel-vector kernels fit (with
 * their SIMD loops): 2-D and 3-D layers on maps the shift kernels leave mostly empty, 16-48 output
 * channels per group (to 128 from 25 taps), the last vector at least half full; 1-D, 1x1,
 * depthwise, Winograd's and the GEMM's shapes stay theirs. */
START_TEST(ovec_auto_choice)
{
    typedef struct { int64_t c, o, groups, size, k, stride; const char *want; } ovec_choice;
    const ovec_choice cases[] = {
        {24, 48, 1, 9, 5, 1, "ovec"},   {48, 24, 1, 9, 5, 1, "ovec"},  {24, 16, 1, 9, 5, 1, "ovec"},
        {32, 32, 1, 7, 3, 1, "winograd"}, {32, 32, 1, 5, 3, 1, "ovec"}, {48, 48, 2, 9, 3, 1, "ovec"},
        {64, 64, 1, 9, 5, 1, "ovec"},   {32, 32, 1, 16, 7, 1, "ovec"}, {48, 48, 1, 16, 3, 2, "ovec"},
        {20, 50, 1, 14, 5, 1, "gemm"},  {64, 64, 1, 7, 3, 1, "winograd"}, {128, 128, 1, 7, 3, 1, "winograd"},
        {16, 8, 1, 7, 3, 1, "winograd"}, {64, 64, 1, 6, 3, 1, "gemm"},    {16, 32, 1, 28, 5, 1, "shift"}, {24, 24, 1, 9, 3, 1, "winograd"},
        {32, 32, 32, 7, 3, 1, "lanes"}, {32, 32, 32, 14, 3, 1, "direct"}, {32, 32, 1, 7, 1, 1, "gemm"},
        {32, 32, 1, 16, 2, 2, "gemm"}, {32, 32, 1, 12, 3, 3, "ovec"},
    };
    /* the table is float's with the AVX-512 loops (the shift kernels' blocks, hence the maps they
     * keep, and the vectors of output channels differ in double and with AVX2) */
    if (TT_DOUBLE || strcmp(tg_conv_ovec_kernel_name(), "avx512") || strcmp(tg_conv_shift_kernel_name(), "avx512"))
        return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ovec_choice *c = &cases[i];
        tg_conv_core k = square_core(c->c, c->o, c->groups, c->size, c->k, c->stride);
        for (int threads = 1; threads <= 3; threads++) {
            k.threads = threads;
            ck_assert_msg(strcmp(tg_conv_forward_path(&k), c->want) == 0, "case %zu, %d threads: %s, want %s", i,
                          threads, tg_conv_forward_path(&k), c->want);
            if (!strcmp(c->want, "ovec")) ck_assert_str_eq(tg_conv_dw_path(&k), "ovec");
        }
        tg_conv_core part = k;
        part.n = 21, part.plan_n = 64, part.threads = 1;
        ck_assert_str_eq(tg_conv_forward_path(&part), c->want);
    }
    /* conv1d stays with its own paths: 32 -> 32 at 16 long, 3 taps */
    tg_conv_core k1 = {.n = 64, .groups = 1, .ca = 32, .cb = 32, .algo = TG_CONV_FWD_AUTO, .threads = 1};
    k1.geom.channels = 32;
    for (int d = 0; d < 3; d++) k1.geom.in[d] = k1.geom.out[d] = k1.geom.kernel[d] = k1.geom.stride[d] = k1.geom.dilation[d] = 1;
    k1.geom.in[2] = k1.geom.out[2] = 16, k1.geom.kernel[2] = 3, k1.geom.pad[2] = 1;
    ck_assert_str_ne(tg_conv_forward_path(&k1), "ovec");
    /* the rotated dX where the forward runs by them, unstrided; col2im for the strided one */
    tg_tensor *w = direct_random(48 * 24 * 25, 77);
    tg_conv_core k = square_core(24, 48, 1, 9, 5, 1);
    ck_assert_int_eq(tg_conv_dx_choose(&k, w->data), TG_CONV_DX_ALGO_ROTATED);
    k = square_core(48, 48, 1, 16, 3, 2);
    ck_assert_int_eq(tg_conv_dx_choose(&k, w->data), TG_CONV_DX_ALGO_COL2IM);
    tg_tensor_free(w);
}
END_TEST

static TCase *shift_tcase(void)
{
    TCase *tc = tt_tcase("shift");
    tcase_add_test(tc, ovec_matches_reference);
    tcase_add_test(tc, ovec_random_geometries);
    tcase_add_test(tc, ovec_plan_by_hand);
    tcase_add_test(tc, ovec_auto_choice);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shift_matches_reference);
    tcase_add_test(tc, shift_plan_by_hand);
    tcase_add_test(tc, shift_auto_choice);
    tcase_add_test(tc, dw_auto_choice);
    tcase_add_test(tc, pointwise_dw_matches_gemm);
    tcase_add_test(tc, forward_out_op_matches_separate_pass);
    tcase_add_test(tc, shift_random_geometries);
    return tc;
}
