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

/* ---- PNG decoding ---- */

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)
/* The PNG signature and the largest chunk length the format allows (2^31 - 1) */
static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
#define PNG_MAX_CHUNK 0x7fffffffu
enum { PNG_GREY = 0, PNG_RGB = 2, PNG_PALETTE = 3, PNG_GREY_ALPHA = 4, PNG_RGBA = 6 };
/* ITU-R BT.601 luma weights: grey from RGB */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

void tg_image_free(tg_image *im)
{
    if (!im) return;
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

/* Samples per pixel of a colour type (0 for an unknown one). */
static int png_samples(int color)
{
    switch (color) {
    case PNG_GREY: case PNG_PALETTE: return 1;
    case PNG_GREY_ALPHA: return 2;
    case PNG_RGB: return 3;
    case PNG_RGBA: return 4;
    default: return 0;
    }
}

/* Whether the bit depth is allowed for the colour type (PNG spec, table 11.1). */
static bool png_depth_ok(int color, int depth)
{
    if (color == PNG_GREY) return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    if (color == PNG_PALETTE) return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    return depth == 8 || depth == 16;
}

static int paeth(int a, int b, int c)
{
    const int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the row filters in place: raw holds height rows of 1 + stride bytes. NULL or the reason. */
static const char *png_unfilter(uint8_t *raw, uint32_t height, size_t stride, size_t bpp, char *why, size_t whysz)
{
    const uint8_t *prev = NULL;
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *row = raw + (size_t)y * (stride + 1);
        const int type = row[0];
        uint8_t *cur = row + 1;
        for (size_t i = 0; i < stride; i++) {
            const int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0, c = prev && i >= bpp ? prev[i - bpp] : 0;
            switch (type) {
            case 0: break;
            case 1: cur[i] = (uint8_t)(cur[i] + a); break;
            case 2: cur[i] = (uint8_t)(cur[i] + b); break;
            case 3: cur[i] = (uint8_t)(cur[i] + ((a + b) >> 1)); break;
            case 4: cur[i] = (uint8_t)(cur[i] + paeth(a, b, c)); break;
            default: return snprintf(why, whysz, "row %u has filter type %d (0..4 exist)", y, type), why;
            }
        }
        prev = cur;
    }
    return NULL;
}

tg_status tg_png_decode(const uint8_t *b, size_t len, tg_image *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    if (len < 8 || memcmp(b, png_signature, 8)) return SAY("png: not a PNG file (bad signature)"), TG_ERR_FORMAT;
    uint32_t width = 0, height = 0;
    int depth = 0, color = -1, n_palette = 0;
    uint8_t palette[256 * 3];
    uint8_t *idat = NULL, *raw = NULL;
    size_t idat_len = 0, raw_len = 0;
    bool seen_idat = false, idat_done = false, seen_iend = false;
    tg_status st = TG_ERR_FORMAT;
    char why[160] = "";
    size_t pos = 8;
    for (int index = 0; !seen_iend; index++) {
        if (len - pos < 12) {
            snprintf(why, sizeof why, "file ends %s (no IEND chunk)", pos == len ? "after a chunk" : "inside a chunk header");
            goto fail;
        }
        const uint32_t n = get32(b + pos);
        const uint8_t *type = b + pos + 4, *data = b + pos + 8;
        char tname[5];
        for (int i = 0; i < 4; i++) tname[i] = isalpha(type[i]) ? (char)type[i] : '?';
        tname[4] = 0;
        if (n > PNG_MAX_CHUNK || n > len - pos - 12) {
            snprintf(why, sizeof why, "chunk %d (%s) claims %u bytes but %zu remain", index, tname, n, len - pos - 12);
            goto fail;
        }
        const uint32_t crc = get32(data + n);
        if (crc != tg_crc32(0, type, 4 + (size_t)n)) {
            snprintf(why, sizeof why, "chunk %d (%s) has a bad CRC (stored %08x, computed %08x)", index, tname, crc,
                     tg_crc32(0, type, 4 + (size_t)n));
            goto fail;
        }
        pos += 12 + (size_t)n;
        if (strcmp(tname, "IDAT") && seen_idat) idat_done = true;
        if (index == 0 && strcmp(tname, "IHDR")) {
            snprintf(why, sizeof why, "the first chunk is %s, not IHDR", tname);
            goto fail;
        }
        if (!strcmp(tname, "IHDR")) {
            if (index != 0) {
                snprintf(why, sizeof why, "a second IHDR chunk");
                goto fail;
            }
            if (n != 13) {
                snprintf(why, sizeof why, "IHDR is %u bytes, not 13", n);
                goto fail;
            }
            width = get32(data), height = get32(data + 4), depth = data[8], color = data[9];
            if (width == 0 || height == 0 || width > PNG_MAX_CHUNK || height > PNG_MAX_CHUNK) {
                snprintf(why, sizeof why, "image size %ux%u is not valid", width, height);
                goto fail;
            }
            if ((int64_t)width * height > TG_IMAGE_MAX_PIXELS) {
                snprintf(why, sizeof why, "image of %ux%u pixels is over the limit of %lld pixels", width, height,
                         (long long)TG_IMAGE_MAX_PIXELS);
                goto fail;
            }
            if (!png_samples(color) || !png_depth_ok(color, depth)) {
                snprintf(why, sizeof why, "bit depth %d with colour type %d is not a valid PNG combination", depth, color);
                goto fail;
            }
            if (data[10] != 0 || data[11] != 0) {
                snprintf(why, sizeof why, "compression method %d / filter method %d are not 0", data[10], data[11]);
                goto fail;
            }
            if (data[12] == 1) {
                snprintf(why, sizeof why, "Adam7 interlaced images are not supported (save it non-interlaced)");
                goto fail;
            }
            if (data[12] != 0) {
                snprintf(why, sizeof why, "interlace method %d is not 0 or 1", data[12]);
                goto fail;
            }
        } else if (!strcmp(tname, "PLTE")) {
            if (seen_idat || n_palette || n % 3 || n == 0 || n > 3 * 256) {
                snprintf(why, sizeof why, "PLTE of %u bytes %s", n,
                         seen_idat || n_palette ? "comes after IDAT or twice" : "is not 1..256 RGB entries");
                goto fail;
            }
            n_palette = (int)(n / 3);
            memcpy(palette, data, n);
        } else if (!strcmp(tname, "IDAT")) {
            if (idat_done) {
                snprintf(why, sizeof why, "IDAT chunks are not consecutive");
                goto fail;
            }
            if (color == PNG_PALETTE && !n_palette) {
                snprintf(why, sizeof why, "a palette image without a PLTE chunk before its IDAT");
                goto fail;
            }
            seen_idat = true;
            if (n) { /* the IDATs together are bounded by the file, which was read whole */
                uint8_t *p = realloc(idat, idat_len + n);
                if (!p) {
                    st = TG_ERR_NOMEM;
                    snprintf(why, sizeof why, "out of memory for %zu bytes of image data", idat_len + n);
                    goto fail;
                }
                idat = p;
                memcpy(idat + idat_len, data, n);
                idat_len += n;
            }
        } else if (!strcmp(tname, "IEND")) {
            seen_iend = true;
        } else if (!(type[0] & 0x20)) { /* an upper-case first letter: a chunk the decoder must understand */
            snprintf(why, sizeof why, "unknown critical chunk %s", tname);
            goto fail;
        }
    }
    if (!seen_idat) {
        snprintf(why, sizeof why, "no IDAT chunk (no image data)");
        goto fail;
    }
    /* zlib (RFC 1950): CMF, FLG, deflate data, Adler-32 of the inflated bytes */
    if (idat_len < 2 + 4 || (idat[0] & 0x0f) != 8 || idat[0] >> 4 > 7 || (idat[0] << 8 | idat[1]) % 31 || idat[1] & 0x20) {
        snprintf(why, sizeof why, "the image data is not a zlib stream (header %02x %02x)", idat_len ? idat[0] : 0,
                 idat_len > 1 ? idat[1] : 0);
        goto fail;
    }
    const int samples = png_samples(color);
    const size_t bits_per_pixel = (size_t)samples * (size_t)depth, stride = (width * bits_per_pixel + 7) / 8;
    const size_t bpp = bits_per_pixel >= 8 ? bits_per_pixel / 8 : 1;
    const size_t want = (size_t)height * (stride + 1);
    size_t used;
    char inner[128];
    /* bounded by the size IHDR implies: a stream that inflates past it stops there */
    st = tg_inflate_limited(idat + 2, idat_len - 2, want, &raw, &raw_len, &used, inner, sizeof inner);
    if (st != TG_OK) {
        snprintf(why, sizeof why, "image data: %s", inner);
        goto fail;
    }
    st = TG_ERR_FORMAT;
    if (raw_len != want) {
        snprintf(why, sizeof why, "image data inflates to %zu bytes, the %ux%u image needs %zu", raw_len, width, height, want);
        goto fail;
    }
    if (idat_len - 2 - used < 4 || get32(idat + 2 + used) != tg_adler32(1, raw, raw_len)) {
        snprintf(why, sizeof why, "image data: %s", idat_len - 2 - used < 4 ? "no Adler-32 after the deflate stream" : "Adler-32 mismatch");
        goto fail;
    }
    if (png_unfilter(raw, height, stride, bpp, why, sizeof why)) goto fail;
    const int channels = color == PNG_GREY || color == PNG_GREY_ALPHA ? 1 : 3;
    uint8_t *pix = malloc((size_t)width * height * (size_t)channels);
    if (!pix) {
        st = TG_ERR_NOMEM;
        snprintf(why, sizeof why, "out of memory for %ux%u pixels", width, height);
        goto fail;
    }
    const int maxval = (1 << (depth < 8 ? depth : 8)) - 1;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = raw + (size_t)y * (stride + 1) + 1;
        for (uint32_t x = 0; x < width; x++) {
            uint8_t *dst = pix + ((size_t)y * width + x) * (size_t)channels;
            for (int s = 0; s < samples; s++) {
                const size_t k = (size_t)x * (size_t)samples + (size_t)s; /* the sample's index in the row */
                unsigned v;
                if (depth == 16) v = (((unsigned)row[2 * k] << 8 | row[2 * k + 1]) * 255u + 32767u) / 65535u; /* rounded */
                else if (depth == 8) v = row[k];
                else v = (unsigned)(row[k * (size_t)depth / 8] >> (8 - depth - (int)(k * (size_t)depth % 8))) & (unsigned)maxval;
                if (color == PNG_PALETTE) {
                    if ((int)v >= n_palette) {
                        free(pix);
                        snprintf(why, sizeof why, "pixel (%u,%u) has palette index %u of %d entries", x, y, v, n_palette);
                        goto fail;
                    }
                    memcpy(dst, palette + 3 * v, 3);
                } else if (s < channels) { /* the alpha sample (last) is dropped */
                    dst[s] = (uint8_t)(depth < 8 ? v * 255u / (unsigned)maxval : v);
                }
            }
        }
    }
    out->width = (int)width, out->height = (int)height, out->channels = channels, out->pixels = pix;
    st = TG_OK;
fail:
    if (st != TG_OK) SAY("png: %s", why);
    free(idat), free(raw);
    return st;
}

