/* ops/kernels/winograd_avx512.c — the Winograd row transforms (winograd_rows.h) compiled with
 * AVX-512 (this file gets -mavx512f on x86-64; winograd.c calls these only when the CPU reports
 * AVX-512F). Elsewhere they forward to the portable copies so the program still links.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* the transforms' row loops must vectorise; short row copies stay inline, not memcpy calls */
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns")
#endif
#include "winograd_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define WINOGRAD_ROWS(name) winograd_avx512_##name
#include "winograd_rows.h"
#else
void winograd_avx512_transform_input_row(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
                                         tg_real *restrict lines, tg_real *restrict v, int64_t kstride)
{
    winograd_portable_transform_input_row(g, tl, plane, r0, lines, v, kstride);
}
void winograd_avx512_transform_output_row(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t kstride,
                                          int64_t row, tg_real *restrict lines, tg_real *plane, bool accumulate)
{
    winograd_portable_transform_output_row(g, tl, m, kstride, row, lines, plane, accumulate);
}
bool winograd_avx512_all_finite(const tg_real *v, int64_t n) { return winograd_portable_all_finite(v, n); }
#endif
