/* nn/onnx.c — ONNX export (a walk over the model's layers writing nodes and initializers) and
 * import (a validating parse of ModelProto into spec lines plus weights); see onnx.h. The ONNX
 * field numbers are those of onnx.proto (ONNX 1.12). */
#include "onnx.h"
#include "module_internal.h"
#include "data.h"
#include "protobuf.h"
#include "../ops/activation.h"
#include "../ops/norm.h"
#include "../ops/pool.h"
#include "../ops/shape.h"

#include <math.h>
#include <stdarg.h>
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
    /* a linear layer's features are the last dim, BN's channels dim 1: the same only at rank 2 */
    const layer_shapes *s = shapes_of(e->shapes, m);
    if (m->op == TG_OP_LINEAR && (!s || s->out_ndim != 2)) return NULL;
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
        const int64_t out = w->shape[0];
        if (tg_module_tensor(bn, "running_mean")->numel != out)
            return FAIL("export: layer %s (%s): batch norm %s has %lld channels for %lld outputs", m->name, m->type,
                        bn->name, (long long)tg_module_tensor(bn, "running_mean")->numel, (long long)out);
        wc = tg_tensor_new(TG_REAL, w->ndim, w->shape);
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
        if (rank > 2) {
            const size_t node = node_begin(e, "ReduceMean", (const char *const[]){sq}, 1, nu);
            attr_ints(e, "axes", axes, rank - 2);
            attr_int(e, "keepdims", 1);
            node_end(e, node);
        } else { /* [N,C]: no spatial dims to average (an empty axes list would reduce them all) */
            simple_node(e, "Identity", sq, nu);
        }
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
        for (int i = 0; i < dims && a->ceil_mode; i++) {
            /* ONNX's ceil_mode size has no rule against a last window that starts in the right
             * padding; PyTorch's (and tapegrad's) drops that window */
            const int64_t span = s->in[2 + i] + 2 * pads[i] - dil[i] * (k[i] - 1) - 1;
            const int64_t onnx_size = (span + st[i] - 1) / st[i] + 1;
            if (onnx_size != s->out[2 + i])
                return FAIL("export: layer %s (%s): with ceil_mode=1 ONNX makes dim %d of size %lld, tapegrad %lld", m->name,
                            m->type, 2 + i, (long long)onnx_size, (long long)s->out[2 + i]);
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
        if (m->op == TG_OP_FLATTEN && s->out_ndim == 2) { /* nn.Flatten's default: ONNX Flatten */
            const size_t node = node_begin(e, "Flatten", (const char *const[]){cur}, 1, out);
            attr_int(e, "axis", 1);
            node_end(e, node);
            break;
        }
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

/* ======================================================================================
 * Import
 * ====================================================================================== */

enum {
    IMPORT_MAX_NODES = 1 << 14,
    IMPORT_MAX_TENSORS = 1 << 14,
    IMPORT_MAX_NODE_INPUTS = 8,
    IMPORT_MAX_NODE_OUTPUTS = 4,
    IMPORT_MAX_ATTRS = 16,
    IMPORT_MAX_INTS = 16,
    IMPORT_MIN_OPSET = 13, /* Softmax's axis and Reshape's shape input mean what they mean here from 13 on */
};
#define IMPORT_MAX_DIM ((int64_t)1 << 32) /* larger dims are refused before any product */
#define IMPORT_MAX_SAMPLE ((int64_t)1 << 26) /* values in one input sample (a 4-channel 4096x4096 image) */

typedef struct otensor {
    char name[ONNX_NAME_LEN];
    int ndim;
    int64_t dims[TG_MAX_DIMS];
    int64_t numel;
    double *v; /* every element type is decoded to double (int64 shapes are small) */
} otensor;

typedef struct oattr {
    char name[32];
    int type;
    int64_t i;
    double f;
    int64_t ints[IMPORT_MAX_INTS];
    int n_ints;
    char s[32];
} oattr;

typedef struct onode {
    char op[32], name[ONNX_NAME_LEN];
    char in[IMPORT_MAX_NODE_INPUTS][ONNX_NAME_LEN], out[IMPORT_MAX_NODE_OUTPUTS][ONNX_NAME_LEN];
    int n_in, n_out;
    oattr attrs[IMPORT_MAX_ATTRS];
    int n_attrs;
} onode;

typedef struct ograph {
    onode *nodes;
    int n_nodes;
    otensor *tensors;
    int n_tensors;
    char inputs[IMPORT_MAX_NODE_INPUTS][ONNX_NAME_LEN];
    int in_ndims[IMPORT_MAX_NODE_INPUTS];
    int64_t in_shapes[IMPORT_MAX_NODE_INPUTS][TG_MAX_DIMS];
    int n_inputs;
    char output[ONNX_NAME_LEN];
    int n_outputs;
    int64_t opset;
    const uint8_t *base;
    char *err;
    size_t errsz;
} ograph;

/* Writes the reason and returns -1. */
static int gfail(ograph *g, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int gfail(ograph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, g->errsz, fmt, ap);
    va_end(ap);
    return -1;
}
#define GFAIL gfail

static void graph_free(ograph *g)
{
    for (int i = 0; i < g->n_tensors; i++) free(g->tensors[i].v);
    free(g->tensors), free(g->nodes);
}

/* Copies a length-delimited field into a NUL-terminated name (no NUL bytes, below size). */
static int copy_name(ograph *g, const tg_pb_field *f, char *out, size_t size, const char *what)
{
    if (f->wire != TG_PB_LEN) return GFAIL(g, "%s: wire type %d where a string belongs", what, f->wire);
    if (f->len >= size) return GFAIL(g, "%s: a name of %zu bytes (at most %zu)", what, f->len, size - 1);
    if (memchr(f->data, 0, f->len)) return GFAIL(g, "%s: a name holds a NUL byte", what);
    memcpy(out, f->data, f->len);
    out[f->len] = 0;
    return 0;
}

static int want_wire(ograph *g, const tg_pb_field *f, int wire, const char *what)
{
    return f->wire == wire ? 0 : GFAIL(g, "%s: field %u has wire type %d, expected %d", what, f->number, f->wire, wire);
}

static float f32_bits(uint32_t bits)
{
    float v;
    memcpy(&v, &bits, 4);
    return v;
}
static double f64_bits(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

/* Parses a TensorProto into a new entry of g->tensors (name overridden when `name` is given). */
static int parse_tensor(ograph *g, const uint8_t *data, size_t len, const char *name)
{
    if (g->n_tensors >= IMPORT_MAX_TENSORS) return GFAIL(g, "more than %d tensors", IMPORT_MAX_TENSORS);
    otensor t = {.numel = 1};
    int64_t dtype = 0;
    const uint8_t *raw = NULL;
    size_t raw_len = 0, n_typed = 0;
    bool has_raw = false;
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc;
    char why[160];
    /* pass 1: shape, type, name, where the values are, how many */
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        switch (f.number) {
        case TENSOR_DIMS: {
            int64_t dims[TG_MAX_DIMS];
            int n = 0;
            if (tg_pb_ints(&f, dims, &n, TG_MAX_DIMS - t.ndim, why, sizeof why))
                return GFAIL(g, "tensor '%s': dims: %s (at most %d dims)", t.name, why, TG_MAX_DIMS);
            for (int i = 0; i < n; i++) {
                if (dims[i] < 0 || dims[i] > IMPORT_MAX_DIM) return GFAIL(g, "tensor '%s': dim %lld out of range", t.name, (long long)dims[i]);
                t.dims[t.ndim++] = dims[i];
                if (t.numel > IMPORT_MAX_DIM / (dims[i] ? dims[i] : 1)) return GFAIL(g, "tensor '%s': too many elements", t.name);
                t.numel *= dims[i];
            }
            break;
        }
        case TENSOR_DATA_TYPE:
            if (want_wire(g, &f, TG_PB_VARINT, "tensor data_type")) return -1;
            dtype = (int64_t)f.u;
            break;
        case TENSOR_NAME:
            if (copy_name(g, &f, t.name, sizeof t.name, "tensor name")) return -1;
            break;
        case TENSOR_RAW_DATA:
            if (want_wire(g, &f, TG_PB_LEN, "tensor raw_data")) return -1;
            raw = f.data, raw_len = f.len, has_raw = true;
            break;
        case TENSOR_FLOAT_DATA: case TENSOR_INT32_DATA: case TENSOR_INT64_DATA: case TENSOR_DOUBLE_DATA:
            if (f.wire == TG_PB_LEN && (f.number == TENSOR_FLOAT_DATA || f.number == TENSOR_DOUBLE_DATA)) {
                const size_t w = f.number == TENSOR_FLOAT_DATA ? 4 : 8;
                if (f.len % w) return GFAIL(g, "tensor '%s': packed data of %zu bytes is not whole values", t.name, f.len);
                n_typed += f.len / w;
            } else if (f.wire == TG_PB_LEN) { /* packed varints: count the bytes that end one */
                size_t run = 0;
                for (size_t i = 0; i < f.len; i++) {
                    if (++run > 10) return GFAIL(g, "tensor '%s': bad packed varint", t.name);
                    if (!(f.data[i] & 0x80)) n_typed++, run = 0;
                }
                if (run) return GFAIL(g, "tensor '%s': packed varint cut at the end", t.name);
            } else {
                n_typed++;
            }
            break;
        case TENSOR_DATA_LOCATION:
            if (f.wire == TG_PB_VARINT && f.u != 0)
                return GFAIL(g, "tensor '%s': external data is not supported (save the model in one file)", t.name);
            break;
        default:
            break; /* doc strings, segments, ... */
        }
    }
    if (rc < 0) return GFAIL(g, "tensor '%s': %s", t.name, why);
    if (name) snprintf(t.name, sizeof t.name, "%s", name);
    size_t width;
    switch (dtype) {
    case DTYPE_FLOAT: case DTYPE_INT32: width = 4; break;
    case DTYPE_INT64: case DTYPE_DOUBLE: width = 8; break;
    default: return GFAIL(g, "tensor '%s': element type %lld is not float, double, int32 or int64", t.name, (long long)dtype);
    }
    const size_t have = has_raw ? raw_len / width : n_typed;
    if ((has_raw && raw_len % width) || have != (size_t)t.numel)
        return GFAIL(g, "tensor '%s': %zu values stored for %lld elements", t.name, has_raw ? raw_len / width : n_typed,
                     (long long)t.numel);
    t.v = malloc((size_t)(t.numel ? t.numel : 1) * sizeof *t.v);
    if (!t.v) return GFAIL(g, "out of memory");
    /* pass 2: the values */
    if (has_raw) {
        for (int64_t i = 0; i < t.numel; i++) {
            uint64_t u = 0;
            for (size_t b = 0; b < width; b++) u |= (uint64_t)raw[(size_t)i * width + b] << (8 * b);
            t.v[i] = dtype == DTYPE_FLOAT ? f32_bits((uint32_t)u) : dtype == DTYPE_DOUBLE ? f64_bits(u)
                   : dtype == DTYPE_INT32 ? (double)(int32_t)(uint32_t)u : (double)(int64_t)u;
        }
    } else {
        int64_t k = 0;
        tg_pb_reader r2 = {data, data + len};
        while (tg_pb_next(&r2, &f, NULL, NULL, 0) > 0) {
            if (f.number != TENSOR_FLOAT_DATA && f.number != TENSOR_INT32_DATA && f.number != TENSOR_INT64_DATA &&
                f.number != TENSOR_DOUBLE_DATA)
                continue;
            const bool is_float = f.number == TENSOR_FLOAT_DATA, is_double = f.number == TENSOR_DOUBLE_DATA;
            if (f.wire == TG_PB_LEN && (is_float || is_double)) {
                const size_t w = is_float ? 4 : 8;
                for (size_t i = 0; i + w <= f.len && k < t.numel; i += w) {
                    uint64_t u = 0;
                    for (size_t b = 0; b < w; b++) u |= (uint64_t)f.data[i + b] << (8 * b);
                    t.v[k++] = is_float ? f32_bits((uint32_t)u) : f64_bits(u);
                }
            } else if (f.wire == TG_PB_LEN) {
                for (const uint8_t *p = f.data, *end = f.data + f.len; p < end && k < t.numel;) {
                    uint64_t u = 0;
                    for (int s = 0; p < end; s += 7) {
                        const uint8_t b = *p++;
                        if (s < 64) u |= (uint64_t)(b & 0x7f) << s;
                        if (!(b & 0x80)) break;
                    }
                    t.v[k++] = f.number == TENSOR_INT32_DATA ? (double)(int32_t)u : (double)(int64_t)u;
                }
            } else if (k < t.numel) {
                t.v[k++] = is_float ? f32_bits((uint32_t)f.u) : is_double ? f64_bits(f.u)
                         : f.number == TENSOR_INT32_DATA ? (double)(int32_t)f.u : (double)(int64_t)f.u;
            }
        }
        if (k != t.numel) {
            free(t.v);
            return GFAIL(g, "tensor '%s': its values are stored in fields of another type", t.name);
        }
    }
    for (int64_t i = 0; i < t.numel; i++)
        if (!isfinite(t.v[i])) {
            free(t.v);
            return GFAIL(g, "tensor '%s': element %lld is not finite", t.name, (long long)i);
        }
    if (!g->n_tensors || !(g->n_tensors & (g->n_tensors - 1))) { /* grow at powers of two */
        otensor *v = realloc(g->tensors, (size_t)(g->n_tensors ? 2 * g->n_tensors : 1) * sizeof *v);
        if (!v) {
            free(t.v);
            return GFAIL(g, "out of memory");
        }
        g->tensors = v;
    }
    g->tensors[g->n_tensors++] = t;
    return 0;
}

static int parse_attr(ograph *g, onode *n, const uint8_t *data, size_t len)
{
    if (n->n_attrs >= IMPORT_MAX_ATTRS) return GFAIL(g, "node '%s': more than %d attributes", n->name, IMPORT_MAX_ATTRS);
    oattr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc;
    char why[160];
    const uint8_t *tensor = NULL;
    size_t tensor_len = 0;
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        switch (f.number) {
        case ATTR_NAME:
            if (copy_name(g, &f, a->name, sizeof a->name, "attribute name")) return -1;
            break;
        case ATTR_TYPE:
            if (want_wire(g, &f, TG_PB_VARINT, "attribute type")) return -1;
            a->type = (int)(f.u & 0xff);
            break;
        case ATTR_F:
            if (want_wire(g, &f, TG_PB_FIXED32, "attribute f")) return -1;
            a->f = f32_bits((uint32_t)f.u);
            break;
        case ATTR_I:
            if (want_wire(g, &f, TG_PB_VARINT, "attribute i")) return -1;
            a->i = (int64_t)f.u;
            break;
        case ATTR_S:
            if (f.wire != TG_PB_LEN) return GFAIL(g, "attribute s: wire type %d", f.wire);
            snprintf(a->s, sizeof a->s, "%.*s", (int)(f.len < sizeof a->s ? f.len : sizeof a->s - 1), (const char *)f.data);
            if (memchr(a->s, 0, strlen(a->s))) a->s[0] = 0;
            break;
        case ATTR_T:
            if (want_wire(g, &f, TG_PB_LEN, "attribute t")) return -1;
            tensor = f.data, tensor_len = f.len;
            break;
        case ATTR_INTS:
            if (tg_pb_ints(&f, a->ints, &a->n_ints, IMPORT_MAX_INTS, why, sizeof why))
                return GFAIL(g, "node '%s': attribute '%s': %s", n->name, a->name, why);
            break;
        default:
            break;
        }
    }
    if (rc < 0) return GFAIL(g, "node '%s': attribute: %s", n->name, why);
    if (a->type == ATTR_TYPE_TENSOR) {
        if (!tensor) return GFAIL(g, "node '%s': tensor attribute '%s' without a tensor", n->name, a->name);
        /* Constant's value: a tensor named after the node's output (known after the node) */
        if (parse_tensor(g, tensor, tensor_len, "")) return -1;
        a->i = g->n_tensors - 1;
    }
    return 0;
}

