/* dist/dist.c — MPI data parallelism: agreement on failures, model checks and broadcasts, and
 * bucketed gradient all-reduce started from the tape's backward hook. */
#include "dist.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/data.h"
#include "../ops/norm.h"

#ifdef TG_REAL_DOUBLE
#define TG_MPI_REAL MPI_DOUBLE
#else
#define TG_MPI_REAL MPI_FLOAT
#endif

struct tg_dist {
    MPI_Comm comm; /* our own, so a user's messages never meet ours */
    int rank, size;
    bool started_mpi; /* tg_dist_init called MPI_Init, so finalize ends MPI */
};

static tg_status fail(char *err, size_t errsz, tg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static tg_status fail(char *err, size_t errsz, tg_status st, const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* An MPI error code as one line: "MPI_Allreduce: MPI_ERR_TRUNCATE: message truncated". */
static tg_status mpi_fail(char *err, size_t errsz, const char *call, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", code);
    return fail(err, errsz, TG_ERR_IO, "%s failed: %s", call, text);
}

/* Open MPI's MPI_Iallreduce (libnbc) picks by default, for 2 ranks and the 0.25-16 MB buckets, an
 * algorithm that moves every byte twice; its ring moves each rank's half once each way (the cost
 * model of docs/distributed.md). Measured here, 2 ranks over shared memory (tests/mpi/dist_api.c
 * bench-allreduce, best of 20): 4 MB 5.8 -> 2.6 ms, 16 MB 27 -> 15.5 ms. The user's own setting
 * (environment or mpirun --mca) wins; other MPIs ignore the variable. */
#define OMPI_IALLREDUCE_ALGORITHM_ENV "OMPI_MCA_coll_libnbc_iallreduce_algorithm"
#define OMPI_IALLREDUCE_RING "1"
static void prefer_ring_allreduce(void) { setenv(OMPI_IALLREDUCE_ALGORITHM_ENV, OMPI_IALLREDUCE_RING, 0); }

tg_status tg_dist_init(int *argc, char ***argv, tg_dist **out, char *err, size_t errsz)
{
    *out = NULL;
    tg_dist *d = calloc(1, sizeof *d);
    if (!d) return fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory");
    int initialized = 0, provided = 0, rc;
    MPI_Initialized(&initialized);
    /* only the main thread calls MPI; the thread pool never does */
    if (!initialized) {
        prefer_ring_allreduce();
        if ((rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
            free(d);
            return fail(err, errsz, TG_ERR_IO, "dist: MPI_Init_thread failed (code %d)", rc);
        }
        d->started_mpi = true;
    }
    /* errors come back as codes on every call, so a failure ends with a message, not an abort
     * (a program that started MPI itself keeps its own handler on MPI_COMM_WORLD) */
    if (d->started_mpi) MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm)) != MPI_SUCCESS) {
        tg_status st = mpi_fail(err, errsz, "dist: MPI_Comm_dup", rc);
        if (d->started_mpi) MPI_Finalize();
        free(d);
        return st;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    *out = d;
    return TG_OK;
}

void tg_dist_finalize(tg_dist *d)
{
    if (!d) return;
    MPI_Comm_free(&d->comm);
    if (d->started_mpi) MPI_Finalize();
    free(d);
}

int tg_dist_rank(const tg_dist *d) { return d->rank; }
int tg_dist_size(const tg_dist *d) { return d->size; }

void tg_dist_shard(int64_t batch, int rank, int size, int64_t *offset, int64_t *count)
{
    const int64_t base = batch / size, extra = batch % size;
    *count = base + (rank < extra);
    *offset = rank * base + (rank < extra ? rank : extra);
}

/* The failing rank's status and reason, sent as one message to the others. */
typedef struct agree_msg {
    int status;
    char why[TG_DIST_MSG_MAX];
} agree_msg;

tg_status tg_dist_agree(tg_dist *d, tg_status local, const char *why, char *err, size_t errsz)
{
    /* the lowest failing rank, or size when none failed */
    int mine = local == TG_OK ? d->size : d->rank, first = d->size, rc;
    if ((rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm)) != MPI_SUCCESS)
        return mpi_fail(err, errsz, "dist: MPI_Allreduce", rc);
    if (first == d->size) return TG_OK;
    agree_msg msg = {.status = local};
    snprintf(msg.why, sizeof msg.why, "%s", why && *why ? why : tg_strerror(local));
    if ((rc = MPI_Bcast(&msg, (int)sizeof msg, MPI_BYTE, first, d->comm)) != MPI_SUCCESS)
        return mpi_fail(err, errsz, "dist: MPI_Bcast", rc);
    msg.why[sizeof msg.why - 1] = '\0';
    if (local != TG_OK) return fail(err, errsz, local, "%s", why && *why ? why : tg_strerror(local));
    return fail(err, errsz, (tg_status)msg.status, "rank %d of %d failed: %s", first, d->size, msg.why);
}

