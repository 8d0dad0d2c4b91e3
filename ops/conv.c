/* ops/conv.c — placeholder descriptors: the conv family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_conv1d = {.name = "conv1d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_conv2d = {.name = "conv2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_conv3d = {.name = "conv3d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_conv_transpose1d = {.name = "conv_transpose1d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_conv_transpose2d = {.name = "conv_transpose2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_conv_transpose3d = {.name = "conv_transpose3d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_locally_connected2d = {.name = "locally_connected2d", .min_inputs = 1, .max_inputs = 1};
