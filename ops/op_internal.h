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

#endif
