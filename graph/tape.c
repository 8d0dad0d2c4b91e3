/* graph/tape.c — arena, node list, first-error record, grad mode, backward, random stream. */
#include "tape.h"

#include "tape_internal.h"
#include "error_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_ALIGN 64
#define TG_DEFAULT_ARENA ((size_t)1 << 20)
/* Module paths ("features.3.conv") for DOT clusters and anomaly messages: deep enough for any
 * sensible nesting; a deeper push keeps the path cut (still paired by depth). */
#define TG_SCOPE_LEN 256
#define TG_SCOPE_DEPTH 32
/* Released buffers the tape remembers for reuse within a step. More are simply not reused
 * until the reset (still correct, only less memory saved). */
#define TG_FREE_SLOTS 128
/* A split-off remainder smaller than this is not worth a slot. */
#define TG_FREE_MIN_SPLIT 4096

/* ASan: a released buffer is poisoned until it is handed out again, so a read of a freed
 * activation or gradient is reported instead of returning a stale value. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_TAPE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_TAPE_ASAN 1
#endif
#endif
#ifdef TG_TAPE_ASAN
#include <sanitizer/asan_interface.h>
#define TG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define TG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TG_POISON(p, n) ((void)(p), (void)(n))
#define TG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The arena is a chain of blocks; allocation bumps within the newest. reset() merges a grown
 * chain into one block of the total size, so after the first step a step never mallocs. */
typedef struct block {
    struct block *next;
    size_t size, used;
    unsigned char *mem; /* TG_ALIGN-aligned */
} block;

/* A released buffer (arena memory whose last reader has run), reusable until the reset. */
typedef struct free_slot {
    unsigned char *mem;
    size_t size; /* a multiple of TG_ALIGN */
} free_slot;

struct tg_tape {
    block *head;        /* block being filled */
    block *first;       /* first block (chain order for reset) */
    size_t held;        /* bytes held in all blocks */
    size_t used;        /* bytes handed out since reset */
    size_t peak;        /* most bytes in use at once before the last reset (tg_tape_peak); used only
                         * grows between resets: code that lowers it must fold it in here first */
    size_t limit;       /* 0 = none */
    tg_node *last;
    int n_nodes;
    int no_grad_depth;
    bool has_error;          /* an op failed: kept until reset / tg_clear_error */
    char error[TG_ERROR_LEN];
    unsigned failures;       /* counts every tg_fail, kept or not (detects failures inside a walk) */
    bool has_call_error;     /* the latest backward call was refused: not sticky */
    char call_error[TG_ERROR_LEN];
    bool detect_anomaly;
    tg_backward_hook hook;
    void *hook_ctx;
    char scope[TG_SCOPE_LEN];        /* current module path */
    size_t scope_len[TG_SCOPE_DEPTH]; /* path length before each push */
    int scope_depth;
    const char *scope_node;          /* arena copy of scope for nodes; NULL when stale */
    tg_rng rng;
    free_slot free[TG_FREE_SLOTS];   /* released buffers, reused by tensor data and gradients */
    int n_free;
    bool release_grads;              /* walk() frees an intermediate's gradient once propagated */
    bool shapes_only;                /* tensors get no data, ops no forward (tg_tape_set_shapes_only) */
    tg_epilogue epilogue;            /* an activation for the next op to fuse (tg_tape_set_epilogue) */
    bool indices_unused;             /* max pools keep no argmax (tg_tape_set_indices_unused) */
};

