/* graph/dot.c — Graphviz DOT of a tape's recorded graph (see dot.h).
 *
 * Every recorded node becomes a box (op name + non-default attributes) feeding an ellipse for its
 * output tensor; leaves (inputs, parameters, constants) are ellipses too. Which nodes to draw is
 * found in one pass over the creation order, newest first: a node is needed when its output is
 * the root or an input of a needed node (inputs are always older, so one pass suffices).
 *
 * A second pass places every drawn item in a cluster (the module path of its node; a parameter
 * in the innermost cluster common to its readers) and does all the allocation, so the text is
 * written in one go afterwards: clusters nest as subgraphs, edges follow at the top level. */
#include "dot.h"
#include "tape_internal.h"


#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Significant digits of gradient norms: enough to compare two steps, short enough to read. */
#define DOT_NORM_DIGITS 4
/* Room for an op's attributes printed as "key=value ..." */
#define DOT_ATTR_TEXT_LEN 512
#define DOT_BYTES_UNIT 1024.0

#define COLOR_OP "#fff3bf"
#define COLOR_PARAM "#a5d8ff"
#define COLOR_LEAF_GRAD "#e9ecef"
#define COLOR_ROOT "#ffd8a8"
#define COLOR_NONFINITE "#ff8787"
#define COLOR_NONFINITE_PEN "#c92a2a"
#define COLOR_BACKWARD "#e03131"
#define COLOR_CLUSTER "#868e96"

enum { HAS_NAN = 1u << 0, HAS_INF = 1u << 1 };

/* ---- label text ---- */

/* Writes s[0..len) as the inside of a DOT double-quoted string. A newline stays a line break;
 * other bytes outside printable ASCII are shown as the text \xNN (Graphviz would reject invalid
 * UTF-8, and a control byte would be invisible). */
static void put_escaped_n(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c < 0x20 || c >= 0x7f) {
            fprintf(f, "\\\\x%02x", c); /* an escaped backslash, then the hex digits */
        } else {
            fputc(c, f);
        }
    }
}

static void put_escaped(FILE *f, const char *s) { put_escaped_n(f, s, strlen(s)); }

/* "24 B", "1.5 KiB", "3.1 MiB", "1.2 GiB" */
static void put_bytes(FILE *f, size_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < (size_t)DOT_BYTES_UNIT) {
        fprintf(f, "%zu B", bytes);
        return;
    }
    double v = (double)bytes / DOT_BYTES_UNIT;
    int u = 0;
    while (v >= DOT_BYTES_UNIT && u + 1 < (int)(sizeof units / sizeof *units)) {
        v /= DOT_BYTES_UNIT;
        u++;
    }
    fprintf(f, "%.1f %s", v, units[u]);
}

static const char *nonfinite_word(unsigned found)
{
    return found == (HAS_NAN | HAS_INF) ? "NaN/Inf" : (found & HAS_NAN) ? "NaN" : "Inf";
}

/* ---- what the values say ---- */

/* HAS_NAN / HAS_INF bits of the values (v may be NULL: none). */
static unsigned scan_nonfinite(const tg_real *v, int64_t n)
{
    unsigned found = 0;
    if (!v) return 0;
    for (int64_t i = 0; i < n && found != (HAS_NAN | HAS_INF); i++) {
        if (isnan(v[i])) found |= HAS_NAN;
        else if (isinf(v[i])) found |= HAS_INF;
    }
    return found;
}

/* L2 norm, scaled by the largest magnitude so that squares of large finite values (possible in
 * the double build) do not overflow into a false Inf. Non-finite values give NaN/Inf. */
static double l2_norm(const tg_real *g, int64_t n)
{
    double scale = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)g[i]);
        if (!(a <= scale)) scale = a; /* also takes NaN, which then propagates */
    }
    if (scale == 0 || !isfinite(scale)) return scale;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = (double)g[i] / scale;
        sum += r * r;
    }
    return scale * sqrt(sum);
}

static size_t data_bytes(const tg_tensor *x)
{
    return (size_t)x->numel * (x->dtype == TG_INT64 ? sizeof(int64_t) : sizeof(tg_real));
}

/* A tape tensor whose values went back to the arena once no layer or backward read them. */
static bool freed(const tg_tensor *x)
{
    return x->tape && x->dtype == TG_REAL && x->numel > 0 && !x->data && !tg_tape_shapes_only(x->tape);
}

