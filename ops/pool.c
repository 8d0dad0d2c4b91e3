/* ops/pool.c — placeholder descriptors: the pool family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_max_pool1d = {.name = "max_pool1d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max_pool2d = {.name = "max_pool2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max_pool3d = {.name = "max_pool3d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_avg_pool1d = {.name = "avg_pool1d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_avg_pool2d = {.name = "avg_pool2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_avg_pool3d = {.name = "avg_pool3d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_global_avg_pool = {.name = "global_avg_pool", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_global_max_pool = {.name = "global_max_pool", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_adaptive_avg_pool2d = {.name = "adaptive_avg_pool2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_adaptive_max_pool2d = {.name = "adaptive_max_pool2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max_unpool1d = {.name = "max_unpool1d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max_unpool2d = {.name = "max_unpool2d", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max_unpool3d = {.name = "max_unpool3d", .min_inputs = 1, .max_inputs = 1};
