/* graph/tape.c — arena, node list, first-error record, grad mode, backward, random stream. */
#include "tape.h"

#include "../ops/op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_ALIGN 64
#define TG_DEFAULT_ARENA ((size_t)1 << 20)

/* The arena is a chain of blocks; allocation bumps within the newest. reset() merges a grown
 * chain into one block of the total size, so after the first step a step never mallocs. */
typedef struct block {
    struct block *next;
    size_t size, used;
    unsigned char *mem; /* TG_ALIGN-aligned */
} block;

struct tg_tape {
    block *head;        /* block being filled */
    block *first;       /* first block (chain order for reset) */
    size_t held;        /* bytes held in all blocks */
    size_t used;        /* bytes handed out since reset */
    size_t limit;       /* 0 = none */
    tg_node *last;
    int n_nodes;
    int no_grad_depth;
    bool has_error;
    char error[TG_ERROR_LEN];
    tg_rng rng;
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
    if (!t) return NULL;
    t->first = t->head = block_new(initial_bytes ? initial_bytes : TG_DEFAULT_ARENA);
    if (!t->head) {
        free(t);
        return NULL;
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
    for (block *b = t->first; b; b = b->next) b->used = 0;
    t->head = t->first;
    t->used = 0;
    t->last = NULL;
    t->n_nodes = 0;
    t->no_grad_depth = 0;
    t->has_error = false;
    t->error[0] = '\0';
}

void tg_tape_set_limit(tg_tape *t, size_t max_bytes)
{
    if (t) t->limit = max_bytes;
}

size_t tg_tape_used(const tg_tape *t) { return t ? t->used : 0; }
size_t tg_tape_capacity(const tg_tape *t) { return t ? t->held : 0; }

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
    void *mem = tg_tape_alloc(t, (size_t)(n ? n : 1) * es);
    if (!mem) return NULL;
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
    if (x) memset(x->data, 0, (size_t)x->numel * (x->dtype == TG_INT64 ? sizeof(int64_t) : sizeof(tg_real)));
    return x;
}

const char *tg_error(const tg_tape *t)
{
    if (!t) return "no tape";
    return t->has_error ? t->error : NULL;
}

void *tg_fail(tg_tape *t, const char *fmt, ...)
{
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

static tg_status run_backward(tg_tensor *out)
{
    tg_tape *t = out->tape;
    /* Walk from the node that made `out` back to the start: nodes recorded after it cannot
     * contribute to its gradient. */
    for (tg_node *n = out->node; n; n = n->prev) {
        if (!n->out->grad || !n->op->backward) continue; /* no gradient reached this node */
        n->op->backward(t, n);
        if (t->has_error) return TG_ERR_STATE;
    }
    return TG_OK;
}

/* Seeds out's gradient with dy and runs backward. borrow: a fresh gradient is dy itself, not a
 * copy (only read from then on: tg_tensor_grad copies it before anything adds to it). */
static tg_status backward_seeded(tg_tensor *out, const tg_real *dy, bool borrow)
{
    if (!out || !dy || out->dtype != TG_REAL) return TG_ERR_INVALID;
    if (out->tape && out->tape->has_error) return TG_ERR_STATE;
    if (!out->grad && out->tape && borrow) {
        out->grad = (tg_real *)dy; /* read-only while borrowed */
        out->grad_borrowed = true;
    } else if (!out->grad && out->tape) { /* a fresh gradient is dy: copied, not zeroed then added */
        out->grad = tg_tape_alloc(out->tape, (size_t)(out->numel ? out->numel : 1) * sizeof *out->grad);
        if (!out->grad) return TG_ERR_NOMEM;
        memcpy(out->grad, dy, (size_t)out->numel * sizeof *dy);
    } else {
        tg_real *g = tg_tensor_grad(out);
        if (!g) return TG_ERR_NOMEM;
        for (int64_t i = 0; i < out->numel; i++) g[i] += dy[i];
    }
    if (!out->node) return TG_OK; /* a leaf: its gradient is dy itself */
    return run_backward(out);
}

tg_status tg_backward_with(tg_tensor *out, const tg_real *dy) { return backward_seeded(out, dy, true); }

tg_status tg_backward(tg_tensor *loss)
{
    if (!loss || loss->dtype != TG_REAL || loss->numel != 1) {
        if (loss && loss->tape) {
            char s[TG_SHAPE_STR_LEN];
            tg_fail(loss->tape, "backward: loss must have one element, got %s",
                    tg_shape_str(loss, s, sizeof s));
        }
        return TG_ERR_INVALID;
    }
    const tg_real one = 1; /* on this stack frame: copied, never borrowed */
    return backward_seeded(loss, &one, false);
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
