/* ops/kernels/conv_shift_template.h — the inner loops of the shift convolution (conv_shift.h),
 * written once over a vector type; included by conv_shift_avx512.c, conv_shift_avx2.c and
 * conv_shift.c (portable: one-lane "vectors") after they define
 *   VLEN, vec, vzero(), vset1(x), vloadu(p), vstoreu(p, v), vfma(a, b, c) (= a*b + c), vhsum(v),
 *   vkeep(v) (makes the compiler hold v in a register: see shift_dw_block), vadd(a, b),
 *   vloadn(p, n) / vstoren(p, v, n) (lanes [0, n) only, 0 < n < VLEN: others not touched),
 *   FWD_OB x FWD_V: output channels x vectors of positions per forward block (accumulators; FWD_OB
 *   even: few output channels take FWD_OB/2 x 2*FWD_V),
 *   DW_OB x DW_TB: output channels x taps per weight-gradient block (accumulators),
 *   SHIFT_KERNEL: the name of the tg_conv_shift_kernel to define,
 *   and optionally vdeal2(lo, hi, even, odd) (the even and odd lanes of two vectors of consecutive
 *   values: a strided box fill deals whole vectors with it).
 *
 * Forward: a block's FWD_OB*FWD_V sums stay in registers over every (channel, tap); each step loads
 * FWD_V input vectors at the tap's offset and multiplies each by FWD_OB broadcast taps.
 * Weight gradient: for one channel, DW_OB*DW_TB lane-wise sums over every image and position; each
 * step loads DW_OB dY vectors and, per tap, one input vector; the lanes are added at the end.
 */
#define SHIFT_INLINE static inline __attribute__((always_inline))
/* Loops over registers must unroll fully so the arrays stay in registers; clang has its own
 * spelling. */
#ifdef __clang__
#define SHIFT_UNROLL _Pragma("clang loop unroll(full)")
#else
#define SHIFT_UNROLL _Pragma("GCC unroll 32")
#endif

/* ---- the operands: boxes in, wide rows in and out ----
 * Rows are short (28 floats at 28x28): vector loops here instead of a memcpy call per row, whose
 * call and size dispatch cost as much as the copy (8 % of a BN-ResNet step). */
SHIFT_INLINE void copy_run(tg_real *dst, const tg_real *src, int64_t n)
{
    int64_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstoreu(dst + i, vloadu(src + i));
    if (i < n) vstoren(dst + i, vloadn(src + i, n - i), n - i);
}
SHIFT_INLINE void add_run(tg_real *dst, const tg_real *src, int64_t n)
{
    int64_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstoreu(dst + i, vadd(vloadu(dst + i), vloadu(src + i)));
    if (i < n) vstoren(dst + i, vadd(vloadn(dst + i, n - i), vloadn(src + i, n - i)), n - i);
}
SHIFT_INLINE void zero_run(tg_real *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstoreu(dst + i, vzero());
    if (i < n) vstoren(dst + i, vzero(), n - i);
}

/* dst[0, size) = rows of len elements from src placed at increasing, non-overlapping offsets
 * at0 + i*dst_outer + j*dst_inner (row (i, j) from src + src0 + i*src_outer + j*src_inner, i <
 * n_outer, j < n_inner; src's offsets are formed only for rows that exist), zeros everywhere else:
 * each element written once. */
static void place_rows(tg_real *dst, int64_t size, int64_t at0, int64_t n_outer, int64_t n_inner, int64_t dst_outer,
                       int64_t dst_inner, const tg_real *src, int64_t src0, int64_t src_outer, int64_t src_inner,
                       int64_t len)
{
    int64_t at = 0; /* written so far */
    for (int64_t i = 0; i < n_outer && len > 0; i++)
        for (int64_t j = 0; j < n_inner; j++) {
            const int64_t q = at0 + i * dst_outer + j * dst_inner;
            zero_run(dst + at, q - at);
            copy_run(dst + q, src + src0 + i * src_outer + j * src_inner, len);
            at = q + len;
        }
    zero_run(dst + at, size - at);
}

