/* fuzz/fuzz_png.c — libFuzzer target: PNG bytes through tg_png_decode (chunks, CRCs, IHDR, the zlib
 * stream and the bounded inflate, filters, palettes, bit depths), then every decoded image through
 * tg_image_to_input at a small size. A failure must leave nothing behind; a success must give an
 * image whose every pixel can be read (ASan checks the size). Each input is decoded twice: as it
 * is, and with every chunk's CRC-32 recomputed, so mutations get past the CRC check to the IHDR,
 * zlib, filter and palette code behind it. */
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/data.h"
#include "../nn/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The model input a decoded image is converted to: small, and one of each channel count */
#define FUZZ_SIDE 5

static void decode(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    /* walk the chunks after the signature while their lengths fit, rewriting each CRC */
    for (size_t pos = 8; size >= 12 && pos <= size - 12;) {
        const uint32_t n = (uint32_t)fixed[pos] << 24 | (uint32_t)fixed[pos + 1] << 16 | (uint32_t)fixed[pos + 2] << 8 | fixed[pos + 3];
        if (n > size - pos - 12) break;
        const uint32_t crc = tg_crc32(0, fixed + pos + 4, 4 + (size_t)n);
        for (int i = 0; i < 4; i++) fixed[pos + 8 + n + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
        pos += 12 + (size_t)n;
    }
    decode(fixed, size);
    free(fixed);
    return 0;
}

static void decode(const uint8_t *data, size_t size)
{
    tg_image im;
    char err[256];
    if (tg_png_decode(data, size, &im, err, sizeof err) != TG_OK) {
        if (im.pixels || im.width || im.height || strncmp(err, "png: ", 5)) abort();
        return;
    }
    if (!im.pixels || im.width < 1 || im.height < 1 || (im.channels != 1 && im.channels != 3) ||
        (int64_t)im.width * im.height > TG_IMAGE_MAX_PIXELS)
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)im.width * im.height * (size_t)im.channels; i++) sum += im.pixels[i];
    float out[3 * FUZZ_SIDE * FUZZ_SIDE];
    for (int c = 1; c <= 3; c += 2) {
        if (tg_image_to_input(&im, c, FUZZ_SIDE, FUZZ_SIDE, out) != TG_OK) abort();
        for (int i = 0; i < c * FUZZ_SIDE * FUZZ_SIDE; i++)
            if (!(out[i] >= 0 && out[i] <= 1)) abort(); /* a convex mix of bytes / 255 */
    }
    (void)sum;
    tg_image_free(&im);
}
