/* nn/onnx.h — ONNX export and import of models (DESIGN.md: `tg export`, `tg import`).
 *
 * Export writes an eval-mode model as an ONNX ModelProto (opset 17, IR version 8, float32) with
 * a dynamic batch dimension "N": conv/conv_transpose 1-3d -> Conv/ConvTranspose, linear -> Gemm
 * (MatMul + Add on inputs of rank > 2), batch_norm -> BatchNormalization (or folded into the conv
 * or linear before it with fold_bn), instance_norm -> InstanceNormalization (BatchNormalization
 * when it tracks running statistics), layer_norm -> LayerNormalization, group_norm, frn, tlu and
 * gelu -> small subgraphs of standard ops, activations, pools, flatten/reshape, add, concat,
 * softmax; dropout is the identity. A layer with no ONNX form (padding_mode other than zeros,
 * locally_connected2d, max_unpool, ...) is an error naming the layer.
 *
 * Import reads an ONNX file made of Conv, ConvTranspose, Gemm, MatMul(+Add), BatchNormalization,
 * InstanceNormalization, LayerNormalization, Relu, LeakyRelu, Sigmoid, Tanh, Elu, Gelu, MaxPool,
 * AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten, Reshape, Add, Concat, Softmax,
 * LogSoftmax, Dropout, Identity and Constant nodes into the model spec text (nn/spec.h) and a
 * model holding the file's weights. Every length, varint, index, dimension and data size is
 * checked; an op outside that list is a one-line error naming it.
 *
 * Ownership: export returns malloc'd bytes; import returns a model (tg_model_free) and malloc'd
 * spec text (free). On error nothing is returned and err holds one line.
 *
 *   char err[256];
 *   if (tg_onnx_export(model, "m.onnx", false, err, sizeof err) != TG_OK) fprintf(stderr, "%s\n", err);
 *   char *spec; tg_model *m2 = tg_onnx_import("m.onnx", &spec, err, sizeof err);
 */
#ifndef TG_NN_ONNX_H
#define TG_NN_ONNX_H

#include "../graph/api.h"
#include "spec.h"

TG_API_BEGIN

#define TG_ONNX_OPSET 17
#define TG_ONNX_IR_VERSION 8
/* Files larger than this are refused before reading (a CNN's weights fit well inside). */
#define TG_ONNX_MAX_BYTES ((size_t)1 << 31)

/* The model as ONNX bytes in *out (malloc'd), *len. fold_bn folds each eval batch norm into
 * the conv/linear layer right before it (when that layer's output is used nowhere else). The
 * model is run in eval mode to learn shapes and restored to its mode. */
tg_status tg_onnx_export_mem(tg_model *m, bool fold_bn, uint8_t **out, size_t *len, char *err, size_t errsz);
/* The same into a file. TG_ERR_IO when it cannot be written. */
tg_status tg_onnx_export(tg_model *m, const char *path, bool fold_bn, char *err, size_t errsz);

/* Parses ONNX bytes; name only names the source in messages. Returns the model (its weights
 * from the file) and, when spec is not NULL, the spec text in *spec. NULL with err. */
tg_model *tg_onnx_import_mem(const uint8_t *bytes, size_t len, const char *name, char **spec, char *err, size_t errsz);
tg_model *tg_onnx_import(const char *path, char **spec, char *err, size_t errsz);

TG_API_END

#endif
