/* nn/module.h — layers (modules) composed from the graph ops: parameters, buffers, forward,
 * train/eval, sequential containers, residual-add and channel-concat joins, initialisation and
 * named parameter iteration (`features.0.weight`).
 *
 * A module is one struct for every kind: an op layer keeps the op id and its attribute struct
 * (set by name through the op's attribute table, the same path as `tg op` and the model spec),
 * its parameters (weight, bias / gamma, beta) and buffers (BN running_mean, running_var); a
 * sequential keeps children. Layer names are the child's index ("0", "1", ...) unless given.
 *
 * The binding rule (one for every op layer, user ops included): the layer's input is the op's
 * input 0; every later input i is the layer's parameter or buffer named like the op's declared
 * input name (tg_op_desc.input_names: batch_norm = input, running_mean, running_var, weight,
 * bias), or NULL when the layer has none of that name. A missing required input, or a tensor
 * whose name matches no input of the op, is an error naming the layer, op and name. The one
 * input that is not a tensor the layer owns is `indices` (max_unpool*): the argmax of the
 * max-pool output whose layer has the id given in `from`.
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

#include "../graph/api.h"
#include "../graph/tape.h"
#include "../ops/conv.h"
#include "../ops/op.h"

TG_API_BEGIN

#define TG_MODULE_MAX_PARAMS 4   /* weight, bias, ... (user op layers may add more up to this) */
#define TG_MODULE_MAX_BUFFERS 4  /* running_mean, running_var, num_batches_tracked, ... */
#define TG_MODULE_ATTR_BYTES 512
#define TG_MODULE_MAX_FROM 4

/* A layer or container. Opaque: read it through the functions below; the struct is internal
 * (nn/module_internal.h). */
typedef struct tg_module tg_module;

/* ---- constructors (PyTorch's defaults): NULL on a bad argument or out of memory, with the reason
 * in tg_last_error() ("conv layer: in=3 and out=8 must be divisible by groups=2") ---- */
/* Weight and bias drawn as PyTorch's default: kaiming_uniform(a=sqrt(5)) (U(+-1/sqrt(fan_in)))
 * and bias U(+-1/sqrt(fan_in)) from rng (rng NULL: zeros). */
tg_module *tg_linear_layer(int64_t in, int64_t out, bool bias, tg_rng *rng);
/* conv1d/2d/3d (dims 1..3), kernel[dims] sizes per spatial dim (`kernel=3,1`): weight
 * [out, in/groups, k...], bias [out]. Attributes (stride, padding incl. "same"/"valid",
 * dilation, padding_mode) are set afterwards with tg_module_set(). */
tg_module *tg_conv_layer_nd(int dims, int64_t in, int64_t out, const int64_t *kernel, int64_t groups, bool bias,
                            tg_rng *rng);
/* The same with a square (cubic) kernel of size kernel in every dim. */
tg_module *tg_conv_layer(int dims, int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng);
/* conv_transpose1d/2d/3d: weight [in, out/groups, k...], bias [out]; stride, padding,
 * output_padding, dilation set with tg_module_set(). */
tg_module *tg_conv_transpose_layer_nd(int dims, int64_t in, int64_t out, const int64_t *kernel, int64_t groups,
                                      bool bias, tg_rng *rng);
/* conv_transpose2d with a square kernel. */
tg_module *tg_conv_transpose2d_layer(int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng);
/* locally_connected2d (unshared 2-D convolution; torch has no module): input [N,in,H,W] of the
 * given in_hw, kernel[2]; attr (stride, padding, dilation; NULL = defaults) fixes the output size
 * Ho x Wo now, since each position has its own weights: weight [Ho,Wo,out,in,kh,kw], bias
 * [out,Ho,Wo], drawn U(+-1/sqrt(in*kh*kw)). */
tg_module *tg_locally_connected2d_layer(int64_t in, const int64_t *in_hw, int64_t out, const int64_t *kernel,
                                        const tg_conv_attr *attr, bool bias, tg_rng *rng);
/* batch_norm over C channels (any rank >= 2): weight 1, bias 0 (affine), buffers running_mean 0
 * / running_var 1 (track_running_stats; without them every mode uses the batch statistics, as
 * nn.BatchNorm). momentum=none (cumulative average) adds the num_batches_tracked buffer. */
