/* ops/kernels/elementwise.h — the vectorised elementwise kernels behind relu, leaky_relu, elu, sigmoid,
 * tanh, gelu (tanh), add, sub, mul, div, dropout and their backward: one family of functions over plain arrays, built for
 * AVX-512, AVX2 and portable C from one template (elementwise_impl.h) and chosen at run time
 * (TG_ELEMENTWISE_KERNEL=avx512|avx2|portable forces one, as TG_GEMM_KERNEL does for the GEMM).
 *
 * Every kernel works on n consecutive elements starting at the pointers it is given, so a caller
 * splits [0, numel) into sub-ranges [begin, end) by offsetting the pointers (threads, broadcast
 * rows). Kernels never allocate and never write their inputs. The values are the scalar
 * definitions' exactly (IEEE operations lane by lane, no contraction into FMA, NaN kept where the
 * scalar rule keeps it), whichever variant runs — but for the e^x-based activations, which are the
 * same bits on every variant and within a few ulps of the exact values (below).
 *
 *   const tg_elementwise_kernel *k = tg_elementwise_kernel_get();
 *   k->unary(TG_EW_RELU, 0, x + begin, y + begin, end - begin);
 *   k->unary_backward(TG_EW_RELU, 0, x, dy, dx, n, accumulate);  // dx += or dx =
 */
#ifndef TG_KERNELS_ELEMENTWISE_H
#define TG_KERNELS_ELEMENTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../graph/tensor.h"

/* y = f(x; p) and its backward, dx = f'·dy; the backward reads `from`, which is x or y as listed:
 *   RELU        y = x <= 0 ? 0 : x      (NaN stays NaN)   dx = y <= 0 ? 0 : dy (from y; a NaN dy stays out)
 *   LEAKY_RELU  y = x > 0 ? x : p·x                       dx = x > 0 ? dy : p·dy       (from x)
 *   ELU         y = x > 0 ? x : p·(e^x − 1)               dx = x > 0 ? dy : p·e^x·dy   (from x)
 *   SIGMOID     y = 1/(1 + e^−x)                          dx = y(1 − y)·dy             (from y)
 *   TANH        y = tanh x                                dx = (1 − y²)·dy             (from y)
 *   GELU_TANH   y = x(1 + tanh u)/2, u = √(2/π)(x + 0.044715x³)                        (from x)
 *               dx = ((1 + tanh u)/2 + x(1 − tanh²u)/2·√(2/π)(1 + 3·0.044715x²))·dy
 * The last four use e^x: in float, a vector polynomial (Cody-Waite reduction, degree-7 Taylor
 * series, e^x−1 without cancellation near 0): ELU within 1.3 ulp of the correctly rounded value,
 * sigmoid 2.3, tanh 2.7 (2 M-point sweep, tested), the same bits on every variant; e^x flushes to 0
 * below e^−104 (subnormal results are not held to ulps). In double, libm lane by lane. */
typedef enum tg_ew_unary {
    TG_EW_RELU, TG_EW_LEAKY_RELU, TG_EW_ELU, TG_EW_SIGMOID, TG_EW_TANH, TG_EW_GELU_TANH, TG_EW_GELU,
    TG_EW_UNARY_COUNT
} tg_ew_unary;

/* GELU (exact): y = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2;  dx = (Φ(x) + x·e^{−x²/2}/√(2π))·dy   (from x).
 * erf in float: polynomials fitted on [0, 1] (in x², degree 6), [1, 2.5) and [2.5, 4) (degree 9;
 * tools/fit_erf.py), 1 beyond: within 1.1e-7 absolute of erf. In double, libm's erf. */

/* y = a ∘ b; an operand marked scalar is the one value a[0] (or b[0]) for every element. */
typedef enum tg_ew_binary { TG_EW_ADD, TG_EW_SUB, TG_EW_MUL, TG_EW_DIV, TG_EW_BINARY_COUNT } tg_ew_binary;

typedef struct tg_elementwise_kernel {
    const char *name;
    /* y[i] = f(x[i]; p), i < n */
    void (*unary)(tg_ew_unary op, tg_real p, const tg_real *x, tg_real *y, int64_t n);
    /* y[i] = f(y[i] + b; p) in place: binary ADD of the scalar b then unary, bit for bit, in one pass
     * (a convolution's bias and the activation fused after it) */
    void (*bias_unary)(tg_ew_unary op, tg_real p, tg_real b, tg_real *y, int64_t n);
    /* dx[i] = (accumulate ? dx[i] : 0) + f'(x[i]; p)·dy[i]; without accumulate dx is only written */
    void (*unary_backward)(tg_ew_unary op, tg_real p, const tg_real *x, const tg_real *dy, tg_real *dx, int64_t n,
                           bool accumulate);
    /* y[i] = a[i or 0] ∘ b[i or 0] */
    void (*binary)(tg_ew_binary op, const tg_real *a, bool a_scalar, const tg_real *b, bool b_scalar, tg_real *y,
                   int64_t n);
    /* the gradient of operand `which` (0: a, 1: b), element by element (neither operand's gradient is
     * a sum over a broadcast here: dx has n elements):
     *   add: dy, dy   sub: dy, −dy   mul: dy·b, dy·a   div: dy/b, −dy·a/(b·b)
     * dx[i] = (accumulate ? dx[i] : 0) + that */
    void (*binary_backward)(tg_ew_binary op, int which, const tg_real *a, bool a_scalar, const tg_real *b,
                            bool b_scalar, const tg_real *dy, tg_real *dx, int64_t n, bool accumulate);
    /* Σ x[i], i < n, in 16 tg_real partial sums over blocks of 256 values, totalled in double: not
     * the scalar loop's order, but the same bits on every variant (elementwise_impl.h) */
    double (*sum)(const tg_real *x, int64_t n);
} tg_elementwise_kernel;

/* The variant in use (the best this CPU runs, unless TG_ELEMENTWISE_KERNEL names another). */
const tg_elementwise_kernel *tg_elementwise_kernel_get(void);
/* Uses the variant called name ("avx512", "avx2", "portable"; NULL: the best) from now on; 0, or -1
 * when unknown or not runnable here (tests and benches compare the variants). */
int tg_elementwise_set_kernel(const char *name);
const char *tg_elementwise_kernel_name(void);

/* The variants (elementwise_avx512.c / _avx2.c exist only on x86-64 builds). */
extern const tg_elementwise_kernel tg_elementwise_kernel_portable;
#if defined(__x86_64__)
extern const tg_elementwise_kernel tg_elementwise_kernel_avx512;
extern const tg_elementwise_kernel tg_elementwise_kernel_avx2;
#endif

#endif
