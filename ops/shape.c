/* ops/shape.c — placeholder descriptors: the shape family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_reshape = {.name = "reshape", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_flatten = {.name = "flatten", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_permute = {.name = "permute", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_transpose = {.name = "transpose", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_concat = {.name = "concat", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_slice = {.name = "slice", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_pad = {.name = "pad", .min_inputs = 1, .max_inputs = 1};
