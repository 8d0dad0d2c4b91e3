/* ops/kernels/cpu.c — CPU feature detection through the compiler's cpuid wrapper, which also checks
 * that the OS saves the wide registers (XGETBV). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

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

static const tg_kernel_variant *variant_by_name(const tg_kernel_choice *c, const char *name)
{
    for (int i = 0; i < c->n_variants; i++)
        if (!strcmp(c->variants[i].name, name))
            return !c->variants[i].cpu_has || c->variants[i].cpu_has() ? &c->variants[i] : NULL;
    return NULL;
}

static const tg_kernel_variant *best_variant(const tg_kernel_choice *c)
{
    for (int i = 0; i < c->n_variants; i++)
        if (!c->variants[i].cpu_has || c->variants[i].cpu_has()) return &c->variants[i];
    return &c->variants[c->n_variants - 1];
}

static const tg_kernel_variant *current_variant(tg_kernel_choice *c)
{
    const tg_kernel_variant *v = atomic_load(&c->active);
    if (v) return v;
    const char *forced = c->env ? getenv(c->env) : NULL;
    v = forced && *forced ? variant_by_name(c, forced) : NULL;
    if (!v) v = best_variant(c);
    const void *expected = NULL;
    atomic_compare_exchange_strong(&c->active, &expected, (const void *)v); /* first one wins */
    return atomic_load(&c->active);
}

const void *tg_kernel_choice_get(tg_kernel_choice *c) { return current_variant(c)->kernel; }
const char *tg_kernel_choice_name(tg_kernel_choice *c) { return current_variant(c)->name; }

int tg_kernel_choice_set(tg_kernel_choice *c, const char *name)
{
    const tg_kernel_variant *v = name ? variant_by_name(c, name) : best_variant(c);
    if (!v) return -1;
    atomic_store(&c->active, (const void *)v);
    return 0;
}
