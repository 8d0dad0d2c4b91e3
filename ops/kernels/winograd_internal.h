/* ops/kernels/winograd_internal.h — what winograd.c shares with its SIMD copies of the row
 * transforms (winograd_rows.h): the tiling and the transforms' signatures. Only winograd*.c include it.
 */
#ifndef TG_KERNEL_WINOGRAD_INTERNAL_H
#define TG_KERNEL_WINOGRAD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h"

/* The tiling: rows and columns of 2x2 output tiles per image, tile rows per chunk. The row loops
 * run over whole blocks of WINOGRAD_VEC columns (no scalar tails): cols_pad = cols rounded up, and
 * the extra columns' results land in slack that later rows overwrite or nobody reads. */
#define WINOGRAD_VEC 16
typedef struct tiling {
    int64_t rows, cols, rows_per_chunk;
    int64_t cols_pad; /* cols rounded up to WINOGRAD_VEC */
    int64_t line;     /* a padded input row: 2*cols_pad + WINOGRAD_VEC values */
} tiling;
/* For `planes` channel planes (plane_stride apart), v[c * v_stride + k * kstride + t] (k = 0..15) =
 * (B^T d B)[k] for the row of tiles whose input rows start at r0; lines: 8 * line scratch values, of
 * which lines[line, 2*line) accumulates the finiteness check (it turns NaN where an input read was
 * NaN or ±Inf; the caller zeroes it). Writes cols_pad values per (c, k): the caller leaves slack.
 * With v_stride < cols_pad (planes overlapping in v: consecutive tile rows of one plane) the
 * planes are written one after another in full, so each one's slack is overwritten by the next. */
typedef void (*winograd_input_rows_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane,
                                       int64_t plane_stride, int64_t planes, int64_t r0, tg_real *restrict lines,
                                       tg_real *restrict v, int64_t v_stride, int64_t kstride);
/* Output rows 2*row, 2*row+1 of `planes` planes (plane_stride apart) (+)= A^T m A for one row of
 * tiles, m of plane o at m + o * m_stride (positions kstride apart); lines: 4 * cols values. */
typedef void (*winograd_output_rows_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t m_stride,
                                        int64_t kstride, int64_t planes, int64_t row, tg_real *restrict lines,
                                        tg_real *plane, int64_t plane_stride, bool accumulate);

#define WINOGRAD_ROWS_DECLARE(prefix)                                                                            \
    void winograd_##prefix##_transform_input_rows(const tg_conv_geom *g, const tiling *tl, const tg_real *plane,   \
                                                  int64_t plane_stride, int64_t planes, int64_t r0,               \
                                                  tg_real *restrict lines, tg_real *restrict v, int64_t v_stride, \
                                                  int64_t kstride);                                               \
    void winograd_##prefix##_transform_output_rows(const tg_conv_geom *g, const tiling *tl, const tg_real *m,      \
                                                   int64_t m_stride, int64_t kstride, int64_t planes, int64_t row, \
                                                   tg_real *restrict lines, tg_real *plane, int64_t plane_stride,  \
                                                   bool accumulate);
WINOGRAD_ROWS_DECLARE(portable)
WINOGRAD_ROWS_DECLARE(avx512)

/* Rows of at most WINOGRAD_PAIR_TILES tiles (maps up to 16 wide) go two to a vector: row a's tiles in
 * V's and M's slots t .. t+7, row b's in t+8 .. t+15 (b: the next row of the chunk, NULL plane when
 * row a is the last). The input pair transforms planes of plane_a (input rows from ra) and plane_b
 * (from rb), each plane_stride apart, into v (channel c at v + c * v_stride); the output pair writes
 * row_a's outputs into y_a's planes and row_b's into y_b's (NULL: none). */
#define WINOGRAD_PAIR_TILES 8
typedef void (*winograd_input_pair_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane_a, int64_t ra,
                                       const tg_real *plane_b, int64_t rb, int64_t plane_stride, int64_t planes,
                                       tg_real *restrict lines, tg_real *restrict v, int64_t v_stride,
                                       int64_t kstride);
typedef void (*winograd_output_pair_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t m_stride,
                                        int64_t kstride, int64_t planes, int64_t row_a, tg_real *y_a, int64_t row_b,
                                        tg_real *y_b, int64_t plane_stride, tg_real *restrict lines,
                                        bool accumulate);
#define WINOGRAD_PAIR_DECLARE(prefix)                                                                            \
    void winograd_##prefix##_transform_input_pair(const tg_conv_geom *g, const tiling *tl, const tg_real *plane_a, \
                                                  int64_t ra, const tg_real *plane_b, int64_t rb,               \
                                                  int64_t plane_stride, int64_t planes, tg_real *restrict lines, \
                                                  tg_real *restrict v, int64_t v_stride, int64_t kstride);       \
    void winograd_##prefix##_transform_output_pair(const tg_conv_geom *g, const tiling *tl, const tg_real *m,     \
                                                   int64_t m_stride, int64_t kstride, int64_t planes,             \
                                                   int64_t row_a, tg_real *y_a, int64_t row_b, tg_real *y_b,      \
                                                   int64_t plane_stride, tg_real *restrict lines, bool accumulate);
