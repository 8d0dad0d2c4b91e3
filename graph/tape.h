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

#include "api.h"
#include "error.h"
#include "tensor.h"

TG_API_BEGIN

#define TG_MAX_INPUTS 6
#define TG_ERROR_LEN 512

struct tg_op_desc; /* ops/op.h: the op table's descriptor; graph/ never looks inside */
struct tg_node;
struct tg_tape;

/* A node's backward: adds d(out) into the gradients of the inputs that need one. */
typedef void (*tg_backward_fn)(struct tg_tape *t, struct tg_node *n);
/* Writes a node's attributes as "stride=2,2 padding=1" (all of them, or those that differ from
 * the defaults) into buf; returns buf. */
typedef char *(*tg_node_attr_text_fn)(const struct tg_node *n, bool all_attrs, char *buf, size_t size);

/* One recorded op application. An op's forward and backward read inputs, out, attr and saved;
 * the op layer fills the rest when it applies the op. graph/ runs and names a node from these
 * fields alone, so it needs nothing from ops/. */
typedef struct tg_node {
    const struct tg_op_desc *op;
    const char *op_name;            /* "conv2d": messages, DOT */
    const char *const *input_names; /* the op's input names (n_inputs of them), or NULL */
    uint32_t nograd_inputs;         /* bit i: input i never receives a gradient */
    tg_backward_fn backward;        /* NULL: nothing to run backward */
    tg_node_attr_text_fn attr_text; /* NULL: the node has no attributes to show */
    int n_inputs;
    tg_tensor *inputs[TG_MAX_INPUTS]; /* optional inputs may be NULL */
    tg_tensor *out;
    void *attr;          /* the op's attribute struct (arena copy, defaults resolved) */
    void *saved;         /* what the forward kept for the backward (arena) */
    struct tg_node *prev; /* previous node in creation order */
    int index;           /* 0-based creation index (-1: applied but not recorded) */
    const char *scope;   /* module path that applied it ("features.3"), "" outside modules (arena) */
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
/* The tape's high-water mark: the most arena bytes in use at once (nodes, activations, saved
 * values, gradients, scratch) since the tape was made or since tg_tape_reset_peak; kept across
 * tg_tape_reset, so after a training loop it is the largest step's footprint. */
size_t tg_tape_peak(const tg_tape *t);
void tg_tape_reset_peak(tg_tape *t);

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

/* --- backward (tier 2): PyTorch's semantics with retain_graph=True ---
 *
 * Every call is one backward pass of its own. Leaves (tensors no recorded op made: parameters,
 * inputs) *accumulate*: after any sequence of calls, on any outputs, in any order, a leaf's grad
 * holds exactly the sum of the gradients of the separate calls. Intermediate tensors (op outputs)
 * start every call at zero, so no gradient of one call leaks into the next; after a call an
 * intermediate's grad holds that call's gradient only. tg_tensor_retain_grad(y) makes y keep the
 * sum over calls as a leaf does (PyTorch's y.retain_grad()). The graph stays usable until
 * tg_tape_reset(); each call takes fresh gradient buffers from the arena.
 *
 * Errors: a refused call (NULL, a non-scalar loss, an output that needs no gradient because
 * nothing it depends on requires one or it was made in no-grad mode, outputs of two tapes)
 * returns its status and its message is tg_error(tape) until the next call; it is not kept, so
 * later ops and backward calls on the tape work. TG_ERR_STATE when an op on the tape failed since
 * the last reset or tg_clear_error() (that message is kept). With anomaly mode on, a node whose
 * backward produced NaN or Inf stops the pass with TG_ERR_NONFINITE. */

/* Seeds d(loss) = 1 for a one-element loss and runs the recorded nodes backwards from it.
 * Gradients accumulate into leaves: zero parameters' grads between steps. */
tg_status tg_backward(tg_tensor *loss);
/* Same with an explicit upstream gradient dy of out's shape (numel values). A tape tensor's fresh
 * gradient is dy itself, not a copy (PyTorch's y.backward(dy) does not copy either): keep dy alive
 * and unchanged while out->grad is read, until the tape is reset. tapegrad never writes to it:
 * anything that adds to out's gradient later (a retained gradient, tg_tensor_zero_grad) first
 * gives out a gradient of its own. */
tg_status tg_backward_with(tg_tensor *out, const tg_real *dy);
/* One pass from several outputs at once (torch.autograd.backward(outs, dys)): the same as the
 * separate calls added up, in one walk. dys may be NULL, and so may dys[i], for one-element
 * outputs (seeded with 1). Every out must be on the same tape. An output listed twice gets both
 * seeds. TG_ERR_INVALID for n < 1 or any refused output (nothing is run then). */
tg_status tg_backward_many(tg_tensor *const *outs, const tg_real *const *dys, int n);

/* --- freeing gradients during the walk (training loops) ---
 * On (off by default), backward gives an intermediate's gradient buffer back to the arena as
 * soon as that node's backward has propagated it, so later gradients of the same walk reuse the
 * memory: a backward's peak is the live gradients, not all of them. An intermediate's grad is
 * then NULL after the call (as PyTorch's None), unless tg_tensor_retain_grad() asked to keep it;
 * leaves and parameters are unaffected. tg_train_epoch turns it on for its steps. */
void tg_tape_set_release_grads(tg_tape *t, bool on);
bool tg_tape_release_grads(const tg_tape *t);

/* --- a hook after each node's backward (data-parallel gradient buckets, progress) ---
 * fn(ctx, node) runs right after node's backward added into its inputs' gradients, in walk order
 * (newest node first). A parameter's gradient is final for this call once the oldest node reading
 * it has run, so a caller that knows those nodes can start reducing it while the walk goes on.
 * NULL removes it. Kept across tg_tape_reset. A model's training forward frees the activations
 * no backward reads (tg_tensor.backward_reads false): such a tensor's data is NULL here. */
typedef void (*tg_backward_hook)(void *ctx, const tg_node *node);
void tg_tape_set_backward_hook(tg_tape *t, tg_backward_hook fn, void *ctx);

/* --- anomaly mode (torch.autograd.detect_anomaly) ---
 * Off by default (it reads every value an op writes). When on, after each op's forward and each
 * node's backward the values written are checked; the first NaN or Inf makes that op fail with a
 * message naming the op, its node index, its module path (layer) and the shape:
 *   "anomaly: conv2d (node 3, layer features.0) produced NaN in its output [8,16,28,28]"
 *   "anomaly: backward of log (node 7, layer head) produced Inf in the gradient of input [4,10]"
 * (forward: the op returns NULL; backward: the pass stops with TG_ERR_NONFINITE). */
void tg_set_detect_anomaly(tg_tape *t, bool on);
bool tg_detect_anomaly(const tg_tape *t);

/* --- module scopes: which layer applied each op (DOT clusters, anomaly messages) ---
 * Modules push their name while they run; nested names join with dots ("features.3.conv").
 * Nodes applied inside record the path. Push/pop must pair; names are cut at TG_NAME_LEN. */
void tg_tape_push_scope(tg_tape *t, const char *name);
void tg_tape_pop_scope(tg_tape *t);
/* The current path ("" at top level). Valid until the next push/pop. */
const char *tg_tape_scope(const tg_tape *t);

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

TG_API_END

#endif
