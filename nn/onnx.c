/* nn/onnx.c — ONNX export (a walk over the model's layers writing nodes and initializers) and
 * import (a validating parse of ModelProto into spec lines plus weights); see onnx.h. The ONNX
 * field numbers are those of onnx.proto (ONNX 1.12). */
#include "onnx.h"
#include "data.h"
#include "protobuf.h"
#include "../ops/activation.h"
#include "../ops/norm.h"
#include "../ops/pool.h"
#include "../ops/shape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

/* onnx.proto field numbers and enum values used here */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER = 2, MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7, MODEL_OPSET = 8,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5, NODE_DOMAIN = 7,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_T = 5, ATTR_FLOATS = 7, ATTR_INTS = 8, ATTR_TYPE = 20,
    ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_STRING = 3, ATTR_TYPE_TENSOR = 4, ATTR_TYPE_INTS = 7,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_FLOAT_DATA = 4, TENSOR_INT32_DATA = 5, TENSOR_INT64_DATA = 7,
    TENSOR_NAME = 8, TENSOR_RAW_DATA = 9, TENSOR_DOUBLE_DATA = 10, TENSOR_DATA_LOCATION = 14,
    DTYPE_FLOAT = 1, DTYPE_INT32 = 6, DTYPE_INT64 = 7, DTYPE_DOUBLE = 11,
    VALUE_NAME = 1, VALUE_TYPE = 2, TYPE_TENSOR = 1, TENSOR_TYPE_ELEM = 1, TENSOR_TYPE_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
};

#define ONNX_NAME_LEN 128 /* value names: longer ones are refused on import */
#define BATCH_DIM_NAME "N"

/* ======================================================================================
 * Export
 * ====================================================================================== */

/* Shapes seen by one eval forward, per layer (module pointer), at a given batch size. */
typedef struct layer_shapes {
    const tg_module *layer;
    int in_ndim, out_ndim;
    int64_t in[TG_MAX_DIMS], out[TG_MAX_DIMS];
} layer_shapes;

typedef struct shape_log {
    layer_shapes *v;
    int n, cap;
    bool oom;
} shape_log;

static void log_shapes(void *ctx, tg_module *m, tg_tensor *in, tg_tensor *out)
{
    shape_log *s = ctx;
    if (s->n == s->cap) {
        const int cap = s->cap ? 2 * s->cap : 32;
        layer_shapes *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) { s->oom = true; return; }
        s->v = v, s->cap = cap;
    }
    layer_shapes *e = &s->v[s->n++];
    e->layer = m;
    e->in_ndim = in ? in->ndim : 0;
    e->out_ndim = out->ndim;
    for (int i = 0; i < e->in_ndim; i++) e->in[i] = in->shape[i];
    for (int i = 0; i < out->ndim; i++) e->out[i] = out->shape[i];
}

/* Runs the model in eval mode on zeros of batch `batch`, logging every layer's shapes. */
static int observe(tg_model *m, int64_t batch, shape_log *log, char *err, size_t errsz)
{
    int64_t shape[5] = {batch};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (!x) {
        tg_tape_free(t);
        return SAY("export: out of memory"), -1;
    }
    memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
    const bool was_training = m->net->training;
    tg_module_train(m->net, false);
    tg_no_grad_begin(t);
    tg_tensor *y = tg_module_forward_observed(m->net, t, x, log_shapes, log);
    tg_no_grad_end(t);
    tg_module_train(m->net, was_training);
    int rc = 0;
    if (!y) rc = -1, SAY("export: %s", tg_error(t) ? tg_error(t) : "forward failed");
    else if (log->oom) rc = -1, SAY("export: out of memory");
    tg_tape_free(t);
    return rc;
}

typedef struct exporter {
    tg_pb_writer w;
    bool fold_bn;
    const shape_log *shapes, *shapes2; /* the same forward at two batch sizes */
    int64_t batch, batch2;
    int counter;                       /* for unique value names */
    char input[ONNX_NAME_LEN];
    /* ids (id=NAME) of layers already written -> their ONNX value */
    struct { char id[TG_NAME_LEN]; char value[ONNX_NAME_LEN]; } *ids;
    int n_ids, cap_ids;
    const tg_module *folded;           /* the batch norm folded into the layer before it */
    char *err;
    size_t errsz;
} exporter;

static const layer_shapes *shapes_of(const shape_log *log, const tg_module *m)
{
    for (int i = 0; i < log->n; i++)
        if (log->v[i].layer == m) return &log->v[i];
    return NULL;
}

static void new_value(exporter *e, const char *hint, char *out)
{
    snprintf(out, ONNX_NAME_LEN, "%.40s_%d", hint, e->counter++);
}

