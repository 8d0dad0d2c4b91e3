/* ops/op_internal.h — what tg_op_apply needs beyond the public op API: the tape's internal entry
 * points and the binding of a node to its op. Not part of the public API.
 */
#ifndef TG_OP_INTERNAL_H
#define TG_OP_INTERNAL_H

#include "../graph/tape_internal.h"
#include "op.h"

/* Fills the fields through which graph/ runs and names node n (op_name, input_names,
 * nograd_inputs, backward, attr_text) from descriptor d, and n->op itself. */
void tg_node_bind_op(tg_node *n, const tg_op_desc *d);

/* tg_input_grad for a backward that sets every element of the gradient: when the input's gradient
 * does not exist yet and would live in the arena, it is taken there unzeroed and *accumulate is
 * false (write dx = contribution: no zero-fill, no read); otherwise the buffer is tg_input_grad's
 * and *accumulate is true (dx += contribution). Only for a backward that writes all numel elements
 * once; a scatter (pooling, broadcast sums) keeps tg_input_grad. */
tg_real *tg_input_grad_to_write(tg_tape *t, tg_node *n, int i, bool *accumulate);
/* The same, but where input i's gradient would be a fresh tape buffer of the output's size and the
 * output's gradient would be released after this backward anyway (tg_tape_may_hand_over_grads;
 * not retained, not borrowed), the output's gradient buffer itself becomes the input's (node's
 * out->grad is then NULL: read dy before the call). For backward passes that write dx[j] only
 * after every read of dy[j] (elementwise at the same index): dx over dy saves a buffer and the
 * first touch of fresh memory. *accumulate as tg_input_grad_to_write's. */
tg_real *tg_input_grad_over_output(tg_tape *t, tg_node *n, int i, bool *accumulate);

#endif
