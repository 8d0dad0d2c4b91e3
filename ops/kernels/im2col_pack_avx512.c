/* ops/kernels/im2col_pack_avx512.c — AVX-512 version of tg_im2col_pack_b for float, panels of 32
 * columns, stride 1 or 2 along W (built with -mavx512f on x86-64 only; im2col_pack.c calls it only when
 * the CPU reports AVX-512F).
 *
 * The columns of one panel fall into a few runs (one output row each); they are found once per
 * panel, and their masks once per tap. Then each row of M is two registers: every run is one
 * masked load (lanes of the valid input columns; the others stay zero), and the row is two plain
 * stores. */
#include "im2col_pack_internal.h"

#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__) && !defined(TG_REAL_DOUBLE)
#include <immintrin.h>

typedef struct panel_run {
    int64_t base;       /* offset of lane 0 in x for the tap with all offsets zero, channel 0 */
    int64_t d, h;       /* input depth and row for the tap with all offsets zero */
    int64_t ow, lane;   /* output column of the first lane, first lane */
    int64_t len;
} panel_run;

/* Bit i of an 8-bit mask moved to bit 2i. */
static inline uint32_t spread_bits(uint32_t m)
{
    m = (m | (m << 4)) & 0x0f0fu;
    m = (m | (m << 2)) & 0x3333u;
    return (m | (m << 1)) & 0x5555u;
}

/* One tap (kd, kh, kw) and the channels c0..c1-1 whose rows c*taps + tap are in the block. */
typedef struct tap_span {
    int64_t tap, c0, c1;
    int64_t dd, dh, dw; /* input offsets of the tap along D, H, W */
    int64_t lo, hi;     /* output columns in [lo, hi) read inside the input row */
} tap_span;

/* Rows r0..r0+n-1 of M, columns j0..j0+nc, as panels of 32 columns: row r of panel p at
 * dst + p * panel_stride + (r - r0) * 32. Rows of M are (channel, tap); all channels of one tap
 * share the runs' masks and validity, so those are worked out once per tap and each row is just
 * a masked load per run plus two stores. */