tg_status tg_dist_allreduce_sum(tg_dist *d, double *values, int n, char *err, size_t errsz)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, d->comm);
    return rc == MPI_SUCCESS ? TG_OK : mpi_fail(err, errsz, "dist: MPI_Allreduce", rc);
}

tg_status tg_dist_allreduce_max(tg_dist *d, double *values, int n, char *err, size_t errsz)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_MAX, d->comm);
    return rc == MPI_SUCCESS ? TG_OK : mpi_fail(err, errsz, "dist: MPI_Allreduce", rc);
}

/* ---- model checks ---- */

/* Every parameter and buffer, in order; *out malloc'd (free it). -1 when out of memory. */
static int list_tensors(tg_module *net, tg_named_tensor **out)
{
    const int n = tg_module_named_tensors(net, true, NULL, 0);
    *out = calloc((size_t)n + 1, sizeof **out);
    if (!*out) return -1;
    return tg_module_named_tensors(net, true, *out, n);
}

/* "name [2,3,5,5]" */
static void describe(const tg_named_tensor *t, char *buf, size_t size)
{
    int k = snprintf(buf, size, "'%s' [", t->name);
    for (int i = 0; i < t->tensor->ndim && k > 0 && (size_t)k < size; i++)
        k += snprintf(buf + k, size - (size_t)k, "%s%lld", i ? "," : "", (long long)t->tensor->shape[i]);
    if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
}

/* One line per tensor, then the settings: what every rank must hold the same. */
static char *model_signature(const tg_named_tensor *list, int n, const char *settings, size_t *len)
{
    const size_t line = 512;
    char *s = malloc((size_t)(n + 1) * line + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        char desc[480];
        describe(&list[i], desc, sizeof desc);
        k += (size_t)snprintf(s + k, line, "%s %s\n", list[i].is_buffer ? "buffer" : "parameter", desc);
    }
    k += (size_t)snprintf(s + k, line, "settings %s\n", settings ? settings : "");
    *len = k;
    return s;
}

/* Line i (0-based) of a signature, without its newline, into buf ("" past the end). */
static void signature_line(const char *s, int i, char *buf, size_t size)
{
    for (; i > 0 && *s; s++)
        if (*s == '\n') i--;
    size_t k = 0;
    while (s[k] && s[k] != '\n' && k + 1 < size) buf[k] = s[k], k++;
    buf[k] = '\0';
}

