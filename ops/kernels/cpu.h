/* ops/kernels/cpu.h — which SIMD instruction sets this CPU (and OS) can run, for kernel dispatch.
 * Answers are computed once and cached; thread-safe. On non-x86 builds every answer is false.
 *
 *   if (tg_cpu_has_avx512()) use_avx512_kernel();
 */
#ifndef TG_CPU_H
#define TG_CPU_H

#include <stdbool.h>

/* AVX-512 F (the kernels use only the F subset). */
bool tg_cpu_has_avx512(void);
/* AVX2 together with FMA3. */
bool tg_cpu_has_avx2_fma(void);

#endif
