/* graph/dot.h — Graphviz DOT of a tape's recorded graph.
 *
 * Op nodes are boxes labelled with the op name and its non-default attributes; tensors are
 * ellipses labelled with name and shape; parameters are drawn distinctly (filled); the loss /
 * root is highlighted; with backward edges, dashed edges show the gradient flow. The output
 * renders with `dot -Tsvg graph.dot -o graph.svg`.
 *
 * By default (opts NULL or zero-initialised) the graph also shows, read from the values at the
 * moment it is written (no anomaly mode needed):
 *   - the L2 norm of every gradient a tensor holds ("grad norm 1.766");
 *   - NaN/Inf: an op box is filled red when its output holds NaN or Inf ("NaN in forward";
 *     "(starts here)" when all its inputs are finite) or when the gradients of its inputs do
 *     ("Inf in backward"); a tensor holding them is filled red too ("NaN in values/grad");
 *   - one cluster per module path: ops applied inside "features.3.conv" sit in the cluster
 *     labelled "features.3.conv", nested in "features.3", nested in "features"; a parameter sits
 *     in the innermost cluster holding every op that reads it, other leaves outside;
 *   - bytes: each tensor's data and gradient ("data 24 B, grad 24 B"), and in the graph label
 *     the tape arena's bytes used and held and the total of the tensors drawn.
 * `hide` turns any of these off. Every label string is escaped (quotes, backslashes; other bytes
 * outside printable ASCII are shown as \xNN).
 *
 * Ownership: the tape and the tensors are only read. Names returned by tensor_name are copied
 * out before the next call.
 *
 *   tg_backward(loss);                               // gradients to show (optional)
 *   tg_dot_write(tape, loss, "step.dot", NULL);      // everything above
 *   tg_dot_opts o = {.hide = TG_DOT_BYTES | TG_DOT_CLUSTERS, .backward_edges = true};
 *   tg_dot_write(tape, loss, "plain.dot", &o);
 */
#ifndef TG_DOT_H
#define TG_DOT_H

#include <stdio.h>

#include "api.h"
#include "tape.h"

TG_API_BEGIN

/* Parts of the drawing that opts.hide can turn off (bits; all shown when hide is 0). */
enum {
    TG_DOT_GRAD_NORMS = 1u << 0, /* "grad norm X" in tensor labels */
    TG_DOT_NONFINITE = 1u << 1,  /* red nodes and tensors holding NaN/Inf */
    TG_DOT_CLUSTERS = 1u << 2,   /* module-path clusters */
    TG_DOT_BYTES = 1u << 3,      /* bytes per tensor and the tape's totals */
    TG_DOT_ALL_EXTRAS = TG_DOT_GRAD_NORMS | TG_DOT_NONFINITE | TG_DOT_CLUSTERS | TG_DOT_BYTES,
};

/* The name to print for tensor x (e.g. a parameter's full path "features.0.weight"), or NULL to
 * use x->name. ctx is opts.tensor_name_ctx. */
typedef const char *(*tg_dot_name_fn)(const tg_tensor *x, void *ctx);

typedef struct tg_dot_opts {
    bool backward_edges;        /* also draw dashed gradient edges */
    bool all_attrs;             /* print every attribute, not only non-defaults */
    const char *title;          /* first line of the graph label, may be NULL */
    unsigned hide;              /* TG_DOT_* parts not to draw; 0 draws them all */
    tg_dot_name_fn tensor_name; /* may be NULL: tensors' own names */
    void *tensor_name_ctx;
} tg_dot_opts;

/* Writes the nodes that `root` depends on (root NULL: every recorded node) to a stream/file.
 * opts NULL = defaults (all parts shown). TG_ERR_INVALID for a NULL tape (or stream / path),
 * TG_ERR_NOMEM, TG_ERR_IO when writing fails. */
tg_status tg_dot_fprint(FILE *f, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts);
tg_status tg_dot_write(const tg_tape *t, const tg_tensor *root, const char *path, const tg_dot_opts *opts);

TG_API_END

#endif