tg_status tg_dist_check_model(tg_dist *d, tg_module *net, const char *settings, char *err, size_t errsz)
{
    tg_named_tensor *list = NULL;
    const int n = list_tensors(net, &list);
    size_t len = 0;
    char *mine = n >= 0 ? model_signature(list, n, settings, &len) : NULL, *root = NULL;
    tg_status local = mine ? TG_OK : TG_ERR_NOMEM;
    char why[TG_DIST_MSG_MAX] = "";
    if (!mine) snprintf(why, sizeof why, "dist: out of memory comparing the models");
    /* rank 0's signature, to everyone (its length first) */
    long long root_len = (long long)len;
    int rc = MPI_Bcast(&root_len, 1, MPI_LONG_LONG, 0, d->comm);
    if (rc == MPI_SUCCESS && !(root = malloc((size_t)root_len + 1))) root_len = 0, local = TG_ERR_NOMEM;
    if (rc == MPI_SUCCESS) {
        char *buf = d->rank == 0 && mine ? mine : root;
        /* a rank without memory still takes part, into a scratch byte, and fails at the agree */
        char scratch;
        rc = MPI_Bcast(root ? buf : &scratch, root ? (int)root_len : 0, MPI_CHAR, 0, d->comm);
        if (root && d->rank == 0) memcpy(root, mine, (size_t)root_len);
        if (root) root[root_len] = '\0';
    }
    if (rc != MPI_SUCCESS) {
        free(list), free(mine), free(root);
        return mpi_fail(err, errsz, "dist: MPI_Bcast", rc);
    }
    if (local == TG_OK && strcmp(mine, root) != 0) {
        /* the first line that differs names the tensor or setting */
        int i = 0;
        char a[200], b[200]; /* two lines and the sentence fit one message */
        for (;; i++) {
            signature_line(mine, i, a, sizeof a);
            signature_line(root, i, b, sizeof b);
            if (strcmp(a, b) || (!*a && !*b)) break;
        }
        snprintf(why, sizeof why, "the model differs from rank 0's: entry %d is %s here but %s on rank 0", i + 1,
                 *a ? a : "missing", *b ? b : "missing");
        local = TG_ERR_INVALID;
    }
    free(list), free(mine), free(root);
    return tg_dist_agree(d, local, why, err, errsz);
}

tg_status tg_dist_broadcast(tg_dist *d, tg_tensor *const *tensors, int n, int root, char *err, size_t errsz)
{
    for (int i = 0; i < n; i++) {
        tg_tensor *t = tensors[i];
        if (t->dtype != TG_REAL) continue; /* int64 buffers (batch counters) are equal by construction */
        int rc = MPI_Bcast(t->data, (int)t->numel, TG_MPI_REAL, root, d->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(err, errsz, "dist: MPI_Bcast", rc);
    }
    return TG_OK;
}

tg_status tg_dist_broadcast_module(tg_dist *d, tg_module *net, char *err, size_t errsz)
{
    tg_named_tensor *list = NULL;
    const int n = list_tensors(net, &list);
    tg_tensor **ts = n >= 0 ? calloc((size_t)n + 1, sizeof *ts) : NULL;
    tg_status st = ts ? TG_OK : TG_ERR_NOMEM;
    for (int i = 0; ts && i < n; i++) ts[i] = list[i].tensor;
    /* every rank must know whether any of them ran out of memory before broadcasting */
    st = tg_dist_agree(d, st, "dist: out of memory", err, errsz);
    if (st == TG_OK) st = tg_dist_broadcast(d, ts, n, 0, err, errsz);
    free(list), free(ts);
    return st;
}

tg_status tg_dist_check_replicas(tg_dist *d, tg_module *net, char *err, size_t errsz)
{
    tg_named_tensor *list = NULL;
    const int n = list_tensors(net, &list);
    unsigned mine = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = list[i].tensor;
        mine = tg_crc32(mine, t->data, (size_t)t->numel * (t->dtype == TG_REAL ? sizeof(tg_real) : sizeof(int64_t)));
    }
    free(list);
    tg_status local = n >= 0 ? TG_OK : TG_ERR_NOMEM;
    local = tg_dist_agree(d, local, "dist: out of memory", err, errsz);
    if (local != TG_OK) return local;
    unsigned *all = calloc((size_t)d->size, sizeof *all);
    unsigned scratch = 0;
    int rc = MPI_Allgather(&mine, 1, MPI_UNSIGNED, all ? all : &scratch, all ? 1 : 0, MPI_UNSIGNED, d->comm);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, errsz, "dist: MPI_Allgather", rc);
    }
    tg_status st = all ? TG_OK : fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory");
    for (int r = 1; all && r < d->size && st == TG_OK; r++)
        if (all[r] != all[0])
            st = fail(err, errsz, TG_ERR_INVALID,
                      "replicas differ: rank %d's parameters and buffers have checksum %08x, rank 0's %08x", r, all[r],
                      all[0]);
    free(all);
    return st;
}