/* A node with up to 6 inputs ("" = an omitted optional input) and one output; attributes are
 * appended by the caller between node_begin and node_end. */
static size_t node_begin(exporter *e, const char *op, const char *const *inputs, int n_in, const char *output)
{
    tg_pb_writer *w = &e->w;
    const size_t mark = tg_pb_begin(w, GRAPH_NODE);
    for (int i = 0; i < n_in; i++) tg_pb_string(w, NODE_INPUT, inputs[i]);
    tg_pb_string(w, NODE_OUTPUT, output);
    char name[ONNX_NAME_LEN + 8];
    snprintf(name, sizeof name, "%s_%d", op, e->counter++);
    tg_pb_string(w, NODE_NAME, name);
    tg_pb_string(w, NODE_OP_TYPE, op);
    return mark;
}
static void node_end(exporter *e, size_t mark) { tg_pb_end(&e->w, mark); }

static void attr_int(exporter *e, const char *name, int64_t v)
{
    const size_t a = tg_pb_begin(&e->w, NODE_ATTRIBUTE);
    tg_pb_string(&e->w, ATTR_NAME, name);
    tg_pb_int(&e->w, ATTR_TYPE, ATTR_TYPE_INT);
    tg_pb_int(&e->w, ATTR_I, v);
    tg_pb_end(&e->w, a);
}
static void attr_float(exporter *e, const char *name, double v)
{
    const size_t a = tg_pb_begin(&e->w, NODE_ATTRIBUTE);
    tg_pb_string(&e->w, ATTR_NAME, name);
    tg_pb_int(&e->w, ATTR_TYPE, ATTR_TYPE_FLOAT);
    tg_pb_float(&e->w, ATTR_F, (float)v);
    tg_pb_end(&e->w, a);
}
static void attr_ints(exporter *e, const char *name, const int64_t *v, int n)
{
    const size_t a = tg_pb_begin(&e->w, NODE_ATTRIBUTE);
    tg_pb_string(&e->w, ATTR_NAME, name);
    tg_pb_int(&e->w, ATTR_TYPE, ATTR_TYPE_INTS);
    for (int i = 0; i < n; i++) tg_pb_int(&e->w, ATTR_INTS, v[i]);
    tg_pb_end(&e->w, a);
}

/* One-input, one-output node with no attributes. */
static void simple_node(exporter *e, const char *op, const char *in, const char *out)
{
    node_end(e, node_begin(e, op, &in, 1, out));
}
static void binary_node(exporter *e, const char *op, const char *a, const char *b, const char *out)
{
    const char *ins[2] = {a, b};
    node_end(e, node_begin(e, op, ins, 2, out));
}

/* A float32 initializer of the given shape from tg_real values (NULL: `fill` everywhere). */
static void initializer(exporter *e, const char *name, int ndim, const int64_t *shape, const tg_real *values,
                        double fill)
{
    tg_pb_writer *w = &e->w;
    const size_t mark = tg_pb_begin(w, GRAPH_INITIALIZER);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) tg_pb_int(w, TENSOR_DIMS, shape[i]), numel *= shape[i];
    tg_pb_int(w, TENSOR_DATA_TYPE, DTYPE_FLOAT);
    tg_pb_string(w, TENSOR_NAME, name);
    tg_pb_tag(w, TENSOR_RAW_DATA, TG_PB_LEN);
    tg_pb_varint(w, (uint64_t)numel * 4);
    uint8_t *raw = tg_pb_append(w, (size_t)numel * 4);
    for (int64_t i = 0; raw && i < numel; i++) { /* little-endian whatever the host */
        const float f = (float)(values ? values[i] : fill);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        for (int b = 0; b < 4; b++) raw[4 * i + b] = (uint8_t)(bits >> (8 * b));
    }
    tg_pb_end(w, mark);
}

/* An int64 initializer (shapes for Reshape). */
static void initializer_i64(exporter *e, const char *name, const int64_t *v, int n)
{
    tg_pb_writer *w = &e->w;
    const size_t mark = tg_pb_begin(w, GRAPH_INITIALIZER);
    tg_pb_int(w, TENSOR_DIMS, n);
    tg_pb_int(w, TENSOR_DATA_TYPE, DTYPE_INT64);
    tg_pb_string(w, TENSOR_NAME, name);
    uint8_t raw[8 * TG_MAX_DIMS];
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) raw[8 * i + b] = (uint8_t)((uint64_t)v[i] >> (8 * b));
    tg_pb_bytes(w, TENSOR_RAW_DATA, raw, (size_t)n * 8);
    tg_pb_end(w, mark);
}

