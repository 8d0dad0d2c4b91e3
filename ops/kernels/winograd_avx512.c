/* ops/kernels/winograd_avx512.c — the Winograd row transforms compiled with AVX-512 (this file gets
 * -mavx512f on x86-64; winograd.c calls these only when the CPU reports AVX-512F, and only F
 * instructions are used). Elsewhere the same template loops compile plainly, so the program still links.
 *
 * In float the two transforms are written with intrinsics, a block of 16 tiles (one vector per
 * transform position) at a time: the input rows are read with masked loads that give the zero
 * padding and stop at the plane's edges, and the output goes straight to the plane's rows through
 * masked stores. The compiled template (winograd_rows.h, still used in double) spent a quarter of
 * its time on per-row bookkeeping for the maps these nets have (28x28 and smaller: one or two
 * blocks a row): zeroing the line ends element by element, scalar tails, a copy of each output row
 * (measured 4 Dec, Zen 5: VGG-BN training, the input transform 10.7% of the step).
 */
/* the transforms' row loops must vectorise; short row copies stay inline, not memcpy calls; the
 * multiply's sums of products fuse into FMAs (its bits differ from the portable copy's
 * in the last place; each gives the same bits on every call) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns", "fp-contract=fast")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT ON
#endif
#include "prefetch.h"
#include "winograd_internal.h"

/* the float transforms below with AVX-512; everything else (and, without AVX-512, everything) the
 * template's loops under this file's names */
#if defined(__x86_64__) && defined(__AVX512F__) && !defined(TG_REAL_DOUBLE)
#define WINOGRAD_AVX512_TRANSFORMS
#define WINOGRAD_ROWS_OWN_TRANSFORMS
#define WINOGRAD_ROWS_OWN_DY_TRANSFORM
#endif
#define WINOGRAD_ROWS(name) winograd_avx512_##name
#include "winograd_rows.h"

#ifdef WINOGRAD_AVX512_TRANSFORMS
#include <immintrin.h>

_Static_assert(WINOGRAD_VEC == 16, "a block of tiles is one vector of floats");

/* Lanes l of a 16-float load at column `at` with 0 <= at + l < width. */
static inline __mmask16 inside_mask(int64_t at, int64_t width)
{
    const int64_t lo = at < 0 ? -at : 0, hi = width - at > 16 ? 16 : width - at;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* The rows' loads, their masks worked out once for every plane: tiles j0..j0+15 read input columns
 * at .. at+33 of rows r0..r0+3, three vectors a row, the third's first two. */
typedef struct input_block {
    int64_t offset[4];    /* of each row in a plane (0 where the row is outside) */
    __mmask16 mask[4][3]; /* 0 for a row outside the plane */
} input_block;

/* Row i of B^T d over one vector of columns, d0..d3 the tile's four input rows there. */
static inline __m512 bt_row(int i, __m512 d0, __m512 d1, __m512 d2, __m512 d3)
{
    return i == 0 ? _mm512_sub_ps(d0, d2) : i == 1 ? _mm512_add_ps(d1, d2) : i == 2 ? _mm512_sub_ps(d2, d1)
                                                                                    : _mm512_sub_ps(d1, d3);
}
/* (B^T d B)[4i .. 4i+3] of 16 tiles into v's positions (kstride apart) from row i of B^T d at the
 * tiles' columns 2j, 2j+1, 2j+2, 2j+3 (e0..e3). */
static inline void store_bt_cols(float *out, int64_t kstride, __m512 e0, __m512 e1, __m512 e2, __m512 e3)
{
    _mm512_storeu_ps(out, _mm512_sub_ps(e0, e2));
    _mm512_storeu_ps(out + kstride, _mm512_add_ps(e1, e2));
    _mm512_storeu_ps(out + 2 * kstride, _mm512_sub_ps(e2, e1));
    _mm512_storeu_ps(out + 3 * kstride, _mm512_sub_ps(e1, e3));
}

/* The masks and offsets of block j0's loads for input rows r0..r0+3. */
static inline input_block block_of(const tg_conv_geom *g, int64_t r0, int64_t j0)
{
    const int64_t h = g->in[1], w = g->in[2], at = -g->pad[2] + 2 * j0;
    input_block b;
    for (int i = 0; i < 4; i++) {
        const bool inside = r0 + i >= 0 && r0 + i < h;
        b.offset[i] = inside ? (r0 + i) * w + at : 0;
        for (int q = 0; q < 3; q++)
            b.mask[i][q] = inside ? inside_mask(at + 16 * q, q < 2 ? w : (at + 34 < w ? at + 34 : w)) : 0;
    }
    return b;
}

/* One block of 16 tiles of one plane: its input rows loaded through b's masks, (B^T d B) stored at
 * out (positions kstride apart); check picks up NaN or ±Inf read. */
static inline void input_block_transform(const input_block *b, const float *pc, float *out, int64_t kstride,
                                         __m512 *check)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 zero = _mm512_setzero_ps();
    __m512 d[4][3];
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < 3; q++) {
            /* at the left edge pc + offset points up to the padding before the row: only the mask's
             * lanes are read */
            d[i][q] = b->mask[i][q] ? _mm512_maskz_loadu_ps(b->mask[i][q], pc + b->offset[i] + 16 * q) : zero;
            *check = _mm512_fmadd_ps(d[i][q], zero, *check);
        }
    for (int i = 0; i < 4; i++) {
        __m512 s[3]; /* (B^T d)[i] over the 48 columns */
        for (int q = 0; q < 3; q++) s[q] = bt_row(i, d[0][q], d[1][q], d[2][q], d[3][q]);
        /* tile j's columns 2j..2j+3: e0, e1 from (s0, s1); e2, e3 from the same shifted by two */
        const __m512 e0 = _mm512_permutex2var_ps(s[0], even, s[1]);
        const __m512 e1 = _mm512_permutex2var_ps(s[0], odd, s[1]);
        const __m512 s0_2 =
            _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(s[1]), _mm512_castps_si512(s[0]), 2));
        const __m512 s1_2 =
            _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(s[2]), _mm512_castps_si512(s[1]), 2));
        const __m512 e2 = _mm512_permutex2var_ps(s0_2, even, s1_2);
        const __m512 e3 = _mm512_permutex2var_ps(s0_2, odd, s1_2);
        store_bt_cols(out + (4 * i) * kstride, kstride, e0, e1, e2, e3);
    }
}

