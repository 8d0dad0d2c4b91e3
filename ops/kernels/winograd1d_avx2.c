/* ops/kernels/winograd1d_avx2.c — the 1-D Winograd transform loops (winograd1d_rows.h) compiled
 * with AVX2 (this file gets the ISA's flags on x86-64; winograd1d.c calls these only when the
 * CPU has it). Elsewhere the same loops compile plainly, so the program still links.
 */
/* the transforms' sums of products may fuse into FMAs here (bits differ from the portable
 * copy's in the last place; each copy gives the same bits on every call) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns", "fp-contract=fast")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT ON
#endif
#define WINOGRAD1D_ROWS(name) winograd1d_avx2_##name
#include "winograd1d_rows.h"