static int parse_node(ograph *g, const uint8_t *data, size_t len)
{
    if (g->n_nodes >= IMPORT_MAX_NODES) return GFAIL(g, "more than %d nodes", IMPORT_MAX_NODES);
    if (!g->n_nodes || !(g->n_nodes & (g->n_nodes - 1))) {
        onode *v = realloc(g->nodes, (size_t)(g->n_nodes ? 2 * g->n_nodes : 1) * sizeof *v);
        if (!v) return GFAIL(g, "out of memory");
        g->nodes = v;
    }
    onode *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc;
    char why[160], domain[64] = "";
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        switch (f.number) {
        case NODE_INPUT:
            if (n->n_in >= IMPORT_MAX_NODE_INPUTS) return GFAIL(g, "node '%s': more than %d inputs", n->name, IMPORT_MAX_NODE_INPUTS);
            if (copy_name(g, &f, n->in[n->n_in++], ONNX_NAME_LEN, "node input")) return -1;
            break;
        case NODE_OUTPUT:
            if (n->n_out >= IMPORT_MAX_NODE_OUTPUTS) return GFAIL(g, "node '%s': more than %d outputs", n->name, IMPORT_MAX_NODE_OUTPUTS);
            if (copy_name(g, &f, n->out[n->n_out++], ONNX_NAME_LEN, "node output")) return -1;
            break;
        case NODE_NAME:
            if (copy_name(g, &f, n->name, sizeof n->name, "node name")) return -1;
            break;
        case NODE_OP_TYPE:
            if (copy_name(g, &f, n->op, sizeof n->op, "op_type")) return -1;
            break;
        case NODE_DOMAIN:
            if (copy_name(g, &f, domain, sizeof domain, "node domain")) return -1;
            break;
        case NODE_ATTRIBUTE:
            if (want_wire(g, &f, TG_PB_LEN, "node attribute") || parse_attr(g, n, f.data, f.len)) return -1;
            break;
        default:
            break;
        }
    }
    if (rc < 0) return GFAIL(g, "node: %s", why);
    if (domain[0] && strcmp(domain, "ai.onnx"))
        return GFAIL(g, "node '%s': unsupported op '%s' of domain '%s'", n->name, n->op, domain);
    if (!n->op[0]) return GFAIL(g, "node '%s' has no op_type", n->name);
    if (n->n_out < 1) return GFAIL(g, "node '%s' (%s) has no output", n->name, n->op);
    for (int i = 0; i < n->n_attrs; i++) /* a Constant's tensor takes its output's name */
        if (n->attrs[i].type == ATTR_TYPE_TENSOR) snprintf(g->tensors[n->attrs[i].i].name, ONNX_NAME_LEN, "%s", n->out[0]);
    return 0;
}