/* The first n lanes of v stored at dst (n > 0). */
SHIFT_INLINE void store_first(tg_real *dst, vec v, int64_t n)
{
    if (n >= VLEN) vstoreu(dst, v);
    else vstoren(dst, v, n);
}

/* Where the values of an input row go in the column phases of its box row (deal_row): values
 * [first, end) of the row (padded column c = i + pad, columns c / s < e2: later ones are read by
 * no kept output), the first of them to phase `phase` at column `col`. The same for every row. */
typedef struct row_deal {
    int64_t first, end, phase, col, s;
} row_deal;
static row_deal row_deal_of(int64_t n, int64_t pad, int64_t s, int64_t e2)
{
    row_deal d = {.first = pad < 0 ? -pad : 0, .end = e2 * s - pad < n ? e2 * s - pad : n, .s = s};
    d.phase = (d.first + pad) % s;
    d.col = (d.first + pad) / s;
    return d;
}

/* One input row dealt to the column phases of its box row (dst[r]: phase r's row): value i to
 * dst[(i + pad) % s][(i + pad) / s]. Stride 2 deals whole vectors where the kernel has a
 * deinterleave (vdeal2), the rest one value at a time. */
SHIFT_INLINE void deal_row(tg_real *const *dst, const tg_real *src, const row_deal *d)
{
    int64_t i = d->first, col = d->col;
#ifdef vdeal2
    if (d->s == 2 && i < d->end) {
        if (d->phase == 1) /* the first value alone: then pairs starting in phase 0 */
            dst[1][col++] = src[i++];
        for (; i < d->end; i += 2 * VLEN, col += VLEN) {
            const int64_t left = d->end - i;
            vec even, odd;
            if (left >= 2 * VLEN) {
                vdeal2(vloadu(src + i), vloadu(src + i + VLEN), even, odd);
                vstoreu(dst[0] + col, even);
                vstoreu(dst[1] + col, odd);
                continue;
            }
            vdeal2(left >= VLEN ? vloadu(src + i) : vloadn(src + i, left),
                   left > VLEN ? vloadn(src + i + VLEN, left - VLEN) : vzero(), even, odd);
            store_first(dst[0] + col, even, (left + 1) / 2);
            if (left > 1) store_first(dst[1] + col, odd, left / 2);
        }
        return;
    }
#endif
    for (int64_t r = d->phase; i < d->end; i++) { /* no divide per value */
        dst[r][col] = src[i];
        if (++r == d->s) r = 0, col++;
    }
}

/* x:[channels, in...] -> each channel's phase boxes (stride > 1 in some dim; conv_shift.h): the
 * plane zeroed, then every input row that some box row holds dealt to its column phases. Rows are
 * stepped through their phases (r) and box rows (i), no divides per row. */
static void shift_fill_phases(const tg_conv_geom *g, const tg_conv_shift_plan *p, int64_t channels, const tg_real *x,
                              tg_real *box)
{
    const int64_t in_plane = tg_conv_geom_in_size(g), e1 = p->extent[1], e2 = p->extent[2];
    const int64_t *s = g->stride;
    const row_deal deal = row_deal_of(g->in[2], g->pad[2], s[2], e2);
    const row_deal depth = row_deal_of(g->in[0], g->pad[0], s[0], p->extent[0]);
    const row_deal height = row_deal_of(g->in[1], g->pad[1], s[1], e1);
    tg_real *dst[TG_CONV_SHIFT_MAX_PHASES];
    for (int64_t c = 0; c < channels; c++, x += in_plane, box += p->plane) {
        zero_run(box, p->plane);
        for (int64_t id = depth.first, rd = depth.phase, i0 = depth.col; id < depth.end; id++) {
            for (int64_t ih = height.first, rh = height.phase, i1 = height.col; ih < height.end; ih++) {
                const int64_t first_phase = (rd * s[1] + rh) * s[2], at = (i0 * e1 + i1) * e2;
                for (int64_t r = 0; r < s[2]; r++) dst[r] = box + (first_phase + r) * p->phase_plane + at;
                deal_row(dst, x + (id * g->in[1] + ih) * g->in[2], &deal);
                if (++rh == s[1]) rh = 0, i1++;
            }
            if (++rd == s[0]) rd = 0, i0++;
        }
    }
}