static void fill_panels(const tg_im2col_src *s, int64_t r0, int64_t n, int64_t j0, int64_t nc, int64_t panel_stride,
                        float *dst)
{
    enum { NR = 32 };
    const tg_conv_geom *g = s->geom;
    const int64_t out_w = g->out[2], out_h = g->out[1], out_d = g->out[0], in_w = g->in[2], in_h = g->in[1];
    const int64_t positions = out_w * out_h * out_d, in_plane = g->in[0] * in_h * in_w;
    const int64_t ntaps = g->kernel[0] * g->kernel[1] * g->kernel[2], khw = g->kernel[1] * g->kernel[2];
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    panel_run runs[NR];
    __mmask16 mask_lo[NR], mask_hi[NR], mask2[NR][4]; /* stride 2: element masks of the four loads */
    const int64_t sw = g->stride[2];
    const float *from[NR];
    /* the taps present in rows r0..r0+n-1, with their channel ranges (no division per panel) */
    tap_span spans[TG_IM2COL_MAX_TAPS];
    int64_t n_taps = 0;
    for (int64_t tap = 0; tap < ntaps; tap++) {
        int64_t c0 = r0 - tap <= 0 ? 0 : (r0 - tap + ntaps - 1) / ntaps, last = r0 + n - 1 - tap;
        if (last < 0 || c0 > last / ntaps) continue;
        int64_t kd = tap / khw, kh = tap % khw / g->kernel[2], kw = tap % g->kernel[2];
        int64_t dw = kw * g->dilation[2] - g->pad[2];
        /* output columns in [lo, hi) read inside the input row: 0 <= ow*sw + dw < in_w */
        int64_t lo = dw >= 0 ? 0 : (-dw + sw - 1) / sw, hi = in_w - 1 - dw < 0 ? 0 : (in_w - 1 - dw) / sw + 1;
        hi = hi > out_w ? out_w : hi;
        spans[n_taps++] = (tap_span){.tap = tap, .c0 = c0, .c1 = last / ntaps + 1,
                                     .dd = kd * g->dilation[0] - g->pad[0], .dh = kh * g->dilation[1] - g->pad[1],
                                     .dw = dw, .lo = lo, .hi = hi};
    }
    for (int64_t jp = 0; jp < nc; jp += NR) {
        /* the runs of this panel: one output row each */
        int64_t cols = nc - jp < NR ? nc - jp : NR, j = j0 + jp, image = j / positions, q = j % positions;
        int64_t ow = q % out_w, oh = q / out_w % out_h, od = q / (out_w * out_h), n_runs = 0;
        for (int64_t lane = 0; lane < cols;) {
            int64_t len = out_w - ow < cols - lane ? out_w - ow : cols - lane;
            int64_t d = od * g->stride[0], h = oh * g->stride[1];
            runs[n_runs++] = (panel_run){.base = image * s->image_stride + (d * in_h + h) * in_w + (ow - lane) * sw,
                                         .d = d, .h = h, .ow = ow, .lane = lane, .len = len};
            lane += len;
            ow += len;
            if (ow == out_w) { /* next output row, plane, image */
                ow = 0;
                tg_im2col_next_out_row(g, &oh, &od, &image);
            }
        }
        float *panel = dst + (jp / NR) * panel_stride;
        for (int64_t t = 0; t < n_taps; t++) {
            const tap_span *ts = &spans[t];
            const int64_t tap = ts->tap, c0 = ts->c0, c1 = ts->c1, dd = ts->dd, dh = ts->dh, dw = ts->dw;
            const int64_t lo = ts->lo, hi = ts->hi;
            int64_t n_from = 0;
            for (int64_t k = 0; k < n_runs; k++) {
                const panel_run *run = &runs[k];
                if ((uint64_t)(run->d + dd) >= (uint64_t)g->in[0] || (uint64_t)(run->h + dh) >= (uint64_t)in_h) continue;
                int64_t a = lo > run->ow ? lo : run->ow, b = hi < run->ow + run->len ? hi : run->ow + run->len;
                if (b <= a) continue;
                uint32_t m = (uint32_t)(((1ull << (b - a)) - 1) << (run->lane + a - run->ow));
                mask_lo[n_from] = (__mmask16)m;
                mask_hi[n_from] = (__mmask16)(m >> 16);
                for (int quarter = 0; quarter < 4; quarter++) /* lane l reads element 2l */
                    mask2[n_from][quarter] = (__mmask16)spread_bits((m >> (8 * quarter)) & 0xff);
                from[n_from++] = s->x + run->base + (dd * in_h + dh) * in_w + dw + c0 * in_plane;
            }
            /* the runs lie in lane order: those reaching the low 16 lanes come first, those
             * reaching the high 16 last, so each half loads only its own runs (on 9-wide maps a
             * 32-column panel has four runs: five loads a row instead of eight) */
            int64_t n_lo = 0, first_hi = n_from;
            while (n_lo < n_from && mask_lo[n_lo]) n_lo++;
            while (first_hi > 0 && mask_hi[first_hi - 1]) first_hi--;
            float *row = panel + (c0 * ntaps + tap - r0) * NR;
            for (int64_t c = c0; c < c1; c++, row += ntaps * NR) {
                __m512 lo16 = _mm512_setzero_ps(), hi16 = _mm512_setzero_ps();
                const int64_t shift = (c - c0) * in_plane;
                if (sw == 1) { /* zero-masked loads ORed in: no merge dependency */
                    for (int64_t k = 0; k < n_lo; k++)
                        lo16 = _mm512_or_ps(lo16, _mm512_maskz_loadu_ps(mask_lo[k], from[k] + shift));
                    for (int64_t k = first_hi; k < n_from; k++)
                        hi16 = _mm512_or_ps(hi16, _mm512_maskz_loadu_ps(mask_hi[k], from[k] + shift + 16));
                } else { /* stride 2: two loads per 16 lanes, even elements picked by a two-source permute */
                    for (int64_t k = 0; k < n_from; k++) {
                        /* the four lines 512 bytes on (rows the next panels read): the stride-2
                         * loads otherwise wait on memory (16x64x56x56 s2 forward 11.4 -> 10.5 ms) */
                        const float *f = from[k] + shift;
                        for (int line = 0; line < 4; line++) _mm_prefetch((const char *)(f + 128 + 16 * line), _MM_HINT_T0);
                    }
                    for (int64_t k = 0; k < n_lo; k++) {
                        const float *f = from[k] + shift;
                        __m512 a = _mm512_maskz_loadu_ps(mask2[k][0], f), b = _mm512_maskz_loadu_ps(mask2[k][1], f + 16);
                        lo16 = _mm512_or_ps(lo16, _mm512_permutex2var_ps(a, even, b));
                    }
                    for (int64_t k = first_hi; k < n_from; k++) {
                        const float *f = from[k] + shift;
                        __m512 c = _mm512_maskz_loadu_ps(mask2[k][2], f + 32), d = _mm512_maskz_loadu_ps(mask2[k][3], f + 48);
                        hi16 = _mm512_or_ps(hi16, _mm512_permutex2var_ps(c, even, d));
                    }
                }
                _mm512_storeu_ps(row, lo16);
                _mm512_storeu_ps(row + 16, hi16);
            }
        }
    }
}

