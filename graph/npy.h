/* graph/npy.h — NumPy .npy files (format 1.0/2.0/3.0): float32, float64 and int64, little-endian,
 * C order. Every header field is validated before the data is trusted; anything else (Fortran
 * order, big-endian, object arrays, truncated data, shape/size mismatch) is a TG_ERR_FORMAT with a
 * one-line reason.
 *
 * Ownership: loaded tensors are long-lived; free them with tg_tensor_free().
 *
 *   char err[256];
 *   tg_tensor *x = NULL;
 *   if (tg_npy_load("x.npy", &x, err, sizeof err) != TG_OK) fprintf(stderr, "%s\n", err);
 */
#ifndef TG_NPY_H
#define TG_NPY_H

#include "api.h"
#include "error.h"
#include "tensor.h"

TG_API_BEGIN

/* The element type found in a file. */
typedef enum tg_npy_dtype { TG_NPY_F32, TG_NPY_F64, TG_NPY_I64 } tg_npy_dtype;

/* Loads a file: floats become TG_REAL tensors (converted to tg_real), int64 becomes TG_INT64.
 * file_dtype (may be NULL) receives the type stored in the file. */
tg_status tg_npy_load(const char *path, tg_tensor **out, tg_npy_dtype *file_dtype, char *err,
                      size_t errsz);
/* The same from memory (len bytes of a whole .npy file). */
tg_status tg_npy_parse(const void *bytes, size_t len, tg_tensor **out, tg_npy_dtype *file_dtype,
                       char *err, size_t errsz);
/* Saves a tensor: real tensors as dtype (TG_NPY_F32 or TG_NPY_F64), int64 tensors as int64. */
tg_status tg_npy_save(const char *path, const tg_tensor *t, tg_npy_dtype dtype, char *err,
                      size_t errsz);

TG_API_END

#endif