/* x:[channels, in...] -> box:[channels][plane], zero-padded. */
static void shift_fill(const tg_conv_geom *g, const tg_conv_shift_plan *p, int64_t channels, const tg_real *x,
                       tg_real *box)
{
    if (p->phases > 1) {
        shift_fill_phases(g, p, channels, x, box);
        return;
    }
    const int64_t in_plane = tg_conv_geom_in_size(g), e1 = p->extent[1], e2 = p->extent[2];
    /* the input columns a box row holds: iw in [lo, hi) at box column iw + pad */
    const int64_t lo = g->pad[2] < 0 ? -g->pad[2] : 0;
    const int64_t hi = g->in[2] < e2 - g->pad[2] ? g->in[2] : e2 - g->pad[2];
    /* the box rows holding input rows: [d0, d1) x [h0, h1) */
    const int64_t d0 = g->pad[0] > 0 ? g->pad[0] : 0, h0 = g->pad[1] > 0 ? g->pad[1] : 0;
    const int64_t d1 = g->in[0] + g->pad[0] < p->extent[0] ? g->in[0] + g->pad[0] : p->extent[0];
    const int64_t h1 = g->in[1] + g->pad[1] < e1 ? g->in[1] + g->pad[1] : e1;
    const int64_t at0 = (d0 * e1 + h0) * e2 + lo + g->pad[2];
    const int64_t first = ((d0 - g->pad[0]) * g->in[1] + h0 - g->pad[1]) * g->in[2] + lo;
    for (int64_t c = 0; c < channels; c++, x += in_plane, box += p->plane)
        place_rows(box, p->plane, at0, d1 - d0, h1 - h0, e1 * e2, e2, x, first, g->in[1] * g->in[2], g->in[2],
                   hi - lo);
}

/* dy:[og, out...] -> wide rows [og][span], zero at the thrown-away positions. */
static void shift_to_wide(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *dy, tg_real *wide)
{
    const int64_t e1 = p->extent[1], e2 = p->extent[2], out_plane = tg_conv_geom_out_size(g);
    for (int64_t o = 0; o < p->out_channels; o++, wide += p->span, dy += out_plane)
        place_rows(wide, p->span, 0, g->out[0], g->out[1], e1 * e2, e2, dy, 0, g->out[1] * g->out[2], g->out[2],
                   g->out[2]);
}

/* y:[og, out...] (+)= the kept positions of wide [og][span]. */
static void shift_from_wide(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *wide, tg_real *y,
                            bool accumulate)
{
    const int64_t e1 = p->extent[1], e2 = p->extent[2], out2 = g->out[2];
    for (int64_t o = 0; o < p->out_channels; o++, wide += p->span)
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++, y += out2) {
                const tg_real *src = wide + (od * e1 + oh) * e2;
                if (accumulate)
                    add_run(y, src, out2);
                else
                    copy_run(y, src, out2);
            }
}

/* wide[o0 + ob][q0 .. q0 + V*VLEN) for ob < rows; wb: the block's packed taps [c][tap][WS]. OB x V
 * is FWD_OB x FWD_V, or for few output channels (og <= FWD_OB/2: a rotated dX into 1-4 input
 * channels; or the last block of a full-width packing holding at most FWD_OB/2 channels, WS =
 * FWD_OB) FWD_OB/2 x 2*FWD_V, the same number of sums with none wasted on absent channels. */
