/* ops/kernels/cpu.h — which SIMD instruction sets this CPU (and OS) can run, for kernel dispatch.
 * Answers are computed once and cached; thread-safe. On non-x86 builds every answer is false.
 *
 *   if (tg_cpu_has_avx512()) use_avx512_kernel();
 */
#ifndef TG_CPU_H
#define TG_CPU_H

#include <stdatomic.h>
#include <stdbool.h>

/* AVX-512 F (the kernels use only the F subset). */
bool tg_cpu_has_avx512(void);
/* AVX2 together with FMA3. */
bool tg_cpu_has_avx2_fma(void);

/* ---- choosing one kernel of a family at run time ----
 * A family (the GEMM micro-kernels, the direct convolution's planes) is one struct of function
 * pointers built once per instruction set. Its table lists them best first, the portable one
 * last with cpu_has NULL (it runs anywhere). The first call picks the best one this CPU runs, or
 * the one an environment variable names; tg_kernel_choice_set forces another (tests, benches).
 *
 *   static const tg_kernel_variant variants[] = {TG_SIMD_VARIANTS(&k_avx512, &k_avx2, &k_portable)};
 *   static tg_kernel_choice choice = TG_KERNEL_CHOICE(variants, "TG_MY_KERNEL");
 *   const my_kernel *k = tg_kernel_choice_get(&choice);
 */
typedef struct tg_kernel_variant {
    const char *name;
    bool (*cpu_has)(void); /* NULL: runs on any CPU */
    const void *kernel;
} tg_kernel_variant;

typedef struct tg_kernel_choice {
    const tg_kernel_variant *variants; /* best first */
    int n_variants;
    const char *env;                   /* names a variant at first use; NULL: none */
    _Atomic(const void *) active;      /* zero-initialised: not chosen yet */
} tg_kernel_choice;

/* The usual family: AVX-512, AVX2+FMA, portable C (the SIMD ones exist only on x86-64 builds). */
#if defined(__x86_64__)
#define TG_SIMD_VARIANTS(avx512, avx2, portable) \
    {"avx512", tg_cpu_has_avx512, (avx512)}, {"avx2", tg_cpu_has_avx2_fma, (avx2)}, {"portable", NULL, (portable)}
#else
#define TG_SIMD_VARIANTS(avx512, avx2, portable) {"portable", NULL, (portable)}
#endif
#define TG_KERNEL_CHOICE(variants, env) {(variants), (int)(sizeof(variants) / sizeof((variants)[0])), (env), NULL}

/* The kernel in use (chosen on first call; thread-safe, the first choice wins). */
const void *tg_kernel_choice_get(tg_kernel_choice *c);
/* Uses the variant called name (NULL: the best this CPU runs) from now on. 0, or -1 with nothing
 * changed when the name is unknown or the CPU cannot run it. */
int tg_kernel_choice_set(tg_kernel_choice *c, const char *name);
/* Name of the variant in use. */
const char *tg_kernel_choice_name(tg_kernel_choice *c);

#endif