/* Blocks whose loads are worked out once for all the planes when they overlap in v (below): rows
 * up to 128 tiles (maps 256 wide). */
#define INPUT_BLOCKS_AHEAD 8
void winograd_avx512_transform_input_rows(const tg_conv_geom *g, const tiling *tl, const float *plane,
                                          int64_t plane_stride, int64_t planes, int64_t r0, float *restrict lines,
                                          float *restrict v, int64_t v_stride, int64_t kstride)
{
    __m512 check = _mm512_setzero_ps(); /* x·0 + check: NaN for good once an x read is NaN or ±Inf */
    const int64_t blocks = tl->cols_pad / 16;
    if (planes > 1 && v_stride < tl->cols_pad) {
        /* planes whose tiles overlap in v (a run of tile rows of one channel, v_stride = cols: each
         * writes a vector of slack into the next): plane by plane, every block of one before the
         * next plane's, so a plane's real tiles land after the slack before them */
        input_block b[INPUT_BLOCKS_AHEAD];
        for (int64_t jb = 0; jb < blocks && jb < INPUT_BLOCKS_AHEAD; jb++) b[jb] = block_of(g, r0, 16 * jb);
        for (int64_t c = 0; c < planes; c++)
            for (int64_t jb = 0; jb < blocks; jb++) {
                input_block far; /* rows past INPUT_BLOCKS_AHEAD blocks: worked out again a plane */
                const input_block *bj = &b[jb < INPUT_BLOCKS_AHEAD ? jb : 0];
                if (jb >= INPUT_BLOCKS_AHEAD) far = block_of(g, r0, 16 * jb), bj = &far;
                input_block_transform(bj, plane + c * plane_stride, v + c * v_stride + 16 * jb, kstride, &check);
            }
    } else {
        for (int64_t j0 = 0; j0 < tl->cols_pad; j0 += 16) {
            const input_block b = block_of(g, r0, j0);
            for (int64_t c = 0; c < planes; c++)
                input_block_transform(&b, plane + c * plane_stride, v + c * v_stride + j0, kstride, &check);
        }
    }
    float *flag = lines + tl->line; /* the caller's finiteness check */
    _mm512_storeu_ps(flag, _mm512_add_ps(_mm512_loadu_ps(flag), check));
}

/* A^T m A of 16 tiles (m's 16 positions kstride apart from mo): the left and right output columns of
 * the tiles' two output rows, left[i] and right[i] for row i. */
static inline void output_columns(const float *mo, int64_t kstride, __m512 left[2], __m512 right[2])
{
    __m512 s[2][4]; /* A^T m */
    for (int q = 0; q < 4; q++) {
        const __m512 m0 = _mm512_loadu_ps(mo + q * kstride), m1 = _mm512_loadu_ps(mo + (4 + q) * kstride);
        const __m512 m2 = _mm512_loadu_ps(mo + (8 + q) * kstride);
        const __m512 m3 = _mm512_loadu_ps(mo + (12 + q) * kstride);
        s[0][q] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s[1][q] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    for (int i = 0; i < 2; i++) { /* (A^T m) A */
        left[i] = _mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]);
        right[i] = _mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]);
    }
}

