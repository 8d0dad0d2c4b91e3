/* nn/protobuf.c — protobuf wire format writer and validating reader (see protobuf.h). */
#include "protobuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

enum {
    PB_MAX_VARINT_BYTES = 10,
    PB_MAX_FIELD = (1 << 29) - 1,
    PB_TAG_SHIFT = 3,
    PB_WIRE_MASK = 7,
};

static bool reserve(tg_pb_writer *w, size_t extra)
{
    if (w->failed) return false;
    if (extra > SIZE_MAX / 2 - w->len) return w->failed = true, false;
    if (w->len + extra <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra) cap *= 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) return w->failed = true, false;
    w->buf = b, w->cap = cap;
    return true;
}

static size_t encode_varint(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

void tg_pb_varint(tg_pb_writer *w, uint64_t v)
{
    if (!reserve(w, PB_MAX_VARINT_BYTES)) return;
    w->len += encode_varint(v, w->buf + w->len);
}

void tg_pb_tag(tg_pb_writer *w, uint32_t field, int wire) { tg_pb_varint(w, (uint64_t)field << PB_TAG_SHIFT | (unsigned)wire); }

void tg_pb_int(tg_pb_writer *w, uint32_t field, int64_t v)
{
    tg_pb_tag(w, field, TG_PB_VARINT);
    tg_pb_varint(w, (uint64_t)v);
}

void tg_pb_float(tg_pb_writer *w, uint32_t field, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    tg_pb_tag(w, field, TG_PB_FIXED32);
    if (!reserve(w, 4)) return;
    for (int i = 0; i < 4; i++) w->buf[w->len++] = (uint8_t)(bits >> (8 * i)); /* little-endian on any host */
}

void tg_pb_bytes(tg_pb_writer *w, uint32_t field, const void *data, size_t len)
{
    tg_pb_tag(w, field, TG_PB_LEN);
    tg_pb_varint(w, len);
    if (!reserve(w, len)) return;
    if (len) memcpy(w->buf + w->len, data, len);
    w->len += len;
}

uint8_t *tg_pb_append(tg_pb_writer *w, size_t n)
{
    if (!reserve(w, n)) return NULL;
    w->len += n;
    return w->buf + w->len - n;
}

void tg_pb_string(tg_pb_writer *w, uint32_t field, const char *s) { tg_pb_bytes(w, field, s, strlen(s)); }

size_t tg_pb_begin(tg_pb_writer *w, uint32_t field)
{
    tg_pb_tag(w, field, TG_PB_LEN);
    return w->len;
}

void tg_pb_end(tg_pb_writer *w, size_t mark)
{
    if (w->failed || mark > w->len) return;
    uint8_t head[PB_MAX_VARINT_BYTES];
    const size_t body = w->len - mark, n = encode_varint(body, head);
    if (!reserve(w, n)) return;
    memmove(w->buf + mark + n, w->buf + mark, body);
    memcpy(w->buf + mark, head, n);
    w->len += n;
}

/* Reads a varint at *p (< end); -1 when it runs past end or does not fit 64 bits. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < PB_MAX_VARINT_BYTES; i++) {
        if (*p >= end) return -1;
        const uint8_t b = *(*p)++;
        if (i == PB_MAX_VARINT_BYTES - 1 && b > 1) return -1; /* bits past the 64th */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int tg_pb_next(tg_pb_reader *r, tg_pb_field *f, const uint8_t *base, char *err, size_t errsz)
{
    if (r->p >= r->end) return 0;
    const size_t at = base ? (size_t)(r->p - base) : 0;
    uint64_t tag;
    if (read_varint(&r->p, r->end, &tag)) return SAY("bad varint (field tag) at byte %zu", at), -1;
    const uint64_t number = tag >> PB_TAG_SHIFT;
    if (number < 1 || number > PB_MAX_FIELD) return SAY("bad field number %llu at byte %zu", (unsigned long long)number, at), -1;
    memset(f, 0, sizeof *f);
    f->number = (uint32_t)number;
    f->wire = (int)(tag & PB_WIRE_MASK);
    const size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case TG_PB_VARINT:
        if (read_varint(&r->p, r->end, &f->u)) return SAY("bad varint in field %u at byte %zu", f->number, at), -1;
        return 1;
    case TG_PB_FIXED64:
    case TG_PB_FIXED32: {
        const size_t n = f->wire == TG_PB_FIXED64 ? 8 : 4;
        if (left < n) return SAY("field %u at byte %zu: %zu-byte value past the end", f->number, at, n), -1;
        for (size_t i = 0; i < n; i++) f->u |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case TG_PB_LEN: {
        uint64_t len;
        if (read_varint(&r->p, r->end, &len)) return SAY("bad length varint in field %u at byte %zu", f->number, at), -1;
        if (len > (uint64_t)(r->end - r->p))
            return SAY("field %u at byte %zu: length %llu past the end (%zu bytes left)", f->number, at,
                       (unsigned long long)len, (size_t)(r->end - r->p)), -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return SAY("field %u at byte %zu: unsupported wire type %d", f->number, at, f->wire), -1;
    }
}

int tg_pb_ints(const tg_pb_field *f, int64_t *out, int *n, int max, char *err, size_t errsz)
{
    if (f->wire == TG_PB_VARINT) {
        if (*n >= max) return SAY("more than %d values in field %u", max, f->number), -1;
        out[(*n)++] = (int64_t)f->u;
        return 0;
    }
    if (f->wire != TG_PB_LEN) return SAY("field %u: wire type %d where integers belong", f->number, f->wire), -1;
    for (const uint8_t *p = f->data, *end = f->data + f->len; p < end;) {
        uint64_t v;
        if (read_varint(&p, end, &v)) return SAY("bad packed varint in field %u", f->number), -1;
        if (*n >= max) return SAY("more than %d values in field %u", max, f->number), -1;
        out[(*n)++] = (int64_t)v;
    }
    return 0;
}
