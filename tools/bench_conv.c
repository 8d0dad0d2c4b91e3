/* tools/bench_conv.c — placeholder: no conv cases yet. */
#include "bench.h"

void tg_bench_conv(const tg_bench_ctx *ctx) { (void)ctx; }