SHIFT_INLINE void shift_forward_block(const tg_conv_shift_plan *p, int64_t channels, const tg_real *box,
                                      const tg_real *wb, tg_real *wide, int64_t q0, int64_t o0, int64_t rows,
                                      const int OB, const int V, const int WS)
{
    vec acc[FWD_OB][2 * FWD_V];
    SHIFT_UNROLL
    for (int ob = 0; ob < OB; ob++) {
        SHIFT_UNROLL
        for (int v = 0; v < V; v++) acc[ob][v] = vzero();
    }
    const int64_t taps = p->taps;
    const int32_t *offset = p->offset;
    for (int64_t c = 0; c < channels; c++) {
        const tg_real *xc = box + c * p->plane + q0;
        for (int64_t t = 0; t < taps; t++, wb += WS) {
            const tg_real *xt = xc + offset[t];
            vec xv[2 * FWD_V];
            SHIFT_UNROLL
            for (int v = 0; v < V; v++) xv[v] = vloadu(xt + v * VLEN);
            SHIFT_UNROLL
            for (int ob = 0; ob < OB; ob++) {
                const vec wv = vset1(wb[ob]);
                SHIFT_UNROLL
                for (int v = 0; v < V; v++) acc[ob][v] = vfma(wv, xv[v], acc[ob][v]);
            }
        }
    }
    SHIFT_UNROLL
    for (int ob = 0; ob < OB; ob++) {
        if (ob >= rows) break;
        SHIFT_UNROLL
        for (int v = 0; v < V; v++) vstoreu(wide + (o0 + ob) * p->span + q0 + v * VLEN, acc[ob][v]);
    }
}

static void shift_forward(const tg_conv_shift_plan *p, int64_t channels, const tg_real *box, const tg_real *packed_w,
                          tg_real *wide, int64_t first, int64_t end)
{
    const int64_t ob = p->out_block, block_w = channels * p->taps * ob;
    /* positions outermost: a block's input (channels x its reach) stays in L1 across the
     * output-channel blocks */
    if (ob == FWD_OB) {
        /* a last block of at most FWD_OB/2 channels (12 = 8 + 4, 20, 36, 60: growth-12 DenseNet
         * layers and their rotated dX) runs with the half-channel shape over two steps of positions,
         * not as a full block of which half the sums are thrown away; a range's odd last step keeps
         * the full shape (the ranges are whole steps: a thread's range never grows past its end) */
        const int64_t last_rows = p->out_channels - (p->out_blocks - 1) * ob;
        const bool half_tail = p->out_blocks > 1 && last_rows <= FWD_OB / 2;
        const int64_t full = half_tail ? p->out_blocks - 1 : p->out_blocks, step = FWD_V * VLEN;
        for (int64_t q0 = first; q0 < end; q0 += step) {
            const bool pair = half_tail && q0 + 2 * step <= end;
            for (int64_t q = q0; q < q0 + (pair ? 2 : 1) * step; q += step)
                for (int64_t b = 0; b < full; b++) {
                    const int64_t o0 = b * ob, rows = p->out_channels - o0 < ob ? p->out_channels - o0 : ob;
                    shift_forward_block(p, channels, box, packed_w + b * block_w, wide, q, o0, rows, FWD_OB, FWD_V,
                                        FWD_OB);
                }
            if (pair)
                shift_forward_block(p, channels, box, packed_w + full * block_w, wide, q0, full * ob, last_rows,
                                    FWD_OB / 2, 2 * FWD_V, FWD_OB);
            else if (half_tail)
                shift_forward_block(p, channels, box, packed_w + full * block_w, wide, q0, full * ob, last_rows,
                                    FWD_OB, FWD_V, FWD_OB);
            if (pair) q0 += step;
        }
        return;
    }
    for (int64_t q0 = first; q0 < end; q0 += 2 * FWD_V * VLEN) /* one block of FWD_OB/2 channels */
        shift_forward_block(p, channels, box, packed_w, wide, q0, 0, p->out_channels, FWD_OB / 2, 2 * FWD_V,
                            FWD_OB / 2);
}

