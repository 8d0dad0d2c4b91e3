/* ops/kernels/conv_ovec_template.h — the inner loops of the direct convolution vectorised over
 * output channels (conv_ovec.h), written once over GCC's vector extension; included by
 * conv_ovec_avx512.c, conv_ovec_avx2.c and conv_ovec.c (portable) after they define
 *   VLEN (tg_reals per vector), OB_MAX (output-channel vectors per block, 2 or 3),
 *   FWD_P1 .. FWD_P3: positions per forward block with 1 .. 3 vectors of output channels,
 *   DW_T1 .. DW_T3: taps per weight-gradient block with 1 .. 3 vectors,
 *   OVEC_KERNEL / OVEC_KERNEL_NAME: the tg_conv_ovec_kernel to define and its name.
 * The blocks are the registers: FWD_Pk x k sums (+ k weight vectors and a broadcast value), DW_Tk
 * x k sums (+ k dY vectors and a broadcast value).
 */
#include <string.h>

#define OVEC_INLINE static inline __attribute__((always_inline))
#ifdef __clang__
#define OVEC_UNROLL _Pragma("clang loop unroll(full)")
#else
#define OVEC_UNROLL _Pragma("GCC unroll 32")
#endif

typedef tg_real ovec_vec __attribute__((vector_size(VLEN * sizeof(tg_real))));
/* The register blocks' arrays have these constant bounds (a bound from a parameter makes them
 * variable-length arrays, which GCC keeps in memory: the sums then went through the stack, 2.5x
 * slower) and the loops over them the block's own, constant after inlining. */
#define OVEC_MAX_ROWS 24
#define OVEC_MAX_VECTORS 3
_Static_assert(FWD_P1 <= OVEC_MAX_ROWS && FWD_P2 <= OVEC_MAX_ROWS && FWD_P3 <= OVEC_MAX_ROWS &&
                   DW_T1 <= OVEC_MAX_ROWS && DW_T2 <= OVEC_MAX_ROWS && DW_T3 <= OVEC_MAX_ROWS &&
                   OB_MAX <= OVEC_MAX_VECTORS,
               "register blocks within the arrays' bounds");

