/* tapegrad.h — the one header a tapegrad user includes.
 *
 * tapegrad is a reverse-mode autodiff engine for convolutional networks in C11. Ops record nodes
 * on a tape; tg_backward() runs them in reverse. See README.md and docs/architecture.md.
 *
 *   #include "tapegrad.h"
 *   tg_tape *tape = tg_tape_new(0);
 *   tg_tensor *x = tg_tensor_newv(2, (int64_t)1, (int64_t)3);
 *   x->requires_grad = true;
 *   tg_tensor *y = tg_sum(tape, tg_mul(tape, x, x), TG_DIM_NONE, false);
 *   if (!y || tg_backward(y) != TG_OK) puts(tg_error(tape));   // x->grad now holds 2x
 *   tg_tape_free(tape);
 *   tg_tensor_free(x);
 *
 * It includes the public headers only; their declarations are the library's exported symbols
 * (graph/api.h). Internals (the GEMM and the other kernels, the thread pool, the tape's entry
 * points for tg_op_apply, the module struct) sit in headers it does not include.
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "graph/error.h"
#include "graph/tensor.h"
#include "graph/tape.h"
#include "graph/gradcheck.h"
#include "graph/npy.h"
#include "graph/dot.h"
#include "ops/op.h"
#include "ops/arith.h"
#include "ops/linalg.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/activation.h"
#include "ops/loss.h"
#include "ops/conv.h"
#include "ops/pool.h"
#include "ops/norm.h"
#include "ops/gradcheck_op.h"
#include "ops/kernels/threads.h"
#include "optim/optim.h"
#include "nn/module.h"
#include "nn/spec.h"
#include "nn/data.h"
#include "nn/checkpoint.h"
#include "nn/train.h"
#include "nn/infer.h"
#include "nn/image.h"
#include "nn/onnx.h"

#endif