/* dw[o0 + ob][c][t0 + tb] += the sums for ob < rows, tb < ntaps (constants in the full blocks). */
SHIFT_INLINE void shift_dw_block(const tg_conv_shift_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
                                 const tg_real *dy_wide, tg_real *dw, int64_t c, int64_t o0, int64_t rows, int64_t t0,
                                 int64_t ntaps)
{
    vec acc[DW_OB][DW_TB];
    int64_t offset[DW_TB];
    SHIFT_UNROLL
    for (int tb = 0; tb < DW_TB; tb++) {
        offset[tb] = tb < ntaps ? p->offset[t0 + tb] : 0;
        SHIFT_UNROLL
        for (int ob = 0; ob < DW_OB; ob++) acc[ob][tb] = vzero();
    }
    const int64_t og = p->out_channels, span = p->span;
    for (int64_t n = 0; n < images; n++) {
        const tg_real *xc = boxes + (n * channels + c) * p->plane;
        const tg_real *dyn = dy_wide + (n * og + o0) * span;
        for (int64_t q = 0; q < span; q += VLEN) {
            vec d[DW_OB];
            SHIFT_UNROLL
            for (int ob = 0; ob < DW_OB; ob++) d[ob] = ob < rows ? vloadu(dyn + ob * span + q) : vzero();
            SHIFT_UNROLL
            for (int tb = 0; tb < DW_TB; tb++) {
                if (tb >= ntaps) break;
                vec xv = vloadu(xc + offset[tb] + q);
                /* one load for the DW_OB products: folded into each FMA instead (as compilers
                 * do), an unaligned input vector is loaded DW_OB times, two cache lines each,
                 * and the loads, not the FMAs, set the speed */
                vkeep(xv);
                SHIFT_UNROLL
                for (int ob = 0; ob < DW_OB; ob++) acc[ob][tb] = vfma(d[ob], xv, acc[ob][tb]);
            }
        }
    }
    SHIFT_UNROLL
    for (int ob = 0; ob < DW_OB; ob++) {
        if (ob >= rows) break;
        tg_real *row = dw + ((o0 + ob) * channels + c) * p->taps + t0;
        SHIFT_UNROLL
        for (int tb = 0; tb < DW_TB; tb++) {
            if (tb >= ntaps) break;
            row[tb] += vhsum(acc[ob][tb]);
        }
    }
}

static void shift_dw(const tg_conv_shift_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
                     const tg_real *dy_wide, tg_real *dw)
{
    const int64_t og = p->out_channels, taps = p->taps;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t o0 = 0; o0 < og; o0 += DW_OB)
            for (int64_t t0 = 0; t0 < taps; t0 += DW_TB) {
                const int64_t rows = og - o0 < DW_OB ? og - o0 : DW_OB, ntaps = taps - t0 < DW_TB ? taps - t0 : DW_TB;
                if (rows == DW_OB && ntaps == DW_TB) /* the usual block: every bound a constant */
                    shift_dw_block(p, channels, images, boxes, dy_wide, dw, c, o0, DW_OB, t0, DW_TB);
                else
                    shift_dw_block(p, channels, images, boxes, dy_wide, dw, c, o0, rows, t0, ntaps);
            }
}

const tg_conv_shift_kernel SHIFT_KERNEL = {.name = SHIFT_KERNEL_NAME,
                                           .out_block = FWD_OB,
                                           .positions = FWD_V * VLEN,
                                           .forward = shift_forward,
                                           .dw = shift_dw,
                                           .fill = shift_fill,
                                           .to_wide = shift_to_wide,
                                           .from_wide = shift_from_wide};