/* ---- gradient buckets ---- */

typedef struct bucket {
    int first, count;   /* parameters first .. first+count-1 of the reducer's order */
    int64_t numel;
    tg_real *flat;      /* the gradients side by side, then their sum */
    tg_real *reduced;   /* what this step's all-reduce sums in place: flat, or the gradient itself
                           when the bucket holds one parameter that has one */
    int pending;        /* parameters whose gradient is not final yet this step */
} bucket;

typedef struct param_slot {
    tg_tensor *t;
    int bucket;
    int64_t offset;     /* in the bucket's flat buffer */
    int first_reader;   /* index of the oldest node reading it this step; -1: none */
    bool final;
    bool had_grad;      /* a gradient reached it (else it stays without one, as PyTorch's None) */
    bool shared;        /* the tensor is listed more than once: never summed in place */
} param_slot;

typedef struct ready_entry {
    int first_reader, slot;
} ready_entry;

struct tg_dist_reducer {
    tg_dist *d;
    param_slot *slots;  /* newest parameter first */
    int n;
    const tg_tensor **by_address; /* the parameters sorted by address, to find a node's inputs */
    int *by_address_slot;
    ready_entry *ready_order; /* slots by first_reader, newest first: the order gradients become final */
    int cursor;         /* ready_order[0 .. cursor) are final */
    bucket *buckets;
    MPI_Request *reqs;  /* one per bucket, MPI_REQUEST_NULL when none is in flight */
    int n_buckets;
    double weight;
    tg_tape *tape;
    tg_dist_reducer_stats stats;
    /* tg_dist_train_sync's state */
    tg_module *net;
    int64_t batch, shard_offset, shard_count;
    tg_tensor **buffers;
    int n_buffers;
};

static int cmp_address(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t) * (const tg_tensor *const *)a, y = (uintptr_t) * (const tg_tensor *const *)b;
    return x < y ? -1 : x > y;
}

void tg_dist_reducer_free(tg_dist_reducer *r)
{
    if (!r) return;
    for (int b = 0; r->buckets && b < r->n_buckets; b++) free(r->buckets[b].flat);
    free(r->buckets), free(r->slots), free(r->by_address), free(r->by_address_slot), free(r->ready_order);
    free(r->buffers), free(r->reqs);
    free(r);
}