static block *block_new(size_t size)
{
    block *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->mem = aligned_alloc(TG_ALIGN, (size + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN);
    if (!b->mem) {
        free(b);
        return NULL;
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static void chain_free(block *b)
{
    while (b) {
        block *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
}

tg_tape *tg_tape_new(size_t initial_bytes)
{
    tg_tape *t = calloc(1, sizeof *t);
    if (!t) return tg_set_last_error("tape_new: out of memory");
    t->first = t->head = block_new(initial_bytes ? initial_bytes : TG_DEFAULT_ARENA);
    if (!t->head) {
        free(t);
        return tg_set_last_error("tape_new: out of memory for an arena of %zu bytes",
                                 initial_bytes ? initial_bytes : (size_t)TG_DEFAULT_ARENA);
    }
    t->held = t->head->size;
    tg_rng_seed(&t->rng, 0x7a9e9ad5u);
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t) return;
    chain_free(t->first);
    free(t);
}

void tg_tape_reset(tg_tape *t)
{
    if (!t) return;
    if (t->first->next) {
        /* The arena grew during the step: replace the chain by one block that fits it all. */
        block *merged = block_new(t->held);
        if (merged) {
            chain_free(t->first);
            t->first = merged;
        }
    }
    /* released buffers are forgotten with the rest (and made readable again under ASan) */
    for (block *b = t->first; b; b = b->next) TG_UNPOISON(b->mem, b->size);
    t->n_free = 0;
    for (block *b = t->first; b; b = b->next) b->used = 0;
    t->head = t->first;
    if (t->used > t->peak) t->peak = t->used;
    t->used = 0;
    t->last = NULL;
    t->n_nodes = 0;
    t->no_grad_depth = 0;
    t->has_error = false;
    t->error[0] = '\0';
    t->has_call_error = false;
    t->scope[0] = '\0';
    t->scope_depth = 0;
    t->scope_node = NULL;
}

void tg_tape_set_limit(tg_tape *t, size_t max_bytes)
{
    if (t) t->limit = max_bytes;
}

size_t tg_tape_used(const tg_tape *t) { return t ? t->used : 0; }

static size_t aligned_size(size_t bytes) { return (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; }
size_t tg_tape_capacity(const tg_tape *t) { return t ? t->held : 0; }
size_t tg_tape_peak(const tg_tape *t) { return t ? (t->used > t->peak ? t->used : t->peak) : 0; }

void tg_tape_reset_peak(tg_tape *t)
{
    if (t) t->peak = t->used;
}

void *tg_tape_alloc(tg_tape *t, size_t bytes)
{
    if (!t) return NULL;
    size_t need = (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN;
    if (need < bytes) return tg_fail(t, "arena full: request of %zu bytes overflows", bytes);
    if (t->limit && (t->used + need < t->used || t->used + need > t->limit))
        return tg_fail(t, "arena full: %zu bytes requested, %zu of the %zu-byte limit in use",
                       bytes, t->used, t->limit);
    /* Use the current block or any later (already held) one with room. */
    for (block *b = t->head; b; b = b->next) {
        if (b->size - b->used >= need) {
            void *p = b->mem + b->used;
            b->used += need;
            t->head = b;
            t->used += need;
            return p;
        }
    }
    size_t size = t->held > need ? t->held : need; /* grow geometrically */
    block *nb = block_new(size);
    if (!nb) return tg_fail(t, "arena full: out of memory growing the arena by %zu bytes", size);
    block *tail = t->head;
    while (tail->next) tail = tail->next;
    tail->next = nb;
    t->held += size;
    nb->used = need;
    t->head = nb;
    t->used += need;
    return nb->mem;
}

void *tg_tape_alloc_zero(tg_tape *t, size_t bytes)
{
    void *p = tg_tape_alloc(t, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void tg_tape_release(tg_tape *t, void *mem, size_t bytes)
{
    if (!t || !mem || t->n_free == TG_FREE_SLOTS) return;
    const size_t size = aligned_size(bytes ? bytes : 1);
    TG_POISON(mem, size);
    t->free[t->n_free++] = (free_slot){mem, size};
}

/* The smallest released buffer that fits (the remainder of a much larger one stays released),
 * else fresh arena memory. Best fit keeps a step's peak close to its largest live set. */
void *tg_tape_alloc_buffer(tg_tape *t, size_t bytes)
{
    if (!t) return NULL;
    const size_t need = aligned_size(bytes ? bytes : 1);
    int best = -1;
    for (int i = 0; i < t->n_free; i++)
        if (t->free[i].size >= need && (best < 0 || t->free[i].size < t->free[best].size)) best = i;
    if (best < 0) return tg_tape_alloc(t, bytes ? bytes : 1);
    free_slot s = t->free[best];
    if (s.size - need >= TG_FREE_MIN_SPLIT) {
        t->free[best] = (free_slot){s.mem + need, s.size - need};
    } else {
        t->free[best] = t->free[--t->n_free];
    }
    TG_UNPOISON(s.mem, need);
    return s.mem;
}

void tg_tape_release_tensor(tg_tape *t, tg_tensor *x)
{
    if (!t || !x || x->tape != t || x->dtype != TG_REAL || !x->data) return;
    tg_tape_release(t, x->data, (size_t)(x->numel ? x->numel : 1) * sizeof(tg_real));
    x->data = NULL; /* a later read fails loudly instead of seeing another tensor's values */
}

void tg_tape_set_release_grads(tg_tape *t, bool on)
{
    if (t) t->release_grads = on;
}

bool tg_tape_release_grads(const tg_tape *t) { return t && t->release_grads; }
bool tg_tape_may_hand_over_grads(const tg_tape *t) { return t && t->release_grads && !t->hook; }

void tg_tape_set_shapes_only(tg_tape *t, bool on)
{
    if (t) t->shapes_only = on;
}

bool tg_tape_shapes_only(const tg_tape *t) { return t && t->shapes_only; }

void tg_tape_set_indices_unused(tg_tape *t, bool on)
{
    if (t) t->indices_unused = on;
}

bool tg_tape_indices_unused(const tg_tape *t) { return t && t->indices_unused && !tg_grad_enabled(t); }

void tg_tape_set_epilogue(tg_tape *t, tg_epilogue e)
{
    if (t) t->epilogue = e;
}

tg_epilogue tg_tape_take_epilogue_recorded(tg_tape *t)
{
    const tg_epilogue none = {false, 0, 0};
    if (!t) return none;
    const tg_epilogue e = t->epilogue;
    t->epilogue = none;
    return e;
}

tg_epilogue tg_tape_take_epilogue(tg_tape *t)
{
    const tg_epilogue e = tg_tape_take_epilogue_recorded(t), none = {false, 0, 0};
    /* recording: the node's output must be the op's own (its backward reads it) */
    return tg_grad_enabled(t) ? none : e;
}

tg_tensor *tg_tape_tensor(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape)
{
    if (!t) return NULL;
    if (ndim < 0 || ndim > TG_MAX_DIMS) return tg_fail(t, "tensor: rank %d is outside 0..%d", ndim, TG_MAX_DIMS);
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / 16) {
        char s[TG_SHAPE_STR_LEN];
        return tg_fail(t, "tensor: invalid shape %s", tg_shape_str_raw(ndim, shape, s, sizeof s));
    }
    tg_tensor *x = tg_tape_alloc(t, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    size_t es = dtype == TG_INT64 ? sizeof(int64_t) : sizeof(tg_real);
    void *mem = t->shapes_only ? NULL : tg_tape_alloc_buffer(t, (size_t)(n ? n : 1) * es);
    if (!mem && !t->shapes_only) return NULL;
    x->dtype = dtype;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->numel = n;
    if (dtype == TG_INT64) x->idata = mem;
    else x->data = mem;
    x->tape = t;
    return x;
}

tg_tensor *tg_tape_zeros_like(tg_tape *t, const tg_tensor *like)
{
    if (!t || !like) return NULL;
    tg_tensor *x = tg_tape_tensor(t, like->dtype, like->ndim, like->shape);
    if (x && x->data) memset(x->data, 0, (size_t)x->numel * (x->dtype == TG_INT64 ? sizeof(int64_t) : sizeof(tg_real)));
    return x;
}

const char *tg_error(const tg_tape *t)
{
    if (!t) return "no tape";
    return t->has_error ? t->error : t->has_call_error ? t->call_error : NULL;
}

void *tg_fail(tg_tape *t, const char *fmt, ...)
{
    if (t) t->failures++;
    if (!t || t->has_error) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof t->error, fmt, ap);
    va_end(ap);
    t->has_error = true;
    return NULL;
}

void tg_clear_error(tg_tape *t)
{
    if (!t) return;
    t->has_error = false;
    t->error[0] = '\0';
    t->has_call_error = false;
}

/* A refused backward call: its message is readable until the next call, but not kept. */
static tg_status refuse(tg_tape *t, tg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static tg_status refuse(tg_tape *t, tg_status st, const char *fmt, ...)
{
    if (!t) return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->call_error, sizeof t->call_error, fmt, ap);
    va_end(ap);
    t->has_call_error = true;
    return st;
}

void tg_no_grad_begin(tg_tape *t)
{
    if (t) t->no_grad_depth++;
}

void tg_no_grad_end(tg_tape *t)
{
    if (t && t->no_grad_depth > 0) t->no_grad_depth--;
}

bool tg_grad_enabled(const tg_tape *t) { return t && t->no_grad_depth == 0; }

tg_node *tg_tape_last_node(const tg_tape *t) { return t ? t->last : NULL; }
int tg_tape_node_count(const tg_tape *t) { return t ? t->n_nodes : 0; }

void tg_tape_record(tg_tape *t, tg_node *n)
{
    n->prev = t->last;
    n->index = t->n_nodes++;
    t->last = n;
}

/* ---- scopes ---- */

void tg_tape_push_scope(tg_tape *t, const char *name)
{
    if (!t) return;
    const size_t len = strlen(t->scope);
    if (t->scope_depth < TG_SCOPE_DEPTH) t->scope_len[t->scope_depth] = len;
    t->scope_depth++;
    if (name && *name && t->scope_depth <= TG_SCOPE_DEPTH)
        snprintf(t->scope + len, sizeof t->scope - len, "%s%.*s", len ? "." : "", TG_NAME_LEN - 1, name);
    t->scope_node = NULL;
}

void tg_tape_pop_scope(tg_tape *t)
{
    if (!t || t->scope_depth == 0) return;
    t->scope_depth--;
    if (t->scope_depth < TG_SCOPE_DEPTH) t->scope[t->scope_len[t->scope_depth]] = '\0';
    t->scope_node = NULL;
}

const char *tg_tape_scope(const tg_tape *t) { return t ? t->scope : ""; }

const char *tg_tape_scope_for_node(tg_tape *t)
{
    if (!t) return "";
    if (!t->scope[0]) return "";
    if (!t->scope_node) {
        const size_t len = strlen(t->scope) + 1;
        char *copy = tg_tape_alloc(t, len);
        if (!copy) return "";
        memcpy(copy, t->scope, len);
        t->scope_node = copy;
    }
    return t->scope_node;
}

void tg_tape_set_backward_hook(tg_tape *t, tg_backward_hook fn, void *ctx)
{
    if (!t) return;
    t->hook = fn;
    t->hook_ctx = ctx;
}

/* ---- anomaly mode ---- */

void tg_set_detect_anomaly(tg_tape *t, bool on)
{
    if (t) t->detect_anomaly = on;
}

bool tg_detect_anomaly(const tg_tape *t) { return t && t->detect_anomaly; }

int tg_anomaly_check(tg_tape *t, const tg_node *n, int input)
{
    const tg_tensor *x = input < 0 ? n->out : n->inputs[input];
    const tg_real *v = input < 0 ? x->data : x->grad;
    if (!v) return 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < x->numel && bad < 0; i++)
        if (!isfinite((double)v[i])) bad = i;
    if (bad < 0) return 0;
    char s[TG_SHAPE_STR_LEN], where[96], what[96];
    const char *scope = n->scope && n->scope[0] ? n->scope : NULL;
    if (n->index >= 0) snprintf(where, sizeof where, "node %d", n->index);
    else snprintf(where, sizeof where, "not recorded");
    if (input < 0) snprintf(what, sizeof what, "its output");
    else if (n->input_names && n->input_names[input])
        snprintf(what, sizeof what, "the gradient of its input %d (%s)", input, n->input_names[input]);
    else snprintf(what, sizeof what, "the gradient of its input %d", input);
    tg_fail(t, "anomaly: %s%s (%s%s%.*s) produced %s in %s %s (first at flat index %lld)",
            input < 0 ? "" : "backward of ", n->op_name, where, scope ? ", layer " : "", scope ? TG_NAME_LEN * 2 : 0,
            scope ? scope : "", isnan((double)v[bad]) ? "NaN" : "Inf", what, tg_shape_str(x, s, sizeof s),
            (long long)bad);
    return -1;
}

/* ---- backward ---- */

/* Every recorded op output starts a call with no gradient (retained ones are put aside and
 * summed back afterwards), so nothing of an earlier call flows through the graph again. */
typedef struct retained {
    tg_tensor *tensor;
    tg_real *sum; /* the gradient summed over earlier calls (own memory, never a borrowed dy) */
} retained;

static tg_status clear_intermediates(tg_tape *t, retained **kept, int *n_kept)
{
    int count = 0;
    for (tg_node *n = t->last; n; n = n->prev)
        if (n->out->retains_grad && n->out->grad) count++;
    *kept = NULL;
    *n_kept = 0;
    if (count) {
        *kept = tg_tape_alloc(t, (size_t)count * sizeof **kept);
        if (!*kept) return TG_ERR_NOMEM;
    }
    for (tg_node *n = t->last; n; n = n->prev) {
        tg_tensor *y = n->out;
        if (y->retains_grad && y->grad) {
            tg_real *own = tg_tensor_grad(y); /* a borrowed dy is copied: the sum is written */
            if (!own) return TG_ERR_NOMEM;
            (*kept)[(*n_kept)++] = (retained){y, own};
        }
        y->grad = NULL;
        y->grad_borrowed = false;
    }
    return TG_OK;
}

static void restore_retained(retained *kept, int n_kept)
{
    for (int k = 0; k < n_kept; k++) {
        tg_tensor *y = kept[k].tensor;
        if (y->grad)
            for (int64_t i = 0; i < y->numel; i++) kept[k].sum[i] += y->grad[i];
        y->grad = kept[k].sum;
        y->grad_borrowed = false;
    }
}

/* Adds dy into out's gradient; a fresh tape gradient may borrow dy itself. */
static tg_status seed(tg_tensor *out, const tg_real *dy, bool borrow)
{
    if (!out->grad && out->tape && borrow) {
        out->grad = (tg_real *)dy; /* read-only while borrowed */
        out->grad_borrowed = true;
        return TG_OK;
    }
    if (!out->grad && out->tape) { /* a fresh gradient is dy: copied, not zeroed then added */
        out->grad = tg_tape_alloc_buffer(out->tape, (size_t)(out->numel ? out->numel : 1) * sizeof *out->grad);
        if (!out->grad) return TG_ERR_NOMEM;
        memcpy(out->grad, dy, (size_t)out->numel * sizeof *dy);
        return TG_OK;
    }
    tg_real *g = tg_tensor_grad(out);
    if (!g) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < out->numel; i++) g[i] += dy[i];
    return TG_OK;
}

/* Checks what one node's backward wrote: the gradients of its inputs. */
static int anomaly_after_backward(tg_tape *t, const tg_node *n)
{
    for (int i = 0; i < n->n_inputs; i++) {
        const tg_tensor *x = n->inputs[i];
        if (x && x->dtype == TG_REAL && x->grad && tg_anomaly_check(t, n, i) != 0) return -1;
    }
    return 0;
}

/* Once a node's backward has run, its output's gradient has reached every input and nothing
 * older reads it (creation order is topological), so the buffer can serve later gradients of
 * the same walk. A retained gradient (the caller reads it) or a borrowed dy is left alone. */
static void release_propagated_grad(tg_tape *t, tg_tensor *y)
{
    if (!y->grad || y->grad_borrowed || y->retains_grad || y->tape != t) return;
    tg_tape_release(t, y->grad, (size_t)(y->numel ? y->numel : 1) * sizeof(tg_real));
    y->grad = NULL;
}

static tg_status walk(tg_tape *t, tg_node *from)
{
    const unsigned failures = t->failures;
    for (tg_node *n = from; n; n = n->prev) {
        if (!n->out->grad || !n->backward) continue; /* no gradient reached this node */
        n->backward(t, n);
        if (t->failures != failures) return TG_ERR_STATE;
        if (t->detect_anomaly && anomaly_after_backward(t, n) != 0) return TG_ERR_NONFINITE;
        if (t->hook) t->hook(t->hook_ctx, n);
        if (t->release_grads) release_propagated_grad(t, n->out);
    }
    return TG_OK;
}

static const char *describe(const tg_tensor *x, char *buf, size_t size)
{
    char s[TG_SHAPE_STR_LEN];
    snprintf(buf, size, "%s%.*s%s%s", x->name[0] ? "'" : "", TG_NAME_LEN, x->name, x->name[0] ? "' " : "",
             tg_shape_str(x, s, sizeof s));
    return buf;
}

/* Checks every output before anything runs; NULL dys[i] means "seed 1" (one element only). */
static tg_status backward_checked(tg_tensor *const *outs, const tg_real *const *dys, int n, bool borrow,
                                  const char *who)
{
    tg_tape *t = NULL;
    for (int i = 0; i < n && !t; i++)
        if (outs && outs[i]) t = outs[i]->tape;
    if (t) t->has_call_error = false;
    if (!outs || n < 1) return refuse(t, TG_ERR_INVALID, "%s: no output given", who);
    const tg_real one = 1;
    for (int i = 0; i < n; i++) {
        tg_tensor *o = outs[i];
        char d[TG_SHAPE_STR_LEN + TG_NAME_LEN + 4];
        if (!o) return refuse(t, TG_ERR_INVALID, "%s: output %d is NULL", who, i);
        if (o->dtype != TG_REAL) return refuse(t, TG_ERR_INVALID, "%s: output %d is an int64 tensor", who, i);
        if (o->tape && o->tape != t)
            return refuse(t, TG_ERR_INVALID, "%s: outputs 0 and %d were made on different tapes", who, i);
        const tg_real *dy = dys ? dys[i] : NULL;
        if (!dy && o->numel != 1)
            return refuse(t, TG_ERR_INVALID, "%s: output %d must have one element to be seeded with 1, got %s "
                          "(give its gradient: tg_backward_with)", who, i, describe(o, d, sizeof d));
        if (!o->requires_grad)
            return refuse(t, TG_ERR_INVALID, "%s: output %d (%s) does not require a gradient: nothing it was "
                          "computed from requires one, or it was computed in no-grad mode", who, i,
                          describe(o, d, sizeof d));
    }
    if (t && t->has_error) return TG_ERR_STATE; /* an op failed: tg_error(t) keeps its message */

    retained *kept = NULL;
    int n_kept = 0;
    tg_status st = t ? clear_intermediates(t, &kept, &n_kept) : TG_OK;
    tg_node *from = NULL;
    for (int i = 0; i < n && st == TG_OK; i++) {
        const tg_real *dy = dys && dys[i] ? dys[i] : &one; /* `one` lives on this frame: never borrowed */
        /* an output listed again must not borrow: its gradient is added to */
        bool again = false;
        for (int k = 0; k < i; k++) again |= outs[k] == outs[i];
        st = seed(outs[i], dy, borrow && dy != &one && !again);
        if (outs[i]->node && (!from || outs[i]->node->index > from->index)) from = outs[i]->node;
    }
    if (st == TG_OK && from) st = walk(t, from);
    if (t) restore_retained(kept, n_kept);
    if (st == TG_ERR_NOMEM && t) tg_fail(t, "%s: out of memory for gradients", who);
    return st;
}

tg_status tg_backward_with(tg_tensor *out, const tg_real *dy)
{
    if (!dy) return refuse(out ? out->tape : NULL, TG_ERR_INVALID, "backward: dy is NULL");
    return backward_checked(&out, &dy, 1, true, "backward");
}

tg_status tg_backward(tg_tensor *loss)
{
    if (loss && loss->dtype == TG_REAL && loss->numel != 1) {
        char s[TG_SHAPE_STR_LEN];
        return refuse(loss->tape, TG_ERR_INVALID, "backward: loss must have one element, got %s "
                      "(use tg_backward_with for a gradient of its shape)", tg_shape_str(loss, s, sizeof s));
    }
    return backward_checked(&loss, NULL, 1, false, "backward");
}

tg_status tg_backward_many(tg_tensor *const *outs, const tg_real *const *dys, int n)
{
    return backward_checked(outs, dys, n, true, "backward_many");
}

/* ---- random stream: xoshiro256** seeded by splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tg_rng_seed(tg_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tg_rng_next(tg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t tmp = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= tmp;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_rng_uniform(tg_rng *r) { return (double)(tg_rng_next(r) >> 11) * 0x1.0p-53; }

double tg_rng_normal(tg_rng *r)
{
    /* Box–Muller; 1-u keeps the log argument in (0, 1]. */
    double u = 1.0 - tg_rng_uniform(r), v = tg_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint64_t tg_rng_below(tg_rng *r, uint64_t n)
{
    /* Rejection keeps it unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tg_rng_next(r);
    while (x >= limit);
    return x % n;
}

void tg_tape_seed(tg_tape *t, uint64_t seed)
{
    if (t) tg_rng_seed(&t->rng, seed);
}

double tg_tape_uniform(tg_tape *t) { return tg_rng_uniform(&t->rng); }
tg_rng *tg_tape_rng(tg_tape *t) { return t ? &t->rng : NULL; }
