/* graph/dot.h — Graphviz DOT of a tape's recorded graph.
 *
 * Op nodes are boxes labelled with the op name and its non-default attributes; tensors are
 * ellipses labelled with name and shape; parameters are drawn distinctly (filled); the loss /
 * root is highlighted; with backward edges, dashed edges show the gradient flow. The output
 * renders with `dot -Tsvg graph.dot -o graph.svg`.
 *
 *   tg_dot_write(tape, loss, "step.dot", NULL);
 */
#ifndef TG_DOT_H
#define TG_DOT_H

#include <stdio.h>

#include "tape.h"

typedef struct tg_dot_opts {
    bool backward_edges; /* also draw dashed gradient edges */
    bool all_attrs;      /* print every attribute, not only non-defaults */
    const char *title;   /* graph label, may be NULL */
} tg_dot_opts;

/* Writes the nodes that `root` depends on (root NULL: every recorded node) to a stream/file.
 * opts NULL = defaults. TG_ERR_INVALID for a NULL tape, TG_ERR_IO when the file fails. */
tg_status tg_dot_fprint(FILE *f, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts);
tg_status tg_dot_write(const tg_tape *t, const tg_tensor *root, const char *path, const tg_dot_opts *opts);

#endif