static size_t grad_bytes(const tg_tensor *x) { return x->grad ? (size_t)x->numel * sizeof(tg_real) : 0; }

/* ---- clusters: one per module path prefix ("features", "features.3", "features.3.conv") ---- */

typedef struct dot_cluster {
    const char *path; /* a node's scope; the cluster's path is its first len bytes */
    size_t len;
    int parent; /* -1: top level */
    int depth;
} dot_cluster;

typedef struct cluster_set {
    dot_cluster *items;
    int n, cap;
} cluster_set;

/* The cluster of scope `path` (-1 for ""), adding it and its ancestors when new; -2 when out of
 * memory. Empty path segments ("a..b") make no cluster of their own. */
static int cluster_for(cluster_set *s, const char *path)
{
    int cur = -1;
    size_t seg_start = 0;
    for (size_t e = 0;; e++) {
        if (path[e] != '.' && path[e] != '\0') continue;
        if (e > seg_start) {
            int found = -1;
            for (int i = 0; i < s->n && found < 0; i++)
                if (s->items[i].parent == cur && s->items[i].len == e && !memcmp(s->items[i].path, path, e)) found = i;
            if (found < 0) {
                if (s->n == s->cap) {
                    int cap = s->cap ? 2 * s->cap : 16;
                    dot_cluster *bigger = realloc(s->items, sizeof *bigger * (size_t)cap);
                    if (!bigger) return -2;
                    s->items = bigger;
                    s->cap = cap;
                }
                int depth = cur < 0 ? 0 : s->items[cur].depth + 1;
                s->items[s->n] = (dot_cluster){path, e, cur, depth};
                found = s->n++;
            }
            cur = found;
        }
        if (path[e] == '\0') return cur;
        seg_start = e + 1;
    }
}

/* The innermost cluster holding both a and b (-1: top level). */
static int common_cluster(const cluster_set *s, int a, int b)
{
    while (a != b) {
        if (a < 0 || b < 0) return -1;
        if (s->items[a].depth >= s->items[b].depth) a = s->items[a].parent;
        else b = s->items[b].parent;
    }
    return a;
}

static char cluster_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
}

static bool same_cluster_id(const dot_cluster *a, const dot_cluster *b)
{
    if (a->len != b->len) return false;
    for (size_t i = 0; i < a->len; i++)
        if (cluster_id_char(a->path[i]) != cluster_id_char(b->path[i])) return false;
    return true;
}

/* "cluster_features_3" (Graphviz draws a box around subgraphs named cluster*). Two paths that
 * read the same here ("a.b", "a_b") must stay two boxes: the later one gets "#index". */
static void put_cluster_id(FILE *f, const cluster_set *s, int c)
{
    fputs("cluster_", f);
    for (size_t i = 0; i < s->items[c].len; i++) fputc(cluster_id_char(s->items[c].path[i]), f);
    for (int j = 0; j < c; j++)
        if (same_cluster_id(&s->items[j], &s->items[c])) {
            fprintf(f, "#%d", c);
            break;
        }
}

/* ---- leaves: drawn once, however many nodes read them ---- */

typedef struct dot_leaf {
    const tg_tensor *x;
    int cluster;
} dot_leaf;

typedef struct leaf_set {
    dot_leaf *items;
    int n, cap;
} leaf_set;

/* Adds x (or narrows its cluster to one that also holds `cluster`); -1 when out of memory. */
static int leaf_add(leaf_set *s, const cluster_set *clusters, const tg_tensor *x, int cluster)
{
    for (int i = 0; i < s->n; i++)
        if (s->items[i].x == x) {
            s->items[i].cluster = common_cluster(clusters, s->items[i].cluster, cluster);
            return 0;
        }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        dot_leaf *bigger = realloc(s->items, sizeof *bigger * (size_t)cap);
        if (!bigger) return -1;
        s->items = bigger;
        s->cap = cap;
    }
    s->items[s->n++] = (dot_leaf){x, cluster};
    return 0;
}

/* ---- writing ---- */