tg_dist_reducer *tg_dist_reducer_new(tg_dist *d, tg_tensor *const *params, int n, size_t bucket_bytes, char *err,
                                     size_t errsz)
{
    if (n < 1 || !params || bucket_bytes < sizeof(tg_real)) {
        fail(err, errsz, TG_ERR_INVALID, "dist: reducer needs at least one parameter and a bucket of at least %zu bytes",
             sizeof(tg_real));
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!params[i] || params[i]->dtype != TG_REAL) {
            fail(err, errsz, TG_ERR_INVALID, "dist: parameter %d is NULL or not a real tensor", i);
            return NULL;
        }
    tg_dist_reducer *r = calloc(1, sizeof *r);
    if (!r) return fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory"), NULL;
    r->d = d, r->n = n;
    r->slots = calloc((size_t)n, sizeof *r->slots);
    r->by_address = calloc((size_t)n, sizeof *r->by_address);
    r->by_address_slot = calloc((size_t)n, sizeof *r->by_address_slot);
    r->ready_order = calloc((size_t)n, sizeof *r->ready_order);
    r->buckets = calloc((size_t)n, sizeof *r->buckets); /* at most one per parameter */
    r->reqs = calloc((size_t)n, sizeof *r->reqs);
    if (!r->slots || !r->by_address || !r->by_address_slot || !r->ready_order || !r->buckets || !r->reqs) goto nomem;
    /* newest parameter first: the backward reaches the last layers first */
    const size_t cap = bucket_bytes / sizeof(tg_real);
    for (int s = 0; s < n; s++) {
        tg_tensor *t = params[n - 1 - s];
        bucket *cur = r->n_buckets ? &r->buckets[r->n_buckets - 1] : NULL;
        if (!cur || (cur->numel > 0 && (size_t)(cur->numel + t->numel) > cap)) {
            cur = &r->buckets[r->n_buckets++];
            cur->first = s;
        }
        r->slots[s] = (param_slot){.t = t, .bucket = r->n_buckets - 1, .offset = cur->numel, .first_reader = -1};
        cur->count++;
        cur->numel += t->numel;
    }
    for (int b = 0; b < r->n_buckets; b++) {
        if (!(r->buckets[b].flat = calloc((size_t)r->buckets[b].numel, sizeof(tg_real)))) goto nomem;
        r->reqs[b] = MPI_REQUEST_NULL;
        r->stats.bytes += r->buckets[b].numel * (int64_t)sizeof(tg_real);
    }
    r->stats.buckets = r->n_buckets;
    for (int s = 0; s < n; s++) r->by_address[s] = r->slots[s].t;
    qsort(r->by_address, (size_t)n, sizeof *r->by_address, cmp_address);
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n; s++)
            if (r->slots[s].t == r->by_address[i]) r->by_address_slot[i] = s;
    /* a tensor listed twice would be weighted and summed in place twice, once per slot */
    for (int s = 0; s < n; s++)
        for (int q = 0; q < n; q++)
            if (q != s && r->slots[q].t == r->slots[s].t) r->slots[s].shared = true;
    return r;
nomem:
    tg_dist_reducer_free(r);
    fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory");
    return NULL;
}

static int find_slot(const tg_dist_reducer *r, const tg_tensor *t)
{
    const tg_tensor **hit = bsearch(&t, r->by_address, (size_t)r->n, sizeof *r->by_address, cmp_address);
    return hit ? r->by_address_slot[hit - r->by_address] : -1;
}

static void start_bucket(tg_dist_reducer *r, int b)
{
    /* an error here surfaces in _end: MPI_Waitall reports it */
    bucket *k = &r->buckets[b];
    MPI_Iallreduce(MPI_IN_PLACE, k->reduced, (int)k->numel, TG_MPI_REAL, MPI_SUM, r->d->comm, &r->reqs[b]);
}

/* Slot s's gradient is final: copy it, weighted, into its bucket, or, alone in its bucket (a large
 * layer's weight: most of the bytes), weight it where it is and reduce it there, which saves the
 * copy in and the copy back (measured 4 Dec, LeNet-5 on 2 ranks: its 4.8 MB fc1 gradient); start
 * the bucket when its last gradient is final. */
static void finish_param(tg_dist_reducer *r, int s)
{
    param_slot *p = &r->slots[s];
    if (p->final) return;
    p->final = true;
    p->had_grad = p->t->grad != NULL;
    bucket *b = &r->buckets[p->bucket];
    const tg_real w = (tg_real)r->weight;
    const int64_t n = p->t->numel;
    if (b->count == 1 && p->t->grad && !p->shared) {
        tg_real *restrict g = p->t->grad;
        if (w != 1)
            for (int64_t i = 0; i < n; i++) g[i] *= w;
        b->reduced = g;
    } else {
        tg_real *restrict dst = b->flat + p->offset;
        const tg_real *restrict g = p->t->grad;
        if (g)
            for (int64_t i = 0; i < n; i++) dst[i] = w * g[i];
        else
            memset(dst, 0, (size_t)n * sizeof(tg_real));
        b->reduced = b->flat;
    }
    if (--b->pending == 0) {
        start_bucket(r, p->bucket);
        if (r->tape) r->stats.early_buckets++;
    }
}

/* Ready order: latest first reader first; parameters no node reads go last (finished in _end);
 * ties by slot, so the order is the same on every rank. */
