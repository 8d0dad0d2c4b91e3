/* ops/arith.c — placeholder descriptors: the arith family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_add = {.name = "add", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_sub = {.name = "sub", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_mul = {.name = "mul", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_div = {.name = "div", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_neg = {.name = "neg", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_exp = {.name = "exp", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_log = {.name = "log", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_sqrt = {.name = "sqrt", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_pow = {.name = "pow", .min_inputs = 1, .max_inputs = 1};
