/* graph/npy.c — NumPy .npy reading and writing (see npy.h).
 *
 * Layout of a file: "\x93NUMPY", major, minor, header length (uint16 for 1.0, uint32 for 2.0 and
 * 3.0, little-endian), the header — a Python dict literal such as
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with spaces and ending in
 * '\n' — then the raw C-order data. Nothing in the header is trusted until it has been checked:
 * lengths against the bytes present, the dict's syntax, exactly its three keys, each dim and the
 * products against overflow. Values are decoded byte by byte (little-endian), so neither the
 * host's byte order nor the data's alignment matters. */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
/* Longest header string (key or dtype) tapegrad reads; numpy's are at most 13 bytes. */
#define NPY_STR_MAX 31
/* Bytes of a path or header text quoted in a message (tg_escape cuts and marks the rest). */
#define NPY_QUOTE_MAX 200
#define NPY_QUOTE_BUF (4 * NPY_QUOTE_MAX + 4)
/* Quotes file text for a message; the buffer lives to the end of the enclosing block. */
#define QUOTE(s) tg_escape((s), TG_ESCAPE_CSTR, NPY_QUOTE_MAX, (char[NPY_QUOTE_BUF]){0}, NPY_QUOTE_BUF)

/* Element types a file may hold; the narrow integer ones are widened to int64 on load. */
typedef enum file_type { FT_F32, FT_F64, FT_I64, FT_I32, FT_U8 } file_type;

static const struct {
    const char *descr;
    file_type type;
    size_t size;
} known_descrs[] = {
    {"<f4", FT_F32, 4}, {"<f8", FT_F64, 8}, {"<i8", FT_I64, 8}, {"<i4", FT_I32, 4}, {"|u1", FT_U8, 1},
};

static tg_status fail(char *err, size_t errsz, tg_status st, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static tg_status fail(char *err, size_t errsz, tg_status st, const char *who, const char *fmt, ...)
{
    if (err && errsz) {
        int n = snprintf(err, errsz, "%s: ", QUOTE(who));
        if (n >= 0 && (size_t)n < errsz) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return st;
}

static uint64_t read_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void write_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

/* ---- the header dict ---- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

typedef enum str_result { STR_OK, STR_BAD, STR_TOO_LONG } str_result;

/* A quoted Python string without escapes into out (NPY_STR_MAX + 1 bytes); a longer one is
 * STR_TOO_LONG, never cut. */
static str_result parse_string(cursor *c, char out[NPY_STR_MAX + 1])
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return STR_BAD;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || *c->p == '\n') return STR_BAD;
        if (n == NPY_STR_MAX) return STR_TOO_LONG;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return STR_BAD;
    c->p++;
    out[n] = '\0';
    return STR_OK;
}

static bool parse_word(cursor *c, const char *word)
{
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
    c->p += n;
    return true;
}

/* A non-negative decimal dim; false on anything else, including values past INT64_MAX. */
static bool parse_dim(cursor *c, int64_t *out)
{
    skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p++ - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long literal */
    *out = (int64_t)v;
    return true;
}

typedef struct header {
    char descr[NPY_STR_MAX + 1];
    bool fortran_order;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} header;

/* Parses "(a, b, )"; ndim counts dims. */
static tg_status parse_shape(cursor *c, header *h, const char *who, char *err, size_t errsz)
{
    if (!eat(c, '(')) return fail(err, errsz, TG_ERR_FORMAT, who, "header 'shape' is not a tuple");
    h->ndim = 0;
    if (eat(c, ')')) return TG_OK;
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == '-')
            return fail(err, errsz, TG_ERR_FORMAT, who, "header 'shape' has a negative dimension");
        int64_t d;
        if (!parse_dim(c, &d))
            return fail(err, errsz, TG_ERR_FORMAT, who, "header 'shape' has a bad or too large dimension");
        if (h->ndim == TG_MAX_DIMS)
            return fail(err, errsz, TG_ERR_FORMAT, who, "shape has more than %d dimensions (tapegrad's limit)", TG_MAX_DIMS);
        h->shape[h->ndim++] = d;
        bool comma = eat(c, ',');
        if (eat(c, ')')) {
            /* Python needs the trailing comma for one element: "(3,)"; numpy always writes it */
            if (h->ndim == 1 && !comma)
                return fail(err, errsz, TG_ERR_FORMAT, who, "header 'shape' (n) lacks the comma of a 1-tuple");
            return TG_OK;
        }
        if (!comma) return fail(err, errsz, TG_ERR_FORMAT, who, "header 'shape' is not a valid tuple");
    }
}