void winograd_avx512_transform_output_rows(const tg_conv_geom *g, const tiling *tl, const float *m, int64_t m_stride,
                                           int64_t kstride, int64_t planes, int64_t row, float *restrict lines,
                                           float *plane, int64_t plane_stride, bool accumulate)
{
    (void)lines;
    const int64_t ho = g->out[1], wo = g->out[2];
    const int64_t out_rows = 2 * row + 1 < ho ? 2 : 1;
    const __m512i lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t j0 = 0; j0 < tl->cols_pad && 2 * j0 < wo; j0 += 16) {
        const __mmask16 first = inside_mask(2 * j0, wo), second = inside_mask(2 * j0 + 16, wo);
        for (int64_t o = 0; o < planes; o++) {
            __m512 left[2], right[2];
            output_columns(m + o * m_stride + j0, kstride, left, right);
            for (int i = 0; i < out_rows; i++) {
                /* output columns 2j (left) and 2j+1 (right), interleaved into 32 */
                __m512 out0 = _mm512_permutex2var_ps(left[i], lo_half, right[i]);
                __m512 out1 = _mm512_permutex2var_ps(left[i], hi_half, right[i]);
                float *dst = plane + o * plane_stride + (2 * row + i) * wo + 2 * j0;
                if (accumulate) {
                    out0 = _mm512_add_ps(out0, _mm512_maskz_loadu_ps(first, dst));
                    if (second) out1 = _mm512_add_ps(out1, _mm512_maskz_loadu_ps(second, dst + 16));
                }
                _mm512_mask_storeu_ps(dst, first, out0);
                if (second) _mm512_mask_storeu_ps(dst + 16, second, out1);
            }
        }
    }
}
/* Two rows of at most 8 tiles in one vector: lanes 0-7 row a's tiles, 8-15 row b's. Tile j reads
 * input columns at + 2j .. at + 2j + 3: per input row, columns at .. at+15 and at+2 .. at+17 of
 * each row's plane; the even/odd permutes of (a's, b's) vectors then give the 16 tiles' columns
 * 2j and 2j+1 (and, of the +2 vectors, 2j+2 and 2j+3) with no shuffling between the rows. */
void winograd_avx512_transform_input_pair(const tg_conv_geom *g, const tiling *tl, const float *plane_a, int64_t ra,
                                          const float *plane_b, int64_t rb, int64_t plane_stride, int64_t planes,
                                          float *restrict lines, float *restrict v, int64_t v_stride, int64_t kstride)
{
    const int64_t h = g->in[1], w = g->in[2], at = -g->pad[2];
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 zero = _mm512_setzero_ps();
    __m512 check = zero;
    /* per input row i of a and b: offsets in a plane and the masks of the two loads */
    int64_t off[2][4];
    __mmask16 mask[2][4][2];
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 4; i++) {
            const int64_t r = (p ? rb : ra) + i;
            const bool inside = (p ? plane_b != NULL : true) && r >= 0 && r < h;
            off[p][i] = inside ? r * w + at : 0;
            mask[p][i][0] = inside ? inside_mask(at, w) : 0;
            mask[p][i][1] = inside ? inside_mask(at + 2, w) : 0;
        }
    const float *base[2] = {plane_a, plane_b ? plane_b : plane_a};
    for (int64_t c = 0; c < planes; c++) {
        __m512 d[2][4][2]; /* [row a / b][input row][columns +0 / +2] */
        for (int p = 0; p < 2; p++) {
            const float *pc = base[p] + c * plane_stride;
            for (int i = 0; i < 4; i++)
                for (int q = 0; q < 2; q++) {
                    /* only the mask's lanes are read (none outside; at the left edge the address
                     * points into the padding before the row) */
                    d[p][i][q] = _mm512_maskz_loadu_ps(mask[p][i][q], pc + off[p][i] + 2 * q);
                    check = _mm512_fmadd_ps(d[p][i][q], zero, check);
                }
        }
        for (int i = 0; i < 4; i++) {
            __m512 s[2][2]; /* (B^T d)[i] of row a / b, columns +0 / +2 */
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) s[p][q] = bt_row(i, d[p][0][q], d[p][1][q], d[p][2][q], d[p][3][q]);
            const __m512 e0 = _mm512_permutex2var_ps(s[0][0], even, s[1][0]);
            const __m512 e1 = _mm512_permutex2var_ps(s[0][0], odd, s[1][0]);
            const __m512 e2 = _mm512_permutex2var_ps(s[0][1], even, s[1][1]);
            const __m512 e3 = _mm512_permutex2var_ps(s[0][1], odd, s[1][1]);
            store_bt_cols(v + c * v_stride + (4 * i) * kstride, kstride, e0, e1, e2, e3);
        }
    }
    float *flag = lines + tl->line;
    _mm512_storeu_ps(flag, _mm512_add_ps(_mm512_loadu_ps(flag), check));
}