tg_status tg_image_load(const char *path, tg_image *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    uint8_t *bytes;
    size_t len;
    tg_status st = tg_read_file(path, 0, &bytes, &len, err, errsz);
    if (st != TG_OK) return st;
    if (len >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '2')) {
        free(bytes);
        int w, h;
        st = tg_pgm_read(path, &out->pixels, &w, &h);
        if (st != TG_OK) return SAY("%s: not a readable PGM (%s)", path, tg_strerror(st)), st;
        out->width = w, out->height = h, out->channels = 1;
        return TG_OK;
    }
    char inner[200] = "";
    st = tg_png_decode(bytes, len, out, inner, sizeof inner);
    free(bytes);
    if (st != TG_OK) SAY("%s: %s", path, inner);
    return st;
}

tg_status tg_image_to_input(const tg_image *im, int c, int h, int w, float *out)
{
    if (!im || !im->pixels || (c != 1 && c != 3) || h <= 0 || w <= 0 || im->width <= 0 || im->height <= 0 ||
        (im->channels != 1 && im->channels != 3))
        return TG_ERR_INVALID;
    const int iw = im->width, ih = im->height, ic = im->channels;
    /* one factor for both axes: the image covers the target, the overhang is cropped evenly */
    const double sy = (double)h / ih, sx = (double)w / iw, s = sy > sx ? sy : sx;
    const double oy = (ih * s - h) / 2, ox = (iw * s - w) / 2;
    for (int y = 0; y < h; y++) {
        /* the output pixel's centre, mapped back into the image (half-pixel centres) */
        double fy = (y + 0.5 + oy) / s - 0.5;
        fy = fy < 0 ? 0 : fy > ih - 1 ? ih - 1 : fy;
        const int y0 = (int)fy, y1 = y0 + 1 < ih ? y0 + 1 : y0;
        const double wy = fy - y0;
        for (int x = 0; x < w; x++) {
            double fx = (x + 0.5 + ox) / s - 0.5;
            fx = fx < 0 ? 0 : fx > iw - 1 ? iw - 1 : fx;
            const int x0 = (int)fx, x1 = x0 + 1 < iw ? x0 + 1 : x0;
            const double wx = fx - x0;
            for (int ch = 0; ch < c; ch++) {
                double v = 0;
                const int ys[2] = {y0, y1}, xs[2] = {x0, x1};
                const double wys[2] = {1 - wy, wy}, wxs[2] = {1 - wx, wx};
                for (int a = 0; a < 2; a++)
                    for (int bb = 0; bb < 2; bb++) {
                        const uint8_t *p = im->pixels + ((size_t)ys[a] * iw + xs[bb]) * ic;
                        /* the channel conversion happens per source pixel, before interpolating */
                        const double px = ic == c ? p[ch] : ic == 3 ? LUMA_R * p[0] + LUMA_G * p[1] + LUMA_B * p[2] : p[0];
                        v += wys[a] * wxs[bb] * px;
                    }
                out[((size_t)ch * h + y) * w + x] = (float)(v / 255.0);
            }
        }
    }
    return TG_OK;
}
