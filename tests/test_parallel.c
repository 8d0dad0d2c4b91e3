/* tests/test_parallel.c — the thread pool: coverage of [0, n) exactly once, the static split,
 * n = 0 and n < threads, the caller taking part, nested calls, concurrent callers, the
 * thread-count checks (the default from the affinity mask, TG_NUM_THREADS, bad values),
 * and many small jobs in a row. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include "../ops/kernels/parallel.h"

static void restore_threads(void) { tg_set_threads(1); }
static TCase *parallel_tcase(const char *name)
{
    TCase *tc = tt_tcase(name);
    tcase_add_checked_fixture(tc, NULL, restore_threads);
    tcase_set_timeout(tc, 30);
    return tc;
}

#define MAX_CHUNKS 64

typedef struct record {
    atomic_int *visits;          /* per index */
    atomic_int chunks;           /* chunks run */
    int64_t begin[MAX_CHUNKS];   /* by chunk order of begin; chunks are disjoint */
    int64_t end[MAX_CHUNKS];
    pthread_t thread[MAX_CHUNKS];
} record;

static void record_range(void *ctx, int64_t begin, int64_t end)
{
    record *r = ctx;
    int slot = atomic_fetch_add(&r->chunks, 1);
    if (slot < MAX_CHUNKS) {
        r->begin[slot] = begin;
        r->end[slot] = end;
        r->thread[slot] = pthread_self();
    }
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&r->visits[i], 1);
}

static record *record_new(int64_t n)
{
    record *r = calloc(1, sizeof *r);
    ck_assert(r);
    r->visits = calloc((size_t)(n > 0 ? n : 1), sizeof(atomic_int));
    ck_assert(r->visits);
    return r;
}
static void record_free(record *r)
{
    free(r->visits);
    free(r);
}

/* Sorts the recorded chunks by begin and returns their count. */
static int sorted_chunks(record *r)
{
    int count = atomic_load(&r->chunks);
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && r->begin[j - 1] > r->begin[j]; j--) {
            int64_t b = r->begin[j], e = r->end[j];
            pthread_t t = r->thread[j];
            r->begin[j] = r->begin[j - 1], r->end[j] = r->end[j - 1], r->thread[j] = r->thread[j - 1];
            r->begin[j - 1] = b, r->end[j - 1] = e, r->thread[j - 1] = t;
        }
    return count;
}

START_TEST(test_parallel_covers_once)
{
    static const int64_t sizes[] = {1, 2, 3, 7, 64, 1000, 1001};
    for (int threads = 1; threads <= 5; threads++)
        for (int s = 0; s < 7; s++) {
            tg_set_threads(threads);
            record *r = record_new(sizes[s]);
            tg_parallel_for(sizes[s], record_range, r);
            for (int64_t i = 0; i < sizes[s]; i++)
                ck_assert_msg(atomic_load(&r->visits[i]) == 1, "index %lld visited %d times (n=%lld threads=%d)",
                              (long long)i, atomic_load(&r->visits[i]), (long long)sizes[s], threads);
            int chunks = sorted_chunks(r);
            int64_t expected = sizes[s] < threads ? sizes[s] : threads;
            ck_assert_int_eq(chunks, expected); /* n < threads: one element per chunk, no empty chunks */
            record_free(r);
        }
}
END_TEST

START_TEST(test_parallel_zero_and_negative)
{
    tg_set_threads(3);
    record *r = record_new(0);
    tg_parallel_for(0, record_range, r);
    tg_parallel_for(-5, record_range, r);
    ck_assert_int_eq(atomic_load(&r->chunks), 0);
    record_free(r);
}
END_TEST