void tg_im2col_pack_b_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    fill_panels(s, p0, kc, j0, nc, kc * 32, dst);
}

/* B = M^T: a block of up to ROWS rows of M (B's columns) is filled, as many k steps (columns of
 * M, in 32-column panels) as fit the tile at a time, then transposed 32 x 32 into B's panels.
 * Filling many rows per call shares each panel's runs and each tap's masks across all channels of
 * the block (with only 32 rows per call a 5x5 tap had one or two channels to share them: dW spent
 * more time packing than multiplying); few rows (C = 1) get wide spans instead. */
void tg_im2col_pack_bt_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    enum { NR = 32, ROWS = 256, TILE = ROWS * NR };
    float tile[TILE] __attribute__((aligned(64))); /* 32 KiB: stays in L1 */
    for (int64_t rb = 0; rb < nc; rb += ROWS) {
        const int64_t rows = nc - rb < ROWS ? nc - rb : ROWS, span = TILE / (rows * NR) * NR;
        for (int64_t pc = 0; pc < kc; pc += span) {
            int64_t chunk = kc - pc < span ? kc - pc : span;
            fill_panels(s, j0 + rb, rows, p0 + pc, chunk, rows * NR, tile); /* panel q / NR at tile + q * rows */
            for (int64_t q = 0; q < chunk; q += NR)
                for (int64_t jr = 0; jr < rows; jr += NR)
                    tg_gemm_pack_transposed(tile + q * rows + jr * NR, NR, rows - jr < NR ? rows - jr : NR,
                                            chunk - q < NR ? chunk - q : NR, NR, dst + (rb + jr) * kc + (pc + q) * NR);
        }
    }
}
/* Each 32-column panel is one (block, tap) group with blocks of 32 channels, two with blocks of
 * 16. Each k step copies the group's channels at the tap's input position (zeros where the tap
 * leaves the input, or past the last column). The positions of a chunk are stepped through once
 * (no division per position) and shared by every group, so a copy is an offset add, three bound
 * checks, a load and a store. */