typedef struct dot_writer {
    FILE *f;
    tg_dot_opts opts;
    const tg_tensor *root;
    tg_node **nodes; /* by creation index */
    bool *needed;
    int *node_cluster;
    int count;
    leaf_set leaves;
    cluster_set clusters;
} dot_writer;

static bool shows(const dot_writer *w, unsigned part) { return !(w->opts.hide & part); }

/* x is the output of a node this drawing has (else it is drawn as a leaf). */
static bool is_drawn_output(const dot_writer *w, const tg_tensor *x)
{
    const tg_node *n = x->node;
    return n && n->index >= 0 && n->index < w->count && w->nodes[n->index] == n && w->needed[n->index];
}

static void put_tensor(const dot_writer *w, const tg_tensor *x)
{
    FILE *f = w->f;
    char shape[TG_SHAPE_STR_LEN];
    tg_shape_str(x, shape, sizeof shape);
    const char *name = w->opts.tensor_name ? w->opts.tensor_name(x, w->opts.tensor_name_ctx) : NULL;
    if (!name) name = x->name;
    fprintf(f, "  \"t%p\" [shape=ellipse, label=\"", (const void *)x);
    if (name[0]) {
        put_escaped(f, name);
        fputs("\\n", f);
    }
    fputs(shape, f);
    if (x->dtype == TG_INT64) fputs(" int64", f);
    bool real = x->dtype == TG_REAL;
    if (real && x->grad && shows(w, TG_DOT_GRAD_NORMS)) {
        double norm = l2_norm(x->grad, x->numel);
        if (isfinite(norm)) fprintf(f, "\\ngrad norm %.*g", DOT_NORM_DIGITS, norm);
        else fprintf(f, "\\ngrad norm %s", isnan(norm) ? "NaN" : "Inf"); /* not printf's "-nan" */
    }
    if (shows(w, TG_DOT_BYTES)) {
        fputs("\\ndata ", f);
        if (freed(x)) fputs("freed (no backward reads it)", f);
        else put_bytes(f, data_bytes(x));
        if (x->grad) {
            fputs(", grad ", f);
            put_bytes(f, grad_bytes(x));
        }
    }
    unsigned bad_values = 0, bad_grad = 0;
    if (real && shows(w, TG_DOT_NONFINITE)) {
        bad_values = scan_nonfinite(x->data, x->numel);
        bad_grad = scan_nonfinite(x->grad, x->numel);
        if (bad_values) fprintf(f, "\\n%s in values", nonfinite_word(bad_values));
        if (bad_grad) fprintf(f, "\\n%s in grad", nonfinite_word(bad_grad));
    }
    fputc('"', f);
    const bool bad = bad_values || bad_grad;
    const char *fill = bad ? COLOR_NONFINITE : NULL;
    if (x == w->root) fprintf(f, ", style=\"filled,bold\", fillcolor=\"%s\", penwidth=2.5", fill ? fill : COLOR_ROOT);
    else if (x->is_param) fprintf(f, ", style=filled, fillcolor=\"%s\"", fill ? fill : COLOR_PARAM);
    else if (!x->node && x->requires_grad) fprintf(f, ", style=filled, fillcolor=\"%s\"", fill ? fill : COLOR_LEAF_GRAD);
    else if (!x->node) fprintf(f, ", style=%s", fill ? "\"filled,dashed\", fillcolor=\"" COLOR_NONFINITE "\"" : "dashed"); /* a constant leaf: no gradient */
    else if (fill) fprintf(f, ", style=filled, fillcolor=\"%s\"", fill);
    if (bad) fputs(", color=\"" COLOR_NONFINITE_PEN "\"", f);
    fputs("];\n", f);
}