static tg_status parse_header(const char *text, size_t len, header *h, const char *who, char *err,
                              size_t errsz)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0') return fail(err, errsz, TG_ERR_FORMAT, who, "header contains a NUL byte");
    cursor c = {text, text + len};
    if (!eat(&c, '{')) return fail(err, errsz, TG_ERR_FORMAT, who, "header is not a dict literal");
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    if (!eat(&c, '}')) {
        for (;;) {
            char key[NPY_STR_MAX + 1];
            str_result kr = parse_string(&c, key);
            if (kr == STR_TOO_LONG)
                return fail(err, errsz, TG_ERR_FORMAT, who, "header has a key longer than %d bytes (the limit)", NPY_STR_MAX);
            if (kr != STR_OK) return fail(err, errsz, TG_ERR_FORMAT, who, "header dict has a bad key");
            if (!eat(&c, ':'))
                return fail(err, errsz, TG_ERR_FORMAT, who, "header dict lacks ':' after '%s'", QUOTE(key));
            bool *seen;
            if (!strcmp(key, "descr")) {
                seen = &seen_descr;
                str_result dr = parse_string(&c, h->descr);
                if (dr == STR_TOO_LONG)
                    return fail(err, errsz, TG_ERR_FORMAT, who, "header 'descr' is longer than %d bytes (the limit)",
                                NPY_STR_MAX);
                if (dr != STR_OK)
                    return fail(err, errsz, TG_ERR_FORMAT, who, "header 'descr' is not a simple dtype string");
            } else if (!strcmp(key, "fortran_order")) {
                seen = &seen_fortran;
                if (parse_word(&c, "True")) h->fortran_order = true;
                else if (parse_word(&c, "False")) h->fortran_order = false;
                else return fail(err, errsz, TG_ERR_FORMAT, who, "header 'fortran_order' is not True or False");
            } else if (!strcmp(key, "shape")) {
                seen = &seen_shape;
                tg_status st = parse_shape(&c, h, who, err, errsz);
                if (st != TG_OK) return st;
            } else {
                return fail(err, errsz, TG_ERR_FORMAT, who, "header has an unexpected key '%s'", QUOTE(key));
            }
            if (*seen) return fail(err, errsz, TG_ERR_FORMAT, who, "header repeats the key '%s'", QUOTE(key));
            *seen = true;
            bool comma = eat(&c, ',');
            if (eat(&c, '}')) break;
            if (!comma) return fail(err, errsz, TG_ERR_FORMAT, who, "header dict is malformed after '%s'", QUOTE(key));
        }
    }
    skip_space(&c);
    if (c.p != c.end) return fail(err, errsz, TG_ERR_FORMAT, who, "header has text after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return fail(err, errsz, TG_ERR_FORMAT, who, "header lacks the key '%s'",
                    !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return TG_OK;
}

static tg_status check_descr(const char *descr, file_type *type, size_t *size, const char *who, char *err,
                             size_t errsz)
{
    for (size_t i = 0; i < sizeof known_descrs / sizeof known_descrs[0]; i++)
        if (!strcmp(descr, known_descrs[i].descr)) {
            *type = known_descrs[i].type;
            *size = known_descrs[i].size;
            return TG_OK;
        }
    if (descr[0] == '>')
        return fail(err, errsz, TG_ERR_FORMAT, who, "dtype '%s' is big-endian; only little-endian is supported",
                    QUOTE(descr));
    return fail(err, errsz, TG_ERR_FORMAT, who,
                "dtype '%s' is not supported (float32, float64, int64; int32 and uint8 as labels)", QUOTE(descr));
}