/* The output of two rows of at most 8 tiles from one vector of M a position: the interleave of
 * the left and right columns gives row a's 16 output columns in its low half and row b's in its
 * high half. */
void winograd_avx512_transform_output_pair(const tg_conv_geom *g, const tiling *tl, const float *m, int64_t m_stride,
                                           int64_t kstride, int64_t planes, int64_t row_a, float *y_a, int64_t row_b,
                                           float *y_b, int64_t plane_stride, float *restrict lines, bool accumulate)
{
    (void)tl;
    (void)lines;
    const int64_t ho = g->out[1], wo = g->out[2];
    const int64_t rows_a = 2 * row_a + 1 < ho ? 2 : 1, rows_b = y_b ? (2 * row_b + 1 < ho ? 2 : 1) : 0;
    const __m512i lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __mmask16 cols = inside_mask(0, wo);
    for (int64_t o = 0; o < planes; o++) {
        __m512 left[2], right[2];
        output_columns(m + o * m_stride, kstride, left, right);
        for (int i = 0; i < 2; i++) {
            for (int p = 0; p < 2; p++) {
                if (i >= (p ? rows_b : rows_a)) continue;
                __m512 out = _mm512_permutex2var_ps(left[i], p ? hi_half : lo_half, right[i]);
                float *dst = (p ? y_b : y_a) + o * plane_stride + (2 * (p ? row_b : row_a) + i) * wo;
                if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(cols, dst));
                _mm512_mask_storeu_ps(dst, cols, out);
            }
        }
    }
}
/* The weight gradient's dY transform (winograd_internal.h) with the output channels in the lanes:
 * each of a tile's four dY values gathered from 16 planes at once (the compiled loops moved them
 * one float at a time: 8.8 ns a value, three quarters of a 32 -> 64 channel weight gradient). */
float winograd_avx512_dy_transform_t(const tg_conv_geom *g, const tiling *tl, const float *dy, int64_t o_count,
                                     int64_t o_pad, int64_t row0, int64_t rows, float *restrict yt, int64_t y_plane)
{
    const int64_t ho = g->out[1], wo = g->out[2], plane = ho * wo;
    if (16 * plane > INT32_MAX) /* the gathers' 32-bit offsets */
        return winograd_avx512_dy_transform_t_loops(g, tl, dy, o_count, o_pad, row0, rows, yt, y_plane);
    const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32((int)plane));
    const __m512 zero = _mm512_setzero_ps();
    __m512 check = zero;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t image = (row0 + r) / tl->rows, tile_row = (row0 + r) % tl->rows;
        const float *base = dy + image * o_count * plane;
        for (int64_t j = 0; j < tl->cols; j++) {
            float *out = yt + (r * tl->cols + j) * o_pad;
            int64_t at[4]; /* the tile's 2x2 positions in a plane, or -1 past the output's edge */
            for (int q = 0; q < 4; q++) {
                const int64_t y = 2 * tile_row + q / 2, x = 2 * j + q % 2;
                at[q] = y < ho && x < wo ? y * wo + x : -1;
            }
            for (int64_t o0 = 0; o0 < o_pad; o0 += 16) {
                const int64_t left = o_count - o0;
                const __mmask16 lanes = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
                __m512 d[4];
                for (int q = 0; q < 4; q++)
                    d[q] = at[q] >= 0 && lanes
                               ? _mm512_mask_i32gather_ps(zero, lanes, offsets, base + o0 * plane + at[q], 4)
                               : zero;
                const __m512 a[4] = {d[0], _mm512_add_ps(d[0], d[2]), _mm512_sub_ps(d[0], d[2]),
                                     _mm512_sub_ps(zero, d[2])}; /* A y, column 0 */
                const __m512 b[4] = {d[1], _mm512_add_ps(d[1], d[3]), _mm512_sub_ps(d[1], d[3]),
                                     _mm512_sub_ps(zero, d[3])}; /* column 1 */
                for (int q = 0; q < 4; q++) {
                    float *oq = out + (4 * q) * y_plane + o0;
                    _mm512_storeu_ps(oq, a[q]);
                    _mm512_storeu_ps(oq + y_plane, _mm512_add_ps(a[q], b[q]));
                    _mm512_storeu_ps(oq + 2 * y_plane, _mm512_sub_ps(a[q], b[q]));
                    _mm512_storeu_ps(oq + 3 * y_plane, _mm512_sub_ps(zero, b[q]));
                }
                const __m512 sum = _mm512_add_ps(_mm512_add_ps(d[0], d[1]), _mm512_add_ps(d[2], d[3]));
                check = _mm512_fmadd_ps(sum, zero, check);
            }
        }
    }
    return _mm512_reduce_add_ps(check);
}

/* ---- F(4x4,3x3) ---- */

