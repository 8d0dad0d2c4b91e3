/* nn/image.c — PGM read/write and an uncompressed-deflate PNG writer (see image.h). */
#include "image.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

/* ---- PGM ---- */

/* Next header integer, skipping white space and # comments; -1 on a malformed header. */
static long pgm_header_int(FILE *f)
{
    int c = fgetc(f);
    for (;;) {
        while (c != EOF && isspace(c)) c = fgetc(f);
        if (c != '#') break;
        while (c != EOF && c != '\n') c = fgetc(f);
    }
    if (c == EOF || !isdigit(c)) return -1;
    long v = 0;
    while (c != EOF && isdigit(c)) {
        if (v > 1000000) return -1;
        v = v * 10 + (c - '0');
        c = fgetc(f);
    }
    return v; /* the single white-space byte after the value is consumed */
}

tg_status tg_pgm_read(const char *path, uint8_t **pixels, int *width, int *height)
{
    if (!path || !pixels || !width || !height) return TG_ERR_INVALID;
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return TG_ERR_IO;
    tg_status st = TG_ERR_FORMAT;
    uint8_t *pix = NULL;
    char magic[2];
    if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '2')) goto done;
    long w = pgm_header_int(f), h = pgm_header_int(f), maxval = pgm_header_int(f);
    if (w <= 0 || h <= 0 || maxval < 1 || maxval > 255 || w * h > 100000000L) goto done;
    pix = malloc((size_t)(w * h));
    if (!pix) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    if (magic[1] == '5') {
        if (fread(pix, 1, (size_t)(w * h), f) != (size_t)(w * h)) goto done;
    } else {
        for (long i = 0; i < w * h; i++) {
            long v = pgm_header_int(f);
            if (v < 0 || v > maxval) goto done;
            pix[i] = (uint8_t)v;
        }
    }
    if (maxval != 255)
        for (long i = 0; i < w * h; i++) pix[i] = (uint8_t)(pix[i] > maxval ? 255 : (pix[i] * 255 + maxval / 2) / maxval);
    *pixels = pix;
    *width = (int)w;
    *height = (int)h;
    pix = NULL;
    st = TG_OK;
done:
    free(pix);
    fclose(f);
    return st;
}

tg_status tg_pgm_write(const char *path, const uint8_t *pixels, int width, int height)
{
    if (!path || !pixels || width <= 0 || height <= 0) return TG_ERR_INVALID;
    FILE *f = fopen(path, "wb");
    if (!f) return TG_ERR_IO;
    bool ok = fprintf(f, "P5\n%d %d\n255\n", width, height) > 0 &&
              fwrite(pixels, 1, (size_t)width * (size_t)height, f) == (size_t)width * (size_t)height;
    return fclose(f) == 0 && ok ? TG_OK : TG_ERR_IO;
}

/* ---- PNG ---- */

uint32_t tg_adler32(uint32_t adler, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n > 0) {
        size_t run = n < 5552 ? n : 5552; /* the longest run before b can overflow 32 bits */
        n -= run;
        while (run--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return b << 16 | a;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One chunk: length, type, data, CRC-32 over type and data. */
static bool png_chunk(FILE *f, const char *type, const uint8_t *data, size_t n)
{
    uint8_t head[8], tail[4];
    put32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uint32_t crc = tg_crc32(tg_crc32(0, type, 4), data, n);
    put32(tail, crc);
    return fwrite(head, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4;
}

tg_status tg_png_write_gray(const char *path, const uint8_t *pixels, int width, int height)
{
    if (!path || !pixels || width <= 0 || height <= 0 || (size_t)width * (size_t)height > ((size_t)1 << 30))
        return TG_ERR_INVALID;
    /* raw scanlines: a filter byte (0, none) before each row */
    size_t row = (size_t)width + 1, raw_len = row * (size_t)height;
    size_t blocks = (raw_len + 65534) / 65535;
    size_t z_len = 2 + raw_len + 5 * blocks + 4; /* zlib header, stored blocks, Adler-32 */
    uint8_t *raw = malloc(raw_len), *z = malloc(z_len);
    if (!raw || !z) {
        free(raw);
        free(z);
        return TG_ERR_NOMEM;
    }
    for (int y = 0; y < height; y++) {
        raw[(size_t)y * row] = 0;
        memcpy(raw + (size_t)y * row + 1, pixels + (size_t)y * (size_t)width, (size_t)width);
    }
    size_t o = 0;
    z[o++] = 0x78; /* deflate, 32 KiB window */
    z[o++] = 0x01; /* no preset dictionary, check bits: 0x7801 % 31 == 0 */
    for (size_t pos = 0; pos < raw_len;) {
        size_t len = raw_len - pos < 65535 ? raw_len - pos : 65535;
        z[o++] = pos + len == raw_len; /* BFINAL, BTYPE 00 (stored) */
        z[o++] = (uint8_t)len;
        z[o++] = (uint8_t)(len >> 8);
        z[o++] = (uint8_t)~len;
        z[o++] = (uint8_t)(~len >> 8);
        memcpy(z + o, raw + pos, len);
        o += len;
        pos += len;
    }
    put32(z + o, tg_adler32(1, raw, raw_len));
    o += 4;
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)width);
    put32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* grey-scale */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    tg_status st = TG_ERR_IO;
    FILE *f = fopen(path, "wb");
    if (f) {
        bool ok = fwrite(signature, 1, 8, f) == 8 && png_chunk(f, "IHDR", ihdr, 13) && png_chunk(f, "IDAT", z, o) &&
                  png_chunk(f, "IEND", NULL, 0);
        st = fclose(f) == 0 && ok ? TG_OK : TG_ERR_IO;
    }
    free(raw);
    free(z);
    return st;
}

void tg_image_from_real(const tg_real *values, size_t n, double lo, double hi, uint8_t *out)
{
    if (!(lo < hi) && n > 0) {
        lo = hi = values[0];
        for (size_t i = 1; i < n; i++) {
            if (values[i] < lo) lo = values[i];
            if (values[i] > hi) hi = values[i];
        }
    }
    double scale = hi > lo ? 255.0 / (hi - lo) : 0;
    for (size_t i = 0; i < n; i++) {
        double v = ((double)values[i] - lo) * scale;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
    }
}
