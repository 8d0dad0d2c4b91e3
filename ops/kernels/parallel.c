/* ops/kernels/parallel.c — a persistent pthread pool.
 *
 * Workers are started lazily (the first parallel call that needs them) and live for the process;
 * an atexit handler stops and joins them, so nothing of theirs is left behind (valgrind-clean).
 * One job runs at a time: the caller publishes {fn, ctx, n, parts}, wakes the workers, runs chunk 0
 * itself and waits until the others are done. Chunk i is [n*i/parts, n*(i+1)/parts), so the split
 * depends only on n and the thread count. A call made from inside a chunk (nested), or while another
 * thread's job is running, runs the same chunks serially on the calling thread: no deadlock, and the
 * same split.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "parallel.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include "../../graph/error.h"

#define MAX_THREADS TG_MAX_THREADS

static atomic_int wanted_threads = 0; /* 0: not chosen yet (the default is resolved on first use) */
static _Thread_local bool inside_chunk; /* true while this thread runs a chunk */

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;    /* guards job and started */
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static int started; /* workers running (indices 1..started) */
static pthread_t workers[MAX_THREADS];
static bool quitting; /* set under pool_lock at exit: workers return */
static uint64_t generation_at_start[MAX_THREADS]; /* jobs before a worker existed are not its own */
static struct {
    tg_range_fn fn;
    void *ctx;
    int64_t n;
    int parts;
    atomic_int remaining;        /* worker chunks not finished */
    _Atomic uint64_t generation; /* written under pool_lock; also read by spinning threads */
} job;

/* A worker spins this long for the next job before sleeping: a training step's layers come
 * back to back, but with serial work between them (tape bookkeeping, small ops) often longer than
 * a few microseconds, and a sleeping worker took 20-25 us to wake (a job of 13 us on one thread
 * ran 28 us on two after 50 us of serial work; 8 us when spinning through it). With 2000 rounds
 * (about 20 us) -> 1 ms, training at batch 64 on two threads went 4-8 % faster (signal1d 8.49 ->
 * 7.94 ms a step, dense_concat 23.8 -> 22.0; measured 5 Dec, Zen 5 VM). OpenMP runtimes spin
 * for comparable or longer times (GNU: GOMP_SPINCOUNT; LLVM: KMP_BLOCKTIME, 200 ms).
 * The caller spins as long for the workers' chunks to finish: it had spun 2000 rounds (36 us:
 * a pause is 18 ns here), but a worker's half of a layer often ends later than that (its half runs
 * slower, memory-bound passes most), and the caller then slept and took as long to wake: 1,060
 * context switches a second in BN-ResNet training on two threads, 45 with the longer spin, and
 * training img/s vgg_bn 2677 -> 2804, volume3d 2162 -> 2256, the other zoo models within +-1.5 %
 * (best of 4 alternating, 6 Dec). The clock is read every SPIN_CLOCK_ROUNDS rounds. */
#define SPIN_NS 1000000
#define SPIN_CLOCK_ROUNDS 64
static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
/* One round of a spin that started at `start`: false once it has lasted SPIN_NS. */
static inline bool spin_round(unsigned round, uint64_t start)
{
    spin_pause();
    return round % SPIN_CLOCK_ROUNDS != 0 || monotonic_ns() - start <= SPIN_NS;
}

/* The cores this process may run on: its affinity mask (taskset, cgroups' cpusets, as PyTorch
 * reads it), else the online processors, else 1; at most MAX_THREADS. */
int tg_default_threads(void)
{
    long n = 0;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
#if defined(_SC_NPROCESSORS_ONLN)
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (n < 1) n = 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int tg_parse_threads(const char *text)
{
    if (!text) return -1;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v < 1 || v > MAX_THREADS) return -1;
    return (int)v;
}

/* The count used until tg_set_threads (and after tg_set_threads(0)): TG_NUM_THREADS when it is
 * valid, else tg_default_threads(); an invalid value is logged once, at start-up. */
