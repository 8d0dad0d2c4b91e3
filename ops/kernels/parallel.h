/* ops/kernels/parallel.h — a small pthread pool for kernels (internal; the public knob is threads.h).
 *
 * tg_parallel_for splits [0, n) into contiguous chunks and runs fn on each, on the calling thread
 * and up to tg_get_threads()-1 workers; it returns when all chunks are done. Chunks are static
 * (the same split for the same n and thread count), so results do not depend on timing.
 *
 *   tg_set_threads(2);
 *   tg_parallel_for(rows, row_kernel, &ctx);   // row_kernel(&ctx, begin, end)
 */
#ifndef TG_PARALLEL_H
#define TG_PARALLEL_H

#include <stdint.h>

#include "threads.h"

typedef void (*tg_range_fn)(void *ctx, int64_t begin, int64_t end);

void tg_parallel_for(int64_t n, tg_range_fn fn, void *ctx);

/* The same split into at most `slots` chunks, fn told its chunk's slot (0 <= slot < slots): no two
 * chunks that may run at once share a slot, so a caller can hand each slot scratch of its own
 * (sized for `slots` before the call, whatever the thread count does meanwhile). */
typedef void (*tg_slot_fn)(void *ctx, int64_t begin, int64_t end, int slot);
void tg_parallel_for_slots(int64_t n, int slots, tg_slot_fn fn, void *ctx);

#endif
