/* graph/dot.c — Graphviz DOT of a tape's recorded graph (see dot.h).
 *
 * Every recorded node becomes a box (op name + non-default attributes) feeding an ellipse for its
 * output tensor; leaves (inputs, parameters, constants) are ellipses too. Which nodes to draw is
 * found in one pass over the creation order, newest first: a node is needed when its output is
 * the root or an input of a needed node (inputs are always older, so one pass suffices). */
#include "dot.h"

#include "../ops/op.h"

#include <stdlib.h>
#include <string.h>

/* Writes s as the inside of a DOT double-quoted string. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
}

static void put_tensor(FILE *f, const tg_tensor *x, const tg_tensor *root)
{
    char shape[TG_SHAPE_STR_LEN];
    tg_shape_str(x, shape, sizeof shape);
    fprintf(f, "  \"t%p\" [shape=ellipse, label=\"", (const void *)x);
    if (x->name[0]) {
        put_escaped(f, x->name);
        fputs("\\n", f);
    }
    fputs(shape, f);
    if (x->dtype == TG_INT64) fputs(" int64", f);
    fputc('"', f);
    if (x == root) fputs(", style=\"filled,bold\", fillcolor=\"#ffd8a8\", penwidth=2.5", f);
    else if (x->is_param) fputs(", style=filled, fillcolor=\"#a5d8ff\"", f);
    else if (!x->node && x->requires_grad) fputs(", style=filled, fillcolor=\"#e9ecef\"", f);
    else if (!x->node) fputs(", style=dashed", f); /* a constant leaf: no gradient */
    fputs("];\n", f);
}

/* Leaves may be shared by many nodes; each is drawn once. */
typedef struct seen_set {
    const tg_tensor **items;
    int n, cap;
} seen_set;

static int seen_add(seen_set *s, const tg_tensor *x)
{
    for (int i = 0; i < s->n; i++)
        if (s->items[i] == x) return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        const tg_tensor **bigger = realloc(s->items, sizeof *bigger * (size_t)cap);
        if (!bigger) return -1;
        s->items = bigger;
        s->cap = cap;
    }
    s->items[s->n++] = x;
    return 1;
}

static bool input_gets_grad(const tg_node *n, int i)
{
    const tg_tensor *x = n->inputs[i];
    return x && x->dtype == TG_REAL && x->requires_grad && !(n->op->nograd_inputs & (1u << i));
}

tg_status tg_dot_fprint(FILE *f, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts_in)
{
    if (!f || !t) return TG_ERR_INVALID;
    tg_dot_opts opts = opts_in ? *opts_in : (tg_dot_opts){0};
    int count = tg_tape_node_count(t);
    tg_node **nodes = calloc((size_t)(count ? count : 1), sizeof *nodes);
    bool *needed = calloc((size_t)(count ? count : 1), sizeof *needed);
    seen_set leaves = {0};
    tg_status st = TG_OK;
    if (!nodes || !needed) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (tg_node *n = tg_tape_last_node(t); n; n = n->prev)
        if (n->index >= 0 && n->index < count) nodes[n->index] = n;
    if (root && root->node && root->node->index < count && nodes[root->node->index] == root->node)
        needed[root->node->index] = true;
    for (int k = count - 1; k >= 0; k--) {
        if (!nodes[k]) continue;
        if (!root) needed[k] = true;
        if (!needed[k]) continue;
        for (int i = 0; i < nodes[k]->n_inputs; i++) {
            const tg_tensor *x = nodes[k]->inputs[i];
            if (x && x->node && x->node->index >= 0 && x->node->index < k) needed[x->node->index] = true;
        }
    }

    fputs("digraph tapegrad {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n",
          f);
    if (opts.title) {
        fputs("  label=\"", f);
        put_escaped(f, opts.title);
        fputs("\";\n  labelloc=t;\n", f);
    }
    if (root && !root->node) put_tensor(f, root, root); /* a leaf alone */
    for (int k = 0; k < count; k++) {
        tg_node *n = nodes[k];
        if (!n || !needed[k]) continue;
        int op_id = tg_op_find(n->op->name);
        char attrs[512] = "";
        if (op_id >= 0 && n->attr) tg_attr_format(op_id, n->attr, opts.all_attrs, attrs, sizeof attrs);
        fprintf(f, "  \"n%p\" [shape=box, style=\"rounded,filled\", fillcolor=\"#fff3bf\", label=\"", (void *)n);
        put_escaped(f, n->op->name);
        if (attrs[0]) {
            fputs("\\n", f);
            put_escaped(f, attrs);
        }
        fputs("\"];\n", f);
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (!x) continue;
            if (!x->node) {
                int added = seen_add(&leaves, x);
                if (added < 0) {
                    st = TG_ERR_NOMEM;
                    goto done;
                }
                if (added) put_tensor(f, x, root);
            }
            const char *in_name = n->op->input_names && n->op->input_names[i] ? n->op->input_names[i] : "";
            fprintf(f, "  \"t%p\" -> \"n%p\" [label=\"", (const void *)x, (void *)n);
            put_escaped(f, in_name);
            fputs("\"];\n", f);
            if (opts.backward_edges && input_gets_grad(n, i))
                fprintf(f, "  \"n%p\" -> \"t%p\" [style=dashed, color=\"#e03131\", constraint=false, arrowsize=0.6];\n",
                        (void *)n, (const void *)x);
        }
        put_tensor(f, n->out, root);
        fprintf(f, "  \"n%p\" -> \"t%p\";\n", (void *)n, (const void *)n->out);
        if (opts.backward_edges)
            fprintf(f, "  \"t%p\" -> \"n%p\" [style=dashed, color=\"#e03131\", constraint=false, arrowsize=0.6];\n",
                    (const void *)n->out, (void *)n);
    }
    fputs("}\n", f);
    if (ferror(f)) st = TG_ERR_IO;
done:
    free(leaves.items);
    free(nodes);
    free(needed);
    return st;
}

tg_status tg_dot_write(const tg_tape *t, const tg_tensor *root, const char *path, const tg_dot_opts *opts)
{
    if (!t || !path) return TG_ERR_INVALID;
    FILE *f = fopen(path, "w");
    if (!f) return TG_ERR_IO;
    tg_status st = tg_dot_fprint(f, t, root, opts);
    if (fclose(f) != 0 && st == TG_OK) st = TG_ERR_IO;
    return st;
}
