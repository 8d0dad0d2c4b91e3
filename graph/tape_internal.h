/* graph/tape_internal.h — the tape's entry points for the op layer (tg_op_apply): linking a
 * node, giving it its scope, checking its values in anomaly mode; and shapes-only tapes for the
 * spec parser. Not part of the public API
 * (tapegrad.h does not include it; the symbols are hidden in the library).
 */
#ifndef TG_TAPE_INTERNAL_H
#define TG_TAPE_INTERNAL_H

#include "tape.h"

/* Links a fully built node (arena memory) as the newest. */
void tg_tape_record(tg_tape *t, tg_node *n);
/* The current scope path as an arena string for a node (shared until the scope changes). */
const char *tg_tape_scope_for_node(tg_tape *t);
/* Anomaly mode's check: when node n's output values (input < 0) or the gradient of its input
 * `input` hold a NaN or Inf, records the message (see tg_set_detect_anomaly) and returns -1;
 * else 0. */
int tg_anomaly_check(tg_tape *t, const tg_node *n, int input);

/* ---- buffers released within a step (a planned arena) ----
 * A buffer whose last reader has run goes back to the tape and serves a later tensor or gradient
 * of the same step; tg_tape_reset forgets the list. Releasing must be the caller's proof that
 * nothing reads the buffer again (ASan builds poison it until it is handed out again). */
/* Arena memory for tensor data or a gradient: a released buffer that fits, else fresh memory. */
void *tg_tape_alloc_buffer(tg_tape *t, size_t bytes);
/* Gives back bytes at mem (arena memory of t). Ignored when the tape's list is full. */
void tg_tape_release(tg_tape *t, void *mem, size_t bytes);
/* Releases a tape tensor's data and sets it to NULL (a real tensor of t; anything else is
 * ignored). */
void tg_tape_release_tensor(tg_tape *t, tg_tensor *x);

/* ---- shape propagation ----
 * A shapes-only tape gives its tensors no data (data and idata NULL) and tg_op_apply runs each
 * op's shape function alone: a model's output shape, and every shape error, at no cost in time
 * or memory however large its activations (the spec parser checks each line so). Nothing may
 * read the values of such a tape's tensors. */
void tg_tape_set_shapes_only(tg_tape *t, bool on);
bool tg_tape_shapes_only(const tg_tape *t);

/* ---- a fused activation (no-grad forwards; the normalizations also recorded) ----
 * nn asks the op it is about to run (a convolution) to apply the elementwise activation of the
 * layer after it to its output, in the same per-plane pass as the bias: the activation layer's own
 * pass over memory is saved, and the result is bit for bit the two layers'. Only without
 * recording (no node then keeps the values before the activation): take returns "none" while grad
 * mode is on. An op that supports it takes (and so clears) the request first thing; nn clears it
 * again after the op, whatever happened. op and param: a tg_ew_unary and its parameter
 * (ops/kernels/elementwise.h). */
typedef struct tg_epilogue {
    bool on;
    int op;
    tg_real param;
} tg_epilogue;
void tg_tape_set_epilogue(tg_tape *t, tg_epilogue e);

/* Tells the tape that no max pool output's argmax will be read (tg_model_infer of a model without
 * unpooling: its intermediate tensors are never seen): while not recording, max pools then compute
 * the maxima alone (no index array written; tg_pool_indices of their outputs is NULL). */
void tg_tape_set_indices_unused(tg_tape *t, bool on);
bool tg_tape_indices_unused(const tg_tape *t);
tg_epilogue tg_tape_take_epilogue(tg_tape *t);
/* The same while recording too, for an op whose backward recomputes the values before the
 * activation from its own inputs (the normalizations: z = x̂·γ + β from x and the statistics) and
 * takes the activation's backward itself. */
tg_epilogue tg_tape_take_epilogue_recorded(tg_tape *t);

/* Whether a node's backward may hand its output's gradient over to an input as that input's fresh
 * gradient (tg_input_grad_over_output): intermediate gradients are released after their node
 * anyway (tg_tape_release_grads) and no backward hook will look at the node's output gradient. */
bool tg_tape_may_hand_over_grads(const tg_tape *t);

#endif
