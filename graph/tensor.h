/* graph/tensor.h — the n-d array every op reads and writes.
 *
 * A tg_tensor is contiguous and row-major with up to TG_MAX_DIMS dimensions. Its values are
 * tg_real (float, or double when the library is built with -DTG_REAL_DOUBLE); class labels are
 * int64 tensors (dtype TG_INT64, values in .idata).
 *
 * Ownership: a tensor is either
 *   - long-lived: made by tg_tensor_new(), owned by the caller (usually a module), freed with
 *     tg_tensor_free(); parameters and user data live here; its .grad is malloc'd once on
 *     first use and kept;
 *   - tape-owned: made by an op or by tg_tape_tensor(); it lives in the tape's arena and is gone at
 *     tg_tape_reset() / tg_tape_free(). Never free it.
 *
 *   int64_t shape[2] = {3, 4};
 *   tg_tensor *w = tg_tensor_new(TG_REAL, 2, shape);   // zero-filled
 *   w->requires_grad = true;
 *   ...
 *   tg_tensor_free(w);
 */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

TG_API_BEGIN

#ifdef TG_REAL_DOUBLE
typedef double tg_real;
#define TG_REAL_NAME "float64"
#else
typedef float tg_real;
#define TG_REAL_NAME "float32"
#endif

/* Precision link guard. The float32 library (libtapegrad.a) and the float64 one (libtapegrad64.a,
 * built with -DTG_REAL_DOUBLE) have the same function names but different tg_real, so a program
 * compiled for one precision and linked with the other would run and compute garbage. Every file
 * that includes this header therefore references a symbol that only the library of its own
 * precision defines: a mismatch fails at link time with
 *   undefined reference to `tg_real_is_float32__link_libtapegrad_not_libtapegrad64'
 *   undefined reference to `tg_real_is_float64__link_libtapegrad64_or_drop_TG_REAL_DOUBLE'
 * (GCC and Clang; other compilers get no guard). */
#ifdef TG_REAL_DOUBLE
#define TG_PRECISION_GUARD tg_real_is_float64__link_libtapegrad64_or_drop_TG_REAL_DOUBLE
#else
#define TG_PRECISION_GUARD tg_real_is_float32__link_libtapegrad_not_libtapegrad64
#endif
extern const int TG_PRECISION_GUARD;
#if defined(__GNUC__)
__attribute__((used)) static const int *const tg_precision_guard_ref = &TG_PRECISION_GUARD;
#endif

#define TG_MAX_DIMS 8
#define TG_NAME_LEN 48
/* Room for a shape printed as "[a,b,...]" with 8 int64 dims. */
#define TG_SHAPE_STR_LEN 192

typedef enum tg_dtype { TG_REAL = 0, TG_INT64 = 1 } tg_dtype;

struct tg_node;
struct tg_tape;

typedef struct tg_tensor {
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    union {
        tg_real *data;  /* dtype TG_REAL */
        int64_t *idata; /* dtype TG_INT64 */
    };
    tg_real *grad;      /* same size as data; NULL until a gradient reaches the tensor */
    bool grad_borrowed; /* grad is tg_backward_with's dy, read-only: copied before anything adds to it */
    bool requires_grad; /* leaves: set by the user; op outputs: set when recorded on the tape */
    bool retains_grad;  /* an op output whose grad sums over backward calls (tg_tensor_retain_grad) */
    bool is_param;      /* a module's learnable parameter (drawn differently in DOT) */
    bool owns_data;     /* long-lived tensors that malloc'd their data */
    bool backward_reads; /* a recorded node's backward reads these values (tg_op_desc.unread_inputs):
                          * nn's forward frees an intermediate without it once no layer reads it */
    struct tg_node *node;  /* the op that produced it, when recorded; NULL for leaves */
    struct tg_tape *tape;  /* arena owner; NULL for long-lived tensors */
    const int64_t *indices; /* argmax positions kept by an op that selects (tg_max), arena; else NULL */
    tg_real *grad_spare;    /* a cleared gradient's buffer (tg_tensor_clear_grad), kept for the next
                             * backward to write into; never a gradient itself */
    char name[TG_NAME_LEN];
} tg_tensor;

/* A new long-lived tensor, zero-filled. NULL when ndim is out of 0..8, a dim is negative, or
 * memory runs out. */
tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape);
/* Long-lived tensor from a shape given as arguments: tg_tensor_newv(2, 3, 4) is 3x4 real. */
tg_tensor *tg_tensor_newv(int ndim, ...);
/* Frees a long-lived tensor with its data and grad; NULL and tape tensors are ignored. */
void tg_tensor_free(tg_tensor *t);

/* Element count of a shape; -1 if a dim is negative or the count overflows int64. */
int64_t tg_shape_numel(int ndim, const int64_t *shape);
/* Writes "[2,3,8,8]" into buf (size >= TG_SHAPE_STR_LEN is always enough); returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t size);
char *tg_shape_str_raw(int ndim, const int64_t *shape, char *buf, size_t size);
bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* Sets every value (real tensors) to v. */
void tg_tensor_fill(tg_tensor *t, tg_real v);
/* Copies values from an array of numel elements. */
void tg_tensor_set(tg_tensor *t, const tg_real *values);
/* Gives the tensor a gradient buffer (zeroed) if it has none; returns it, NULL when out of memory.
 * Long-lived tensors malloc it once; tape tensors take it from the arena. */
tg_real *tg_tensor_grad(tg_tensor *t);
/* Makes an op output keep its gradient summed over backward calls, as a leaf does (PyTorch's
 * y.retain_grad()); without it an op output's grad holds the latest call's gradient only. Call it
 * before the backward. No effect on leaves, which always accumulate. */
void tg_tensor_retain_grad(tg_tensor *t);
/* Sets the gradient to zero when there is one. */
void tg_tensor_zero_grad(tg_tensor *t);
/* Removes the gradient (PyTorch's zero_grad(set_to_none=True)): grad is NULL until a backward
 * reaches the tensor again. A long-lived tensor keeps the buffer, and the next backward's first
 * gradient is written into it where tg_tensor_zero_grad would have it zero-filled and then added
 * to: one pass over the memory instead of three for an op that writes its whole input gradient
 * (convolution, pooling, normalization, linear, elementwise). */
void tg_tensor_clear_grad(tg_tensor *t);
/* Names the tensor (DOT labels, parameter names); truncates to TG_NAME_LEN-1. Returns t. */
tg_tensor *tg_tensor_set_name(tg_tensor *t, const char *name);

TG_API_END

#endif
