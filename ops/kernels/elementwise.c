/* ops/kernels/elementwise.c — the portable build of the elementwise kernels (16-byte vectors: SSE2
 * on x86-64, plain lanes elsewhere) and the run-time choice among the variants (elementwise.h). */
#include "elementwise.h"

#include "cpu.h"

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