OVEC_INLINE ovec_vec ovec_load(const tg_real *p)
{
    ovec_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
OVEC_INLINE void ovec_store(tg_real *p, ovec_vec v) { memcpy(p, &v, sizeof v); }

/* Vectors of output channels in the next block when rem are left: 4 go as two pairs (a block of
 * one vector broadcasts one value per multiply-add: load-bound). */
OVEC_INLINE int chunk_width(int64_t rem) { return rem == 4 && OB_MAX == 3 ? 2 : rem < OB_MAX ? (int)rem : OB_MAX; }
OVEC_INLINE int64_t fwd_positions(int ob) { return ob == 1 ? FWD_P1 : ob == 2 ? FWD_P2 : FWD_P3; }
OVEC_INLINE int64_t dw_taps(int ob) { return ob == 1 ? DW_T1 : ob == 2 ? DW_T2 : DW_T3; }

static int64_t ovec_items(const tg_conv_ovec_plan *p)
{
    int64_t n = 0;
    for (int64_t rem = p->o_pad / VLEN; rem > 0;) {
        const int ob = chunk_width(rem);
        const int64_t pb = fwd_positions(ob);
        n += (p->positions + pb - 1) / pb;
        rem -= ob;
    }
    return n;
}

/* Positions q0 .. q0+n-1 (n <= PB) of output vectors v0 .. v0+OB-1: the sums over every (channel,
 * tap) in registers, then out to y's rows (o < og). Lanes past n read the block's last position
 * again and are dropped. */
OVEC_INLINE void fwd_block(const tg_conv_ovec_plan *p, int64_t channels, const tg_real *box, const int32_t *pos,
                           const tg_real *packed_w, tg_real *y, bool accumulate, int64_t q0, int64_t n, int64_t v0,
                           const int OB, const int PB)
{
    const int64_t taps = p->taps, o_pad = p->o_pad;
    ovec_vec acc[OVEC_MAX_ROWS][OVEC_MAX_VECTORS];
    int32_t at[OVEC_MAX_ROWS];
    OVEC_UNROLL
    for (int i = 0; i < PB; i++) {
        at[i] = pos[q0 + (i < n ? i : n - 1)];
        OVEC_UNROLL
        for (int v = 0; v < OB; v++) acc[i][v] = (ovec_vec){0};
    }
    const tg_real *wc = packed_w + v0 * VLEN;
    for (int64_t c = 0; c < channels; c++) {
        const tg_real *bc = box + c * p->plane;
        for (int64_t t = 0; t < taps; t++, wc += o_pad) {
            const tg_real *bt = bc + p->offset[t];
            ovec_vec w[OVEC_MAX_VECTORS];
            OVEC_UNROLL
            for (int v = 0; v < OB; v++) w[v] = ovec_load(wc + v * VLEN);
            OVEC_UNROLL
            for (int i = 0; i < PB; i++) {
                const tg_real x = bt[at[i]];
                OVEC_UNROLL
                for (int v = 0; v < OB; v++) acc[i][v] += w[v] * x;
            }
        }
    }
    tg_real lanes[OVEC_MAX_ROWS][OVEC_MAX_VECTORS * VLEN];
    OVEC_UNROLL
    for (int i = 0; i < PB; i++)
        OVEC_UNROLL
        for (int v = 0; v < OB; v++) ovec_store(&lanes[i][v * VLEN], acc[i][v]);
    const int64_t o_end = (v0 + OB) * VLEN < p->out_channels ? (v0 + OB) * VLEN : p->out_channels;
    for (int64_t o = v0 * VLEN; o < o_end; o++) {
        tg_real *yo = y + o * p->positions + q0;
        const int64_t l = o - v0 * VLEN;
        if (accumulate)
            for (int64_t i = 0; i < n; i++) yo[i] += lanes[i][l];
        else
            for (int64_t i = 0; i < n; i++) yo[i] = lanes[i][l];
    }
}

/* One function per block shape, each with the registers to itself */
#define OVEC_FWD_BLOCK_FN(OB, PB)                                                                                    \
    static __attribute__((noinline)) void fwd_block_##OB(const tg_conv_ovec_plan *p, int64_t channels,              \
                                                         const tg_real *box, const int32_t *pos,                     \
                                                         const tg_real *packed_w, tg_real *y, bool accumulate,       \
                                                         int64_t q0, int64_t n, int64_t v0)                          \
    {                                                                                                               \
        fwd_block(p, channels, box, pos, packed_w, y, accumulate, q0, n, v0, OB, PB);                               \
    }
OVEC_FWD_BLOCK_FN(1, FWD_P1)
OVEC_FWD_BLOCK_FN(2, FWD_P2)
#if OB_MAX >= 3
OVEC_FWD_BLOCK_FN(3, FWD_P3)
#endif

static void ovec_forward(const tg_conv_ovec_plan *p, int64_t channels, const tg_real *box, const int32_t *pos,
                         const tg_real *packed_w, tg_real *y, bool accumulate, int64_t first, int64_t end)
{
    int64_t item = 0, v0 = 0;
    for (int64_t rem = p->o_pad / VLEN; rem > 0 && item < end;) {
        const int ob = chunk_width(rem);
        const int64_t pb = fwd_positions(ob), blocks = (p->positions + pb - 1) / pb;
        const int64_t b0 = first > item ? first - item : 0, b1 = end - item < blocks ? end - item : blocks;
        for (int64_t b = b0; b < b1; b++) {
            const int64_t q0 = b * pb, n = p->positions - q0 < pb ? p->positions - q0 : pb;
            if (ob == 1) fwd_block_1(p, channels, box, pos, packed_w, y, accumulate, q0, n, v0);
            else if (ob == 2) fwd_block_2(p, channels, box, pos, packed_w, y, accumulate, q0, n, v0);
#if OB_MAX >= 3
            else fwd_block_3(p, channels, box, pos, packed_w, y, accumulate, q0, n, v0);
#endif
        }
        item += blocks;
        v0 += ob;
        rem -= ob;
    }
}

/* Taps t0 .. t0+nt-1 (nt <= TB) of channel c, output vectors v0 .. v0+OB-1: acc's sums loaded,
 * every image's positions added in order, stored back. Taps past nt read tap t0 and are dropped. */