/* A per-channel [C] tensor as [C,1,...,1] of the given rank so it broadcasts over x:[N,C,*]. */
static void channel_initializer(exporter *e, const char *name, int64_t channels, int rank, const tg_real *v,
                                double fill)
{
    int64_t shape[TG_MAX_DIMS] = {channels};
    for (int i = 1; i < rank - 1; i++) shape[i] = 1;
    initializer(e, name, rank - 1, shape, v, fill);
}

static void value_info(tg_pb_writer *w, int field, const char *name, int ndim, const int64_t *shape)
{
    const size_t v = tg_pb_begin(w, (uint32_t)field);
    tg_pb_string(w, VALUE_NAME, name);
    const size_t t = tg_pb_begin(w, VALUE_TYPE), tt = tg_pb_begin(w, TYPE_TENSOR);
    tg_pb_int(w, TENSOR_TYPE_ELEM, DTYPE_FLOAT);
    const size_t s = tg_pb_begin(w, TENSOR_TYPE_SHAPE);
    for (int i = 0; i < ndim; i++) {
        const size_t d = tg_pb_begin(w, SHAPE_DIM);
        if (i == 0) tg_pb_string(w, DIM_PARAM, BATCH_DIM_NAME);
        else tg_pb_int(w, DIM_VALUE, shape[i]);
        tg_pb_end(w, d);
    }
    tg_pb_end(w, s), tg_pb_end(w, tt), tg_pb_end(w, t), tg_pb_end(w, v);
}

#define FAIL(...) (snprintf(e->err, e->errsz, __VA_ARGS__), -1)

static int remember_id(exporter *e, const char *id, const char *value)
{
    if (!id[0]) return 0;
    if (e->n_ids == e->cap_ids) {
        const int cap = e->cap_ids ? 2 * e->cap_ids : 16;
        void *v = realloc(e->ids, (size_t)cap * sizeof *e->ids);
        if (!v) return FAIL("export: out of memory");
        e->ids = v, e->cap_ids = cap;
    }
    snprintf(e->ids[e->n_ids].id, sizeof e->ids[0].id, "%s", id);
    snprintf(e->ids[e->n_ids].value, sizeof e->ids[0].value, "%s", value);
    e->n_ids++;
    return 0;
}

static const char *lookup_id(const exporter *e, const char *id, const char *cur)
{
    if (!strcmp(id, ".")) return cur;
    for (int i = e->n_ids - 1; i >= 0; i--)
        if (!strcmp(e->ids[i].id, id)) return e->ids[i].value;
    return !strcmp(id, "input") ? e->input : NULL;
}

/* Conv-family attributes: kernel_shape, strides, pads, dilations, group (+ output_padding). */
static int conv_attrs(exporter *e, const tg_module *m, const tg_tensor *w, const layer_shapes *s, bool transposed)
{
    const tg_conv_attr *a = (const tg_conv_attr *)m->attr;
    const int dims = w->ndim - 2;
    int64_t k[3], st[3], dil[3], pads[6], op[3];
    for (int i = 0; i < dims; i++) {
        k[i] = w->shape[2 + i];
        st[i] = tg_ints_at(&a->stride, i);
        dil[i] = tg_ints_at(&a->dilation, i);
        op[i] = a->output_padding.n ? tg_ints_at(&a->output_padding, i) : 0;
        int64_t begin, end;
        if (a->padding.v[0] == TG_CONV_PAD_VALID) {
            begin = end = 0;
        } else if (a->padding.v[0] == TG_CONV_PAD_SAME) {
            /* PyTorch puts the odd pixel of "same" padding at the end */
            const int64_t total = dil[i] * (k[i] - 1);
            begin = total / 2, end = total - begin;
        } else {
            begin = end = tg_ints_at(&a->padding, i);
        }
        pads[i] = begin, pads[dims + i] = end;
    }
    if (a->padding_mode != TG_PAD_CONSTANT)
        return FAIL("export: layer %s (%s): padding_mode other than zeros has no ONNX Conv form", m->name, m->type);
    (void)s;
    attr_ints(e, "kernel_shape", k, dims);
    attr_ints(e, "strides", st, dims);
    attr_ints(e, "pads", pads, 2 * dims);
    attr_ints(e, "dilations", dil, dims);
    attr_int(e, "group", a->groups);
    if (transposed) attr_ints(e, "output_padding", op, dims);
    return 0;
}

/* Whether the layer after `m` in seq is an eval batch norm that can fold into m (m has no id, so
 * nothing else reads its unnormalised output). */