WINOGRAD_PAIR_DECLARE(portable)
WINOGRAD_PAIR_DECLARE(avx512)
bool winograd_portable_all_finite(const tg_real *v, int64_t n, tg_real h);
/* M[k] (rows m_row apart, planes m_plane) = U[k] V[k] for k_begin <= k < k_end: U [16, O, C], V [16][C, count]
 * (rows v_row, planes v_plane apart); winograd_rows.h. */
typedef void (*winograd_multiply_fn)(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v,
                                     int64_t v_row, int64_t v_plane, int64_t count, tg_real *m, int64_t m_row,
                                     int64_t m_plane, int k_begin, int k_end);
void winograd_portable_multiply(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v, int64_t v_row,
                                int64_t v_plane, int64_t count, tg_real *m, int64_t m_row, int64_t m_plane,
                                int k_begin, int k_end);
void winograd_avx512_multiply(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v, int64_t v_row,
                              int64_t v_plane, int64_t count, tg_real *m, int64_t m_row, int64_t m_plane, int k_begin,
                              int k_end);
bool winograd_avx512_all_finite(const tg_real *v, int64_t n, tg_real h);

/* The weight gradient's operands (winograd_rows.h): Yt[k][t][o] = (A dY A^T)[k] of a chunk's tiles,
 * output channels padded to o_pad (a multiple of 16) with zeros, 0 or NaN returned (NaN: a dY value
 * read was NaN or ±Inf); and M[k][c][o] += sum_t V[k][c][t] Yt[k][t][o] for k_count positions (the 2-D
 * 16; the 1-D kernel's alpha, through tg_winograd_dw_sums). */
typedef tg_real (*winograd_dy_transform_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *dy,
                                            int64_t o_count, int64_t o_pad, int64_t row0, int64_t rows,
                                            tg_real *restrict yt, int64_t y_plane);
typedef void (*winograd_dw_multiply_fn)(const tg_real *v, int64_t v_row, int64_t v_plane, int64_t c_count,
                                        const tg_real *yt, int64_t o_pad, int64_t y_plane, int64_t count, tg_real *m,
                                        int64_t m_plane, int k_count);
#define WINOGRAD_DW_DECLARE(prefix)                                                                              \
    tg_real winograd_##prefix##_dy_transform_t(const tg_conv_geom *g, const tiling *tl, const tg_real *dy,          \
                                               int64_t o_count, int64_t o_pad, int64_t row0, int64_t rows,         \
                                               tg_real *restrict yt, int64_t y_plane);                              \
    void winograd_##prefix##_dw_multiply(const tg_real *v, int64_t v_row, int64_t v_plane, int64_t c_count,        \
                                         const tg_real *yt, int64_t o_pad, int64_t y_plane, int64_t count,         \
                                         tg_real *m, int64_t m_plane, int k_count);
WINOGRAD_DW_DECLARE(portable)
WINOGRAD_DW_DECLARE(avx512)

/* ---- F(4x4,3x3) (winograd.c's tile 4) ----
 * Tiles of 4x4 outputs from 6x6 input patches, 36 transformed positions. A block of 16 tile slots
 * (one vector) is `parts` parts of 16 / parts consecutive tiles of one row of tiles each: halves (2
 * parts of 8: the halves of a wide row, or two rows of a map 17 to 32 wide) or quarters (4 parts
 * of 4: four rows of a map up to 16 wide). A part's tiles past its row's last one are computed
 * from zeros and never written out. */
#define WINOGRAD4_MAX_PARTS 4
typedef struct winograd4_part {
    const tg_real *plane; /* the image's first channel plane; NULL: an empty part (zeros in) */
    int64_t row, col;     /* the input row and column its first tile's patch starts at (< 0: padding) */
} winograd4_part;
typedef struct winograd4_out_part {
    tg_real *plane;   /* the image's first output plane; NULL: nothing to write */
    int64_t row, col; /* its first tile's first output row and column */
} winograd4_out_part;
/* v[c * v_stride + k * kstride + s] (k < 36, s < 16) = (B^T d B)[k] of slot s (part s / (16 /
 * parts), its tile s % (16 / parts)) for `planes` channel planes plane_stride apart; parts 2 or 4.
 * Returns 0, or NaN when a transformed value is NaN or ±Inf (an input read was, or a sum overflowed). */