OVEC_INLINE void dw_block(const tg_conv_ovec_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
                          const int32_t *pos, const tg_real *dyt, tg_real *acc_c, int64_t c, int64_t t0, int64_t nt,
                          int64_t v0, const int OB, const int TB)
{
    const int64_t o_pad = p->o_pad, positions = p->positions;
    ovec_vec acc[OVEC_MAX_ROWS][OVEC_MAX_VECTORS];
    int32_t off[OVEC_MAX_ROWS];
    OVEC_UNROLL
    for (int r = 0; r < TB; r++) {
        off[r] = p->offset[t0 + (r < nt ? r : 0)];
        OVEC_UNROLL
        for (int v = 0; v < OB; v++)
            acc[r][v] = r < nt ? ovec_load(acc_c + (t0 + r) * o_pad + (v0 + v) * VLEN) : (ovec_vec){0};
    }
    for (int64_t img = 0; img < images; img++) {
        const tg_real *bc = boxes + (img * channels + c) * p->plane;
        const tg_real *dq = dyt + img * positions * o_pad + v0 * VLEN;
        for (int64_t q = 0; q < positions; q++, dq += o_pad) {
            const tg_real *bq = bc + pos[q];
            ovec_vec d[OVEC_MAX_VECTORS];
            OVEC_UNROLL
            for (int v = 0; v < OB; v++) d[v] = ovec_load(dq + v * VLEN);
            OVEC_UNROLL
            for (int r = 0; r < TB; r++) {
                const tg_real x = bq[off[r]];
                OVEC_UNROLL
                for (int v = 0; v < OB; v++) acc[r][v] += d[v] * x;
            }
        }
    }
    OVEC_UNROLL
    for (int r = 0; r < TB; r++)
        if (r < nt)
            OVEC_UNROLL
            for (int v = 0; v < OB; v++) ovec_store(acc_c + (t0 + r) * o_pad + (v0 + v) * VLEN, acc[r][v]);
}

#define OVEC_DW_BLOCK_FN(OB, TB)                                                                                     \
    static __attribute__((noinline)) void dw_block_##OB(const tg_conv_ovec_plan *p, int64_t channels, int64_t images, \
                                                        const tg_real *boxes, const int32_t *pos, const tg_real *dyt, \
                                                        tg_real *acc_c, int64_t c, int64_t t0, int64_t nt, int64_t v0) \
    {                                                                                                                \
        dw_block(p, channels, images, boxes, pos, dyt, acc_c, c, t0, nt, v0, OB, TB);                                \
    }
OVEC_DW_BLOCK_FN(1, DW_T1)
OVEC_DW_BLOCK_FN(2, DW_T2)
#if OB_MAX >= 3
OVEC_DW_BLOCK_FN(3, DW_T3)
#endif

static void ovec_dw(const tg_conv_ovec_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
                    const int32_t *pos, const tg_real *dyt, tg_real *acc, int64_t c0, int64_t c1)
{
    for (int64_t c = c0; c < c1; c++) {
        tg_real *acc_c = acc + c * p->taps * p->o_pad;
        int64_t v0 = 0;
        for (int64_t rem = p->o_pad / VLEN; rem > 0;) {
            const int ob = chunk_width(rem);
            const int64_t tb = dw_taps(ob);
            for (int64_t t0 = 0; t0 < p->taps; t0 += tb) {
                const int64_t nt = p->taps - t0 < tb ? p->taps - t0 : tb;
                if (ob == 1) dw_block_1(p, channels, images, boxes, pos, dyt, acc_c, c, t0, nt, v0);
                else if (ob == 2) dw_block_2(p, channels, images, boxes, pos, dyt, acc_c, c, t0, nt, v0);
#if OB_MAX >= 3
                else dw_block_3(p, channels, images, boxes, pos, dyt, acc_c, c, t0, nt, v0);
#endif
            }
            v0 += ob;
            rem -= ob;
        }
    }
}

const tg_conv_ovec_kernel OVEC_KERNEL = {OVEC_KERNEL_NAME, VLEN, ovec_items, ovec_forward, ovec_dw};