/* B^T (winograd_rows.h's bt4) down six vectors, factored: 13 operations for its 20 non-zeros. */
static inline void bt4_vectors(const __m512 d[6], __m512 t[6])
{
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    const __m512 a = _mm512_fnmadd_ps(four, d[2], d[4]); /* d4 - 4 d2 */
    const __m512 b = _mm512_fnmadd_ps(four, d[1], d[3]); /* d3 - 4 d1 */
    const __m512 c = _mm512_sub_ps(d[4], d[2]), e = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
    t[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    t[1] = _mm512_add_ps(a, b);
    t[2] = _mm512_sub_ps(a, b);
    t[3] = _mm512_add_ps(c, e);
    t[4] = _mm512_sub_ps(c, e);
    t[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}
/* A^T (winograd_rows.h's at4) down six vectors into four. */
static inline void at4_vectors(const __m512 m[6], __m512 y[4])
{
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m[5]);
}

/* The column phases of one patch row of a block's 16 tiles: e[q] lane t = column 4j + q of slot t's
 * patch row (slot t: part t / span, its tile j = t % span), q = 0..5.
 * Halves (8 tiles): columns +0..15 and +16..31 of each half give phases 0-3 of its tiles (tile j's
 * columns 4j..4j+3), +4..19 and +20..35 phases 4 and 5 (those of tile j+1's first two); a permute
 * takes 8 tiles' two phases from a pair of vectors, a 256-bit shuffle puts half a's 8 tiles in
 * lanes 0-7 and half b's in 8-15.
 * Quarters (4 tiles): columns +0..15 permuted give phases 0-3 of the 4 tiles in 128-bit lanes 0-3,
 * +4..19 phases 4 and 5 in lanes 0-1; a 4x4 transpose of 128-bit lanes across the quarters puts
 * quarter p's 4 tiles of phase q in lane p of e[q]. */
static const int input4_shift[4] = {0, 16, 4, 20}; /* columns of the loads; quarters make the first and third */
#ifndef OUTPUT4_PREFETCH_PLANES
#define OUTPUT4_PREFETCH_PLANES 2
#endif
#ifndef INPUT4_PREFETCH_PLANES
#define INPUT4_PREFETCH_PLANES 2 /* planes ahead whose patch rows are asked for */
#endif
static inline void phases_of_halves(const __m512 l[][4], __m512 e[6])
{
    const __m512i phases01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i phases23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    __m512 ph[2][3]; /* per half: phases 0|1, 2|3, 4|5 of its 8 tiles */
    for (int p = 0; p < 2; p++) {
        ph[p][0] = _mm512_permutex2var_ps(l[p][0], phases01, l[p][1]);
        ph[p][1] = _mm512_permutex2var_ps(l[p][0], phases23, l[p][1]);
        ph[p][2] = _mm512_permutex2var_ps(l[p][2], phases01, l[p][3]);
    }
    for (int q = 0; q < 3; q++) {
        e[2 * q] = _mm512_shuffle_f32x4(ph[0][q], ph[1][q], 0x44);     /* low 8 lanes of each */
        e[2 * q + 1] = _mm512_shuffle_f32x4(ph[0][q], ph[1][q], 0xee); /* high 8 lanes */
    }
}
/* The 4x4 transpose of 128-bit lanes: out[q] lane p = in[p] lane q. */
static inline void transpose_lanes(const __m512 in[4], __m512 out[4])
{
    const __m512 lo01 = _mm512_shuffle_f32x4(in[0], in[1], 0x44), lo23 = _mm512_shuffle_f32x4(in[2], in[3], 0x44);
    const __m512 hi01 = _mm512_shuffle_f32x4(in[0], in[1], 0xee), hi23 = _mm512_shuffle_f32x4(in[2], in[3], 0xee);
    out[0] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
    out[1] = _mm512_shuffle_f32x4(lo01, lo23, 0xdd);
    out[2] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
    out[3] = _mm512_shuffle_f32x4(hi01, hi23, 0xdd);
}
static inline void phases_of_quarters(const __m512 l[][4], __m512 e[6])
{
    const __m512i by_phase = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512 lo[4], hi[4], t[4];
    for (int p = 0; p < 4; p++) {
        lo[p] = _mm512_permutexvar_ps(by_phase, l[p][0]);
        hi[p] = _mm512_permutexvar_ps(by_phase, l[p][2]);
    }
    transpose_lanes(lo, e);
    transpose_lanes(hi, t);
    e[4] = t[0];
    e[5] = t[1];
}

static inline __attribute__((always_inline)) float input4_block(const tg_conv_geom *g, const winograd4_part *part,
                                                                const int parts, int64_t plane_stride,
                                                                int64_t planes, float *restrict v, int64_t v_stride,
                                                                int64_t kstride)
{
    const int64_t ih = g->in[1], iw = g->in[2];
    const __m512 zero = _mm512_setzero_ps();
    int64_t off[WINOGRAD4_MAX_PARTS][6];
    __mmask16 mask[WINOGRAD4_MAX_PARTS][6][4];
    const float *base[WINOGRAD4_MAX_PARTS];
    const float *any = NULL;
    for (int p = 0; p < parts; p++)
        if (part[p].plane) any = part[p].plane;
    for (int p = 0; p < parts; p++) {
        base[p] = part[p].plane ? part[p].plane : any;
        for (int s = 0; s < 6; s++) {
            const int64_t r = part[p].row + s;
            const bool inside = part[p].plane && r >= 0 && r < ih;
            off[p][s] = inside ? r * iw + part[p].col : 0;
            for (int l = 0; l < 4; l++) {
                mask[p][s][l] = inside && (parts == 2 || l % 2 == 0) ? inside_mask(part[p].col + input4_shift[l], iw) : 0;
            }
        }
    }
    __m512 check = zero; /* Σ outputs · 0: NaN for good once one is NaN or ±Inf */
    for (int64_t c = 0; c < planes; c++) {
        /* the planes lie a plane apart, too far for the hardware prefetcher: their rows waited for
         * (a third of the transform at 32x32) */
        if (c + INPUT4_PREFETCH_PLANES < planes)
            for (int p = 0; p < parts; p++)
                for (int s = 0; s < 6; s++)
                    if (mask[p][s][0] | mask[p][s][1]) /* the 36 (halves) or 20 columns it reads */
                        tg_prefetch_span(base[p] + (c + INPUT4_PREFETCH_PLANES) * plane_stride + off[p][s],
                                         (parts == 2 ? 36 : 20) * (int64_t)sizeof(float), false);
        __m512 db[6][6]; /* d B: patch row s, transformed column e */
        for (int s = 0; s < 6; s++) {
            __m512 l[WINOGRAD4_MAX_PARTS][4];
            for (int p = 0; p < parts; p++) {
                /* only the masks' lanes are read (at the left edge the address points into the
                 * padding before the row) */
                const float *pc = base[p] + c * plane_stride + off[p][s];
                for (int q = 0; q < 4; q++)
                    if (parts == 2 || q % 2 == 0)
                        l[p][q] = _mm512_maskz_loadu_ps(mask[p][s][q], pc + input4_shift[q]);
            }
            __m512 e[6];
            if (parts == 2) phases_of_halves(l, e);
            else phases_of_quarters(l, e);
            bt4_vectors(e, db[s]);
        }
        for (int e = 0; e < 6; e++) { /* B^T (d B), column e */
            const __m512 col[6] = {db[0][e], db[1][e], db[2][e], db[3][e], db[4][e], db[5][e]};
            __m512 t[6];
            bt4_vectors(col, t);
            float *out = v + c * v_stride + e * kstride;
            for (int i = 0; i < 6; i++) _mm512_storeu_ps(out + 6 * i * kstride, t[i]);
            const __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t[0], t[1]), _mm512_add_ps(t[2], t[3])),
                                             _mm512_add_ps(t[4], t[5]));
            check = _mm512_fmadd_ps(sum, zero, check);
        }
    }
    return _mm512_reduce_add_ps(check);
}
float winograd_avx512_transform_input4(const tg_conv_geom *g, const winograd4_part *part, int parts,
                                       int64_t plane_stride, int64_t planes, float *restrict v, int64_t v_stride,
                                       int64_t kstride)
{
    return parts == 2 ? input4_block(g, part, 2, plane_stride, planes, v, v_stride, kstride)
                      : input4_block(g, part, 4, plane_stride, planes, v, v_stride, kstride);
}

