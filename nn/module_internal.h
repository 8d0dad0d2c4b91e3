/* nn/module_internal.h — the module struct, for nn/ itself (spec, summary, checkpoints, training)
 * and the tests. Users read modules through nn/module.h's functions; tapegrad.h does not include
 * this header.
 */
#ifndef TG_NN_MODULE_INTERNAL_H
#define TG_NN_MODULE_INTERNAL_H

#include "module.h"

typedef enum tg_module_kind {
    TG_MOD_OP,          /* a layer that applies one op: conv, linear, norm, pool, activation... */
    TG_MOD_DROPOUT,
    TG_MOD_SEQUENTIAL,
    TG_MOD_ADD,         /* current output + output of `from` (residual) */
    TG_MOD_CONCAT,      /* channels of the `from` outputs, in order ("." is the current one) */
} tg_module_kind;

struct tg_module {
    tg_module_kind kind;
    char type[24];            /* spec keyword: "conv2d", "relu", "sequential", "add", ... */
    char name[TG_NAME_LEN];   /* the name within the parent */
    char id[TG_NAME_LEN];     /* id=NAME: the output can be referenced by joins; "" if none */
    int op;                   /* TG_MOD_OP: the op id */
    _Alignas(16) unsigned char attr[TG_MODULE_ATTR_BYTES]; /* the op's attribute struct */
    tg_tensor *params[TG_MODULE_MAX_PARAMS];   /* in definition order (checkpoint order) */
    char param_names[TG_MODULE_MAX_PARAMS][TG_NAME_LEN]; /* the op input each one binds to */
    tg_tensor *buffers[TG_MODULE_MAX_BUFFERS];
    char buffer_names[TG_MODULE_MAX_BUFFERS][TG_NAME_LEN];
    uint32_t transient_buffers; /* bit i: buffer i is left out of tg_module_named_tensors (and
                                   so of checkpoints): BN's int64 num_batches_tracked */
    int n_params, n_buffers;
    bool training;
    double p;                 /* dropout probability */
    char from[TG_MODULE_MAX_FROM][TG_NAME_LEN]; /* joins; max_unpool: the max pool's id */
    int n_from;
    tg_module **children;
    int n_children;
    int line;                 /* spec line (0 when built from C) */
};

/* Children lo..hi-1 of the sequential seq on x (the output of child lo-1; the sequential's
 * input when lo == 0), as tg_module_forward runs them: a join in the range may name the id of
 * child lo-1 or of a child in the range, and "input" only when lo == 0. NULL on error. */
tg_tensor *tg_sequential_forward_range(tg_module *seq, tg_tape *t, tg_tensor *x, int lo, int hi);

#endif
