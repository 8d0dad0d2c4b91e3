/* tools/bench_train.c — placeholder: no train cases yet. */
#include "bench.h"

void tg_bench_train(const tg_bench_ctx *ctx) { (void)ctx; }
