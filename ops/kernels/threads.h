/* ops/kernels/threads.h — how many threads the kernels may use (the public knob of the thread
 * pool; the pool itself, tg_parallel_for, is internal: ops/kernels/parallel.h).
 *
 * The setting is process-wide. By default it is the number of cores the process may run on
 * (its sched_getaffinity mask, so `taskset -c 0` or a container's cpuset count; else the online
 * processors; else 1), as PyTorch's default, unless the environment variable TG_NUM_THREADS
 * holds a count 1..64 (read on first use; an invalid value is reported through tg_set_log and
 * the cores are used). Training results are bit-identical whatever the thread count
 * (docs/threads.md says how); a few single ops are only within float tolerance.
 *
 *   tg_set_threads(2);              // from now on
 *   tg_set_threads(0);              // back to the default
 *   printf("%d\n", tg_get_threads());
 */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include "../../graph/api.h"
#include "../../graph/error.h"

TG_API_BEGIN

#define TG_MAX_THREADS 64
#define TG_THREADS_ENV "TG_NUM_THREADS"

/* Sets the number of threads kernels may use: 1..TG_MAX_THREADS, or 0 for the default
 * (TG_NUM_THREADS, else the cores available). TG_OK, or TG_ERR_INVALID (logged through tg_set_log)
 * for a count outside 0..TG_MAX_THREADS, leaving the count as it was. */
tg_status tg_set_threads(int n);
/* The number of threads kernels use now (the default until tg_set_threads is called). */
int tg_get_threads(void);
/* The cores available to the process: sched_getaffinity, else sysconf(_SC_NPROCESSORS_ONLN), else 1
 * (at most TG_MAX_THREADS). TG_NUM_THREADS does not change it. */
int tg_default_threads(void);
/* text as a thread count 1..TG_MAX_THREADS (decimal, nothing else), or -1: what TG_NUM_THREADS
 * and the tg tools' --threads accept. */
int tg_parse_threads(const char *text);

TG_API_END

#endif