static int cmp_ready(const void *a, const void *b)
{
    const ready_entry *x = a, *y = b;
    if (x->first_reader != y->first_reader) return x->first_reader > y->first_reader ? -1 : 1;
    return x->slot - y->slot;
}

static void backward_hook(void *ctx, const tg_node *node)
{
    tg_dist_reducer *r = ctx;
    /* nodes run newest first, so every parameter whose oldest reader is at or after this node is final */
    while (r->cursor < r->n && r->ready_order[r->cursor].first_reader >= node->index)
        finish_param(r, r->ready_order[r->cursor++].slot);
    /* MPI moves non-blocking collectives along only inside MPI calls: give it one per node */
    int done = 0;
    MPI_Testall(r->n_buckets, r->reqs, &done, MPI_STATUSES_IGNORE);
}

tg_status tg_dist_reducer_begin(tg_dist_reducer *r, tg_tape *tape, double weight)
{
    r->weight = weight;
    r->cursor = 0;
    for (int b = 0; b < r->n_buckets; b++) r->buckets[b].pending = r->buckets[b].count;
    for (int s = 0; s < r->n; s++) {
        r->slots[s].first_reader = -1;
        r->slots[s].final = false;
    }
    r->tape = tape;
    if (!tape) return TG_OK;
    for (const tg_node *nd = tg_tape_last_node(tape); nd; nd = nd->prev)
        for (int i = 0; i < nd->n_inputs; i++) {
            const int s = nd->inputs[i] ? find_slot(r, nd->inputs[i]) : -1;
            if (s >= 0 && (r->slots[s].first_reader < 0 || nd->index < r->slots[s].first_reader))
                r->slots[s].first_reader = nd->index;
        }
    for (int s = 0; s < r->n; s++) r->ready_order[s] = (ready_entry){r->slots[s].first_reader, s};
    qsort(r->ready_order, (size_t)r->n, sizeof *r->ready_order, cmp_ready);
    tg_tape_set_backward_hook(tape, backward_hook, r);
    return TG_OK;
}

static double now_s(void) { return MPI_Wtime(); }

tg_status tg_dist_reducer_end(tg_dist_reducer *r, char *err, size_t errsz)
{
    if (r->tape) tg_tape_set_backward_hook(r->tape, NULL, NULL);
    /* what the hook did not finish (unused parameters, no tape), in one order on every rank */
    for (int s = 0; s < r->n; s++) finish_param(r, s);
    const double t0 = now_s();
    int rc = MPI_Waitall(r->n_buckets, r->reqs, MPI_STATUSES_IGNORE);
    r->stats.wait_seconds += now_s() - t0;
    r->tape = NULL;
    if (rc != MPI_SUCCESS) return mpi_fail(err, errsz, "dist: MPI_Iallreduce", rc);
    for (int s = 0; s < r->n; s++) {
        param_slot *p = &r->slots[s];
        /* the graphs are the same everywhere, so no rank reached it: its sum is zero, and a
         * parameter without a gradient is skipped by the optimizer (weight decay too) */
        if (!p->had_grad) continue;
        const bucket *b = &r->buckets[p->bucket];
        if (b->reduced == p->t->grad) continue; /* summed in place */
        tg_real *g = tg_tensor_grad(p->t);
        if (!g) return fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory for a gradient");
        memcpy(g, b->flat + p->offset, (size_t)p->t->numel * sizeof(tg_real));
    }
    r->stats.steps++;
    return TG_OK;
}

tg_status tg_dist_allreduce_grads(tg_dist_reducer *r, double weight, char *err, size_t errsz)
{
    tg_dist_reducer_begin(r, NULL, weight);
    return tg_dist_reducer_end(r, err, errsz);
}

tg_dist_reducer_stats tg_dist_reducer_get_stats(const tg_dist_reducer *r) { return r->stats; }

/* ---- sync batch norm ---- */

