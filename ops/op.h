/* ops/op.h — the op table: one descriptor per op, attribute tables, and the generic apply.
 *
 * Every op is a descriptor { name, inputs, attribute table, shape, forward, backward } in the
 * table indexed by tg_op_id (ops/registry.c). The same table drives the typed C functions
 * (tg_conv2d, ...), the `tg` tool, gradient checks, DOT labels and the model spec, so an op is
 * written once:
 *
 *   shape(t, in, n, attr, &ndim, shape)  validates inputs and attributes (may resolve defaults in
 *                                        attr), reports errors with tg_fail(), returns 0 / -1;
 *   forward(t, node)                     fills node->out from node->inputs (may keep data for the
 *                                        backward in node->saved); returns 0 / -1 (tg_fail);
 *   backward(t, node)                    adds d(out) into the gradients of the inputs that need one
 *                                        (tg_input_grad() gives the buffer or NULL).
 *
 * Attributes: each op family has a plain struct plus a table of {name, type, offset, count,
 * default text}. Values parse from "key=value" (PyTorch's names; tuples as "2,1"), print into
 * DOT, and defaults come from the same parser, so there is one code path.
 *
 *   tg_conv_attr a; tg_attr_defaults(TG_OP_CONV2D, &a);
 *   tg_attr_set(TG_OP_CONV2D, &a, "stride", "2", err, sizeof err);
 *   tg_tensor *in[3] = {x, w, b};
 *   tg_tensor *y = tg_op_apply(tape, TG_OP_CONV2D, in, 3, &a);
 */
#ifndef TG_OP_H
#define TG_OP_H

#include "../graph/api.h"
#include "../graph/tape.h"

TG_API_BEGIN

/* ---- attribute values ---- */

/* A tuple attribute ("2" or "2,1" or "3,3,3"). n == 1 means "the same for every dim". */
typedef struct tg_ints {
    int n;
    int64_t v[TG_MAX_DIMS];
} tg_ints;
/* Element i of a tuple, broadcasting a single value. */
static inline int64_t tg_ints_at(const tg_ints *a, int i) { return a->n == 1 ? a->v[0] : a->v[i]; }

/* "none" for an int attribute (dim=none: all dims) and a real attribute (momentum=none). */
#define TG_DIM_NONE INT32_MIN

typedef enum tg_attr_type {
    TG_ATTR_INT,    /* int; accepts "none" -> TG_DIM_NONE when flagged nullable */
    TG_ATTR_REAL,   /* double; accepts "none" -> NAN when flagged nullable */
    TG_ATTR_BOOL,   /* bool; "1/0/true/false/True/False" */
    TG_ATTR_INTS,   /* tg_ints */
    TG_ATTR_ENUM,   /* int index into names[] */
} tg_attr_type;

typedef struct tg_attr_desc {
    const char *name;
    tg_attr_type type;
    size_t offset;                /* offsetof(struct, field) */
    const char *default_text;     /* parsed like user text; NULL/"" = zero */
    bool nullable;                /* accepts "none" */
    const char *const *names;     /* TG_ATTR_ENUM: NULL-terminated value names */
    const char *alt_names;        /* TG_ATTR_INTS: words accepted instead of numbers, e.g.
                                     "same,valid" stored as v[0] = -1, -2, ... with n = 0 */
} tg_attr_desc;

/* ---- op descriptors ---- */

/* The output shape from the inputs' shapes and the attributes, with every shape check; it must
 * not read the inputs' values (model specs and summaries find shapes on tapes whose tensors hold
 * none). */
typedef int (*tg_shape_fn)(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim,
                           int64_t *shape);
typedef int (*tg_forward_fn)(tg_tape *t, tg_node *n);

/* Bit of input i in the descriptors' input masks below. */
#define TG_INPUT_BIT(i) (1u << (i))
/* Bits of inputs first..last (inclusive). */
#define TG_INPUT_BITS(first, last) (((1u << ((last) + 1)) - 1u) & ~((1u << (first)) - 1u))
/* Number of entries of a static attribute table (for tg_op_desc.n_attrs). */
#define TG_N_ATTRS(table) ((int)(sizeof(table) / sizeof((table)[0])))

typedef struct tg_op_desc {
    const char *name;
    int min_inputs, max_inputs;
    const char *const *input_names; /* max_inputs names, PyTorch's */
    uint32_t optional_inputs;       /* bit i: input i may be NULL (bias, affine, running stats) */
    uint32_t int_inputs;            /* bit i: input i is int64 (labels); never differentiated */
    uint32_t nograd_inputs;         /* bit i: never receives a gradient (running statistics) */
    uint32_t updated_inputs;        /* bit i: updated in place by the forward (running stats) */
    uint32_t positive_inputs;       /* bit i: only positive values make sense (log, sqrt, running
                                       variance): `tg gradcheck` draws them from [0.5, 1.5] */
    uint32_t param_inputs;          /* bit i: a learned parameter when a layer holds it (weight, bias,
                                       affine); the other inputs a layer holds are buffers */
    uint32_t fan_in_inputs;         /* bit i: a weight tg_module_init draws from its fan-in (Kaiming or
                                       Xavier), with input i + 1 as its bias (conv, linear) */
    int spatial_dims;               /* convolutions and pooling: spatial dims of the input (1..3; the
                                       input is [N, C, spatial...]); 0: not fixed */
    bool transposed;                /* conv_transpose*: the forward is the convolution's dX */
    bool keeps_indices;             /* the forward leaves argmax positions in out->indices (max
                                       pooling, max), which a later op may take (max_unpool) */
    const tg_attr_desc *attrs;
    int n_attrs;
    size_t attr_size;
    tg_shape_fn shape;
    tg_forward_fn forward;
    tg_backward_fn backward;        /* NULL: not differentiable (never recorded) */
    const char *summary;            /* one line for `tg op --list` and docs */
    /* What the backward never reads, so that a model's forward may free an activation once no
     * later layer reads it (nn's planned arena; tg_tensor.backward_reads). 0 / false, the default,
     * is always correct; a bit set wrongly makes a backward read freed memory. (Last, so that a
     * descriptor built for an earlier layout keeps its fields where they were.) */
    uint32_t unread_inputs;         /* bit i: the backward reads input i's shape, never its values */
    bool unread_output;             /* the backward reads the output's gradient, never its values */
} tg_op_desc;