START_TEST(test_parallel_static_split)
{
    /* n = 10 on 3 threads: [0,3) [3,6) [6,10) (chunk i starts at floor(10*i/3)), every time,
     * and chunk 0 runs on the calling thread. */
    tg_set_threads(3);
    for (int repeat = 0; repeat < 20; repeat++) {
        record *r = record_new(10);
        tg_parallel_for(10, record_range, r);
        ck_assert_int_eq(sorted_chunks(r), 3);
        const int64_t begin[] = {0, 3, 6}, end[] = {3, 6, 10};
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(r->begin[i], begin[i]);
            ck_assert_int_eq(r->end[i], end[i]);
        }
        ck_assert(pthread_equal(r->thread[0], pthread_self()));
        ck_assert(!pthread_equal(r->thread[1], pthread_self()));
        ck_assert(!pthread_equal(r->thread[1], r->thread[2]));
        record_free(r);
    }
}
END_TEST

/* Each outer chunk runs an inner parallel_for over 100 indices. */
typedef struct nested {
    atomic_long total;
    atomic_int inner_on_other_thread;
} nested;
typedef struct inner_ctx {
    pthread_t owner;
    long sum;
    bool other_thread;
} inner_ctx;
static void inner_range(void *ctx, int64_t begin, int64_t end)
{
    inner_ctx *c = ctx;
    if (!pthread_equal(pthread_self(), c->owner)) c->other_thread = true;
    for (int64_t i = begin; i < end; i++) c->sum += i; /* unsynchronised: only safe when serial */
}
static void outer_range(void *ctx, int64_t begin, int64_t end)
{
    nested *n = ctx;
    for (int64_t i = begin; i < end; i++) {
        inner_ctx inner = {pthread_self(), 0, false};
        tg_parallel_for(100, inner_range, &inner);
        atomic_fetch_add(&n->total, inner.sum);
        if (inner.other_thread) atomic_fetch_add(&n->inner_on_other_thread, 1);
    }
}

START_TEST(test_parallel_nested_runs_serially)
{
    tg_set_threads(2);
    nested n = {0, 0};
    tg_parallel_for(8, outer_range, &n);
    ck_assert_int_eq(atomic_load(&n.total), 8 * 4950); /* 0+1+...+99 = 4950 per outer index */
    ck_assert_int_eq(atomic_load(&n.inner_on_other_thread), 0);
}
END_TEST

/* Two user threads using the pool at once: each still covers its range exactly once. */
static void *user_thread(void *arg)
{
    record *r = arg;
    for (int i = 0; i < 200; i++) {
        atomic_store(&r->chunks, 0);
        tg_parallel_for(97, record_range, r);
    }
    return NULL;
}

