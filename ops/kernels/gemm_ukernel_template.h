/* ops/kernels/gemm_ukernel_template.h — the one micro-kernel, written once over a vector type.
 *
 * Included by gemm_portable.c, gemm_avx2.c and gemm_avx512.c after defining:
 *   UK_NAME            function name
 *   UK_MR, UK_NV       tile rows, vectors per tile row (tile columns NR = UK_NV * UK_VLEN)
 *   UK_VLEN, UK_VEC    elements per vector, vector type
 *   UK_ZERO(), UK_SET1(x), UK_LOAD(p) (aligned), UK_LOADU(p), UK_STOREU(p, v),
 *   UK_FMA(a, b, acc) (= a*b + acc), UK_MUL(a, b)
 * The MR x NV accumulators live in registers; each k step loads NV vectors of B and broadcasts MR
 * values of A (an outer-product update). Contract in gemm_internal.h.
 */
#define UK_NR (UK_NV * UK_VLEN)

static void UK_NAME(int64_t kc, const tg_real *restrict pa, const tg_real *restrict pb,
                    tg_real *restrict c, int64_t ldc, tg_real alpha, tg_real beta)
{
    UK_VEC acc[UK_MR][UK_NV];
#pragma GCC unroll 16
    for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < UK_NV; v++) acc[i][v] = UK_ZERO();

#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        UK_VEC b[UK_NV];
#pragma GCC unroll 4
        for (int v = 0; v < UK_NV; v++) b[v] = UK_LOAD(pb + v * UK_VLEN);
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++) {
            UK_VEC a = UK_SET1(pa[i]);
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) acc[i][v] = UK_FMA(a, b[v], acc[i][v]);
        }
        pa += UK_MR;
        pb += UK_NR;
    }

    UK_VEC va = UK_SET1(alpha);
    if (beta == 0) {
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) UK_STOREU(c + i * ldc + v * UK_VLEN, UK_MUL(va, acc[i][v]));
    } else {
        UK_VEC vb = UK_SET1(beta);
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) {
                tg_real *cp = c + i * ldc + v * UK_VLEN;
                UK_STOREU(cp, UK_FMA(vb, UK_LOADU(cp), UK_MUL(va, acc[i][v])));
            }
    }
}

#undef UK_NR
