/* graph/tape.h — the graph of one step: an arena plus the nodes recorded in creation order.
 *
 * Every op takes the tape first. While grad mode is on and some input requires a gradient, the
 * op records a node; the list of nodes is in creation order, which is a topological order, so
 * tg_backward() walks it backwards calling each node's backward, which *adds* into its inputs'
 * gradients (a tensor used twice simply receives two contributions).
 *
 * Ownership: the tape owns every tensor, node and scratch buffer allocated during a step.
 * tg_tape_reset() rewinds the arena (keeping its memory: no malloc in the steady state);
 * tg_tape_free() releases it. Long-lived tensors (parameters) are never owned by a tape.
 *
 * Errors: an op given bad input returns NULL and the tape keeps the first message, e.g.
 * "conv2d: input has 3 channels but weight expects 4 (x=[8,3,28,28] w=[16,4,3,3])";
 * an op given NULL returns NULL, so a whole forward pass can be checked once at the end.
 *
 *   tg_tape *tape = tg_tape_new(0);
 *   for (int step = 0; step < 1000; step++) {
 *       tg_tape_reset(tape);
 *       tg_tensor *loss = tg_mse_loss(tape, tg_linear(tape, x, w, b), y);
 *       if (!loss) { fprintf(stderr, "%s\n", tg_error(tape)); break; }
 *       tg_tensor_zero_grad(w); tg_tensor_zero_grad(b);
 *       tg_backward(loss);
 *       ... update w, b ...
 *   }
 *   tg_tape_free(tape);
 */
#ifndef TG_TAPE_H
#define TG_TAPE_H

#include "error.h"
#include "tensor.h"

#define TG_MAX_INPUTS 6
#define TG_ERROR_LEN 512

struct tg_op_desc;

/* One recorded op application. */
typedef struct tg_node {
    const struct tg_op_desc *op;
    int n_inputs;
    tg_tensor *inputs[TG_MAX_INPUTS]; /* optional inputs may be NULL */
    tg_tensor *out;
    void *attr;          /* the op's attribute struct (arena copy, defaults resolved) */
    void *saved;         /* what the forward kept for the backward (arena) */
    struct tg_node *prev; /* previous node in creation order */
    int index;           /* 0-based creation index */
} tg_node;

typedef struct tg_tape tg_tape;

/* A new tape whose arena starts with initial_bytes (0: 1 MiB) and grows on demand.
 * NULL when out of memory. */
tg_tape *tg_tape_new(size_t initial_bytes);
void tg_tape_free(tg_tape *t);
/* Forgets every node and tape tensor, rewinds the arena and clears the error. The memory is
 * kept (merged into one block if the arena grew), so the next step allocates nothing. */
void tg_tape_reset(tg_tape *t);
/* Caps the arena at max_bytes in all (0: no cap). Past it ops fail with "arena full". */
void tg_tape_set_limit(tg_tape *t, size_t max_bytes);
/* Bytes allocated from the arena since the last reset, and bytes of memory held. */
size_t tg_tape_used(const tg_tape *t);
size_t tg_tape_capacity(const tg_tape *t);

/* Arena allocation, 64-byte aligned. On failure sets the tape's error and returns NULL.
 * tg_tape_alloc_zero also clears the memory. */
void *tg_tape_alloc(tg_tape *t, size_t bytes);
void *tg_tape_alloc_zero(tg_tape *t, size_t bytes);
/* A tape-owned tensor (uninitialised data); NULL with the tape's error set on bad shape/memory. */
tg_tensor *tg_tape_tensor(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
/* A tape-owned tensor of the same shape and dtype as `like`, zero-filled. */
tg_tensor *tg_tape_zeros_like(tg_tape *t, const tg_tensor *like);

/* --- errors (tier 1) --- */
/* The first error since the last reset, or NULL. */
const char *tg_error(const tg_tape *t);
/* Records an error unless one is already kept; returns NULL so ops can `return tg_fail(...)`. */
void *tg_fail(tg_tape *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void tg_clear_error(tg_tape *t);

/* --- grad mode --- */
/* Scopes nest: inside tg_no_grad_begin/end no node is recorded (inference, optimizer steps). */
void tg_no_grad_begin(tg_tape *t);
void tg_no_grad_end(tg_tape *t);
bool tg_grad_enabled(const tg_tape *t);

/* --- recorded graph --- */
tg_node *tg_tape_last_node(const tg_tape *t);
int tg_tape_node_count(const tg_tape *t);
/* Links a fully built node (arena memory) as the newest; used by tg_op_apply. */
void tg_tape_record(tg_tape *t, tg_node *n);

/* --- backward (tier 2) --- */
/* Seeds d(loss) = 1 for a one-element loss and runs every recorded node backwards.
 * TG_ERR_INVALID for NULL or a loss with more than one element; TG_ERR_STATE when the tape
 * holds an error. Gradients accumulate: zero parameters' grads between steps. */
tg_status tg_backward(tg_tensor *loss);
/* Same with an explicit upstream gradient dy of out's shape (numel values). A tape tensor's fresh
 * gradient is dy itself, not a copy (PyTorch's y.backward(dy) does not copy either): keep dy alive
 * and unchanged while out->grad is read, until the tape is reset. tapegrad never writes to it:
 * anything that adds to out's gradient later (another backward, tg_tensor_zero_grad) first gives
 * out a gradient of its own. */
tg_status tg_backward_with(tg_tensor *out, const tg_real *dy);

/* --- the tape's random stream (dropout, init helpers) --- */
void tg_tape_seed(tg_tape *t, uint64_t seed);
/* Uniform in [0, 1). */
double tg_tape_uniform(tg_tape *t);

/* A small, fast, seedable generator (xoshiro256**-style state, splitmix seeding) shared by the
 * tape, dropout, init and data shuffling. */
typedef struct tg_rng { uint64_t s[4]; } tg_rng;
void tg_rng_seed(tg_rng *r, uint64_t seed);
uint64_t tg_rng_next(tg_rng *r);
double tg_rng_uniform(tg_rng *r);               /* [0, 1) */
double tg_rng_normal(tg_rng *r);                /* N(0, 1) */
uint64_t tg_rng_below(tg_rng *r, uint64_t n);   /* uniform in [0, n), n > 0 */
tg_rng *tg_tape_rng(tg_tape *t);

#endif