/* The op ids. The table in ops/registry.c is indexed by these with designated initializers;
 * tg_op_builtin_missing() (tested) finds an id left without a descriptor. */
typedef enum tg_op_id {
    /* elementwise arithmetic (NumPy broadcasting) */
    TG_OP_ADD, TG_OP_SUB, TG_OP_MUL, TG_OP_DIV,
    TG_OP_NEG, TG_OP_EXP, TG_OP_LOG, TG_OP_SQRT, TG_OP_POW,
    /* linear algebra */
    TG_OP_MATMUL, TG_OP_LINEAR,
    /* reductions */
    TG_OP_SUM, TG_OP_MEAN, TG_OP_MAX,
    /* shape */
    TG_OP_RESHAPE, TG_OP_FLATTEN, TG_OP_PERMUTE, TG_OP_TRANSPOSE, TG_OP_CONCAT, TG_OP_SLICE,
    TG_OP_PAD,
    /* activations */
    TG_OP_RELU, TG_OP_LEAKY_RELU, TG_OP_ELU, TG_OP_SIGMOID, TG_OP_TANH, TG_OP_GELU,
    TG_OP_SOFTMAX, TG_OP_LOG_SOFTMAX,
    /* losses */
    TG_OP_CROSS_ENTROPY, TG_OP_NLL_LOSS, TG_OP_MSE_LOSS, TG_OP_L1_LOSS,
    /* regularisation */
    TG_OP_DROPOUT,
    /* convolution (issue: convolution family) */
    TG_OP_CONV1D, TG_OP_CONV2D, TG_OP_CONV3D,
    TG_OP_CONV_TRANSPOSE1D, TG_OP_CONV_TRANSPOSE2D, TG_OP_CONV_TRANSPOSE3D,
    TG_OP_LOCALLY_CONNECTED2D,
    /* pooling */
    TG_OP_MAX_POOL1D, TG_OP_MAX_POOL2D, TG_OP_MAX_POOL3D,
    TG_OP_AVG_POOL1D, TG_OP_AVG_POOL2D, TG_OP_AVG_POOL3D,
    TG_OP_GLOBAL_AVG_POOL, TG_OP_GLOBAL_MAX_POOL,
    TG_OP_ADAPTIVE_AVG_POOL2D, TG_OP_ADAPTIVE_MAX_POOL2D,
    TG_OP_MAX_UNPOOL1D, TG_OP_MAX_UNPOOL2D, TG_OP_MAX_UNPOOL3D,
    /* normalization */
    TG_OP_BATCH_NORM, TG_OP_LAYER_NORM, TG_OP_INSTANCE_NORM, TG_OP_GROUP_NORM,
    TG_OP_FRN, TG_OP_TLU,
    /* user-registered ops take ids from TG_OP_COUNT on (tg_op_register) */
    TG_OP_COUNT
} tg_op_id;

/* Descriptor of an op id (built-in or registered); NULL when out of range. */
const tg_op_desc *tg_op_get(int id);
/* Id of an op by name, or -1. */
int tg_op_find(const char *name);
/* The first built-in id whose table entry is missing, or -1 when every id has its descriptor
 * (tests/test_graph.c checks it: a static assert on the count alone passes with a hole). */
int tg_op_builtin_missing(void);
/* Number of ops, built-in plus registered. */
int tg_op_count(void);
/* Adds a user-defined op (custom layers); returns its id, or -1 when the table is full or the
 * name is taken. The descriptor must outlive every use. */
int tg_op_register(const tg_op_desc *desc);

/* Applies an op: checks inputs (NULL, count, dtype) and attributes (attr NULL = defaults),
 * allocates the output on the tape, runs the forward and records a node when grad mode is on
 * and some input requires a gradient. Returns the output, or NULL with the tape's error set. */
tg_tensor *tg_op_apply(tg_tape *t, int op_id, tg_tensor *const *inputs, int n_inputs,
                       const void *attr);
/* The gradient buffer of a node's input i when that input needs one (allocated and zeroed on
 * first use), else NULL. Backward functions add into it. */
tg_real *tg_input_grad(tg_tape *t, tg_node *n, int i);

/* ---- attribute helpers (generic over the tables) ---- */
/* Fills attr (attr_size bytes) with the op's defaults. Returns 0. */
int tg_attr_defaults(int op_id, void *attr);
/* Parses "value" into attribute `key`. TG_OK, or TG_ERR_INVALID with a one-line reason in err. */
tg_status tg_attr_set(int op_id, void *attr, const char *key, const char *value, char *err,
                size_t errsz);
/* Parses "key=value". */
tg_status tg_attr_parse(int op_id, void *attr, const char *key_eq_value, char *err, size_t errsz);
/* Writes "stride=2,2 padding=1" (attributes that differ from defaults; all if all_attrs). */
char *tg_attr_format(int op_id, const void *attr, bool all_attrs, char *buf, size_t size);

TG_API_END

#endif