static int sync_bn_reduce(void *ctx, tg_norm_sync_phase phase, double *sums, int64_t n)
{
    tg_dist_reducer *r = ctx;
    /* statistics of the data add up plainly; gradient sums carry each rank's loss weight, and come
     * back in this rank's scale (its later gradient is multiplied by its weight again) */
    const double w = phase == TG_NORM_SYNC_BACKWARD ? r->weight : 1.0;
    if (phase == TG_NORM_SYNC_BACKWARD && !(w > 0)) return -1;
    for (int64_t i = 0; i < n && w != 1.0; i++) sums[i] *= w;
    if (MPI_Allreduce(MPI_IN_PLACE, sums, (int)n, MPI_DOUBLE, MPI_SUM, r->d->comm) != MPI_SUCCESS) return -1;
    for (int64_t i = 0; i < n && w != 1.0; i++) sums[i] /= w;
    return 0;
}

void tg_dist_sync_batch_norm(tg_dist_reducer *r, bool on)
{
    tg_norm_set_stats_reducer(on ? sync_bn_reduce : NULL, r);
}

/* ---- the training loop's callbacks ---- */

static tg_status sync_after_forward(void *ctx, tg_tape *tape, tg_status status, double local_loss, double *global_loss)
{
    tg_dist_reducer *r = ctx;
    const double weight = (double)r->shard_count / (double)r->batch;
    /* one collective per step: the weighted losses sum to the batch's mean; the count of failures */
    double v[2] = {status == TG_OK ? weight * local_loss : 0.0, status != TG_OK};
    char err[TG_DIST_MSG_MAX];
    tg_status st = tg_dist_allreduce_sum(r->d, v, 2, err, sizeof err);
    if (st == TG_OK && v[1] > 0) st = tg_dist_agree(r->d, status, tg_error(tape), err, sizeof err);
    if (st != TG_OK) {
        tg_fail(tape, "%s", err); /* the failing rank keeps its own first message */
        return st;
    }
    *global_loss = v[0];
    return tg_dist_reducer_begin(r, tape, weight);
}

static tg_status sync_after_backward(void *ctx, tg_tape *tape, tg_status status)
{
    tg_dist_reducer *r = ctx;
    char err[TG_DIST_MSG_MAX];
    /* every rank runs the all-reduces, even one whose backward failed, so none is left waiting */
    tg_status st = tg_dist_reducer_end(r, err, sizeof err);
    if (st == TG_OK) st = tg_dist_agree(r->d, status, tg_error(tape), err, sizeof err);
    if (st == TG_OK && r->n_buffers) st = tg_dist_broadcast(r->d, r->buffers, r->n_buffers, 0, err, sizeof err);
    if (st != TG_OK) tg_fail(tape, "%s", err);
    return st;
}

tg_status tg_dist_train_sync(tg_dist_reducer *r, tg_module *net, int64_t batch, bool broadcast_buffers,
                             tg_train_sync *sync, char *err, size_t errsz)
{
    const int size = r->d->size;
    if (batch < size)
        return fail(err, errsz, TG_ERR_INVALID, "--batch %lld is smaller than the %d ranks: every rank needs a sample",
                    (long long)batch, size);
    r->net = net;
    r->batch = batch;
    tg_dist_shard(batch, r->d->rank, size, &r->shard_offset, &r->shard_count);
    free(r->buffers);
    r->buffers = NULL;
    r->n_buffers = 0;
    if (broadcast_buffers && net) {
        tg_named_tensor *list = NULL;
        const int n = list_tensors(net, &list);
        r->buffers = n >= 0 ? calloc((size_t)n + 1, sizeof *r->buffers) : NULL;
        if (!r->buffers) {
            free(list);
            return fail(err, errsz, TG_ERR_NOMEM, "dist: out of memory");
        }
        for (int i = 0; i < n; i++)
            if (list[i].is_buffer) r->buffers[r->n_buffers++] = list[i].tensor;
        free(list);
    }
    *sync = (tg_train_sync){.ctx = r,
                            .shard_offset = r->shard_offset,
                            .shard_count = r->shard_count,
                            .after_forward = sync_after_forward,
                            .after_backward = sync_after_backward};
    return TG_OK;
}