void tg_im2col_pack_bt_blocked_avx512(const tg_im2col_blocked_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                                      float *dst)
{
    enum { NR = TG_IM2COL_BLOCK, HALF = 16, CHUNK = TG_IM2COL_CORNERS };
    const tg_conv_geom *g = s->geom;
    const int64_t width = s->width;
    const int64_t taps = g->kernel[0] * g->kernel[1] * g->kernel[2], khw = g->kernel[1] * g->kernel[2];
    const int64_t in_d = g->in[0], in_h = g->in[1], in_w = g->in[2], pin = in_d * in_h * in_w;
    const int64_t out_d = g->out[0], out_h = g->out[1], out_w = g->out[2], pout = out_d * out_h * out_w;
    int64_t cd[CHUNK], ch[CHUNK], cw[CHUNK], offset[CHUNK]; /* tap 0's input position; its offset in x */
    const __m512 zero = _mm512_setzero_ps();
    int64_t image = p0 / pout, pos = p0 % pout;
    int64_t od = pos / (out_h * out_w), oh = pos / out_w % out_h, ow = pos % out_w;
    for (int64_t pc = 0; pc < kc; pc += CHUNK) {
        const int64_t n = kc - pc < CHUNK ? kc - pc : CHUNK;
        for (int64_t p = 0; p < n; p++) {
            cd[p] = od * g->stride[0] - g->pad[0];
            ch[p] = oh * g->stride[1] - g->pad[1];
            cw[p] = ow * g->stride[2] - g->pad[2];
            offset[p] = (image * s->blocks * pin + (cd[p] * in_h + ch[p]) * in_w + cw[p]) * width;
            if (++ow < out_w) continue;
            ow = 0;
            if (++oh < out_h) continue;
            oh = 0;
            if (++od < out_d) continue;
            od = 0;
            image++;
        }
        for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t col = jr; col < jr + NR; col += width) { /* the panel's one or two groups */
                const int64_t group = (j0 + col) / width, block = group / taps, tap = group % taps;
                float *panel = dst + jr * kc + pc * NR + (col - jr);
                const int64_t cols = nc - col < 0 ? 0 : nc - col < width ? nc - col : width;
                if (cols == 0) { /* past the last column */
                    for (int64_t p = 0; p < n; p++) _mm512_store_ps(panel + p * NR, zero);
                    continue;
                }
                const int64_t dd = tap / khw * g->dilation[0], dh = tap % khw / g->kernel[2] * g->dilation[1];
                const int64_t dw = tap % g->kernel[2] * g->dilation[2];
                const float *x = s->x + block * pin * width + ((dd * in_h + dh) * in_w + dw) * width;
                /* lanes of the first and (32-channel blocks) second vector; plain loads when whole:
                 * masked ones are slow on AMD */
                const __mmask16 lo = (__mmask16)(cols >= HALF ? 0xffff : (1u << cols) - 1);
                const __mmask16 hi = (__mmask16)(cols >= NR ? 0xffff : cols <= HALF ? 0 : (1u << (cols - HALF)) - 1);
                const bool whole = cols == width;
                for (int64_t p = 0; p < n; p++) {
                    const bool inside = (uint64_t)(cd[p] + dd) < (uint64_t)in_d && (uint64_t)(ch[p] + dh) < (uint64_t)in_h &&
                                        (uint64_t)(cw[p] + dw) < (uint64_t)in_w;
                    float *to = panel + p * NR;
                    if (!inside) { /* no pointer into x is formed: the offset may lie outside it */
                        _mm512_store_ps(to, zero);
                        if (width == NR) _mm512_store_ps(to + HALF, zero);
                        continue;
                    }
                    const float *src = x + offset[p];
                    if (whole) {
                        _mm512_store_ps(to, _mm512_loadu_ps(src));
                        if (width == NR) _mm512_store_ps(to + HALF, _mm512_loadu_ps(src + HALF));
                    } else {
                        _mm512_store_ps(to, _mm512_maskz_loadu_ps(lo, src));
                        if (width == NR) _mm512_store_ps(to + HALF, _mm512_maskz_loadu_ps(hi, src + HALF));
                    }
                }
            }
    }
}
#else
typedef int tg_im2col_pack_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