static void put_op(const dot_writer *w, const tg_node *n)
{
    FILE *f = w->f;
    char attrs[DOT_ATTR_TEXT_LEN] = "";
    if (n->attr_text && n->attr) n->attr_text(n, w->opts.all_attrs, attrs, sizeof attrs);
    /* forward: the output's values; backward: what this node's backward wrote, its inputs'
     * gradients (a gradient shared with another reader of the same input shows in both) */
    unsigned forward = 0, backward = 0, inputs_bad = 0;
    bool inputs_freed = false; /* an input's values went back to the arena (nn frees what no backward reads) */
    if (shows(w, TG_DOT_NONFINITE)) {
        forward = scan_nonfinite(n->out->data, n->out->numel);
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (!x || x->dtype != TG_REAL) continue;
            backward |= scan_nonfinite(x->grad, x->numel);
            if (forward) inputs_bad |= scan_nonfinite(x->data, x->numel);
            inputs_freed |= freed(x);
        }
    }
    fprintf(f, "  \"n%p\" [shape=box, style=\"rounded,filled\", fillcolor=\"%s\", label=\"", (const void *)n,
            forward || backward ? COLOR_NONFINITE : COLOR_OP);
    put_escaped(f, n->op_name);
    if (attrs[0]) {
        fputs("\\n", f);
        put_escaped(f, attrs);
    }
    /* "starts here" only when every input could be checked clean */
    if (forward) fprintf(f, "\\n%s in forward%s", nonfinite_word(forward), inputs_bad || inputs_freed ? "" : " (starts here)");
    if (backward) fprintf(f, "\\n%s in backward", nonfinite_word(backward));
    fputc('"', f);
    if (forward || backward) fprintf(f, ", color=\"%s\", penwidth=%s", COLOR_NONFINITE_PEN, forward && !inputs_bad ? "3" : "1.5");
    fputs("];\n", f);
}

/* The leaves, ops and op outputs placed in cluster c (-1: top level). */
static void put_items(const dot_writer *w, int c)
{
    for (int i = 0; i < w->leaves.n; i++)
        if (w->leaves.items[i].cluster == c) put_tensor(w, w->leaves.items[i].x);
    for (int k = 0; k < w->count; k++) {
        if (!w->nodes[k] || !w->needed[k] || w->node_cluster[k] != c) continue;
        put_op(w, w->nodes[k]);
        put_tensor(w, w->nodes[k]->out);
    }
}

static void put_cluster(const dot_writer *w, int c)
{
    FILE *f = w->f;
    const dot_cluster *cl = &w->clusters.items[c];
    fputs("  subgraph \"", f);
    put_cluster_id(f, &w->clusters, c);
    fputs("\" {\n  label=\"", f);
    put_escaped_n(f, cl->path, cl->len);
    fputs("\"; labeljust=l; style=\"rounded,dashed\"; color=\"" COLOR_CLUSTER "\"; fontcolor=\"" COLOR_CLUSTER "\";\n", f);
    put_items(w, c);
    for (int j = c + 1; j < w->clusters.n; j++) /* children are always added after their parent */
        if (w->clusters.items[j].parent == c) put_cluster(w, j);
    fputs("  }\n", f);
}

static void put_edges(const dot_writer *w)
{
    FILE *f = w->f;
    for (int k = 0; k < w->count; k++) {
        const tg_node *n = w->nodes[k];
        if (!n || !w->needed[k]) continue;
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (!x) continue;
            const char *in_name = n->input_names && n->input_names[i] ? n->input_names[i] : "";
            fprintf(f, "  \"t%p\" -> \"n%p\" [label=\"", (const void *)x, (const void *)n);
            put_escaped(f, in_name);
            fputs("\"];\n", f);
            bool gets_grad = x->dtype == TG_REAL && x->requires_grad && !(n->nograd_inputs & (1u << i));
            if (w->opts.backward_edges && gets_grad)
                fprintf(f, "  \"n%p\" -> \"t%p\" [style=dashed, color=\"" COLOR_BACKWARD "\", constraint=false, arrowsize=0.6];\n",
                        (const void *)n, (const void *)x);
        }
        fprintf(f, "  \"n%p\" -> \"t%p\";\n", (const void *)n, (const void *)n->out);
        if (w->opts.backward_edges)
            fprintf(f, "  \"t%p\" -> \"n%p\" [style=dashed, color=\"" COLOR_BACKWARD "\", constraint=false, arrowsize=0.6];\n",
                    (const void *)n->out, (const void *)n);
    }
}

/* Marks the nodes the root depends on (every node when root is NULL). */
static void mark_needed(dot_writer *w)
{
    const tg_tensor *root = w->root;
    if (root && root->node && root->node->index >= 0 && root->node->index < w->count &&
        w->nodes[root->node->index] == root->node)
        w->needed[root->node->index] = true;
    for (int k = w->count - 1; k >= 0; k--) {
        if (!w->nodes[k]) continue;
        if (!root) w->needed[k] = true;
        if (!w->needed[k]) continue;
        for (int i = 0; i < w->nodes[k]->n_inputs; i++) {
            const tg_tensor *x = w->nodes[k]->inputs[i];
            if (x && x->node && x->node->index >= 0 && x->node->index < k && w->nodes[x->node->index] == x->node)
                w->needed[x->node->index] = true;
        }
    }
}