static const tg_module *foldable_bn(const exporter *e, const tg_module *seq, int i)
{
    const tg_module *m = seq->children[i];
    if (!e->fold_bn || i + 1 >= seq->n_children || m->id[0]) return NULL;
    const tg_module *bn = seq->children[i + 1];
    if (bn->kind != TG_MOD_OP || bn->op != TG_OP_BATCH_NORM || !tg_module_tensor(bn, "running_mean") ||
        !tg_module_tensor(bn, "running_var"))
        return NULL;
    return bn;
}

/* Writes the weight (and bias) of a conv/linear layer, folding bn into them when given.
 * names[0..1] receive the initializer names (names[1] "" when there is no bias). */
static int weight_initializers(exporter *e, const tg_module *m, const tg_module *bn, bool transpose_2d,
                               char names[2][ONNX_NAME_LEN])
{
    const tg_tensor *w = tg_module_tensor(m, "weight"), *b = tg_module_tensor(m, "bias");
    tg_tensor *wc = NULL, *bc = NULL;
    if (bn) { /* fold into copies: the model itself stays as it is */
        wc = tg_tensor_new(TG_REAL, w->ndim, w->shape);
        const int64_t out = tg_module_tensor(bn, "running_mean")->numel;
        bc = tg_tensor_new(TG_REAL, 1, &out);
        if (!wc || !bc) {
            tg_tensor_free(wc), tg_tensor_free(bc);
            return FAIL("export: out of memory");
        }
        memcpy(wc->data, w->data, (size_t)w->numel * sizeof(tg_real));
        if (b) memcpy(bc->data, b->data, (size_t)b->numel * sizeof(tg_real));
        const tg_norm_attr *na = (const tg_norm_attr *)bn->attr;
        if (tg_fold_batch_norm(wc, bc, tg_module_tensor(bn, "running_mean"), tg_module_tensor(bn, "running_var"),
                               tg_module_tensor(bn, "weight"), tg_module_tensor(bn, "bias"), na->eps) != TG_OK) {
            tg_tensor_free(wc), tg_tensor_free(bc);
            return FAIL("export: layer %s (%s): cannot fold batch norm %s (channels differ)", m->name, m->type, bn->name);
        }
        w = wc, b = bc;
    }
    snprintf(names[0], ONNX_NAME_LEN, "%.100s.weight", m->name);
    if (transpose_2d) { /* MatMul wants W^T: [in, out] */
        const int64_t shape[2] = {w->shape[1], w->shape[0]};
        tg_tensor *t = tg_tensor_new(TG_REAL, 2, shape);
        if (!t) {
            tg_tensor_free(wc), tg_tensor_free(bc);
            return FAIL("export: out of memory");
        }
        for (int64_t r = 0; r < shape[0]; r++)
            for (int64_t c = 0; c < shape[1]; c++) t->data[r * shape[1] + c] = w->data[c * shape[0] + r];
        initializer(e, names[0], 2, shape, t->data, 0);
        tg_tensor_free(t);
    } else {
        initializer(e, names[0], w->ndim, w->shape, w->data, 0);
    }
    names[1][0] = 0;
    if (b) {
        snprintf(names[1], ONNX_NAME_LEN, "%.100s.bias", m->name);
        initializer(e, names[1], b->ndim, b->shape, b->data, 0);
    }
    tg_tensor_free(wc), tg_tensor_free(bc);
    return 0;
}

/* A norm's weight/bias initializers: the layer's own, or ones/zeros of `shape` when not affine. */
static void affine_initializers(exporter *e, const tg_module *m, int ndim, const int64_t *shape, bool per_channel_rank,
                                int rank, char names[2][ONNX_NAME_LEN])
{
    static const char *const which[2] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        const tg_tensor *t = tg_module_tensor(m, which[k]);
        snprintf(names[k], ONNX_NAME_LEN, "%.100s.%s", m->name, which[k]);
        if (per_channel_rank) channel_initializer(e, names[k], shape[0], rank, t ? t->data : NULL, k == 0 ? 1 : 0);
        else initializer(e, names[k], ndim, shape, t ? t->data : NULL, k == 0 ? 1 : 0);
    }
}

static int export_layer(exporter *e, const tg_module *seq, int index, char *cur);

static int export_sequential(exporter *e, const tg_module *seq, char *cur)
{
    for (int i = 0; i < seq->n_children; i++) {
        const tg_module *c = seq->children[i];
        if (c == e->folded) { /* its effect is in the layer before */
            e->folded = NULL;
        } else if (c->kind == TG_MOD_SEQUENTIAL) {
            if (export_sequential(e, c, cur)) return -1;
        } else if (export_layer(e, seq, i, cur)) {
            return -1;
        }
        if (remember_id(e, c->id, cur)) return -1;
    }
    return 0;
}