typedef tg_real (*winograd4_input_fn)(const tg_conv_geom *g, const winograd4_part *part, int parts,
                                      int64_t plane_stride, int64_t planes, tg_real *restrict v, int64_t v_stride,
                                      int64_t kstride);
/* Each part's 4 output rows x 4 * 16 / parts columns (cut at the output's edges) of `planes` planes
 * (plane_stride apart) (+)= A^T m A, m of plane o at m + o * m_stride (positions kstride apart,
 * slots as the input's). */
typedef void (*winograd4_output_fn)(const tg_conv_geom *g, const winograd4_out_part *part, int parts,
                                    const tg_real *m, int64_t m_stride, int64_t kstride, int64_t planes,
                                    int64_t plane_stride, bool accumulate);
#define WINOGRAD4_DECLARE(prefix)                                                                                \
    tg_real winograd_##prefix##_transform_input4(const tg_conv_geom *g, const winograd4_part *part, int parts,    \
                                                 int64_t plane_stride, int64_t planes, tg_real *restrict v,        \
                                                 int64_t v_stride, int64_t kstride);                               \
    void winograd_##prefix##_transform_output4(const tg_conv_geom *g, const winograd4_out_part *part, int parts,  \
                                               const tg_real *m, int64_t m_stride, int64_t kstride,                \
                                               int64_t planes, int64_t plane_stride, bool accumulate);
/* The weight gradient's dY transform: yt[k * y_plane + s * o_pad + o] = (A dY_s A^T)[k] (A = (A^T)^T,
 * 6x4) of slot s's 4x4 output gradients (zero past the output's edges, and for an empty part),
 * part[p] giving the image's first dY plane and the part's first output row and column; output
 * channels o < o_count, o_count .. o_pad zero. Returns 0, or NaN when a dY value read is NaN or ±Inf. */
typedef tg_real (*winograd4_dy_fn)(const tg_conv_geom *g, const winograd4_part *part, int parts, int64_t o_count,
                                   int64_t o_pad, tg_real *restrict yt, int64_t y_plane);
#define WINOGRAD4_DY_DECLARE(prefix)                                                                              \
    tg_real winograd_##prefix##_dy_transform4(const tg_conv_geom *g, const winograd4_part *part, int parts,        \
                                              int64_t o_count, int64_t o_pad, tg_real *restrict yt, int64_t y_plane);
WINOGRAD4_DECLARE(portable)
WINOGRAD4_DECLARE(avx512)
WINOGRAD4_DY_DECLARE(portable)
WINOGRAD4_DY_DECLARE(avx512)

/* F(4x4,3x3)'s filter transforms (winograd_rows.h): u:[36, O, C] = G w G^T of w:[O, C, 3, 3]; and
 * dw[o, c] += G^T M[c, o] G for channels c0..c1 of M [36][C, o_pad] (planes m_plane apart). Both go
 * WINOGRAD_FILTER_BLOCK filters at a time (as F(2x2)'s transform_filters in winograd.c), the block
 * the inner loop of every step. */
#define WINOGRAD_FILTER_BLOCK 64
typedef void (*winograd4_filters_fn)(const tg_real *w, int64_t o_count, int64_t c_count, tg_real *u);
typedef void (*winograd4_dw_filters_fn)(const tg_real *m, int64_t m_plane, int64_t o_pad, int64_t o_count,
                                        int64_t c_count, int64_t c0, int64_t c1, tg_real *dw);
#define WINOGRAD4_FILTERS_DECLARE(prefix)                                                                        \
    void winograd_##prefix##_filters4(const tg_real *w, int64_t o_count, int64_t c_count, tg_real *u);            \
    void winograd_##prefix##_dw_filters4(const tg_real *m, int64_t m_plane, int64_t o_pad, int64_t o_count,       \
                                         int64_t c_count, int64_t c0, int64_t c1, tg_real *dw);
WINOGRAD4_FILTERS_DECLARE(portable)
WINOGRAD4_FILTERS_DECLARE(avx512)

/* The loops of one instruction set, chosen at run time by winograd.c (tg_kernel_choice). */
typedef struct winograd_kernel {
    winograd_input_rows_fn input_rows;
    winograd_output_rows_fn output_rows;
    winograd_input_pair_fn input_pair;
    winograd_output_pair_fn output_pair;
    winograd_multiply_fn multiply;
    bool (*all_finite)(const tg_real *v, int64_t n, tg_real h);
    winograd_dy_transform_fn dy_transform_t;
    winograd_dw_multiply_fn dw_multiply;
    winograd4_input_fn input4;
    winograd4_output_fn output4;
    winograd4_dy_fn dy_transform4;
    winograd4_filters_fn filters4;
    winograd4_dw_filters_fn dw_filters4;
} winograd_kernel;
extern const winograd_kernel winograd_portable_kernel, winograd_avx512_kernel;

#endif