/* Places every drawn node and leaf in a cluster; all the allocation happens here. */
static tg_status place(dot_writer *w)
{
    for (int k = 0; k < w->count; k++) {
        const tg_node *n = w->nodes[k];
        if (!n || !w->needed[k]) continue;
        int c = -1;
        if (shows(w, TG_DOT_CLUSTERS) && n->scope) c = cluster_for(&w->clusters, n->scope);
        if (c < -1) return TG_ERR_NOMEM;
        w->node_cluster[k] = c;
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (!x || is_drawn_output(w, x)) continue;
            /* a parameter belongs to the layer that reads it; inputs and constants stay outside */
            if (leaf_add(&w->leaves, &w->clusters, x, x->is_param ? c : -1) != 0) return TG_ERR_NOMEM;
        }
    }
    if (w->root && !is_drawn_output(w, w->root) && leaf_add(&w->leaves, &w->clusters, w->root, -1) != 0)
        return TG_ERR_NOMEM; /* a leaf alone */
    return TG_OK;
}

static size_t drawn_tensor_bytes(const dot_writer *w)
{
    size_t total = 0;
    for (int i = 0; i < w->leaves.n; i++) total += data_bytes(w->leaves.items[i].x) + grad_bytes(w->leaves.items[i].x);
    for (int k = 0; k < w->count; k++)
        if (w->nodes[k] && w->needed[k]) total += data_bytes(w->nodes[k]->out) + grad_bytes(w->nodes[k]->out);
    return total;
}

static void put_graph_label(const dot_writer *w, const tg_tape *t)
{
    FILE *f = w->f;
    const bool bytes = shows(w, TG_DOT_BYTES);
    if (!w->opts.title && !bytes) return;
    fputs("  label=\"", f);
    if (w->opts.title) put_escaped(f, w->opts.title);
    if (w->opts.title && bytes) fputs("\\n", f);
    if (bytes) {
        fputs("tape arena: ", f);
        put_bytes(f, tg_tape_used(t));
        fputs(" used of ", f);
        put_bytes(f, tg_tape_capacity(t));
        fputs(" held; tensors drawn: ", f);
        put_bytes(f, drawn_tensor_bytes(w));
    }
    fputs("\";\n  labelloc=t;\n", f);
}

tg_status tg_dot_fprint(FILE *f, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts)
{
    if (!f || !t) return TG_ERR_INVALID;
    dot_writer w = {.f = f, .opts = opts ? *opts : (tg_dot_opts){0}, .root = root, .count = tg_tape_node_count(t)};
    const size_t slots = (size_t)(w.count ? w.count : 1);
    w.nodes = calloc(slots, sizeof *w.nodes);
    w.needed = calloc(slots, sizeof *w.needed);
    w.node_cluster = calloc(slots, sizeof *w.node_cluster);
    tg_status st = TG_ERR_NOMEM;
    if (!w.nodes || !w.needed || !w.node_cluster) goto done;
    for (tg_node *n = tg_tape_last_node(t); n; n = n->prev)
        if (n->index >= 0 && n->index < w.count) w.nodes[n->index] = n;
    mark_needed(&w);
    if ((st = place(&w)) != TG_OK) goto done;

    fputs("digraph tapegrad {\n  rankdir=TB;\n  graph [fontname=\"Helvetica\", fontsize=12];\n  node [fontname=\"Helvetica\", fontsize=11];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n",
          f);
    put_graph_label(&w, t);
    put_items(&w, -1);
    for (int c = 0; c < w.clusters.n; c++)
        if (w.clusters.items[c].parent < 0) put_cluster(&w, c);
    put_edges(&w);
    fputs("}\n", f);
    st = ferror(f) ? TG_ERR_IO : TG_OK;
done:
    free(w.leaves.items);
    free(w.clusters.items);
    free(w.nodes);
    free(w.needed);
    free(w.node_cluster);
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
