/* ops/kernels/parallel.c — placeholder: runs serially until the pool lands. */
#include "parallel.h"

static int n_threads = 1;

void tg_set_threads(int n) { n_threads = n < 1 ? 1 : n > 64 ? 64 : n; }
int tg_get_threads(void) { return n_threads; }
void tg_parallel_for(int64_t n, tg_range_fn fn, void *ctx)
{
    if (n > 0) fn(ctx, 0, n);
}
