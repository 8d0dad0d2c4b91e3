/* ops/node_op.c — binds a recorded node to its op descriptor. graph/ runs and labels nodes
 * through the plain fields this fills, so it never includes the op table (no graph <-> ops
 * include cycle). */
#include "op_internal.h"

/* DOT labels: the attributes through the op's table, found by name as the registry keys them
 * (the descriptor's name: op_name may say more, "batch_norm+relu" for a fused activation). */
static char *node_attr_text(const tg_node *n, bool all_attrs, char *buf, size_t size)
{
    if (size) buf[0] = '\0';
    int op_id = tg_op_find(n->op ? n->op->name : n->op_name);
    if (op_id >= 0 && n->attr) tg_attr_format(op_id, n->attr, all_attrs, buf, size);
    return buf;
}

void tg_node_bind_op(tg_node *n, const tg_op_desc *d)
{
    n->op = d;
    n->op_name = d->name;
    n->input_names = d->input_names;
    n->nograd_inputs = d->nograd_inputs;
    n->backward = d->backward;
    n->attr_text = d->attr_size ? node_attr_text : NULL;
}
