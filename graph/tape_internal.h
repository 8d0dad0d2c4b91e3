/* graph/tape_internal.h — the tape's entry points for the op layer (tg_op_apply) alone: linking a
 * node, giving it its scope, checking its values in anomaly mode. Not part of the public API
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

#endif