/* ValueInfoProto: name and, for the graph input, the shape (dim 0 may be symbolic). */
static int parse_value_info(ograph *g, const uint8_t *data, size_t len, char *name, int *ndim, int64_t *shape)
{
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc;
    char why[160];
    *ndim = 0;
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        if (f.number == VALUE_NAME && copy_name(g, &f, name, ONNX_NAME_LEN, "value name")) return -1;
        if (f.number != VALUE_TYPE || f.wire != TG_PB_LEN) continue;
        /* TypeProto -> tensor_type -> shape -> dim -> dim_value | dim_param */
        tg_pb_reader rt = {f.data, f.data + f.len};
        tg_pb_field ft;
        while ((rc = tg_pb_next(&rt, &ft, g->base, why, sizeof why)) > 0) {
            if (ft.number != TYPE_TENSOR || ft.wire != TG_PB_LEN) continue;
            tg_pb_reader rtt = {ft.data, ft.data + ft.len};
            tg_pb_field ftt;
            while ((rc = tg_pb_next(&rtt, &ftt, g->base, why, sizeof why)) > 0) {
                if (ftt.number == TENSOR_TYPE_ELEM && ftt.wire == TG_PB_VARINT && ftt.u != DTYPE_FLOAT && ftt.u != DTYPE_DOUBLE)
                    *ndim = -2; /* not a real-valued input */
                if (ftt.number != TENSOR_TYPE_SHAPE || ftt.wire != TG_PB_LEN) continue;
                tg_pb_reader rs = {ftt.data, ftt.data + ftt.len};
                tg_pb_field fs;
                while ((rc = tg_pb_next(&rs, &fs, g->base, why, sizeof why)) > 0) {
                    if (fs.number != SHAPE_DIM || fs.wire != TG_PB_LEN || *ndim < 0) continue;
                    if (*ndim >= TG_MAX_DIMS) return GFAIL(g, "input '%s': more than %d dims", name, TG_MAX_DIMS);
                    int64_t d = -1; /* symbolic */
                    tg_pb_reader rd = {fs.data, fs.data + fs.len};
                    tg_pb_field fd;
                    while ((rc = tg_pb_next(&rd, &fd, g->base, why, sizeof why)) > 0)
                        if (fd.number == DIM_VALUE && fd.wire == TG_PB_VARINT) d = (int64_t)fd.u;
                    if (rc < 0) return GFAIL(g, "input '%s': %s", name, why);
                    shape[(*ndim)++] = d;
                }
                if (rc < 0) return GFAIL(g, "input '%s': %s", name, why);
            }
            if (rc < 0) return GFAIL(g, "input '%s': %s", name, why);
        }
        if (rc < 0) return GFAIL(g, "input '%s': %s", name, why);
    }
    if (rc < 0) return GFAIL(g, "value info: %s", why);
    return 0;
}

