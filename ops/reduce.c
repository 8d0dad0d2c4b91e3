/* ops/reduce.c — placeholder descriptors: the reduce family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_sum = {.name = "sum", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_mean = {.name = "mean", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_max = {.name = "max", .min_inputs = 1, .max_inputs = 1};
