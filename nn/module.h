/* nn/module.h — layers (modules) composed from the graph ops: parameters, buffers, forward,
 * train/eval, sequential containers, residual-add and channel-concat joins, initialisation and
 * named parameter iteration (`features.0.weight`).
 *
 * A module is one struct for every kind: an op layer keeps the op id and its attribute struct
 * (set by name through the op's attribute table, the same path as `tg op` and the model spec),
 * its parameters (weight, bias / gamma, beta) and buffers (BN running_mean, running_var); a
 * sequential keeps children. Layer names are the child's index ("0", "1", ...) unless given.
 *
 * Ownership: a module owns its parameters, buffers and children; tg_module_free() frees the
 * tree. Forward results live on the tape.
 *
 *   tg_rng rng; tg_rng_seed(&rng, 1);
 *   tg_module *net = tg_sequential("net");
 *   tg_sequential_add(net, tg_conv2d_layer(1, 6, 5, &rng));
 *   tg_sequential_add(net, tg_activation_layer("relu"));
 *   ...
 *   tg_tensor *logits = tg_module_forward(net, tape, x);   // NULL: tg_error(tape)
 *   tg_module_train(net, false);                            // eval: BN running stats, no dropout
 */
#ifndef TG_NN_MODULE_H
#define TG_NN_MODULE_H

#include "../graph/tape.h"
#include "../ops/op.h"

#define TG_MODULE_MAX_PARAMS 2
#define TG_MODULE_MAX_BUFFERS 2
#define TG_MODULE_ATTR_BYTES 512
#define TG_MODULE_MAX_FROM 4

typedef enum tg_module_kind {
    TG_MOD_OP,          /* a layer that applies one op: conv, linear, norm, pool, activation... */
    TG_MOD_DROPOUT,
    TG_MOD_SEQUENTIAL,
    TG_MOD_ADD,         /* current output + output of `from` (residual) */
    TG_MOD_CONCAT,      /* channels of the `from` outputs, in order ("." is the current one) */
} tg_module_kind;

typedef struct tg_module tg_module;
struct tg_module {
    tg_module_kind kind;
    char type[24];            /* spec keyword: "conv2d", "relu", "sequential", "add", ... */
    char name[TG_NAME_LEN];   /* the name within the parent */
    char id[TG_NAME_LEN];     /* id=NAME: the output can be referenced by joins; "" if none */
    int op;                   /* TG_MOD_OP: the op id */
    _Alignas(16) unsigned char attr[TG_MODULE_ATTR_BYTES]; /* the op's attribute struct */
    tg_tensor *params[TG_MODULE_MAX_PARAMS];   /* NULL when absent (bias=0, affine off) */
    const char *param_names[TG_MODULE_MAX_PARAMS];
    tg_tensor *buffers[TG_MODULE_MAX_BUFFERS];
    const char *buffer_names[TG_MODULE_MAX_BUFFERS];
    int n_params, n_buffers;
    bool training;
    double p;                 /* dropout probability */
    char from[TG_MODULE_MAX_FROM][TG_NAME_LEN];
    int n_from;
    tg_module **children;
    int n_children;
    int line;                 /* spec line (0 when built from C) */
};

/* ---- constructors (PyTorch's defaults; NULL on a bad argument or out of memory) ---- */
/* Weight and bias drawn as PyTorch's default: kaiming_uniform(a=sqrt(5)) (U(+-1/sqrt(fan_in)))
 * and bias U(+-1/sqrt(fan_in)) from rng. */
tg_module *tg_linear_layer(int64_t in, int64_t out, bool bias, tg_rng *rng);
/* conv1d/2d/3d (dims 1..3) with a square kernel; attributes (stride, padding, dilation, groups,
 * padding_mode) set afterwards with tg_module_set(). Weight [out, in/groups, k...]. */
