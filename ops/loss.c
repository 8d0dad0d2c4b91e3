/* ops/loss.c — placeholder descriptors: the loss family is not implemented yet. */
#include "op.h"

const tg_op_desc tg_op_desc_cross_entropy = {.name = "cross_entropy", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_nll_loss = {.name = "nll_loss", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_mse_loss = {.name = "mse_loss", .min_inputs = 1, .max_inputs = 1};
const tg_op_desc tg_op_desc_l1_loss = {.name = "l1_loss", .min_inputs = 1, .max_inputs = 1};
