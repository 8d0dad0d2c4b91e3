/* tools/bench.h — `tg bench`: one JSON object per line,
 * {"name":…, "shape":…, "ms":…, "gflops":…} (plus optional fields such as "gbps", "path",
 * "threads"). Each family has its own file tools/bench_<family>.c with one function that runs its
 * cases (skipping those whose name does not contain the filter) and prints them through
 * tg_bench_emit. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <stdbool.h>

typedef struct tg_bench_ctx {
    const char *filter; /* substring of case names, or NULL for all */
    int threads;
    double min_seconds; /* time each case at least this long (default 0.3) */
    const char *model_path; /* a model spec file: its whole-model cases alone instead of the zoo's
                               and the kernel families (NULL: everything) */
} tg_bench_ctx;

/* true when a case named `name` passes the filter */
bool tg_bench_selected(const tg_bench_ctx *ctx, const char *name);
/* Calls fn(arg) repeatedly (one warm-up first) until min_seconds pass; returns the best
 * (minimum) milliseconds per call. */
double tg_bench_time(const tg_bench_ctx *ctx, void (*fn)(void *arg), void *arg);
/* Prints one JSON line. gflops or gbps < 0 are omitted; extra is a preformatted tail such as
 * "\"path\":\"im2col\"" or NULL. */
void tg_bench_emit(const char *name, const char *shape, double ms, double gflops, double gbps,
                   const char *extra);
/* Monotonic seconds. */
double tg_bench_now(void);

void tg_bench_gemm(const tg_bench_ctx *ctx);
void tg_bench_conv(const tg_bench_ctx *ctx);
void tg_bench_pool(const tg_bench_ctx *ctx);
void tg_bench_norm(const tg_bench_ctx *ctx);
/* false when a model case could not be built or run (reasons on stderr) */
bool tg_bench_train(const tg_bench_ctx *ctx);

/* Runs every family (or ctx->model_path's cases alone); false as tg_bench_train. */
bool tg_bench_all(const tg_bench_ctx *ctx);

#endif