static int parse_graph(ograph *g, const uint8_t *data, size_t len)
{
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc;
    char why[160];
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        switch (f.number) {
        case GRAPH_NODE:
            if (want_wire(g, &f, TG_PB_LEN, "graph node") || parse_node(g, f.data, f.len)) return -1;
            break;
        case GRAPH_INITIALIZER:
            if (want_wire(g, &f, TG_PB_LEN, "graph initializer") || parse_tensor(g, f.data, f.len, NULL)) return -1;
            break;
        case GRAPH_INPUT:
            if (want_wire(g, &f, TG_PB_LEN, "graph input")) return -1;
            if (g->n_inputs >= IMPORT_MAX_NODE_INPUTS) {
                /* older exporters list every initializer as an input too: keep the count, not the names */
                g->n_inputs++;
                break;
            }
            if (parse_value_info(g, f.data, f.len, g->inputs[g->n_inputs], &g->in_ndims[g->n_inputs], g->in_shapes[g->n_inputs]))
                return -1;
            g->n_inputs++;
            break;
        case GRAPH_OUTPUT: {
            if (want_wire(g, &f, TG_PB_LEN, "graph output")) return -1;
            int nd;
            int64_t shape[TG_MAX_DIMS];
            if (parse_value_info(g, f.data, f.len, g->output, &nd, shape)) return -1;
            g->n_outputs++;
            break;
        }
        default:
            break;
        }
    }
    return rc < 0 ? GFAIL(g, "graph: %s", why) : 0;
}

static int parse_model(ograph *g, const uint8_t *data, size_t len)
{
    tg_pb_reader r = {data, data + len};
    tg_pb_field f;
    int rc, graphs = 0;
    char why[160];
    g->opset = -1;
    while ((rc = tg_pb_next(&r, &f, g->base, why, sizeof why)) > 0) {
        if (f.number == MODEL_GRAPH) {
            if (want_wire(g, &f, TG_PB_LEN, "model graph")) return -1;
            if (graphs++) return GFAIL(g, "more than one graph");
            if (parse_graph(g, f.data, f.len)) return -1;
        } else if (f.number == MODEL_OPSET) {
            if (want_wire(g, &f, TG_PB_LEN, "opset_import")) return -1;
            char domain[64] = "";
            int64_t version = -1;
            tg_pb_reader ro = {f.data, f.data + f.len};
            tg_pb_field fo;
            while ((rc = tg_pb_next(&ro, &fo, g->base, why, sizeof why)) > 0) {
                if (fo.number == OPSET_DOMAIN && copy_name(g, &fo, domain, sizeof domain, "opset domain")) return -1;
                if (fo.number == OPSET_VERSION && fo.wire == TG_PB_VARINT) version = (int64_t)fo.u;
            }
            if (rc < 0) return GFAIL(g, "opset_import: %s", why);
            if (!domain[0] || !strcmp(domain, "ai.onnx")) g->opset = version;
        }
    }
    if (rc < 0) return GFAIL(g, "%s", why);
    if (!graphs) return GFAIL(g, "no graph (not an ONNX model file)");
    if (g->opset < IMPORT_MIN_OPSET)
        return GFAIL(g, "opset %lld: need %d or newer (export with opset_version>=%d)", (long long)g->opset,
                     IMPORT_MIN_OPSET, IMPORT_MIN_OPSET);
    return 0;
}

/* ---- graph -> spec lines ---- */

typedef struct ovalue {
    char name[ONNX_NAME_LEN];
    int line;    /* the spec line (layer index) whose output it is; -1: the model input */
    int rank;
    int tensor;  /* an initializer / Constant: index into g->tensors, else -1 */
    int alias;   /* Identity/Dropout output: the value it stands for, else -1 */
} ovalue;

typedef struct oparam {
    int line;
    char name[TG_NAME_LEN];
    double *v;   /* owned, already in tapegrad's layout */
    int64_t numel;
} oparam;

typedef struct importer {
    ograph *g;
    ovalue *values;
    int n_values, cap_values;
    char *text;          /* the spec lines, "\n"-separated, without ids */
    size_t text_len, text_cap;
    int n_lines;
    size_t *line_end;    /* where each line ends in text (ids are inserted there at the end) */
    bool *needs_id;
    oparam *params;
    int n_params;
    int cur;             /* the value the next layer reads */
} importer;

#define IFAIL(im, ...) GFAIL((im)->g, __VA_ARGS__)

static int find_value(const importer *im, const char *name)
{
    for (int i = im->n_values - 1; i >= 0; i--)
        if (!strcmp(im->values[i].name, name)) return im->values[i].alias >= 0 ? im->values[i].alias : i;
    return -1;
}

static int add_value(importer *im, const char *name, int line, int rank, int tensor)
{
    if (im->n_values == im->cap_values) {
        const int cap = im->cap_values ? 2 * im->cap_values : 64;
        ovalue *v = realloc(im->values, (size_t)cap * sizeof *v);
        if (!v) return IFAIL(im, "out of memory");
        im->values = v, im->cap_values = cap;
    }
    ovalue *v = &im->values[im->n_values];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->line = line, v->rank = rank, v->tensor = tensor, v->alias = -1;
    return im->n_values++;
}

/* Appends one spec line (printf-style); its output is a new value named out. */
static int emit(importer *im, const char *out, int rank, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int emit(importer *im, const char *out, int rank, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) return IFAIL(im, "a layer line is too long");
    if (im->text_len + (size_t)n + 2 > im->text_cap) {
        const size_t cap = 2 * (im->text_cap + (size_t)n + 2);
        char *t = realloc(im->text, cap);
        if (!t) return IFAIL(im, "out of memory");
        im->text = t, im->text_cap = cap;
    }
    if (!(im->n_lines & (im->n_lines - 1)) || !im->n_lines) {
        const int cap = im->n_lines ? 2 * im->n_lines : 1;
        size_t *e = realloc(im->line_end, (size_t)cap * sizeof *e);
        bool *b = e ? realloc(im->needs_id, (size_t)cap * sizeof *b) : NULL;
        if (e) im->line_end = e;
        if (!b) return IFAIL(im, "out of memory");
        im->needs_id = b;
    }
    memcpy(im->text + im->text_len, line, (size_t)n);
    im->text_len += (size_t)n;
    im->line_end[im->n_lines] = im->text_len;
    im->needs_id[im->n_lines] = false;
    im->text[im->text_len++] = '\n';
    im->text[im->text_len] = 0;
    const int v = add_value(im, out, im->n_lines++, rank, -1);
    if (v < 0) return -1;
    im->cur = v;
    return 0;
}

/* The spec name of a value for from= (marking the layer that makes it to get an id). */
static const char *ref(importer *im, int value, char *buf, size_t size)
{
    if (value == im->cur) return ".";
    if (im->values[value].line < 0) return "input";
    im->needs_id[im->values[value].line] = true;
    snprintf(buf, size, "v%d", im->values[value].line);
    return buf;
}

