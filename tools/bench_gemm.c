/* tools/bench_gemm.c — placeholder: no gemm cases yet. */
#include "bench.h"

void tg_bench_gemm(const tg_bench_ctx *ctx) { (void)ctx; }