tg_module *tg_batch_norm_layer(int64_t channels);
tg_module *tg_batch_norm_layer_opts(int64_t channels, bool affine, bool track_running_stats);
/* layer_norm over the last n dims (normalized_shape); elementwise_affine: weight 1, bias 0 of
 * that shape. */
tg_module *tg_layer_norm_layer(int n, const int64_t *normalized_shape);
tg_module *tg_layer_norm_layer_opts(int n, const int64_t *normalized_shape, bool elementwise_affine);
/* instance_norm (nn.InstanceNorm*d): affine weight/bias; track_running_stats: running_mean /
 * running_var buffers, updated in training and used in eval. */
tg_module *tg_instance_norm_layer(int64_t channels, bool affine);
tg_module *tg_instance_norm_layer_opts(int64_t channels, bool affine, bool track_running_stats);
tg_module *tg_group_norm_layer(int64_t groups, int64_t channels);
tg_module *tg_group_norm_layer_opts(int64_t groups, int64_t channels, bool affine);
/* frn (filter response normalization): weight (gamma) 1 and bias (beta) 0 of [C] when affine;
 * eps is an attribute (default 1e-6), not learnable. */
tg_module *tg_frn_layer(int64_t channels, bool affine);
/* tlu: y = max(x, tau[c]) with the learnable tau [C], initially 0. */
tg_module *tg_tlu_layer(int64_t channels);
/* max_unpool1d/2d/3d (dims): unpools its input through the indices of the max pool whose layer
 * has id `from` (kernel_size, stride, padding as that pool, set with tg_module_set). */
tg_module *tg_max_unpool_layer(int dims, const char *from);
/* A parameter-free op layer by op name ("relu", "max_pool2d", "flatten", ...); its attributes are
 * set with tg_module_set(), its parameters (for a user op with weights) with tg_module_add_param. */
tg_module *tg_op_layer(const char *op_name);
tg_module *tg_dropout_layer(double p);
tg_module *tg_sequential(const char *name);
/* Joins: from is a comma list of ids ("a" or "a,b"). */
tg_module *tg_add_layer(const char *from);
tg_module *tg_concat_layer(const char *from);

/* Gives an op layer a parameter (learnable: requires_grad) or a buffer (state the op updates,
 * e.g. running statistics) named like the op input it binds to ("weight", "tau",
 * "running_mean"). The module takes ownership of t on success (TG_OK); TG_ERR_INVALID leaves t
 * with the caller and writes the reason to err: not an op layer, no op input of that name (or input 0), the
 * name taken, the table full (TG_MODULE_MAX_PARAMS / _BUFFERS). */
tg_status tg_module_add_param(tg_module *m, const char *name, tg_tensor *t, char *err, size_t errsz);
tg_status tg_module_add_buffer(tg_module *m, const char *name, tg_tensor *t, char *err, size_t errsz);
/* The module's own parameter or buffer of that name, or NULL. */
tg_tensor *tg_module_tensor(const tg_module *m, const char *name);

/* Sets an op attribute by its PyTorch name ("stride", "2"); TG_OK, or TG_ERR_INVALID with the
 * reason in err.
 * momentum=none on a layer whose op takes num_batches_tracked (batch_norm) adds that buffer. */
tg_status tg_module_set(tg_module *m, const char *key, const char *value, char *err, size_t errsz);
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
/* Every parameter (and, with buffers, every buffer but the transient ones) in definition order,
 * per module parameters before buffers, names joined by dots from the children's names. Returns the count; fills up to max entries of out (out may be
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

/* ---- reading a module ---- */
/* Its name within the parent ("0", "features"), and its spec keyword ("conv2d", "relu",
 * "sequential", "add", ...). Never NULL for a module. */
const char *tg_module_name(const tg_module *m);
const char *tg_module_type(const tg_module *m);
/* A sequential's children: their count (0 for other kinds) and child i (NULL out of range). */
int tg_module_child_count(const tg_module *m);
tg_module *tg_module_child(const tg_module *m, int i);
/* Names the module's output for joins (`id=NAME` in the spec: `add from=NAME`). TG_ERR_INVALID
 * with the reason in err when id is NULL, empty or longer than TG_NAME_LEN - 1. */
tg_status tg_module_set_id(tg_module *m, const char *id, char *err, size_t errsz);

TG_API_END

#endif
