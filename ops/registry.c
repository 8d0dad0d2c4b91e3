/* ops/registry.c — the table of built-in ops, indexed by tg_op_id. Each descriptor lives in its
 * family's file (ops/<family>.c) beside the forward and backward it names. */
#include "op.h"

extern const tg_op_desc tg_op_desc_add;
extern const tg_op_desc tg_op_desc_sub;
extern const tg_op_desc tg_op_desc_mul;
extern const tg_op_desc tg_op_desc_div;
extern const tg_op_desc tg_op_desc_neg;
extern const tg_op_desc tg_op_desc_exp;
extern const tg_op_desc tg_op_desc_log;
extern const tg_op_desc tg_op_desc_sqrt;
extern const tg_op_desc tg_op_desc_pow;
extern const tg_op_desc tg_op_desc_matmul;
extern const tg_op_desc tg_op_desc_linear;
extern const tg_op_desc tg_op_desc_sum;
extern const tg_op_desc tg_op_desc_mean;
extern const tg_op_desc tg_op_desc_max;
extern const tg_op_desc tg_op_desc_reshape;
extern const tg_op_desc tg_op_desc_flatten;
extern const tg_op_desc tg_op_desc_permute;
extern const tg_op_desc tg_op_desc_transpose;
extern const tg_op_desc tg_op_desc_concat;
extern const tg_op_desc tg_op_desc_slice;
extern const tg_op_desc tg_op_desc_pad;
extern const tg_op_desc tg_op_desc_relu;
extern const tg_op_desc tg_op_desc_leaky_relu;
extern const tg_op_desc tg_op_desc_elu;
extern const tg_op_desc tg_op_desc_sigmoid;
extern const tg_op_desc tg_op_desc_tanh;
extern const tg_op_desc tg_op_desc_gelu;
extern const tg_op_desc tg_op_desc_softmax;
extern const tg_op_desc tg_op_desc_log_softmax;
extern const tg_op_desc tg_op_desc_cross_entropy;
extern const tg_op_desc tg_op_desc_nll_loss;
extern const tg_op_desc tg_op_desc_mse_loss;
extern const tg_op_desc tg_op_desc_l1_loss;
extern const tg_op_desc tg_op_desc_dropout;
extern const tg_op_desc tg_op_desc_conv1d;
extern const tg_op_desc tg_op_desc_conv2d;
extern const tg_op_desc tg_op_desc_conv3d;
extern const tg_op_desc tg_op_desc_conv_transpose1d;
extern const tg_op_desc tg_op_desc_conv_transpose2d;
extern const tg_op_desc tg_op_desc_conv_transpose3d;
extern const tg_op_desc tg_op_desc_locally_connected2d;
extern const tg_op_desc tg_op_desc_max_pool1d;
extern const tg_op_desc tg_op_desc_max_pool2d;
extern const tg_op_desc tg_op_desc_max_pool3d;
extern const tg_op_desc tg_op_desc_avg_pool1d;
extern const tg_op_desc tg_op_desc_avg_pool2d;
extern const tg_op_desc tg_op_desc_avg_pool3d;
extern const tg_op_desc tg_op_desc_global_avg_pool;
extern const tg_op_desc tg_op_desc_global_max_pool;
extern const tg_op_desc tg_op_desc_adaptive_avg_pool2d;
extern const tg_op_desc tg_op_desc_adaptive_max_pool2d;
extern const tg_op_desc tg_op_desc_max_unpool1d;
extern const tg_op_desc tg_op_desc_max_unpool2d;
extern const tg_op_desc tg_op_desc_max_unpool3d;
extern const tg_op_desc tg_op_desc_batch_norm;
extern const tg_op_desc tg_op_desc_layer_norm;
extern const tg_op_desc tg_op_desc_instance_norm;
extern const tg_op_desc tg_op_desc_group_norm;
extern const tg_op_desc tg_op_desc_frn;
extern const tg_op_desc tg_op_desc_tlu;

/* Sized by its initializers: a missing last entry shrinks it (the static assert below), a missing
 * entry inside leaves a NULL hole (tg_op_builtin_missing, tested). */
