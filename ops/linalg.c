/* ops/linalg.c — placeholder descriptors: the linalg family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_matmul = {.name = "matmul", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_linear = {.name = "linear", .min_inputs = 1, .max_inputs = 1};
