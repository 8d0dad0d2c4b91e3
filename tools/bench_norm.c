/* tools/bench_norm.c — placeholder: no norm cases yet. */
#include "bench.h"

void tg_bench_norm(const tg_bench_ctx *ctx) { (void)ctx; }
