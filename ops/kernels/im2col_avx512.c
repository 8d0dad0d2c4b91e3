/* ops/kernels/im2col_avx512.c — the strided col2im's split-phase loops (col2im_split_impl.h)
 * built with AVX-512 (x86-64 only; im2col.c calls them only when the CPU reports AVX-512F). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the row loops must vectorise */
#endif
#include "im2col.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define SPLIT_FN(name) split_##name##_avx512
void split_col2im_add_split_avx512(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split);
void split_phase_rows_add_avx512(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows);
#include "col2im_split_impl.h"
#else
typedef int tg_im2col_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
