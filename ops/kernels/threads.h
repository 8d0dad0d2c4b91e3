/* ops/kernels/threads.h — how many threads the kernels may use (the public knob of the thread
 * pool; the pool itself, tg_parallel_for, is internal: ops/kernels/parallel.h).
 *
 * The setting is process-wide. Results are bit-identical whatever the thread count where the
 * reduction order allows, and always within float tolerance.
 *
 *   tg_set_threads(2);
 */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include "../../graph/api.h"

TG_API_BEGIN

/* Sets the number of threads kernels may use (1..64; values outside are clamped). */
void tg_set_threads(int n);
/* The number of threads kernels use now. */
int tg_get_threads(void);

TG_API_END

#endif