const tg_op_desc *const tg_builtin_ops[] = {
    [TG_OP_ADD] = &tg_op_desc_add,
    [TG_OP_SUB] = &tg_op_desc_sub,
    [TG_OP_MUL] = &tg_op_desc_mul,
    [TG_OP_DIV] = &tg_op_desc_div,
    [TG_OP_NEG] = &tg_op_desc_neg,
    [TG_OP_EXP] = &tg_op_desc_exp,
    [TG_OP_LOG] = &tg_op_desc_log,
    [TG_OP_SQRT] = &tg_op_desc_sqrt,
    [TG_OP_POW] = &tg_op_desc_pow,
    [TG_OP_MATMUL] = &tg_op_desc_matmul,
    [TG_OP_LINEAR] = &tg_op_desc_linear,
    [TG_OP_SUM] = &tg_op_desc_sum,
    [TG_OP_MEAN] = &tg_op_desc_mean,
    [TG_OP_MAX] = &tg_op_desc_max,
    [TG_OP_RESHAPE] = &tg_op_desc_reshape,
    [TG_OP_FLATTEN] = &tg_op_desc_flatten,
    [TG_OP_PERMUTE] = &tg_op_desc_permute,
    [TG_OP_TRANSPOSE] = &tg_op_desc_transpose,
    [TG_OP_CONCAT] = &tg_op_desc_concat,
    [TG_OP_SLICE] = &tg_op_desc_slice,
    [TG_OP_PAD] = &tg_op_desc_pad,
    [TG_OP_RELU] = &tg_op_desc_relu,
    [TG_OP_LEAKY_RELU] = &tg_op_desc_leaky_relu,
    [TG_OP_ELU] = &tg_op_desc_elu,
    [TG_OP_SIGMOID] = &tg_op_desc_sigmoid,
    [TG_OP_TANH] = &tg_op_desc_tanh,
    [TG_OP_GELU] = &tg_op_desc_gelu,
    [TG_OP_SOFTMAX] = &tg_op_desc_softmax,
    [TG_OP_LOG_SOFTMAX] = &tg_op_desc_log_softmax,
    [TG_OP_CROSS_ENTROPY] = &tg_op_desc_cross_entropy,
    [TG_OP_NLL_LOSS] = &tg_op_desc_nll_loss,
    [TG_OP_MSE_LOSS] = &tg_op_desc_mse_loss,
    [TG_OP_L1_LOSS] = &tg_op_desc_l1_loss,
    [TG_OP_DROPOUT] = &tg_op_desc_dropout,
    [TG_OP_CONV1D] = &tg_op_desc_conv1d,
    [TG_OP_CONV2D] = &tg_op_desc_conv2d,
    [TG_OP_CONV3D] = &tg_op_desc_conv3d,
    [TG_OP_CONV_TRANSPOSE1D] = &tg_op_desc_conv_transpose1d,
    [TG_OP_CONV_TRANSPOSE2D] = &tg_op_desc_conv_transpose2d,
    [TG_OP_CONV_TRANSPOSE3D] = &tg_op_desc_conv_transpose3d,
    [TG_OP_LOCALLY_CONNECTED2D] = &tg_op_desc_locally_connected2d,
    [TG_OP_MAX_POOL1D] = &tg_op_desc_max_pool1d,
    [TG_OP_MAX_POOL2D] = &tg_op_desc_max_pool2d,
    [TG_OP_MAX_POOL3D] = &tg_op_desc_max_pool3d,
    [TG_OP_AVG_POOL1D] = &tg_op_desc_avg_pool1d,
    [TG_OP_AVG_POOL2D] = &tg_op_desc_avg_pool2d,
    [TG_OP_AVG_POOL3D] = &tg_op_desc_avg_pool3d,
    [TG_OP_GLOBAL_AVG_POOL] = &tg_op_desc_global_avg_pool,
    [TG_OP_GLOBAL_MAX_POOL] = &tg_op_desc_global_max_pool,
    [TG_OP_ADAPTIVE_AVG_POOL2D] = &tg_op_desc_adaptive_avg_pool2d,
    [TG_OP_ADAPTIVE_MAX_POOL2D] = &tg_op_desc_adaptive_max_pool2d,
    [TG_OP_MAX_UNPOOL1D] = &tg_op_desc_max_unpool1d,
    [TG_OP_MAX_UNPOOL2D] = &tg_op_desc_max_unpool2d,
    [TG_OP_MAX_UNPOOL3D] = &tg_op_desc_max_unpool3d,
    [TG_OP_BATCH_NORM] = &tg_op_desc_batch_norm,
    [TG_OP_LAYER_NORM] = &tg_op_desc_layer_norm,
    [TG_OP_INSTANCE_NORM] = &tg_op_desc_instance_norm,
    [TG_OP_GROUP_NORM] = &tg_op_desc_group_norm,
    [TG_OP_FRN] = &tg_op_desc_frn,
    [TG_OP_TLU] = &tg_op_desc_tlu,
};

_Static_assert(sizeof tg_builtin_ops / sizeof tg_builtin_ops[0] == TG_OP_COUNT,
               "ops/registry.c has no descriptor for the last tg_op_id (or one past it)");

int tg_op_builtin_missing(void)
{
    for (int id = 0; id < TG_OP_COUNT; id++)
        if (!tg_builtin_ops[id]) return id;
    return -1;
}
