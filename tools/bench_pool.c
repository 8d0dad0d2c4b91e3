/* tools/bench_pool.c — placeholder: no pool cases yet. */
#include "bench.h"

void tg_bench_pool(const tg_bench_ctx *ctx) { (void)ctx; }