static tg_status parse_named(const void *bytes_v, size_t len, const char *who, tg_tensor **out,
                             tg_npy_dtype *file_dtype, char *err, size_t errsz)
{
    const unsigned char *bytes = bytes_v;
    if (!out) return fail(err, errsz, TG_ERR_INVALID, who, "no output tensor pointer");
    *out = NULL;
    if (!bytes && len) return fail(err, errsz, TG_ERR_INVALID, who, "no data");
    if (len < NPY_MAGIC_LEN || memcmp(bytes, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return fail(err, errsz, TG_ERR_FORMAT, who, "not a .npy file (bad magic)");
    if (len < NPY_MAGIC_LEN + 2)
        return fail(err, errsz, TG_ERR_FORMAT, who, "file ends inside the header");
    int major = bytes[6], minor = bytes[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, errsz, TG_ERR_FORMAT, who, "format version %d.%d is not supported (1.0, 2.0, 3.0)", major,
                    minor);
    size_t len_bytes = major == 1 ? 2 : 4, start = NPY_MAGIC_LEN + 2 + len_bytes;
    if (len < start) return fail(err, errsz, TG_ERR_FORMAT, who, "file ends inside the header");
    uint64_t header_len = read_le(bytes + 8, (int)len_bytes);
    if (header_len > len - start)
        return fail(err, errsz, TG_ERR_FORMAT, who, "header length %llu runs past the end of the file (%zu bytes)",
                    (unsigned long long)header_len, len);

    header h = {0};
    tg_status st = parse_header((const char *)bytes + start, (size_t)header_len, &h, who, err, errsz);
    if (st != TG_OK) return st;
    file_type type = FT_F32;
    size_t item = 4;
    if ((st = check_descr(h.descr, &type, &item, who, err, errsz)) != TG_OK) return st;
    if (h.fortran_order)
        return fail(err, errsz, TG_ERR_FORMAT, who, "fortran_order is True; only C order is supported");
    int64_t numel = tg_shape_numel(h.ndim, h.shape);
    char shape_text[TG_SHAPE_STR_LEN];
    tg_shape_str_raw(h.ndim, h.shape, shape_text, sizeof shape_text);
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / 16)
        return fail(err, errsz, TG_ERR_FORMAT, who, "shape %s is too large", shape_text);
    size_t need = (size_t)numel * item, have = len - start - (size_t)header_len;
    if (have < need)
        return fail(err, errsz, TG_ERR_FORMAT, who, "truncated: shape %s needs %zu data bytes, found %zu", shape_text,
                    need, have);
    if (have > need)
        return fail(err, errsz, TG_ERR_FORMAT, who, "%zu extra bytes after the data of shape %s", have - need,
                    shape_text);

    bool is_real = type == FT_F32 || type == FT_F64;
    tg_tensor *t = tg_tensor_new(is_real ? TG_REAL : TG_INT64, h.ndim, h.shape);
    if (!t) return fail(err, errsz, TG_ERR_NOMEM, who, "out of memory for shape %s", shape_text);
    const unsigned char *p = bytes + start + header_len;
    for (int64_t i = 0; i < numel; i++, p += item) {
        switch (type) {
        case FT_F32: {
            uint32_t bits = (uint32_t)read_le(p, 4);
            float f;
            memcpy(&f, &bits, sizeof f);
            t->data[i] = (tg_real)f;
            break;
        }
        case FT_F64: {
            uint64_t bits = read_le(p, 8);
            double d;
            memcpy(&d, &bits, sizeof d);
            t->data[i] = (tg_real)d;
            break;
        }
        case FT_I64: t->idata[i] = (int64_t)read_le(p, 8); break;
        case FT_I32: t->idata[i] = (int32_t)(uint32_t)read_le(p, 4); break;
        case FT_U8: t->idata[i] = p[0]; break;
        }
    }
    if (file_dtype) *file_dtype = type == FT_F32 ? TG_NPY_F32 : type == FT_F64 ? TG_NPY_F64 : TG_NPY_I64;
    *out = t;
    return TG_OK;
}

tg_status tg_npy_parse(const void *bytes, size_t len, tg_tensor **out, tg_npy_dtype *file_dtype, char *err,
                       size_t errsz)
{
    return parse_named(bytes, len, "npy", out, file_dtype, err, errsz);
}

tg_status tg_npy_load(const char *path, tg_tensor **out, tg_npy_dtype *file_dtype, char *err, size_t errsz)
{
    if (out) *out = NULL;
    if (!path) return fail(err, errsz, TG_ERR_INVALID, "npy", "no path");
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errsz, TG_ERR_IO, path, "cannot open: %s", strerror(errno));
    /* Read the whole file in growing chunks: works for pipes and never trusts a size up front. */
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    tg_status st = TG_OK;
    if (!buf) st = fail(err, errsz, TG_ERR_NOMEM, path, "out of memory");
    while (st == TG_OK) {
        if (len == cap) {
            unsigned char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                st = fail(err, errsz, TG_ERR_NOMEM, path, "out of memory reading the file");
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = fail(err, errsz, TG_ERR_IO, path, "cannot read: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == TG_OK) st = parse_named(buf, len, path, out, file_dtype, err, errsz);
    free(buf);
    return st;
}

tg_status tg_npy_save(const char *path, const tg_tensor *t, tg_npy_dtype dtype, char *err, size_t errsz)
{
    if (!path || !t) return fail(err, errsz, TG_ERR_INVALID, path ? path : "npy", "no tensor or path");
    if (t->dtype == TG_INT64) dtype = TG_NPY_I64;
    else if (dtype != TG_NPY_F32 && dtype != TG_NPY_F64)
        return fail(err, errsz, TG_ERR_INVALID, path, "a real tensor is saved as float32 or float64, not int64");
    if (t->ndim < 0 || t->ndim > TG_MAX_DIMS || t->numel != tg_shape_numel(t->ndim, t->shape))
        return fail(err, errsz, TG_ERR_INVALID, path, "tensor has an invalid shape");

    char dict[400];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == TG_NPY_F32 ? "<f4" : dtype == TG_NPY_F64 ? "<f8" : "<i8");
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)t->shape[i],
                      i + 1 < t->ndim ? " " : "");
    /* numpy writes "(3,)" for one dim and "(2, 3)" for more */
    if (t->ndim > 1) n--;
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* version 1.0: magic(6) + version(2) + uint16 length; pad with spaces, end with '\n', so the data
     * starts on a 64-byte boundary */
    size_t prefix = NPY_MAGIC_LEN + 2 + 2, header_len = (size_t)n + 1;
    header_len += (NPY_ALIGN - (prefix + header_len) % NPY_ALIGN) % NPY_ALIGN;
    unsigned char head[512];
    memcpy(head, NPY_MAGIC, NPY_MAGIC_LEN);
    head[6] = 1;
    head[7] = 0;
    write_le(head + 8, header_len, 2);
    memset(head + prefix, ' ', header_len);
    memcpy(head + prefix, dict, (size_t)n);
    head[prefix + header_len - 1] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, errsz, TG_ERR_IO, path, "cannot create: %s", strerror(errno));
    bool ok = fwrite(head, 1, prefix + header_len, f) == prefix + header_len;
    size_t item = dtype == TG_NPY_F32 ? 4 : 8;
    unsigned char chunk[4096];
    size_t used = 0;
    for (int64_t i = 0; i < t->numel && ok; i++) {
        uint64_t bits;
        if (dtype == TG_NPY_I64) {
            bits = (uint64_t)t->idata[i];
        } else if (dtype == TG_NPY_F32) {
            float v = (float)t->data[i];
            uint32_t b32;
            memcpy(&b32, &v, sizeof b32);
            bits = b32;
        } else {
            double v = (double)t->data[i];
            memcpy(&bits, &v, sizeof bits);
        }
        write_le(chunk + used, bits, (int)item);
        used += item;
        if (used == sizeof chunk) {
            ok = fwrite(chunk, 1, used, f) == used;
            used = 0;
        }
    }
    if (ok && used) ok = fwrite(chunk, 1, used, f) == used;
    int saved_errno = errno;
    if (fclose(f) != 0) ok = false;
    if (!ok) return fail(err, errsz, TG_ERR_IO, path, "cannot write: %s", strerror(saved_errno ? saved_errno : errno));
    return TG_OK;
}
