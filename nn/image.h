/* nn/image.h — image files: PGM (read and write), PNG (read: every standard colour type, written
 * grey-scale with stored deflate), and the conversion of an image into a model's input.
 *
 * The PGM functions and the writer take 8-bit grey, row-major, width*height bytes owned by the
 * caller; the PNG decoder gives a tg_image (interleaved grey or RGB; tg_image_free). The writer uses
 * uncompressed ("stored") deflate blocks, so it needs no zlib: the chunks carry CRC-32 and the
 * zlib stream Adler-32 as the format requires (CRC-32 is nn/data.h's tg_crc32). Used by the examples to show filters and feature
 * maps; tg_image_from_real scales any tg_real plane into bytes.
 *
 *   uint8_t *pix; int w, h;
 *   if (tg_pgm_read("in.pgm", &pix, &w, &h) == TG_OK) {
 *       tg_png_write_gray("out.png", pix, w, h);
 *       free(pix);
 *   }
 *
 *   tg_image im; char err[256]; float x[3 * 32 * 32];
 *   if (tg_image_load("cat.png", &im, err, sizeof err) == TG_OK) {   // PNG or PGM
 *       tg_image_to_input(&im, 3, 32, 32, x);                        // a 3x32x32 input in [0,1]
 *       tg_image_free(&im);
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

/* A decoded image: 8-bit samples, row-major, channels interleaved (grey: 1, RGB: 3). */
typedef struct tg_image {
    int width, height, channels;
    uint8_t *pixels; /* malloc'd width*height*channels bytes; tg_image_free releases them */
} tg_image;
/* The most pixels a decoded image may have: checked on the header, before any big allocation */
#define TG_IMAGE_MAX_PIXELS ((int64_t)1 << 26)

/* Decodes PNG bytes with the project's inflate: grey (bit depth 1, 2, 4, 8, 16), RGB (8, 16),
 * palette (1, 2, 4, 8), grey+alpha and RGBA (8, 16; the alpha is dropped). 16-bit samples round to
 * 8 bits; palette images become RGB. Validated: the signature, every chunk's length and CRC-32, the
 * IHDR fields and their combination, the chunk order (IHDR first, PLTE before IDAT, IDAT
 * consecutive, IEND last), the zlib header and Adler-32, the exact size of the inflated data
 * (bounded before it is inflated), every row's filter type and every palette index. Adam7
 * interlaced files are refused (TG_ERR_FORMAT naming interlacing). On error *out is zeroed and the
 * reason ("png: ...") is in err. */
tg_status tg_png_decode(const uint8_t *bytes, size_t len, tg_image *out, char *err, size_t errsz);
/* Reads a PNG or a PGM (P2/P5) file, told apart by their first bytes; err starts with the path. */
tg_status tg_image_load(const char *path, tg_image *out, char *err, size_t errsz);
void tg_image_free(tg_image *im);
/* Converts an image into a c x h x w input, values in [0,1] (planar, as tensors are): the channels
 * first (c 1 from RGB: ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B; c 3 from grey: the grey value
 * repeated), then a bilinear resize by the one factor that makes the image cover h x w (the side
 * that is shorter relative to the target fits exactly) and a centre crop of the rest. Pixel centres
 * are aligned as PyTorch's align_corners=False; an image already h x w is copied exactly. c must
 * be 1 or 3 (TG_ERR_INVALID otherwise). out holds c*h*w floats. */
tg_status tg_image_to_input(const tg_image *im, int c, int h, int w, float *out);

/* (The chunks' CRC-32 is tg_crc32 from nn/data.h, shared with the gzip reader.) */
/* Adler-32 of n bytes, continuing from adler (start with 1). */
uint32_t tg_adler32(uint32_t adler, const void *data, size_t n);

/* Maps n values linearly onto 0..255: lo..hi when lo < hi, else the values' own min..max
 * (a constant plane becomes 0). */
void tg_image_from_real(const tg_real *values, size_t n, double lo, double hi, uint8_t *out);

TG_API_END

#endif
