/* ops/activation.c — placeholder descriptors: the activation family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_relu = {.name = "relu", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_leaky_relu = {.name = "leaky_relu", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_elu = {.name = "elu", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_sigmoid = {.name = "sigmoid", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_tanh = {.name = "tanh", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_gelu = {.name = "gelu", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_softmax = {.name = "softmax", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_log_softmax = {.name = "log_softmax", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_dropout = {.name = "dropout", .min_inputs = 1, .max_inputs = 1};
