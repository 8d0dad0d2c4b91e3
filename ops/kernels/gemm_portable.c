/* ops/kernels/gemm_portable.c — the plain C micro-kernel: compiles anywhere, any precision. */
#include "gemm_internal.h"

#define UK_NAME ukernel_portable
#define UK_MR 4
#define UK_NV 8
#define UK_VLEN 1
#define UK_VEC tg_real
#define UK_ZERO() ((tg_real)0)
#define UK_SET1(x) (x)
#define UK_LOAD(p) (*(p))
#define UK_LOADU(p) (*(p))
#define UK_STOREU(p, v) (*(p) = (v))
#define UK_FMA(a, b, acc) ((a) * (b) + (acc))
#define UK_MUL(a, b) ((a) * (b))
#define UK_ADD(a, b) ((a) + (b))
#define UK_RELU(x) ((x) <= 0 ? (tg_real)0 : (x))
#define UK_LEAKY(x, s) ((x) > 0 ? (x) : (s) * (x))
#include "gemm_ukernel_template.h"

const tg_gemm_kernel tg_gemm_kernel_portable = {
    .name = "portable", .mr = UK_MR, .nr = UK_NV * UK_VLEN, .kc = 256, .mc = 128, .nc = 2048,
    .run = ukernel_portable, .run_narrow = ukernel_portable_narrow, .run_in_place = ukernel_portable_in_place};