/* A^T m A of 16 slots, then each part's tiles' four phases interleaved into output columns.
 * Halves: a permute pairs phases 0|1 (and 2|3) of the half's 8 tiles, a 64-bit permute of the two
 * pairs gives columns 0-15 (tiles 0-3) and 16-31 (tiles 4-7). Quarters: the 128-bit lane transpose
 * gathers quarter p's four phases into one vector (lane q: phase q of its tiles 0-3), a permute
 * orders them as columns 0-15. */
static inline __attribute__((always_inline)) void output4_block(const tg_conv_geom *g,
                                                                const winograd4_out_part *part, const int parts,
                                                                const float *m, int64_t m_stride, int64_t kstride,
                                                                int64_t planes, int64_t plane_stride,
                                                                bool accumulate)
{
    const int64_t ho = g->out[1], wo = g->out[2];
    const __m512i pair_a = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i pair_b = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i cols_lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i cols_hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    const __m512i by_tile = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    int rows[WINOGRAD4_MAX_PARTS];
    __mmask16 mask[WINOGRAD4_MAX_PARTS][2];
    for (int p = 0; p < parts; p++) {
        rows[p] = part[p].plane ? (int)(ho - part[p].row < 4 ? ho - part[p].row : 4) : 0;
        mask[p][0] = part[p].plane ? inside_mask(part[p].col, wo) : 0;
        mask[p][1] = part[p].plane && parts == 2 ? inside_mask(part[p].col + 16, wo) : 0;
    }
    for (int64_t o = 0; o < planes; o++) {
        if (OUTPUT4_PREFETCH_PLANES && o + OUTPUT4_PREFETCH_PLANES < planes) /* the rows it will write */
            for (int p = 0; p < parts; p++)
                for (int a = 0; a < rows[p]; a++)
                    tg_prefetch_span(part[p].plane + (o + OUTPUT4_PREFETCH_PLANES) * plane_stride +
                                         (part[p].row + a) * wo + part[p].col,
                                     4 * (16 / parts) * (int64_t)sizeof(float), true);
        const float *mo = m + o * m_stride;
        __m512 ma[6][4]; /* m A: row i, output column phase b */
        for (int i = 0; i < 6; i++) {
            __m512 row[6];
            for (int e = 0; e < 6; e++) row[e] = _mm512_loadu_ps(mo + (6 * i + e) * kstride);
            at4_vectors(row, ma[i]);
        }
        __m512 y[4][4]; /* A^T (m A): output row a, column phase b */
        for (int b = 0; b < 4; b++) {
            const __m512 col[6] = {ma[0][b], ma[1][b], ma[2][b], ma[3][b], ma[4][b], ma[5][b]};
            __m512 out[4];
            at4_vectors(col, out);
            for (int a = 0; a < 4; a++) y[a][b] = out[a];
        }
        for (int a = 0; a < 4; a++) {
            __m512 cols[WINOGRAD4_MAX_PARTS][2]; /* each part's output row a: columns 0-15, 16-31 */
            if (parts == 2)
                for (int p = 0; p < 2; p++) {
                    const __m512i pair = p ? pair_b : pair_a;
                    const __m512d p01 = _mm512_castps_pd(_mm512_permutex2var_ps(y[a][0], pair, y[a][1]));
                    const __m512d p23 = _mm512_castps_pd(_mm512_permutex2var_ps(y[a][2], pair, y[a][3]));
                    cols[p][0] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01, cols_lo, p23));
                    cols[p][1] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01, cols_hi, p23));
                }
            else {
                __m512 by_part[4];
                transpose_lanes(y[a], by_part);
                for (int p = 0; p < 4; p++) {
                    cols[p][0] = _mm512_permutexvar_ps(by_tile, by_part[p]);
                    cols[p][1] = _mm512_setzero_ps(); /* a quarter's 16 columns fit the first vector */
                }
            }
            for (int p = 0; p < parts; p++) {
                if (a >= rows[p]) continue;
                float *dst = part[p].plane + o * plane_stride + (part[p].row + a) * wo + part[p].col;
                __m512 lo = cols[p][0], hi = cols[p][1];
                if (accumulate) {
                    lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mask[p][0], dst));
                    if (mask[p][1]) hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mask[p][1], dst + 16));
                }
                _mm512_mask_storeu_ps(dst, mask[p][0], lo);
                if (mask[p][1]) _mm512_mask_storeu_ps(dst + 16, mask[p][1], hi);
            }
        }
    }
}
void winograd_avx512_transform_output4(const tg_conv_geom *g, const winograd4_out_part *part, int parts,
                                       const float *m, int64_t m_stride, int64_t kstride, int64_t planes,
                                       int64_t plane_stride, bool accumulate)
{
    if (parts == 2) output4_block(g, part, 2, m, m_stride, kstride, planes, plane_stride, accumulate);
    else output4_block(g, part, 4, m, m_stride, kstride, planes, plane_stride, accumulate);
}