/* Writes the nodes of layer seq->children[index] reading the value `cur`; cur becomes its output. */
static int export_layer(exporter *e, const tg_module *seq, int index, char *cur)
{
    const tg_module *m = seq->children[index];
    const layer_shapes *s = shapes_of(e->shapes, m), *s2 = shapes_of(e->shapes2, m);
    if (!s || !s2) return FAIL("export: layer %s (%s) did not run", m->name, m->type);
    if (s->out[0] != e->batch || s2->out[0] != e->batch2)
        return FAIL("export: layer %s (%s): output [%lld,...] does not keep the batch dimension first", m->name, m->type,
                    (long long)s->out[0]);
    const int rank = s->in_ndim;
    char out[ONNX_NAME_LEN];
    new_value(e, m->type, out);
    if (m->kind == TG_MOD_DROPOUT) return 0; /* the identity in eval mode */
    if (m->kind == TG_MOD_ADD || m->kind == TG_MOD_CONCAT) {
        const char *ins[TG_MODULE_MAX_FROM + 1];
        int n = 0;
        if (m->kind == TG_MOD_ADD) ins[n++] = cur;
        for (int k = 0; k < m->n_from; k++)
            if (!(ins[n++] = lookup_id(e, m->from[k], cur)))
                return FAIL("export: layer %s (%s): no earlier layer has id '%s'", m->name, m->type, m->from[k]);
        const size_t node = node_begin(e, m->kind == TG_MOD_ADD ? "Add" : "Concat", ins, n, out);
        if (m->kind == TG_MOD_CONCAT) attr_int(e, "axis", 1);
        node_end(e, node);
        strcpy(cur, out);
        return 0;
    }
    if (m->kind != TG_MOD_OP) return FAIL("export: layer %s (%s) has no ONNX form", m->name, m->type);
    const void *attr = m->attr;
    char names[2][ONNX_NAME_LEN];
    switch (m->op) {
    case TG_OP_CONV1D: case TG_OP_CONV2D: case TG_OP_CONV3D:
    case TG_OP_CONV_TRANSPOSE1D: case TG_OP_CONV_TRANSPOSE2D: case TG_OP_CONV_TRANSPOSE3D: {
        const bool transposed = m->op >= TG_OP_CONV_TRANSPOSE1D;
        const tg_module *bn = transposed ? NULL : foldable_bn(e, seq, index);
        if (weight_initializers(e, m, bn, false, names)) return -1;
        const char *ins[3] = {cur, names[0], names[1]};
        const size_t node = node_begin(e, transposed ? "ConvTranspose" : "Conv", ins, names[1][0] ? 3 : 2, out);
        if (conv_attrs(e, m, tg_module_tensor(m, "weight"), s, transposed)) return -1;
        node_end(e, node);
        e->folded = bn;
        break;
    }
    case TG_OP_LINEAR: {
        const tg_module *bn = foldable_bn(e, seq, index);
        const bool gemm = rank == 2;
        if (weight_initializers(e, m, bn, !gemm, names)) return -1;
        if (gemm) {
            const char *ins[3] = {cur, names[0], names[1]};
            const size_t node = node_begin(e, "Gemm", ins, names[1][0] ? 3 : 2, out);
            attr_int(e, "transB", 1);
            node_end(e, node);
        } else if (names[1][0]) {
            char mm[ONNX_NAME_LEN];
            new_value(e, "matmul", mm);
            binary_node(e, "MatMul", cur, names[0], mm);
            binary_node(e, "Add", mm, names[1], out);
        } else {
            binary_node(e, "MatMul", cur, names[0], out);
        }
        e->folded = bn;
        break;
    }
    case TG_OP_BATCH_NORM: case TG_OP_INSTANCE_NORM: {
        const tg_norm_attr *a = attr;
        const tg_tensor *mean = tg_module_tensor(m, "running_mean"), *var = tg_module_tensor(m, "running_var");
        const int64_t c = s->in[1];
        affine_initializers(e, m, 1, &c, false, 0, names);
        if (mean && var) { /* eval mode normalises with the running statistics */
            char mv[2][ONNX_NAME_LEN];
            snprintf(mv[0], ONNX_NAME_LEN, "%.100s.running_mean", m->name);
            snprintf(mv[1], ONNX_NAME_LEN, "%.100s.running_var", m->name);
            initializer(e, mv[0], 1, &c, mean->data, 0);
            initializer(e, mv[1], 1, &c, var->data, 0);
            const char *ins[5] = {cur, names[0], names[1], mv[0], mv[1]};
            const size_t node = node_begin(e, "BatchNormalization", ins, 5, out);
            attr_float(e, "epsilon", a->eps);
            node_end(e, node);
        } else if (m->op == TG_OP_INSTANCE_NORM) {
            const char *ins[3] = {cur, names[0], names[1]};
            const size_t node = node_begin(e, "InstanceNormalization", ins, 3, out);
            attr_float(e, "epsilon", a->eps);
            node_end(e, node);
        } else {
            return FAIL("export: layer %s (batch_norm): without running statistics (track_running_stats=0) it "
                        "normalises with each batch's statistics, which ONNX inference BatchNormalization cannot", m->name);
        }
        break;
    }
    case TG_OP_LAYER_NORM: {
        const tg_norm_attr *a = attr;
        const tg_tensor *w = tg_module_tensor(m, "weight");
        const int ns = w ? w->ndim : a->normalized_shape.n ? a->normalized_shape.n : 1;
        affine_initializers(e, m, ns, s->in + rank - ns, false, 0, names);
        const char *ins[3] = {cur, names[0], names[1]};
        const size_t node = node_begin(e, "LayerNormalization", ins, 3, out);
        attr_int(e, "axis", -ns);
        attr_float(e, "epsilon", a->eps);
        node_end(e, node);
        break;
    }
    case TG_OP_GROUP_NORM: {
        /* reshape [N,C,*] to [N,G,-1], instance-normalise each group, reshape back, scale and shift */
        const tg_norm_attr *a = attr;
        const int64_t g = a->num_groups, grouped[3] = {0, g, -1};
        char shape_g[ONNX_NAME_LEN], xg[ONNX_NAME_LEN], ng[ONNX_NAME_LEN], shp[ONNX_NAME_LEN], back[ONNX_NAME_LEN],
            scaled[ONNX_NAME_LEN], one_zero[2][ONNX_NAME_LEN];
        new_value(e, "group_shape", shape_g), new_value(e, "grouped", xg), new_value(e, "group_normed", ng);
        new_value(e, "shape", shp), new_value(e, "ungrouped", back), new_value(e, "scaled", scaled);
        initializer_i64(e, shape_g, grouped, 3);
        snprintf(one_zero[0], ONNX_NAME_LEN, "%.100s.group_ones", m->name);
        snprintf(one_zero[1], ONNX_NAME_LEN, "%.100s.group_zeros", m->name);
        initializer(e, one_zero[0], 1, &g, NULL, 1);
        initializer(e, one_zero[1], 1, &g, NULL, 0);
        binary_node(e, "Reshape", cur, shape_g, xg);
        const char *ins[3] = {xg, one_zero[0], one_zero[1]};
        const size_t node = node_begin(e, "InstanceNormalization", ins, 3, ng);
        attr_float(e, "epsilon", a->eps);
        node_end(e, node);
        simple_node(e, "Shape", cur, shp);
        binary_node(e, "Reshape", ng, shp, back);
        affine_initializers(e, m, 1, &s->in[1], true, rank, names);
        binary_node(e, "Mul", back, names[0], scaled);
        binary_node(e, "Add", scaled, names[1], out);
        break;
    }
    case TG_OP_FRN: {
        /* y = γ · x / sqrt(mean over the spatial dims of x² + eps) + β */
        const tg_norm_attr *a = attr;
        char sq[ONNX_NAME_LEN], nu[ONNX_NAME_LEN], eps[ONNX_NAME_LEN], nue[ONNX_NAME_LEN], den[ONNX_NAME_LEN],
            xn[ONNX_NAME_LEN], scaled[ONNX_NAME_LEN];
        new_value(e, "sq", sq), new_value(e, "nu2", nu), new_value(e, "eps", eps), new_value(e, "nu2_eps", nue);
        new_value(e, "rms", den), new_value(e, "frn_x", xn), new_value(e, "scaled", scaled);
        binary_node(e, "Mul", cur, cur, sq);
        int64_t axes[TG_MAX_DIMS];
        for (int i = 2; i < rank; i++) axes[i - 2] = i;
        const size_t node = node_begin(e, "ReduceMean", (const char *const[]){sq}, 1, nu);
        attr_ints(e, "axes", axes, rank - 2);
        attr_int(e, "keepdims", 1);
        node_end(e, node);
        initializer(e, eps, 0, NULL, NULL, a->eps);
        binary_node(e, "Add", nu, eps, nue);
        simple_node(e, "Sqrt", nue, den);
        binary_node(e, "Div", cur, den, xn);
        affine_initializers(e, m, 1, &s->in[1], true, rank, names);
        binary_node(e, "Mul", xn, names[0], scaled);
        binary_node(e, "Add", scaled, names[1], out);
        break;
    }
    case TG_OP_TLU: {
        snprintf(names[0], ONNX_NAME_LEN, "%.100s.tau", m->name);
        channel_initializer(e, names[0], s->in[1], rank, tg_module_tensor(m, "tau")->data, 0);
        binary_node(e, "Max", cur, names[0], out);
        break;
    }
    case TG_OP_RELU: simple_node(e, "Relu", cur, out); break;
    case TG_OP_SIGMOID: simple_node(e, "Sigmoid", cur, out); break;
    case TG_OP_TANH: simple_node(e, "Tanh", cur, out); break;
    case TG_OP_LEAKY_RELU: case TG_OP_ELU: {
        const bool leaky = m->op == TG_OP_LEAKY_RELU;
        const size_t node = node_begin(e, leaky ? "LeakyRelu" : "Elu", (const char *const[]){cur}, 1, out);
        attr_float(e, "alpha", leaky ? ((const tg_leaky_relu_attr *)attr)->negative_slope : ((const tg_elu_attr *)attr)->alpha);
        node_end(e, node);
        break;
    }
    case TG_OP_GELU: {
        /* opset 17 has no Gelu: x · (1 + erf(x / √2)) / 2 */
        if (((const tg_gelu_attr *)attr)->approximate != TG_GELU_NONE)
            return FAIL("export: layer %s (gelu): approximate=tanh has no ONNX form in opset %d", m->name, TG_ONNX_OPSET);
        char c[3][ONNX_NAME_LEN], v[4][ONNX_NAME_LEN];
        for (int i = 0; i < 3; i++) new_value(e, "gelu_const", c[i]);
        for (int i = 0; i < 4; i++) new_value(e, "gelu", v[i]);
        initializer(e, c[0], 0, NULL, NULL, sqrt(2.0));
        initializer(e, c[1], 0, NULL, NULL, 1.0);
        initializer(e, c[2], 0, NULL, NULL, 0.5);
        binary_node(e, "Div", cur, c[0], v[0]);
        simple_node(e, "Erf", v[0], v[1]);
        binary_node(e, "Add", v[1], c[1], v[2]);
        binary_node(e, "Mul", cur, v[2], v[3]);
        binary_node(e, "Mul", v[3], c[2], out);
        break;
    }
    case TG_OP_SOFTMAX: case TG_OP_LOG_SOFTMAX: {
        const size_t node = node_begin(e, m->op == TG_OP_SOFTMAX ? "Softmax" : "LogSoftmax", (const char *const[]){cur}, 1, out);
        attr_int(e, "axis", ((const tg_softmax_attr *)attr)->dim);
        node_end(e, node);
        break;
    }
    case TG_OP_MAX_POOL1D: case TG_OP_MAX_POOL2D: case TG_OP_MAX_POOL3D:
    case TG_OP_AVG_POOL1D: case TG_OP_AVG_POOL2D: case TG_OP_AVG_POOL3D: {
        const tg_pool_attr *a = attr;
        const bool max = m->op <= TG_OP_MAX_POOL3D;
        const int dims = rank - 2;
        if (!max && a->divisor_override != TG_DIM_NONE)
            return FAIL("export: layer %s (%s): divisor_override has no ONNX AveragePool form", m->name, m->type);
        if (!max && a->ceil_mode)
            return FAIL("export: layer %s (%s): ceil_mode=1 windows are counted differently by ONNX runtimes; not exported",
                        m->name, m->type);
        int64_t k[3], st[3], pads[6], dil[3];
        for (int i = 0; i < dims; i++) {
            k[i] = tg_ints_at(&a->kernel_size, i);
            st[i] = a->stride.n ? tg_ints_at(&a->stride, i) : k[i];
            pads[i] = pads[dims + i] = a->padding.n ? tg_ints_at(&a->padding, i) : 0;
            dil[i] = a->dilation.n ? tg_ints_at(&a->dilation, i) : 1;
        }
        const size_t node = node_begin(e, max ? "MaxPool" : "AveragePool", (const char *const[]){cur}, 1, out);
        attr_ints(e, "kernel_shape", k, dims);
        attr_ints(e, "strides", st, dims);
        attr_ints(e, "pads", pads, 2 * dims);
        attr_int(e, "ceil_mode", a->ceil_mode);
        if (max) attr_ints(e, "dilations", dil, dims);
        else attr_int(e, "count_include_pad", a->count_include_pad);
        node_end(e, node);
        break;
    }
    case TG_OP_GLOBAL_AVG_POOL: simple_node(e, "GlobalAveragePool", cur, out); break;
    case TG_OP_GLOBAL_MAX_POOL: simple_node(e, "GlobalMaxPool", cur, out); break;
    case TG_OP_ADAPTIVE_AVG_POOL2D: case TG_OP_ADAPTIVE_MAX_POOL2D:
        if (s->out[2] != 1 || s->out[3] != 1)
            return FAIL("export: layer %s (%s): only output_size=1 (a global pool) has an ONNX form", m->name, m->type);
        simple_node(e, m->op == TG_OP_ADAPTIVE_AVG_POOL2D ? "GlobalAveragePool" : "GlobalMaxPool", cur, out);
        break;
    case TG_OP_FLATTEN: case TG_OP_RESHAPE: {
        /* the batch stays (checked above); the other sizes are fixed: Reshape to [0, sizes...] */
        int64_t shape[TG_MAX_DIMS] = {0};
        for (int i = 1; i < s->out_ndim; i++) shape[i] = s->out[i];
        char sh[ONNX_NAME_LEN];
        new_value(e, "shape", sh);
        initializer_i64(e, sh, shape, s->out_ndim);
        binary_node(e, "Reshape", cur, sh, out);
        break;
    }
    case TG_OP_DROPOUT: return 0;
    default:
        return FAIL("export: layer %s (%s) has no ONNX form", m->name, m->type);
    }
    strcpy(cur, out);
    return 0;
}