tg_module *tg_conv_layer(int dims, int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng);
/* conv_transpose2d: weight [in, out/groups, k, k]. */
tg_module *tg_conv_transpose2d_layer(int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng);
/* batch_norm over C channels (any rank >= 2): gamma 1, beta 0, running mean 0 / var 1. */
tg_module *tg_batch_norm_layer(int64_t channels);
/* layer_norm over the last dims of normalized shape (n values). */
tg_module *tg_layer_norm_layer(int n, const int64_t *normalized_shape);
tg_module *tg_instance_norm_layer(int64_t channels, bool affine);
tg_module *tg_group_norm_layer(int64_t groups, int64_t channels);
/* A parameter-free op layer by op name ("relu", "max_pool2d", "flatten", ...); its attributes are
 * set with tg_module_set(). */
tg_module *tg_op_layer(const char *op_name);
tg_module *tg_dropout_layer(double p);
tg_module *tg_sequential(const char *name);
/* Joins: from is a comma list of ids ("a" or "a,b"). */
tg_module *tg_add_layer(const char *from);
tg_module *tg_concat_layer(const char *from);

/* Sets an op attribute by its PyTorch name ("stride", "2"); 0, or -1 with the reason in err. */
int tg_module_set(tg_module *m, const char *key, const char *value, char *err, size_t errsz);
/* Appends a child (the sequential takes ownership; named by its index unless already named).
 * Returns child, or NULL (child freed) when out of memory. */
tg_module *tg_sequential_add(tg_module *seq, tg_module *child);
void tg_module_free(tg_module *m);

/* Runs the module on x. NULL on error (the tape's message names the layer). */
tg_tensor *tg_module_forward(tg_module *m, tg_tape *t, tg_tensor *x);
/* The same, calling obs(ctx, layer, input, output) after every layer that is not a sequential
 * (summary and shape propagation use it). */
typedef void (*tg_module_observer)(void *ctx, tg_module *m, tg_tensor *in, tg_tensor *out);
tg_tensor *tg_module_forward_observed(tg_module *m, tg_tape *t, tg_tensor *x, tg_module_observer obs, void *ctx);
/* Train (true) or eval (false) mode for the module and every descendant. */
void tg_module_train(tg_module *m, bool training);

/* ---- parameters ---- */
typedef struct tg_named_tensor {
    char name[128];        /* "features.0.weight" */
    tg_tensor *tensor;
    bool is_buffer;        /* running statistics */
    tg_module *owner;
} tg_named_tensor;
/* Every parameter (and, with buffers, every buffer) in definition order, names joined by dots
 * from the children's names. Returns the count; fills up to max entries of out (out may be
 * NULL to count). */
int tg_module_named_tensors(tg_module *m, bool buffers, tg_named_tensor *out, int max);
/* Number of learnable values. */
int64_t tg_module_param_count(tg_module *m);

/* ---- initialisation ---- */
typedef enum tg_init_kind {
    TG_INIT_DEFAULT,        /* PyTorch's default (above) */
    TG_INIT_HE_NORMAL,      /* kaiming_normal, fan_in, relu: N(0, 2/fan_in); bias 0 */
    TG_INIT_HE_UNIFORM,     /* U(+-sqrt(6/fan_in)); bias 0 */
    TG_INIT_XAVIER_UNIFORM, /* U(+-sqrt(6/(fan_in+fan_out))); bias 0 */
    TG_INIT_XAVIER_NORMAL,  /* N(0, 2/(fan_in+fan_out)); bias 0 */
} tg_init_kind;
/* Re-initialises every conv/linear weight and bias in the tree. */
void tg_module_init(tg_module *m, tg_init_kind kind, tg_rng *rng);
/* fan_in, fan_out of a weight as PyTorch computes them (dim 1 * receptive, dim 0 * receptive). */
void tg_weight_fans(const tg_tensor *w, double *fan_in, double *fan_out);

/* The module at a dotted path ("features.0"), or NULL. */
tg_module *tg_module_find(tg_module *m, const char *path);

#endif