/* A node's input i as a data value (made by a layer or the model input). */
static int data_input(importer *im, const onode *n, int i)
{
    if (i >= n->n_in || !n->in[i][0]) return IFAIL(im, "node '%s' (%s): input %d is missing", n->name, n->op, i);
    const int v = find_value(im, n->in[i]);
    if (v < 0) return IFAIL(im, "node '%s' (%s): input '%s' is not produced before it", n->name, n->op, n->in[i]);
    if (im->values[v].tensor >= 0)
        return IFAIL(im, "node '%s' (%s): input %d '%s' is a constant where tapegrad needs the layer input", n->name,
                     n->op, i, n->in[i]);
    return v;
}

/* A node's input i as a constant tensor (NULL with the error; optional inputs may be absent). */
static const otensor *const_input(importer *im, const onode *n, int i, bool optional, bool *missing)
{
    if (missing) *missing = false;
    if (i >= n->n_in || !n->in[i][0]) {
        if (optional) {
            if (missing) *missing = true;
            return NULL;
        }
        IFAIL(im, "node '%s' (%s): input %d is missing", n->name, n->op, i);
        return NULL;
    }
    const int v = find_value(im, n->in[i]);
    if (v < 0 || im->values[v].tensor < 0) {
        IFAIL(im, "node '%s' (%s): input %d '%s' must be a constant (an initializer)", n->name, n->op, i, n->in[i]);
        return NULL;
    }
    return &im->g->tensors[im->values[v].tensor];
}

/* Makes value v the current one: a one-input concat selects it. */
static int select_value(importer *im, int v)
{
    if (v == im->cur) return 0;
    char buf[32];
    const char *r = ref(im, v, buf, sizeof buf);
    char name[ONNX_NAME_LEN];
    snprintf(name, sizeof name, "%s", im->values[v].name);
    return emit(im, name, im->values[v].rank, "concat from=%s", r);
}

static const oattr *attr_of(const onode *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}
static int64_t attr_i(const onode *n, const char *name, int64_t def)
{
    const oattr *a = attr_of(n, name);
    return a ? a->i : def;
}
static double attr_f(const onode *n, const char *name, double def)
{
    const oattr *a = attr_of(n, name);
    return a ? a->f : def;
}

/* "3,3" from v[0..n) into buf. */
static const char *int_list(const int64_t *v, int n, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < size; i++) at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "," : "", (long long)v[i]);
    return buf;
}

static int add_param(importer *im, const char *name, const otensor *t, double scale, bool transpose)
{
    oparam *p = realloc(im->params, (size_t)(im->n_params + 1) * sizeof *p);
    if (!p) return IFAIL(im, "out of memory");
    im->params = p;
    p = &im->params[im->n_params];
    p->line = im->n_lines; /* the line emitted next */
    snprintf(p->name, sizeof p->name, "%s", name);
    p->numel = t->numel;
    p->v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *p->v);
    if (!p->v) return IFAIL(im, "out of memory");
    im->n_params++;
    if (transpose) { /* [rows, cols] -> [cols, rows] */
        const int64_t rows = t->dims[0], cols = t->dims[1];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) p->v[c * rows + r] = scale * t->v[r * cols + c];
    } else {
        for (int64_t i = 0; i < t->numel; i++) p->v[i] = scale * t->v[i];
    }
    return 0;
}

/* Spatial geometry of Conv/ConvTranspose/MaxPool/AveragePool: kernel, strides, symmetric pads,
 * dilations as spec keys. dims spatial dims; kernel from the weight or kernel_shape. */
static int geometry(importer *im, const onode *n, int dims, const int64_t *kernel, bool stride_default_one, char *out,
                    size_t size)
{
    const oattr *ap = attr_of(n, "auto_pad");
    if (ap && ap->s[0] && strcmp(ap->s, "NOTSET") && strcmp(ap->s, "VALID"))
        return IFAIL(im, "node '%s' (%s): auto_pad=%s is not supported (export with explicit pads)", n->name, n->op, ap->s);
    const oattr *ks = attr_of(n, "kernel_shape"), *st = attr_of(n, "strides"), *pd = attr_of(n, "pads"),
                *dl = attr_of(n, "dilations");
    if (ks && ks->n_ints != dims) return IFAIL(im, "node '%s' (%s): kernel_shape has %d values for %d spatial dims", n->name, n->op, ks->n_ints, dims);
    if (st && st->n_ints != dims) return IFAIL(im, "node '%s' (%s): strides has %d values for %d spatial dims", n->name, n->op, st->n_ints, dims);
    if (dl && dl->n_ints != dims) return IFAIL(im, "node '%s' (%s): dilations has %d values for %d spatial dims", n->name, n->op, dl->n_ints, dims);
    if (pd && pd->n_ints != 2 * dims) return IFAIL(im, "node '%s' (%s): pads has %d values for %d spatial dims", n->name, n->op, pd->n_ints, dims);
    int64_t k[3], s[3], p[3], d[3];
    for (int i = 0; i < dims; i++) {
        k[i] = kernel ? kernel[i] : ks ? ks->ints[i] : 0;
        if (ks && kernel && ks->ints[i] != kernel[i])
            return IFAIL(im, "node '%s' (%s): kernel_shape %lld differs from the weight's %lld", n->name, n->op,
                         (long long)ks->ints[i], (long long)kernel[i]);
        s[i] = st ? st->ints[i] : stride_default_one ? 1 : k[i];
        d[i] = dl ? dl->ints[i] : 1;
        p[i] = pd ? pd->ints[i] : 0;
        if (pd && pd->ints[i] != pd->ints[dims + i])
            return IFAIL(im, "node '%s' (%s): asymmetric pads (%lld before, %lld after dim %d) are not supported",
                         n->name, n->op, (long long)pd->ints[i], (long long)pd->ints[dims + i], i);
        if (k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0 || k[i] > IMPORT_MAX_DIM || s[i] > IMPORT_MAX_DIM ||
            d[i] > IMPORT_MAX_DIM || p[i] > IMPORT_MAX_DIM)
            return IFAIL(im, "node '%s' (%s): kernel, strides, dilations and pads must be positive (pads >= 0)", n->name, n->op);
    }
    char a[4][64];
    snprintf(out, size, "kernel=%s stride=%s padding=%s dilation=%s", int_list(k, dims, a[0], 64),
             int_list(s, dims, a[1], 64), int_list(p, dims, a[2], 64), int_list(d, dims, a[3], 64));
    return 0;
}

/* How many nodes read the value (and 1 more when it is the graph output). */
static int uses(const ograph *g, const char *name)
{
    int count = !strcmp(g->output, name);
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) count += !strcmp(g->nodes[i].in[k], name);
    return count;
}

