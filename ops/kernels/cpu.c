/* ops/kernels/cpu.c — CPU feature detection through the compiler's cpuid wrapper, which also checks
 * that the OS saves the wide registers (XGETBV). */
#include "cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
bool tg_cpu_has_avx512(void)
{
    __builtin_cpu_init(); /* idempotent; needed when called before constructors run */
    return __builtin_cpu_supports("avx512f");
}
bool tg_cpu_has_avx2_fma(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
bool tg_cpu_has_avx512(void) { return false; }
bool tg_cpu_has_avx2_fma(void) { return false; }
#endif