tg_status tg_onnx_export_mem(tg_model *m, bool fold_bn, uint8_t **out, size_t *len, char *err, size_t errsz)
{
    char scratch[8];
    if (!err) err = scratch, errsz = sizeof scratch;
    *out = NULL, *len = 0;
    if (!m || !m->net) return SAY("export: no model"), TG_ERR_INVALID;
    enum { BATCH_A = 2, BATCH_B = 3 }; /* two batch sizes tell batch-carrying dims from fixed ones */
    shape_log log_a = {0}, log_b = {0};
    exporter e = {.fold_bn = fold_bn, .shapes = &log_a, .shapes2 = &log_b, .batch = BATCH_A, .batch2 = BATCH_B,
                  .err = err, .errsz = errsz};
    tg_status st = TG_ERR_INVALID;
    if (observe(m, BATCH_A, &log_a, err, errsz) || observe(m, BATCH_B, &log_b, err, errsz)) goto done;
    tg_pb_writer *w = &e.w;
    tg_pb_int(w, MODEL_IR_VERSION, TG_ONNX_IR_VERSION);
    tg_pb_string(w, MODEL_PRODUCER, "tapegrad");
    tg_pb_string(w, MODEL_PRODUCER_VERSION, "1");
    const size_t opset = tg_pb_begin(w, MODEL_OPSET);
    tg_pb_string(w, OPSET_DOMAIN, "");
    tg_pb_int(w, OPSET_VERSION, TG_ONNX_OPSET);
    tg_pb_end(w, opset);
    const size_t graph = tg_pb_begin(w, MODEL_GRAPH);
    tg_pb_string(w, GRAPH_NAME, "tapegrad");
    snprintf(e.input, sizeof e.input, "input");
    char cur[ONNX_NAME_LEN] = "input";
    if (export_sequential(&e, m->net, cur)) goto done;
    /* the graph's output gets a stable name */
    simple_node(&e, "Identity", cur, "output");
    int64_t in_shape[5] = {0}, out_shape[TG_MAX_DIMS] = {0};
    memcpy(in_shape + 1, m->in_shape, (size_t)m->in_ndim * sizeof *in_shape);
    memcpy(out_shape + 1, m->out_shape, (size_t)m->out_ndim * sizeof *out_shape);
    value_info(w, GRAPH_INPUT, "input", m->in_ndim + 1, in_shape);
    value_info(w, GRAPH_OUTPUT, "output", m->out_ndim + 1, out_shape);
    tg_pb_end(w, graph);
    if (w->failed) {
        SAY("export: out of memory");
        st = TG_ERR_NOMEM;
        goto done;
    }
    *out = w->buf, *len = w->len;
    w->buf = NULL;
    st = TG_OK;
done:
    free(e.w.buf), free(e.ids), free(log_a.v), free(log_b.v);
    return st;
}

tg_status tg_onnx_export(tg_model *m, const char *path, bool fold_bn, char *err, size_t errsz)
{
    uint8_t *bytes;
    size_t len;
    tg_status st = tg_onnx_export_mem(m, fold_bn, &bytes, &len, err, errsz);
    if (st != TG_OK) return st;
    FILE *f = fopen(path, "wb");
    const bool ok = f && fwrite(bytes, 1, len, f) == len;
    if (f && fclose(f)) st = TG_ERR_IO;
    if (!ok || st != TG_OK) {
        SAY("export: cannot write '%s'", path);
        st = TG_ERR_IO;
    }
    free(bytes);
    return st;
}
