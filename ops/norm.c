/* ops/norm.c — placeholder descriptors: the norm family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_batch_norm = {.name = "batch_norm", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_layer_norm = {.name = "layer_norm", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_instance_norm = {.name = "instance_norm", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_group_norm = {.name = "group_norm", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_frn = {.name = "frn", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_tlu = {.name = "tlu", .min_inputs = 1, .max_inputs = 1};