START_TEST(test_parallel_concurrent_callers)
{
    tg_set_threads(3);
    record *r1 = record_new(97), *r2 = record_new(97);
    pthread_t t1, t2;
    ck_assert_int_eq(pthread_create(&t1, NULL, user_thread, r1), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, user_thread, r2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    for (int i = 0; i < 97; i++) {
        ck_assert_int_eq(atomic_load(&r1->visits[i]), 200);
        ck_assert_int_eq(atomic_load(&r2->visits[i]), 200);
    }
    record_free(r1);
    record_free(r2);
}
END_TEST

START_TEST(test_parallel_many_small_jobs)
{
    tg_set_threads(2);
    record *r = record_new(5);
    for (int i = 0; i < 5000; i++) tg_parallel_for(5, record_range, r);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(atomic_load(&r->visits[i]), 5000);
    /* growing and shrinking the thread count between jobs */
    for (int i = 0; i < 300; i++) {
        tg_set_threads(1 + i % 4);
        tg_parallel_for(5, record_range, r);
    }
    for (int i = 0; i < 5; i++) ck_assert_int_eq(atomic_load(&r->visits[i]), 5300);
    record_free(r);
}
END_TEST

static char logged[512];
static void keep_log(const char *message, void *user)
{
    (void)user;
    snprintf(logged, sizeof logged, "%s", message);
}

START_TEST(test_parallel_set_threads_checks)
{
    ck_assert_int_eq(tg_set_threads(3), TG_OK);
    ck_assert_int_eq(tg_get_threads(), 3);
    tg_set_log(keep_log, NULL);
    logged[0] = '\0';
    ck_assert_int_eq(tg_set_threads(-7), TG_ERR_INVALID);
    ck_assert_str_eq(logged, "tg_set_threads: -7 is outside 0..64 (0: the default); the thread count stays 3");
    ck_assert_int_eq(tg_get_threads(), 3);
    ck_assert_int_eq(tg_set_threads(TG_MAX_THREADS + 1), TG_ERR_INVALID);
    ck_assert_int_eq(tg_get_threads(), 3);
    tg_set_log(NULL, NULL);
    ck_assert_int_eq(tg_set_threads(TG_MAX_THREADS), TG_OK);
    ck_assert_int_eq(tg_get_threads(), TG_MAX_THREADS);
    /* 0: the default, the cores available (TG_NUM_THREADS unset here) */
    unsetenv(TG_THREADS_ENV);
    ck_assert_int_eq(tg_set_threads(0), TG_OK);
    ck_assert_int_eq(tg_get_threads(), tg_default_threads());
    setenv(TG_THREADS_ENV, "5", 1);
    ck_assert_int_eq(tg_set_threads(0), TG_OK);
    ck_assert_int_eq(tg_get_threads(), 5);
    setenv(TG_THREADS_ENV, "5x", 1); /* invalid: the cores */
    ck_assert_int_eq(tg_set_threads(0), TG_OK);
    ck_assert_int_eq(tg_get_threads(), tg_default_threads());
    unsetenv(TG_THREADS_ENV);
}
END_TEST

START_TEST(test_parallel_parse_threads)
{
    ck_assert_int_eq(tg_parse_threads("1"), 1);
    ck_assert_int_eq(tg_parse_threads("64"), 64);
    ck_assert_int_eq(tg_parse_threads("0"), -1);
    ck_assert_int_eq(tg_parse_threads("65"), -1);
    ck_assert_int_eq(tg_parse_threads("-2"), -1);
    ck_assert_int_eq(tg_parse_threads(""), -1);
    ck_assert_int_eq(tg_parse_threads("2 "), -1);
    ck_assert_int_eq(tg_parse_threads("two"), -1);
    ck_assert_int_eq(tg_parse_threads("99999999999999999999"), -1);
    ck_assert_int_eq(tg_parse_threads(NULL), -1);
}
END_TEST

/* The cores available: what sched_getaffinity counts (1..64), never more than are online. */
START_TEST(test_parallel_default_is_affinity)
{
    const int n = tg_default_threads();
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, TG_MAX_THREADS);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0) ck_assert_int_le(n, online);
#if defined(__linux__)
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    const int mask = CPU_COUNT(&set);
    ck_assert_int_eq(n, mask < TG_MAX_THREADS ? mask : TG_MAX_THREADS);
    /* one core in the mask: one thread */
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            CPU_SET(c, &one);
            break;
        }
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    ck_assert_int_eq(tg_default_threads(), 1);
    ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
#endif
}
END_TEST

Suite *suite_parallel(void)
{
    Suite *s = suite_create("parallel");
    TCase *tc = parallel_tcase("pool");
    tcase_add_test(tc, test_parallel_covers_once);
    tcase_add_test(tc, test_parallel_zero_and_negative);
    tcase_add_test(tc, test_parallel_static_split);
    tcase_add_test(tc, test_parallel_nested_runs_serially);
    tcase_add_test(tc, test_parallel_concurrent_callers);
    tcase_add_test(tc, test_parallel_many_small_jobs);
    tcase_add_test(tc, test_parallel_set_threads_checks);
    tcase_add_test(tc, test_parallel_parse_threads);
    tcase_add_test(tc, test_parallel_default_is_affinity);
    suite_add_tcase(s, tc);
    return s;
}
