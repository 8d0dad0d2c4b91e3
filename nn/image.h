/* nn/image.h — small grey-scale image files: PGM (read and write) and PNG (write, stored deflate).
 *
 * Images are 8-bit grey, row-major, width*height bytes owned by the caller. The PNG writer uses
 * uncompressed ("stored") deflate blocks, so it needs no zlib: the chunks carry CRC-32 and the
 * zlib stream Adler-32 as the format requires (CRC-32 is nn/data.h's tg_crc32). Used by the examples to show filters and feature
 * maps; tg_image_from_real scales any tg_real plane into bytes.
 *
 *   uint8_t *pix; int w, h;
 *   if (tg_pgm_read("in.pgm", &pix, &w, &h) == TG_OK) {
 *       tg_png_write_gray("out.png", pix, w, h);
 *       free(pix);
 *   }
 */
#ifndef TG_NN_IMAGE_H
#define TG_NN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../graph/api.h"
#include "../graph/error.h"
#include "../graph/tensor.h"

TG_API_BEGIN

/* Reads a binary (P5) or text (P2) PGM with maxval 1..255; *pixels is malloc'd (free it).
 * TG_ERR_IO when the file cannot be read, TG_ERR_FORMAT when it is not such a PGM,
 * TG_ERR_NOMEM when memory runs out. */
tg_status tg_pgm_read(const char *path, uint8_t **pixels, int *width, int *height);
/* Writes a binary PGM (P5, maxval 255). TG_ERR_INVALID for bad sizes, TG_ERR_IO on write errors. */
tg_status tg_pgm_write(const char *path, const uint8_t *pixels, int width, int height);
/* Writes an 8-bit grey-scale PNG (stored deflate blocks). Same errors as tg_pgm_write. */
tg_status tg_png_write_gray(const char *path, const uint8_t *pixels, int width, int height);

/* (The chunks' CRC-32 is tg_crc32 from nn/data.h, shared with the gzip reader.) */
/* Adler-32 of n bytes, continuing from adler (start with 1). */
uint32_t tg_adler32(uint32_t adler, const void *data, size_t n);

/* Maps n values linearly onto 0..255: lo..hi when lo < hi, else the values' own min..max
 * (a constant plane becomes 0). */
void tg_image_from_real(const tg_real *values, size_t n, double lo, double hi, uint8_t *out);

TG_API_END

#endif