static int convert_node(importer *im, int index)
{
    ograph *g = im->g;
    const onode *n = &g->nodes[index];
    const char *op = n->op;
    char geo[256], buf[64];
    bool missing;
    for (int o = 1; o < n->n_out; o++) /* second outputs (indices, masks, statistics) */
        if (n->out[o][0] && uses(g, n->out[o]))
            return IFAIL(im, "node '%s' (%s): its output %d '%s' is used, which tapegrad does not provide", n->name, op, o, n->out[o]);
    if (!strcmp(op, "Constant")) {
        const oattr *a = attr_of(n, "value");
        if (!a || a->type != ATTR_TYPE_TENSOR) return IFAIL(im, "node '%s' (Constant): only a 'value' tensor is supported", n->name);
        return add_value(im, n->out[0], -1, g->tensors[a->i].ndim, (int)a->i) < 0 ? -1 : 0;
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) { /* inference: the same value */
        const int v = find_value(im, n->in[0]);
        if (n->n_in < 1 || v < 0) return IFAIL(im, "node '%s' (%s): input is not produced before it", n->name, op);
        const int a = add_value(im, n->out[0], -1, 0, -1);
        if (a >= 0) im->values[a].alias = v;
        return a < 0 ? -1 : 0;
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sum")) {
        if (n->n_in != 2) return IFAIL(im, "node '%s' (%s): %d inputs (2 supported)", n->name, op, n->n_in);
        const int a = data_input(im, n, 0), b = a < 0 ? -1 : data_input(im, n, 1);
        if (a < 0 || b < 0) return -1;
        const int other = a == im->cur ? b : a;
        if (select_value(im, a == im->cur ? a : b == im->cur ? b : a)) return -1;
        return emit(im, n->out[0], im->values[im->cur].rank, "add from=%s", ref(im, other == im->cur ? a : other, buf, sizeof buf));
    }
    if (!strcmp(op, "Concat")) {
        const int64_t axis = attr_i(n, "axis", 1);
        if (n->n_in < 1 || n->n_in > TG_MODULE_MAX_FROM) return IFAIL(im, "node '%s' (Concat): %d inputs (1..%d supported)", n->name, n->n_in, TG_MODULE_MAX_FROM);
        char list[4 * 40] = "", part[32];
        int rank = 0;
        for (int i = 0; i < n->n_in; i++) {
            const int v = data_input(im, n, i);
            if (v < 0) return -1;
            rank = im->values[v].rank;
            strcat(list, i ? "," : "");
            strcat(list, ref(im, v, part, sizeof part));
        }
        if (axis != 1 && axis != 1 - rank) return IFAIL(im, "node '%s' (Concat): axis %lld (only the channel axis 1 is supported)", n->name, (long long)axis);
        return emit(im, n->out[0], rank, "concat from=%s", list);
    }
    /* every other op reads one data value: make it current */
    const int x = data_input(im, n, 0);
    if (x < 0 || select_value(im, x)) return -1;
    const int rank = im->values[x].rank;
    if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) {
        const bool transposed = op[4] == 'T';
        const otensor *w = const_input(im, n, 1, false, NULL), *b = w ? const_input(im, n, 2, true, &missing) : NULL;
        if (!w || (!b && !missing)) return -1;
        const int dims = w->ndim - 2;
        if (dims < 1 || dims > 3 || rank != dims + 2)
            return IFAIL(im, "node '%s' (%s): weight of %d dims on an input of rank %d (1-3 spatial dims supported)", n->name, op, w->ndim, rank);
        const int64_t groups = attr_i(n, "group", 1);
        if (groups < 1 || groups > w->dims[0]) return IFAIL(im, "node '%s' (%s): group %lld out of range", n->name, op, (long long)groups);
        const int64_t out = transposed ? w->dims[1] * groups : w->dims[0];
        if (b && (b->numel != out)) return IFAIL(im, "node '%s' (%s): bias of %lld values for %lld output channels", n->name, op, (long long)b->numel, (long long)out);
        if (geometry(im, n, dims, w->dims + 2, true, geo, sizeof geo)) return -1;
        char extra[96] = "";
        if (transposed) {
            if (attr_of(n, "output_shape")) return IFAIL(im, "node '%s' (ConvTranspose): output_shape is not supported (give pads)", n->name);
            const oattr *op_ = attr_of(n, "output_padding");
            int64_t opad[3] = {0, 0, 0};
            if (op_ && op_->n_ints != dims) return IFAIL(im, "node '%s' (ConvTranspose): output_padding has %d values", n->name, op_->n_ints);
            for (int i = 0; op_ && i < dims; i++) opad[i] = op_->ints[i];
            snprintf(extra, sizeof extra, " output_padding=%s", int_list(opad, dims, buf, sizeof buf));
        }
        if (add_param(im, "weight", w, 1, false) || (b && add_param(im, "bias", b, 1, false))) return -1;
        return emit(im, n->out[0], rank, "%s%dd out=%lld %s groups=%lld bias=%d%s", transposed ? "conv_transpose" : "conv",
                    dims, (long long)out, geo, (long long)groups, b != NULL, extra);
    }
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
        const bool gemm = op[0] == 'G';
        const otensor *w = const_input(im, n, 1, false, NULL), *c = NULL;
        if (!w) return -1;
        if (w->ndim != 2) return IFAIL(im, "node '%s' (%s): weight of %d dims (2 supported)", n->name, op, w->ndim);
        if (gemm && (attr_i(n, "transA", 0) || rank != 2)) return IFAIL(im, "node '%s' (Gemm): transA=1 or an input of rank %d is not supported", n->name, rank);
        const bool trans_b = gemm && attr_i(n, "transB", 0);
        const int64_t out = trans_b ? w->dims[0] : w->dims[1];
        const double alpha = gemm ? attr_f(n, "alpha", 1) : 1, beta = gemm ? attr_f(n, "beta", 1) : 1;
        const char *result = n->out[0];
        if (gemm) {
            c = const_input(im, n, 2, true, &missing);
            if (!c && !missing) return -1;
        } else if (index + 1 < g->n_nodes && !strcmp(g->nodes[index + 1].op, "Add") && uses(g, n->out[0]) == 1) {
            /* MatMul + Add of a constant [out]: the linear layer's bias */
            const onode *add = &g->nodes[index + 1];
            const int k = add->n_in == 2 && !strcmp(add->in[0], n->out[0]) ? 1 : add->n_in == 2 && !strcmp(add->in[1], n->out[0]) ? 0 : -1;
            const int cv = k >= 0 ? find_value(im, add->in[k]) : -1;
            if (cv >= 0 && im->values[cv].tensor >= 0 && g->tensors[im->values[cv].tensor].numel == out) {
                c = &g->tensors[im->values[cv].tensor];
                result = add->out[0];
            }
        }
        if (c && c->numel != out) return IFAIL(im, "node '%s' (%s): bias of %lld values for %lld outputs", n->name, op, (long long)c->numel, (long long)out);
        if (add_param(im, "weight", w, alpha, !trans_b) || (c && add_param(im, "bias", c, beta, false))) return -1;
        if (emit(im, result, rank, "linear out=%lld bias=%d", (long long)out, c != NULL)) return -1;
        if (result != n->out[0]) return add_value(im, n->out[0], -2, rank, -1) < 0 ? -1 : 1; /* skip the Add */
        return 0;
    }
    if (!strcmp(op, "BatchNormalization")) {
        if (attr_i(n, "training_mode", 0)) return IFAIL(im, "node '%s' (BatchNormalization): training_mode=1 is not supported", n->name);
        const otensor *t[4];
        static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int i = 0; i < 4; i++)
            if (!(t[i] = const_input(im, n, i + 1, false, NULL))) return -1;
        for (int i = 0; i < 4; i++) {
            if (t[i]->numel != t[0]->numel) return IFAIL(im, "node '%s' (BatchNormalization): %s has %lld values, scale %lld", n->name, names[i], (long long)t[i]->numel, (long long)t[0]->numel);
            if (add_param(im, names[i], t[i], 1, false)) return -1;
        }
        return emit(im, n->out[0], rank, "batch_norm eps=%.9g", attr_f(n, "epsilon", 1e-5));
    }
    if (!strcmp(op, "InstanceNormalization")) {
        const otensor *s = const_input(im, n, 1, false, NULL), *b = s ? const_input(im, n, 2, false, NULL) : NULL;
        if (!b) return -1;
        if (add_param(im, "weight", s, 1, false) || add_param(im, "bias", b, 1, false)) return -1;
        return emit(im, n->out[0], rank, "instance_norm affine=1 eps=%.9g", attr_f(n, "epsilon", 1e-5));
    }
    if (!strcmp(op, "LayerNormalization")) {
        const otensor *s = const_input(im, n, 1, false, NULL), *b = s ? const_input(im, n, 2, true, &missing) : NULL;
        if (!s || (!b && !missing)) return -1;
        const int64_t axis = attr_i(n, "axis", -1), ns = axis < 0 ? -axis : rank - axis;
        if (ns < 1 || ns > rank - 1 || s->ndim != ns)
            return IFAIL(im, "node '%s' (LayerNormalization): axis %lld with a scale of %d dims on rank %d is not supported", n->name, (long long)axis, s->ndim, rank);
        if (add_param(im, "weight", s, 1, false) || (b && add_param(im, "bias", b, 1, false))) return -1;
        return emit(im, n->out[0], rank, "layer_norm normalized_shape=%s eps=%.9g", int_list(s->dims, s->ndim, geo, sizeof geo), attr_f(n, "epsilon", 1e-5));
    }
    if (!strcmp(op, "Pad")) {
        const otensor *p = const_input(im, n, 1, false, NULL), *cv = p ? const_input(im, n, 2, true, &missing) : NULL;
        if (!p || (!cv && !missing)) return -1;
        const oattr *ma = attr_of(n, "mode");
        const char *mode = !ma || !strcmp(ma->s, "constant") ? "constant" : !strcmp(ma->s, "reflect") ? "reflect"
                         : !strcmp(ma->s, "edge") ? "replicate" : NULL;
        if (!mode) return IFAIL(im, "node '%s' (Pad): mode '%s' is not supported", n->name, ma->s);
        if (p->numel != 2 * rank || (cv && cv->numel > 1) || n->n_in > 3)
            return IFAIL(im, "node '%s' (Pad): pads of %lld values for rank %d (axes are not supported)", n->name, (long long)p->numel, rank);
        bool zero = true;
        for (int i = 0; i < 2 * rank; i++) {
            if (p->v[i] < 0 || p->v[i] > (double)IMPORT_MAX_DIM) return IFAIL(im, "node '%s' (Pad): negative or huge pads are not supported", n->name);
            if ((i % rank) < 2 && p->v[i] != 0) return IFAIL(im, "node '%s' (Pad): only spatial dims may be padded", n->name);
            zero = zero && p->v[i] == 0;
        }
        if (zero) { /* PyTorch writes an empty Pad before count_include_pad pooling */
            const int a = add_value(im, n->out[0], -1, 0, -1);
            if (a >= 0) im->values[a].alias = x;
            return a < 0 ? -1 : 0;
        }
        int64_t torch_order[2 * TG_MAX_DIMS]; /* F.pad: last dim first, (begin, end) pairs */
        int k = 0;
        for (int d = rank - 1; d >= 2; d--) torch_order[k++] = (int64_t)p->v[d], torch_order[k++] = (int64_t)p->v[rank + d];
        return emit(im, n->out[0], rank, "pad pad=%s mode=%s value=%.9g", int_list(torch_order, k, geo, sizeof geo), mode,
                    cv && cv->numel ? cv->v[0] : 0.0);
    }
    static const struct { const char *onnx, *spec; } plain[] = {
        {"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"GlobalAveragePool", "global_avg_pool"},
        {"GlobalMaxPool", "global_max_pool"},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (!strcmp(op, plain[i].onnx)) return emit(im, n->out[0], rank, "%s", plain[i].spec);
    if (!strcmp(op, "LeakyRelu")) return emit(im, n->out[0], rank, "leaky_relu slope=%.9g", attr_f(n, "alpha", 0.01));
    if (!strcmp(op, "Elu")) return emit(im, n->out[0], rank, "elu alpha=%.9g", attr_f(n, "alpha", 1.0));
    if (!strcmp(op, "Gelu")) {
        const oattr *a = attr_of(n, "approximate");
        if (a && strcmp(a->s, "none") && strcmp(a->s, "tanh")) return IFAIL(im, "node '%s' (Gelu): approximate='%s'", n->name, a->s);
        return emit(im, n->out[0], rank, "gelu%s", a && !strcmp(a->s, "tanh") ? " approximate=tanh" : "");
    }
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
        const int64_t axis = attr_i(n, "axis", -1);
        if (axis < -rank || axis >= rank) return IFAIL(im, "node '%s' (%s): axis %lld out of range for rank %d", n->name, op, (long long)axis, rank);
        return emit(im, n->out[0], rank, "%s dim=%lld", op[0] == 'S' ? "softmax" : "log_softmax", (long long)axis);
    }
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
        const bool max = op[0] == 'M';
        const int dims = rank - 2;
        if (dims < 1 || dims > 3) return IFAIL(im, "node '%s' (%s): input of rank %d", n->name, op, rank);
        if (!attr_of(n, "kernel_shape")) return IFAIL(im, "node '%s' (%s): no kernel_shape", n->name, op);
        if (geometry(im, n, dims, NULL, true, geo, sizeof geo)) return -1;
        if (!max && attr_of(n, "dilations")) return IFAIL(im, "node '%s' (AveragePool): dilations are not supported", n->name);
        if (!max) *strstr(geo, " dilation=") = 0;
        return emit(im, n->out[0], rank, "%s_pool%dd %s ceil_mode=%d%s", max ? "max" : "avg", dims, geo,
                    attr_i(n, "ceil_mode", 0) != 0, max ? "" : attr_i(n, "count_include_pad", 0) ? " count_include_pad=1" : " count_include_pad=0");
    }
    if (!strcmp(op, "Flatten")) {
        const int64_t axis = attr_i(n, "axis", 1);
        if (axis != 1 && axis != 1 - rank) return IFAIL(im, "node '%s' (Flatten): axis %lld (only 1 keeps the batch)", n->name, (long long)axis);
        return emit(im, n->out[0], 2, "flatten");
    }
    if (!strcmp(op, "Reshape")) {
        const otensor *s = const_input(im, n, 1, false, NULL);
        if (!s) return -1;
        if (attr_i(n, "allowzero", 0)) return IFAIL(im, "node '%s' (Reshape): allowzero=1 is not supported", n->name);
        if (s->ndim != 1 || s->numel < 2 || s->numel > TG_MAX_DIMS || (s->v[0] != 0 && s->v[0] != -1))
            return IFAIL(im, "node '%s' (Reshape): shape must keep the batch (first value 0 or -1) and give 1..%d more dims", n->name, TG_MAX_DIMS - 1);
        bool fixed = true;
        for (int64_t i = 1; i < s->numel; i++) fixed = fixed && s->v[i] >= 1 && s->v[i] <= (double)IMPORT_MAX_DIM;
        if (s->numel == 2 && s->v[0] == 0 && s->v[1] == -1) return emit(im, n->out[0], 2, "flatten");
        if (!fixed) return IFAIL(im, "node '%s' (Reshape): only [0,-1] or [batch, fixed sizes...] shapes are supported", n->name);
        int64_t v[TG_MAX_DIMS] = {-1};
        for (int64_t i = 1; i < s->numel; i++) v[i] = (int64_t)s->v[i];
        return emit(im, n->out[0], (int)s->numel, "reshape shape=%s", int_list(v, (int)s->numel, geo, sizeof geo));
    }
    return IFAIL(im, "unsupported op '%s' (node '%s')", op, n->name);
}