/* A = (A^T)^T (6x4) down four vectors into six. */
static inline void a4_vectors(const __m512 d[4], __m512 r[6])
{
    const __m512 s02 = _mm512_add_ps(d[0], d[2]), s13 = _mm512_add_ps(d[1], d[3]);
    const __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(4), d[2], d[0]);
    const __m512 w = _mm512_fmadd_ps(_mm512_set1_ps(8), d[3], _mm512_add_ps(d[1], d[1]));
    r[0] = d[0];
    r[1] = _mm512_add_ps(s02, s13);
    r[2] = _mm512_sub_ps(s02, s13);
    r[3] = _mm512_add_ps(u, w);
    r[4] = _mm512_sub_ps(u, w);
    r[5] = d[3];
}
/* The transpose of 16 vectors of 16: r[i] lane l <- r[l] lane i, by four stages each exchanging the
 * off-diagonal blocks of size 8, 4, 2 and 1 between vectors b apart. */
static inline void transpose16(__m512 r[16])
{
    const __m512i lo4 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi4 = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    const __m512i hi2 = _mm512_setr_epi32(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    const __m512i lo1 = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
    const __m512i hi1 = _mm512_setr_epi32(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    for (int i = 0; i < 8; i++) {
        const __m512 a = r[i], b = r[i + 8];
        r[i] = _mm512_shuffle_f32x4(a, b, 0x44);
        r[i + 8] = _mm512_shuffle_f32x4(a, b, 0xee);
    }
    for (int i = 0; i < 16; i++)
        if (!(i & 4)) {
            const __m512 a = r[i], b = r[i + 4];
            r[i] = _mm512_permutex2var_ps(a, lo4, b);
            r[i + 4] = _mm512_permutex2var_ps(a, hi4, b);
        }
    for (int i = 0; i < 16; i++)
        if (!(i & 2)) {
            const __m512 a = r[i], b = r[i + 2];
            r[i] = _mm512_permutex2var_ps(a, lo2, b);
            r[i + 2] = _mm512_permutex2var_ps(a, hi2, b);
        }
    for (int i = 0; i < 16; i += 2) {
        const __m512 a = r[i], b = r[i + 1];
        r[i] = _mm512_permutex2var_ps(a, lo1, b);
        r[i + 1] = _mm512_permutex2var_ps(a, hi1, b);
    }
}

/* F(4x4)'s dY transform with the output channels in the lanes. Each part's four gradient rows are
 * read 16 columns of 16 planes at a time and transposed (a vector per column, the 16 planes in its
 * lanes): gathering each tile value from 16 planes had been a quarter of dW. */
float winograd_avx512_dy_transform4(const tg_conv_geom *g, const winograd4_part *part, int parts, int64_t o_count,
                                    int64_t o_pad, float *restrict yt, int64_t y_plane)
{
    const int64_t ho = g->out[1], wo = g->out[2], plane = ho * wo;
    const __m512 zero = _mm512_setzero_ps();
    const int span = 16 / parts, vecs = span / 4; /* columns of a part in vectors of 16: 2 or 1 */
    __m512 check = zero;
    __m512 cols[4][32]; /* a part's gradient: row a, column x, the block's 16 planes in the lanes */
    for (int p = 0; p < parts; p++)
        for (int64_t o0 = 0; o0 < o_pad; o0 += 16) {
            const int64_t planes = o_count - o0 < 16 ? (o_count - o0 > 0 ? o_count - o0 : 0) : 16;
            for (int a = 0; a < 4; a++) {
                const int64_t y = part[p].row + a;
                const bool inside = part[p].plane && y < ho && planes > 0;
                for (int v = 0; v < vecs; v++) {
                    __m512 *r = cols[a] + 16 * v;
                    if (!inside) {
                        for (int l = 0; l < 16; l++) r[l] = zero;
                        continue;
                    }
                    const int64_t x0 = part[p].col + 16 * v;
                    const __mmask16 m = inside_mask(x0, wo);
                    const float *src = part[p].plane + o0 * plane + y * wo + x0;
                    __m512 sum = zero;
                    for (int l = 0; l < 16; l++) {
                        r[l] = l < planes && m ? _mm512_maskz_loadu_ps(m, src + l * plane) : zero;
                        sum = _mm512_add_ps(sum, r[l]);
                    }
                    check = _mm512_fmadd_ps(sum, zero, check);
                    transpose16(r); /* r[l]: column x0 + l of the 16 planes */
                }
            }
            for (int j = 0; j < span; j++) {
                float *out = yt + (span * p + j) * o_pad + o0;
                __m512 r[4][6];
                for (int a = 0; a < 4; a++) a4_vectors(&cols[a][4 * j], r[a]); /* dY A^T, row a */
                for (int f = 0; f < 6; f++) { /* A (dY A^T), column f */
                    const __m512 col[4] = {r[0][f], r[1][f], r[2][f], r[3][f]};
                    __m512 t[6];
                    a4_vectors(col, t);
                    for (int e = 0; e < 6; e++) _mm512_storeu_ps(out + (6 * e + f) * y_plane, t[e]);
                }
            }
        }
    return _mm512_reduce_add_ps(check);
}
#endif /* WINOGRAD_AVX512_TRANSFORMS */

const winograd_kernel winograd_avx512_kernel = {
    winograd_avx512_transform_input_rows, winograd_avx512_transform_output_rows, winograd_avx512_transform_input_pair,
    winograd_avx512_transform_output_pair, winograd_avx512_multiply,           winograd_avx512_all_finite,
    winograd_avx512_dy_transform_t,        winograd_avx512_dw_multiply,
    winograd_avx512_transform_input4,      winograd_avx512_transform_output4,
    winograd_avx512_dy_transform4,         winograd_avx512_filters4,
    winograd_avx512_dw_filters4};