static int startup_threads(bool log_invalid)
{
    const char *env = getenv(TG_THREADS_ENV);
    int n = env ? tg_parse_threads(env) : -1;
    if (n > 0) return n;
    n = tg_default_threads();
    if (env && log_invalid) {
        char quoted[4 * 32 + 4];
        tg_log_message("%s='%s' is not a thread count (1..%d); using %d, the cores available", TG_THREADS_ENV,
                       tg_escape(env, TG_ESCAPE_CSTR, 32, quoted, sizeof quoted), MAX_THREADS, n);
    }
    return n;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static void choose_default(void)
{
    int unset = 0, n = startup_threads(true);
    atomic_compare_exchange_strong(&wanted_threads, &unset, n); /* a tg_set_threads already made wins */
}

tg_status tg_set_threads(int n)
{
    if (n < 0 || n > MAX_THREADS) {
        tg_log_message("tg_set_threads: %d is outside 0..%d (0: the default); the thread count stays %d", n,
                       MAX_THREADS, tg_get_threads());
        return TG_ERR_INVALID;
    }
    atomic_store(&wanted_threads, n == 0 ? startup_threads(false) : n);
    return TG_OK;
}

int tg_get_threads(void)
{
    int n = atomic_load(&wanted_threads);
    if (n > 0) return n;
    pthread_once(&default_once, choose_default);
    return atomic_load(&wanted_threads);
}

static int64_t chunk_begin(int64_t n, int parts, int i) { return n / parts * i + n % parts * i / parts; }

static void run_chunk(tg_range_fn fn, void *ctx, int64_t n, int parts, int i)
{
    int64_t begin = chunk_begin(n, parts, i), end = chunk_begin(n, parts, i + 1);
    if (begin < end) fn(ctx, begin, end);
}

static void *worker_main(void *arg)
{
    int index = (int)(intptr_t)arg;
    inside_chunk = true; /* anything a worker runs is inside a chunk */
    pthread_mutex_lock(&pool_lock);
    uint64_t seen = generation_at_start[index];
    for (;;) {
        if (job.generation == seen) {
            pthread_mutex_unlock(&pool_lock);
            const uint64_t spin_start = monotonic_ns();
            for (unsigned round = 1; atomic_load(&job.generation) == seen && spin_round(round, spin_start); round++) {
            }
            pthread_mutex_lock(&pool_lock);
        }
        while (job.generation == seen && !quitting) pthread_cond_wait(&work_ready, &pool_lock);
        if (quitting) break;
        seen = job.generation;
        if (index >= job.parts) continue;
        tg_range_fn fn = job.fn;
        void *ctx = job.ctx;
        int64_t n = job.n;
        int parts = job.parts;
        pthread_mutex_unlock(&pool_lock);
        run_chunk(fn, ctx, n, parts, index);
        pthread_mutex_lock(&pool_lock);
        if (--job.remaining == 0) pthread_cond_signal(&work_done);
    }
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

/* A child of fork() has none of the workers: it starts its own on its first parallel call. */
static void forget_workers_after_fork(void)
{
    pthread_mutex_init(&submit_lock, NULL);
    pthread_mutex_init(&pool_lock, NULL);
    pthread_cond_init(&work_ready, NULL);
    pthread_cond_init(&work_done, NULL);
    started = 0;
    job.remaining = 0;
}

/* At exit: wake every worker with `quitting` set and join it (after any job in flight). */
static void stop_workers(void)
{
    if (inside_chunk) return; /* exit() called from a chunk: joining would wait on ourselves */
    pthread_mutex_lock(&submit_lock);
    pthread_mutex_lock(&pool_lock);
    quitting = true;
    pthread_cond_broadcast(&work_ready);
    const int count = started;
    pthread_mutex_unlock(&pool_lock);
    for (int i = 1; i <= count; i++) pthread_join(workers[i], NULL);
    pthread_mutex_lock(&pool_lock);
    started = 0;
    quitting = false;
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&submit_lock);
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
static void register_process_hooks(void)
{
    pthread_atfork(NULL, NULL, forget_workers_after_fork);
    atexit(stop_workers);
}

/* Starts workers until `count` run (called with pool_lock held); returns how many run. */
static int start_workers(int count)
{
    pthread_once(&hooks_once, register_process_hooks);
    while (started < count) {
        generation_at_start[started + 1] = job.generation;
        if (pthread_create(&workers[started + 1], NULL, worker_main, (void *)(intptr_t)(started + 1)) != 0)
            break; /* run with the workers we have */
        started++;
    }
    return started;
}

void tg_parallel_for(int64_t n, tg_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    int parts = tg_get_threads();
    if (parts > n) parts = (int)n;
    if (parts == 1) {
        fn(ctx, 0, n);
        return;
    }
    if (inside_chunk || pthread_mutex_trylock(&submit_lock) != 0) {
        for (int i = 0; i < parts; i++) run_chunk(fn, ctx, n, parts, i);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    int workers = start_workers(parts - 1);
    if (workers < parts - 1) { /* could not start enough threads: same chunks, serially */
        pthread_mutex_unlock(&pool_lock);
        pthread_mutex_unlock(&submit_lock);
        for (int i = 0; i < parts; i++) run_chunk(fn, ctx, n, parts, i);
        return;
    }
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.parts = parts;
    job.remaining = parts - 1;
    job.generation++;
    pthread_cond_broadcast(&work_ready);
    pthread_mutex_unlock(&pool_lock);

    inside_chunk = true;
    run_chunk(fn, ctx, n, parts, 0);
    inside_chunk = false;

    const uint64_t spin_start = monotonic_ns();
    for (unsigned round = 1; atomic_load(&job.remaining) > 0 && spin_round(round, spin_start); round++) {
    }
    pthread_mutex_lock(&pool_lock);
    while (job.remaining > 0) pthread_cond_wait(&work_done, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&submit_lock);
}

/* Each slot is one item of an outer tg_parallel_for: an item runs on one thread, once. */
typedef struct slot_job {
    int64_t n;
    int parts;
    tg_slot_fn fn;
    void *ctx;
} slot_job;

static void run_slots(void *arg, int64_t s0, int64_t s1)
{
    const slot_job *j = arg;
    for (int64_t s = s0; s < s1; s++) {
        const int64_t begin = chunk_begin(j->n, j->parts, (int)s), end = chunk_begin(j->n, j->parts, (int)s + 1);
        if (begin < end) j->fn(j->ctx, begin, end, (int)s);
    }
}

void tg_parallel_for_slots(int64_t n, int slots, tg_slot_fn fn, void *ctx)
{
    if (n <= 0) return;
    const int parts = slots < 1 ? 1 : (int64_t)slots > n ? (int)n : slots;
    if (parts == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    slot_job j = {n, parts, fn, ctx};
    tg_parallel_for(parts, run_slots, &j);
}