static void importer_free(importer *im)
{
    for (int i = 0; i < im->n_params; i++) free(im->params[i].v);
    free(im->params), free(im->values), free(im->text), free(im->line_end), free(im->needs_id);
}

/* The spec text with the input line and the ids the joins need. */
static char *spec_text(const importer *im, const ograph *g, int in_ndim, const int64_t *in_shape)
{
    size_t size = im->text_len + 64 + (size_t)im->n_lines * 16 + 128;
    char *s = malloc(size);
    if (!s) return NULL;
    size_t at = (size_t)snprintf(s, size, "# imported from ONNX (opset %lld)\ninput ", (long long)g->opset);
    for (int i = 0; i < in_ndim; i++) at += (size_t)snprintf(s + at, size - at, "%s%lld", i ? "x" : "", (long long)in_shape[i]);
    s[at++] = '\n';
    size_t from = 0;
    for (int l = 0; l < im->n_lines; l++) {
        const size_t end = im->line_end[l];
        memcpy(s + at, im->text + from, end - from);
        at += end - from;
        if (im->needs_id[l]) at += (size_t)snprintf(s + at, size - at, " id=v%d", l);
        s[at++] = '\n';
        from = end + 1;
    }
    s[at] = 0;
    return s;
}

tg_model *tg_onnx_import_mem(const uint8_t *bytes, size_t len, const char *name, char **spec, char *err, size_t errsz)
{
    char scratch[8], reason[320] = "";
    if (!err) err = scratch, errsz = sizeof scratch;
    if (spec) *spec = NULL;
    if (!name) name = "onnx";
    ograph g = {.base = bytes, .err = reason, .errsz = sizeof reason};
    importer im = {.g = &g};
    tg_model *m = NULL;
    char *text = NULL;
    if (!bytes) {
        snprintf(reason, sizeof reason, "no data");
        goto fail;
    }
    if (parse_model(&g, bytes, len)) goto fail;
    /* the one real input: a graph input that is not an initializer */
    int input = -1;
    for (int i = 0; i < g.n_inputs && i < IMPORT_MAX_NODE_INPUTS; i++) {
        bool is_init = false;
        for (int t = 0; t < g.n_tensors && !is_init; t++) is_init = !strcmp(g.tensors[t].name, g.inputs[i]);
        if (is_init) continue;
        if (input >= 0) {
            GFAIL(&g, "the graph has more than one input ('%s', '%s'); tapegrad models have one", g.inputs[input], g.inputs[i]);
            goto fail;
        }
        input = i;
    }
    if (input < 0) {
        GFAIL(&g, "the graph has no input");
        goto fail;
    }
    const int in_rank = g.in_ndims[input];
    int64_t in_numel = 1;
    if (in_rank < 2 || in_rank > 5) {
        GFAIL(&g, "input '%s': %d dims (need a float tensor [N, C, ...] of 2..5 dims)", g.inputs[input], in_rank);
        goto fail;
    }
    for (int i = 1; i < in_rank; i++)
        if (g.in_shapes[input][i] < 1 || g.in_shapes[input][i] > IMPORT_MAX_DIM) {
            GFAIL(&g, "input '%s': dim %d must be a fixed positive size (only the batch may be symbolic)", g.inputs[input], i);
            goto fail;
        } else if ((in_numel *= g.in_shapes[input][i]) > IMPORT_MAX_SAMPLE) {
            GFAIL(&g, "input '%s': more than %lld values per sample", g.inputs[input], (long long)IMPORT_MAX_SAMPLE);
            goto fail;
        }
    if (g.n_outputs != 1) {
        GFAIL(&g, "the graph has %d outputs; tapegrad models have one", g.n_outputs);
        goto fail;
    }
    if (add_value(&im, g.inputs[input], -1, in_rank, -1) < 0) goto fail;
    for (int t = 0; t < g.n_tensors; t++)
        if (g.tensors[t].name[0] && add_value(&im, g.tensors[t].name, -1, g.tensors[t].ndim, t) < 0) goto fail;
    for (int i = 0; i < g.n_nodes; i++) {
        const int rc = convert_node(&im, i);
        if (rc < 0) goto fail;
        i += rc; /* a fused node */
    }
    const int out = find_value(&im, g.output);
    if (out < 0 || im.values[out].tensor >= 0 || im.values[out].line < -1) {
        GFAIL(&g, "the graph output '%s' is not made by a layer", g.output);
        goto fail;
    }
    if (select_value(&im, out)) goto fail;
    if (!im.n_lines) {
        GFAIL(&g, "the graph has no layers");
        goto fail;
    }
    text = spec_text(&im, &g, in_rank - 1, g.in_shapes[input] + 1);
    if (!text) {
        GFAIL(&g, "out of memory");
        goto fail;
    }
    char parse_err[256];
    m = tg_model_parse(text, name, 0, parse_err, sizeof parse_err);
    if (!m) {
        GFAIL(&g, "the layers do not fit together: %s", parse_err);
        goto fail;
    }
    if (m->net->n_children != im.n_lines) {
        GFAIL(&g, "internal: %d layers for %d lines", m->net->n_children, im.n_lines);
        goto fail;
    }
    for (int i = 0; i < im.n_params; i++) {
        const oparam *p = &im.params[i];
        tg_module *layer = m->net->children[p->line];
        tg_tensor *t = tg_module_tensor(layer, p->name);
        if (!t || t->numel != p->numel) {
            GFAIL(&g, "layer %d (%s): the file's %s has %lld values, the layer's %lld", p->line, layer->type, p->name,
                  (long long)p->numel, t ? (long long)t->numel : 0LL);
            goto fail;
        }
        for (int64_t k = 0; k < t->numel; k++) t->data[k] = (tg_real)p->v[k];
    }
    tg_module_train(m->net, false);
    importer_free(&im);
    graph_free(&g);
    if (spec) *spec = text;
    else free(text);
    return m;
fail:
    SAY("import: %s: %s", name, reason);
    tg_model_free(m);
    free(text);
    importer_free(&im);
    graph_free(&g);
    return NULL;
}

tg_model *tg_onnx_import(const char *path, char **spec, char *err, size_t errsz)
{
    uint8_t *bytes;
    size_t len;
    if (spec) *spec = NULL;
    if (tg_read_file(path, TG_ONNX_MAX_BYTES, &bytes, &len, err, errsz) != TG_OK) return NULL;
    tg_model *m = tg_onnx_import_mem(bytes, len, path, spec, err, errsz);
    free(bytes);
    return m;
}
