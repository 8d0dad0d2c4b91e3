/* nn/protobuf.h — the protobuf wire format, written and read by tapegrad itself (libc only),
 * for ONNX files (nn/onnx.h).
 *
 * Writer: a growable byte buffer. Nested messages are written in place: tg_pb_begin writes the
 * tag and remembers where the body starts, tg_pb_end inserts the body's length before it. A
 * failed allocation sets `failed` and makes every later call a no-op, so a caller checks once.
 *
 * Reader: a cursor over untrusted bytes. tg_pb_next validates everything it returns: varints of
 * at most 10 bytes that fit 64 bits, field numbers 1..2^29-1, wire types 0 (varint), 1 (fixed64),
 * 2 (length-delimited, the length inside what is left) and 5 (fixed32) — groups (3, 4) and the
 * unused 6, 7 are errors. Nothing is copied: a field's bytes point into the buffer.
 *
 *   tg_pb_writer w = {0};
 *   size_t at = tg_pb_begin(&w, 7);          // a nested message in field 7
 *   tg_pb_string(&w, 1, "x");
 *   tg_pb_end(&w, at);
 *   ...
 *   tg_pb_reader r = {w.buf, w.buf + w.len};
 *   tg_pb_field f;
 *   while ((rc = tg_pb_next(&r, &f, err, sizeof err)) > 0) { ... }   // rc < 0: err says why
 *   free(w.buf);
 */
#ifndef TG_NN_PROTOBUF_H
#define TG_NN_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TG_PB_VARINT = 0, TG_PB_FIXED64 = 1, TG_PB_LEN = 2, TG_PB_FIXED32 = 5 };

typedef struct tg_pb_writer {
    uint8_t *buf;
    size_t len, cap;
    bool failed; /* out of memory: the buffer is incomplete */
} tg_pb_writer;

void tg_pb_varint(tg_pb_writer *w, uint64_t v);
void tg_pb_tag(tg_pb_writer *w, uint32_t field, int wire);
/* An int64 field (negative values take 10 bytes, as protobuf encodes int64). */
void tg_pb_int(tg_pb_writer *w, uint32_t field, int64_t v);
void tg_pb_float(tg_pb_writer *w, uint32_t field, float v);
void tg_pb_bytes(tg_pb_writer *w, uint32_t field, const void *data, size_t len);
void tg_pb_string(tg_pb_writer *w, uint32_t field, const char *s);
/* n bytes appended for the caller to fill, or NULL (failed). */
uint8_t *tg_pb_append(tg_pb_writer *w, size_t n);
/* A nested message: returns the mark tg_pb_end needs. */
size_t tg_pb_begin(tg_pb_writer *w, uint32_t field);
void tg_pb_end(tg_pb_writer *w, size_t mark);

typedef struct tg_pb_reader {
    const uint8_t *p, *end;
} tg_pb_reader;

typedef struct tg_pb_field {
    uint32_t number;
    int wire;
    uint64_t u;          /* varint, fixed64 and fixed32 values */
    const uint8_t *data; /* TG_PB_LEN: the bytes (inside the reader's buffer) */
    size_t len;
} tg_pb_field;

/* The next field: 1 and *f, 0 at the end, -1 with the reason in err (the byte offset from
 * base, which may be NULL). */
int tg_pb_next(tg_pb_reader *r, tg_pb_field *f, const uint8_t *base, char *err, size_t errsz);

/* Appends the integers of a repeated int64 field — one varint, or a packed run — to out[*n..max).
 * -1 (err) on a bad varint, a wrong wire type, or more than max values. */
int tg_pb_ints(const tg_pb_field *f, int64_t *out, int *n, int max, char *err, size_t errsz);

#endif
