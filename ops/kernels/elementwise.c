/* ops/kernels/elementwise.c — the portable build of the elementwise kernels (16-byte vectors: SSE2
 * on x86-64, plain lanes elsewhere) and the run-time choice among the variants (elementwise.h). */
#include "elementwise.h"

#include <math.h>
#include <pthread.h>

#include "cpu.h"

/* erf's coefficients (elementwise.h), made in double from their definitions:
 *   at 0:      erf(x) = 2/√π · Σ (−1)^m x^{2m+1} / (m!(2m+1))
 *   around c:  erf^{(m)}(c) = 2/√π · (−1)^{m−1} H_{m−1}(c) e^{−c²}  (m >= 1; H the Hermite
 *              polynomials, H_0 = 1, H_1 = 2x, H_{n+1} = 2x·H_n − 2n·H_{n−1}), divided by m! */
static tg_erf_table erf_table;
static pthread_once_t erf_once = PTHREAD_ONCE_INIT;
static void make_erf_table(void)
{
    const double two_over_sqrt_pi = 1.1283791670955126;
    double factorial = 1;
    for (int m = 0; m < TG_ERF_SERIES; m++) {
        if (m > 0) factorial *= m;
        erf_table.series[m] = (float)(two_over_sqrt_pi * (m % 2 ? -1.0 : 1.0) / (factorial * (2 * m + 1)));
    }
    for (int k = 0; k < TG_ERF_PIECES; k++) {
        const double c = 1.25 + 0.5 * k, gauss = two_over_sqrt_pi * exp(-c * c);
        double h_prev = 0, h = 1, fact = 1; /* H_{-1} (unused), H_0 */
        erf_table.piece[k][0] = (float)erf(c);
        for (int m = 1; m <= TG_ERF_DEGREE; m++) {
            const int n = m - 1; /* H_n is h */
            fact *= m;
            erf_table.piece[k][m] = (float)((n % 2 ? -1.0 : 1.0) * h * gauss / fact);
            const double next = 2 * c * h - 2 * n * h_prev;
            h_prev = h;
            h = next;
        }
    }
}
const tg_erf_table *tg_erf_coefficients(void)
{
    pthread_once(&erf_once, make_erf_table);
    return &erf_table;
}

#define EW_VBYTES 16
#define EW_NAME(name) tg_elementwise_##name##_portable
#define EW_VARIANT_NAME "portable"
#include "elementwise_impl.h"

static const tg_kernel_variant variants[] = {
    TG_SIMD_VARIANTS(&tg_elementwise_kernel_avx512, &tg_elementwise_kernel_avx2, &tg_elementwise_kernel_portable)};
static tg_kernel_choice choice = TG_KERNEL_CHOICE(variants, "TG_ELEMENTWISE_KERNEL");

const tg_elementwise_kernel *tg_elementwise_kernel_get(void) { return tg_kernel_choice_get(&choice); }
int tg_elementwise_set_kernel(const char *name) { return tg_kernel_choice_set(&choice, name); }
const char *tg_elementwise_kernel_name(void) { return tg_kernel_choice_name(&choice); }
