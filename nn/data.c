/* nn/data.c — inflate + gzip, IDX files, datasets, shuffled batches and augmentation. */
#include "data.h"
#include "data_cache.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../graph/npy.h"
#include "image.h"

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

/* A malloc'd copy of n strings (NULL when out of memory). */
static char **strings_copy(const char *const *s, int n)
{
    char **c = calloc((size_t)(n > 0 ? n : 1), sizeof *c);
    for (int i = 0; c && i < n; i++) {
        const size_t len = strlen(s[i]) + 1;
        if (!(c[i] = malloc(len))) {
            for (int j = 0; j < i; j++) free(c[j]);
            free(c);
            return NULL;
        }
        memcpy(c[i], s[i], len);
    }
    return c;
}
static void strings_free(char **s, int n)
{
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* The first read buffer of tg_read_file; it doubles as the file turns out longer. */
#define READ_CHUNK ((size_t)1 << 16)

/* ---------------- CRC-32 ---------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t tg_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_table_build); /* callers may be on several threads at once */
    const uint32_t *table = crc_table;
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------- inflate (RFC 1951) ---------------- */

typedef struct bit_reader {
    const uint8_t *in;
    size_t len, pos; /* byte position */
    uint32_t bitbuf;
    int bitcnt;
    bool overrun;
} bit_reader;

static uint32_t get_bits(bit_reader *br, int n)
{
    uint32_t v = br->bitbuf;
    while (br->bitcnt < n) {
        if (br->pos >= br->len) {
            br->overrun = true;
            return 0;
        }
        v |= (uint32_t)br->in[br->pos++] << br->bitcnt;
        br->bitcnt += 8;
    }
    br->bitbuf = (uint32_t)((uint64_t)v >> n);
    br->bitcnt -= n;
    return v & ((1u << n) - 1);
}

/* Canonical Huffman code: count of codes per length and symbols sorted by code. */
#define MAX_BITS 15
typedef struct huffman {
    uint16_t count[MAX_BITS + 1];
    uint16_t symbol[288];
} huffman;

/* Builds a code from code lengths; returns 0, or -1 when the lengths over-subscribe the code
 * (incomplete codes are allowed, as zlib allows them for single-code distance trees). */
static int huffman_build(huffman *h, const uint8_t *lengths, int n)
{
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++) h->count[lengths[i]]++;
    int left = 1;
    for (int len = 1; len <= MAX_BITS; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0) return -1;
    }
    uint16_t offs[MAX_BITS + 1];
    offs[1] = 0;
    for (int len = 1; len < MAX_BITS; len++) offs[len + 1] = offs[len] + h->count[len];
    for (int i = 0; i < n; i++)
        if (lengths[i]) h->symbol[offs[lengths[i]]++] = (uint16_t)i;
    return 0;
}

/* Decodes one symbol bit by bit (codes are stored MSB-first within the LSB-first stream). */
static int huffman_decode(bit_reader *br, const huffman *h)
{
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= MAX_BITS; len++) {
        code |= (int)get_bits(br, 1);
        if (br->overrun) return -1;
        const int count = h->count[len];
        if (code - first < count) return h->symbol[index + (code - first)];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}

typedef struct out_buf {
    uint8_t *p;
    size_t len, cap;
    size_t limit; /* the most bytes the stream may produce (SIZE_MAX: no bound) */
} out_buf;

static const char out_of_memory[] = "out of memory", over_limit[] = "output exceeds the limit";

/* Room for extra more bytes: NULL, or why not. */
static const char *out_reserve(out_buf *o, size_t extra)
{
    if (extra > o->limit - o->len) return over_limit;
    if (o->len + extra <= o->cap) return NULL;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + extra) cap *= 2;
    if (cap > o->limit) cap = o->limit; /* never more than the stream may fill */
    uint8_t *p = realloc(o->p, cap);
    if (!p) return out_of_memory;
    o->p = p, o->cap = cap;
    return NULL;
}

static const uint16_t len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                      35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
                                       6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Decodes literal/length and distance symbols until end-of-block. Returns NULL or the reason. */
static const char *inflate_codes(bit_reader *br, out_buf *o, const huffman *lit, const huffman *dist)
{
    for (;;) {
        const int sym = huffman_decode(br, lit);
        if (sym < 0) return br->overrun ? "stream ends inside a block" : "invalid literal/length code";
        if (sym < 256) {
            const char *why = out_reserve(o, 1);
            if (why) return why;
            o->p[o->len++] = (uint8_t)sym;
        } else if (sym == 256) {
            return NULL;
        } else {
            if (sym > 285) return "invalid length symbol";
            const size_t len = len_base[sym - 257] + get_bits(br, len_extra[sym - 257]);
            const int ds = huffman_decode(br, dist);
            if (ds < 0 || ds > 29) return br->overrun ? "stream ends inside a block" : "invalid distance code";
            const size_t d = dist_base[ds] + get_bits(br, dist_extra[ds]);
            if (br->overrun) return "stream ends inside a block";
            if (d > o->len) return "distance reaches before the start of the output";
            const char *why = out_reserve(o, len);
            if (why) return why;
            for (size_t i = 0; i < len; i++, o->len++) o->p[o->len] = o->p[o->len - d];
        }
    }
}

static const char *inflate_stored(bit_reader *br, out_buf *o)
{
    br->bitbuf = 0, br->bitcnt = 0; /* skip to the byte boundary */
    if (br->len - br->pos < 4) return "stream ends inside a stored block header";
    const uint8_t *h = br->in + br->pos;
    const unsigned len = h[0] | h[1] << 8, nlen = h[2] | h[3] << 8;
    if (len != (~nlen & 0xffff)) return "stored block length does not match its complement";
    br->pos += 4;
    if (br->len - br->pos < len) return "stream ends inside a stored block";
    if (len == 0) return NULL; /* an empty block: the output may still be unallocated (NULL) */
    const char *why = out_reserve(o, len);
    if (why) return why;
    memcpy(o->p + o->len, br->in + br->pos, len);
    o->len += len, br->pos += len;
    return NULL;
}

/* The fixed codes of RFC 1951 3.2.6, built once for all threads. */
static huffman fixed_lit, fixed_dist;
static pthread_once_t fixed_once = PTHREAD_ONCE_INIT;

static void fixed_codes_build(void)
{
    uint8_t lengths[288];
    for (int i = 0; i < 288; i++) lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    huffman_build(&fixed_lit, lengths, 288);
    for (int i = 0; i < 30; i++) lengths[i] = 5;
    huffman_build(&fixed_dist, lengths, 30);
}

static const char *inflate_fixed(bit_reader *br, out_buf *o)
{
    pthread_once(&fixed_once, fixed_codes_build);
    return inflate_codes(br, o, &fixed_lit, &fixed_dist);
}

static const char *inflate_dynamic(bit_reader *br, out_buf *o)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    const int nlen = (int)get_bits(br, 5) + 257, ndist = (int)get_bits(br, 5) + 1,
              ncode = (int)get_bits(br, 4) + 4;
    if (br->overrun) return "stream ends inside a block header";
    if (nlen > 286 || ndist > 30) return "too many length or distance codes";
    uint8_t lengths[320] = {0};
    for (int i = 0; i < ncode; i++) lengths[order[i]] = (uint8_t)get_bits(br, 3);
    huffman lencode, lit, dist;
    if (huffman_build(&lencode, lengths, 19)) return "over-subscribed code-length code";
    memset(lengths, 0, sizeof lengths);
    for (int i = 0; i < nlen + ndist;) {
        int sym = huffman_decode(br, &lencode);
        if (sym < 0) return br->overrun ? "stream ends inside a block header" : "invalid code-length code";
        if (sym < 16) {
            lengths[i++] = (uint8_t)sym;
            continue;
        }
        uint8_t value = 0;
        int repeat;
        if (sym == 16) {
            if (i == 0) return "repeat of a code length with none before it";
            value = lengths[i - 1];
            repeat = 3 + (int)get_bits(br, 2);
        } else if (sym == 17) {
            repeat = 3 + (int)get_bits(br, 3);
        } else {
            repeat = 11 + (int)get_bits(br, 7);
        }
        if (i + repeat > nlen + ndist) return "code lengths repeat past the end";
        while (repeat--) lengths[i++] = value;
    }
    if (lengths[256] == 0) return "no end-of-block code";
    if (huffman_build(&lit, lengths, nlen)) return "over-subscribed literal/length code";
    if (huffman_build(&dist, lengths + nlen, ndist)) return "over-subscribed distance code";
    return inflate_codes(br, o, &lit, &dist);
}

tg_status tg_inflate(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
                     size_t *consumed, char *err, size_t errsz)
{
    return tg_inflate_limited(in, in_len, 0, out, out_len, consumed, err, errsz);
}

tg_status tg_inflate_limited(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len,
                             size_t *consumed, char *err, size_t errsz)
{
    *out = NULL, *out_len = 0;
    bit_reader br = {.in = in, .len = in_len};
    out_buf o = {.limit = max_out ? max_out : SIZE_MAX};
    const char *why = NULL;
    int last;
    do {
        last = (int)get_bits(&br, 1);
        const int type = (int)get_bits(&br, 2);
        if (br.overrun) why = "stream ends before a block header";
        else if (type == 0) why = inflate_stored(&br, &o);
        else if (type == 1) why = inflate_fixed(&br, &o);
        else if (type == 2) why = inflate_dynamic(&br, &o);
        else why = "invalid block type 3";
    } while (!why && !last);
    if (why) {
        free(o.p);
        if (why == over_limit) SAY("inflate: %s of %zu bytes", why, max_out);
        else SAY("inflate: %s", why);
        return why == out_of_memory ? TG_ERR_NOMEM : TG_ERR_FORMAT;
    }
    *out = o.p ? o.p : malloc(1);
    *out_len = o.len;
    if (consumed) *consumed = br.pos;
    return *out ? TG_OK : TG_ERR_NOMEM;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

tg_status tg_gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len, char *err, size_t errsz)
{
    if (len < 18) return SAY("gzip: file too short (%zu bytes)", len), TG_ERR_FORMAT;
    if (in[0] != 0x1f || in[1] != 0x8b) return SAY("gzip: bad magic %02x %02x", in[0], in[1]), TG_ERR_FORMAT;
    if (in[2] != 8) return SAY("gzip: compression method %d is not deflate (8)", in[2]), TG_ERR_FORMAT;
    const uint8_t flags = in[3];
    if (flags & 0xe0) return SAY("gzip: reserved flag bits set (0x%02x)", flags), TG_ERR_FORMAT;
    size_t pos = 10;
    if (flags & 4) { /* FEXTRA */
        if (pos + 2 > len) goto short_header;
        pos += 2 + (size_t)(in[pos] | in[pos + 1] << 8);
    }
    for (int bit = 8; bit <= 16; bit <<= 1) /* FNAME, FCOMMENT: zero-terminated */
        if (flags & bit) {
            while (pos < len && in[pos]) pos++;
            pos++;
        }
    if (flags & 2) { /* FHCRC: low 16 bits of the header's CRC-32 */
        if (pos + 2 > len) goto short_header;
        if ((tg_crc32(0, in, pos) & 0xffff) != (uint32_t)(in[pos] | in[pos + 1] << 8))
            return SAY("gzip: header CRC mismatch"), TG_ERR_FORMAT;
        pos += 2;
    }
    if (pos + 8 > len) goto short_header;
    size_t used;
    tg_status st = tg_inflate(in + pos, len - pos - 8, out, out_len, &used, err, errsz);
    if (st != TG_OK) return st;
    const uint8_t *trailer = in + pos + used;
    const uint32_t crc = tg_crc32(0, *out, *out_len);
    if (le32(trailer) != crc || le32(trailer + 4) != (uint32_t)*out_len) {
        SAY("gzip: %s mismatch (stored %08x, computed %08x)",
            le32(trailer) != crc ? "CRC-32" : "size", le32(trailer) != crc ? le32(trailer) : le32(trailer + 4),
            le32(trailer) != crc ? crc : (uint32_t)*out_len);
        free(*out);
        *out = NULL;
        return TG_ERR_FORMAT;
    }
    return TG_OK;
short_header:
    return SAY("gzip: truncated header"), TG_ERR_FORMAT;
}

tg_status tg_read_file(const char *path, size_t limit, uint8_t **out, size_t *out_len, char *err, size_t errsz)
{
    *out = NULL, *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return SAY("%s: cannot open", path), TG_ERR_IO;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return SAY("%s: is a directory, not a file", path), TG_ERR_IO;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (limit && len > limit) break;
            cap = cap ? cap * 2 : READ_CHUNK;
            if (limit && cap > limit + 1) cap = limit + 1; /* one byte past the limit tells it is exceeded */
            uint8_t *p = realloc(buf, cap);
            if (!p) {
                free(buf), fclose(f);
                return SAY("%s: out of memory for a %zu-byte read buffer", path, cap), TG_ERR_NOMEM;
            }
            buf = p;
        }
        const size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    const bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return SAY("%s: read error", path), TG_ERR_IO;
    }
    if (limit && len > limit) {
        free(buf);
        return SAY("%s: larger than the limit of %zu bytes", path, limit), TG_ERR_FORMAT;
    }
    buf[len] = 0; /* the loop grows the buffer before each read, so len < cap here */
    *out = buf;
    *out_len = len;
    return TG_OK;
}

tg_status tg_read_file_maybe_gz(const char *path, uint8_t **out, size_t *out_len, char *err, size_t errsz)
{
    uint8_t *buf;
    size_t len;
    tg_status st = tg_read_file(path, 0, &buf, &len, err, errsz);
    if (st != TG_OK) return st;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        char inner[200] = "";
        st = tg_gunzip(buf, len, out, out_len, inner, sizeof inner);
        free(buf);
        if (st != TG_OK) SAY("%s: %s", path, inner);
        return st;
    }
    *out = buf;
    *out_len = len;
    return TG_OK;
}

/* ---------------- IDX ---------------- */

/* The largest data an IDX file may declare (1 TiB): bounds the element count before it is
 * multiplied out, so no product of dimensions can overflow. */
#define IDX_MAX_BYTES ((int64_t)1 << 40)

tg_status tg_idx_parse(const uint8_t *b, size_t len, tg_idx *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    if (len < 4) return SAY("idx: %zu bytes is shorter than the 4-byte magic", len), TG_ERR_FORMAT;
    if (b[0] || b[1]) return SAY("idx: bad magic %02x %02x (want 00 00)", b[0], b[1]), TG_ERR_FORMAT;
    if (b[2] != 0x08) return SAY("idx: element type 0x%02x is not unsigned byte (0x08)", b[2]), TG_ERR_FORMAT;
    const int ndim = b[3];
    if (ndim < 1 || ndim > 4) return SAY("idx: %d dimensions (1..4 supported)", ndim), TG_ERR_FORMAT;
    if (len < 4 + 4 * (size_t)ndim) return SAY("idx: file ends inside the %d dimension sizes", ndim), TG_ERR_FORMAT;
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        const uint32_t d = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        if (d == 0 || d > (1u << 30)) return SAY("idx: dimension %d has size %u", i, d), TG_ERR_FORMAT;
        out->dims[i] = d;
        /* checked before multiplying: four 2^30 sizes would overflow int64 */
        if (count > IDX_MAX_BYTES / d)
            return SAY("idx: dimensions need more than the %lld-byte limit", (long long)IDX_MAX_BYTES), TG_ERR_FORMAT;
        count *= d;
    }
    const size_t header = 4 + 4 * (size_t)ndim;
    if ((uint64_t)(len - header) != (uint64_t)count) {
        SAY("idx: dimensions need %lld data bytes but the file has %zu", (long long)count, len - header);
        return TG_ERR_FORMAT;
    }
    out->data = malloc((size_t)count);
    if (!out->data) return SAY("idx: out of memory for %lld data bytes", (long long)count), TG_ERR_NOMEM;
    memcpy(out->data, b + header, (size_t)count);
    out->ndim = ndim;
    return TG_OK;
}

tg_status tg_idx_load(const char *path, tg_idx *out, char *err, size_t errsz)
{
    uint8_t *bytes;
    size_t len;
    memset(out, 0, sizeof *out);
    tg_status st = tg_read_file_cached(path, &bytes, &len, err, errsz); /* a .gz is inflated once */
    if (st != TG_OK) return st;
    char inner[200] = "";
    st = tg_idx_parse(bytes, len, out, inner, sizeof inner);
    free(bytes);
    if (st != TG_OK) SAY("%s: %s", path, inner);
    return st;
}

void tg_idx_free(tg_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    idx->data = NULL;
}

/* ---------------- datasets ---------------- */

tg_status tg_dataset_load_idx(const char *images_path, const char *labels_path, tg_dataset **out,
                              char *err, size_t errsz)
{
    *out = NULL;
    tg_idx im, lb;
    tg_status st = tg_idx_load(images_path, &im, err, errsz);
    if (st != TG_OK) return st;
    st = tg_idx_load(labels_path, &lb, err, errsz);
    if (st != TG_OK) {
        tg_idx_free(&im);
        return st;
    }
    tg_dataset *d = NULL;
    if (im.ndim != 3 && im.ndim != 4) {
        SAY("%s: images must have 3 or 4 dimensions, not %d", images_path, im.ndim);
        st = TG_ERR_FORMAT;
    } else if (lb.ndim != 1) {
        SAY("%s: labels must have 1 dimension, not %d", labels_path, lb.ndim);
        st = TG_ERR_FORMAT;
    } else if (lb.dims[0] != im.dims[0]) {
        SAY("%s: %lld labels for %lld images", labels_path, (long long)lb.dims[0], (long long)im.dims[0]);
        st = TG_ERR_FORMAT;
    } else if (!(d = calloc(1, sizeof *d))) {
        st = TG_ERR_NOMEM;
    } else {
        d->n = im.dims[0];
        d->c = im.ndim == 4 ? im.dims[1] : 1;
        d->h = im.dims[im.ndim - 2];
        d->w = im.dims[im.ndim - 1];
        const int64_t total = d->n * d->c * d->h * d->w;
        d->images = malloc((size_t)total * sizeof *d->images);
        d->labels = malloc((size_t)d->n * sizeof *d->labels);
        if (!d->images || !d->labels) {
            tg_dataset_free(d), d = NULL;
            st = TG_ERR_NOMEM;
        } else {
            for (int64_t i = 0; i < total; i++) d->images[i] = im.data[i] / 255.0f;
            for (int64_t i = 0; i < d->n; i++) {
                d->labels[i] = lb.data[i];
                if (lb.data[i] + 1 > d->n_classes) d->n_classes = lb.data[i] + 1;
            }
        }
    }
    if (st == TG_ERR_NOMEM)
        SAY("%s: out of memory for the dataset (%lld images of %lldx%lld)", images_path, (long long)im.dims[0],
            (long long)im.dims[im.ndim - 2], (long long)im.dims[im.ndim - 1]);
    tg_idx_free(&im);
    tg_idx_free(&lb);
    *out = d;
    return st;
}

tg_status tg_dataset_load_mnist_dir(const char *dir, bool train, tg_dataset **out, char *err, size_t errsz)
{
    const char *prefix = train ? "train" : "t10k";
    char paths[2][1024];
    const char *kinds[2] = {"images-idx3", "labels-idx1"};
    for (int k = 0; k < 2; k++) {
        snprintf(paths[k], sizeof paths[k], "%s/%s-%s-ubyte.gz", dir, prefix, kinds[k]);
        FILE *f = fopen(paths[k], "rb");
        if (f) {
            fclose(f);
            continue;
        }
        snprintf(paths[k], sizeof paths[k], "%s/%s-%s-ubyte", dir, prefix, kinds[k]);
        if (!(f = fopen(paths[k], "rb"))) {
            *out = NULL;
            SAY("%s: no %s-%s-ubyte[.gz] there", dir, prefix, kinds[k]);
            return TG_ERR_IO;
        }
        fclose(f);
    }
    return tg_dataset_load_idx(paths[0], paths[1], out, err, errsz);
}

int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[TG_DATASET_MAX_RANK])
{
    if (d->view_ndim > 0) {
        memcpy(shape, d->view, (size_t)d->view_ndim * sizeof *shape);
        return d->view_ndim;
    }
    if (d->sample_ndim == 1) {
        shape[0] = d->c;
        return 1;
    }
    shape[0] = d->c, shape[1] = d->h, shape[2] = d->w;
    return 3;
}

/* The shape without its leading dims of 1 (at least one dim kept): where it starts. */
static int first_kept_dim(const int64_t *shape, int ndim)
{
    int i = 0;
    while (i < ndim - 1 && shape[i] == 1) i++;
    return i;
}

/* Sets d's samples to the shape (ndim 1 to 4, the same number of values): its first dim the
 * channels, the rest their plane. */
static void view_samples(tg_dataset *d, const int64_t *shape, int ndim)
{
    d->c = shape[0];
    d->h = ndim == 4 ? shape[1] * shape[2] : ndim == 3 ? shape[1] : 1;
    d->w = ndim >= 2 ? shape[ndim - 1] : 1;
    d->sample_ndim = ndim == 1 ? 1 : 3;
    d->view_ndim = ndim == 1 || ndim == 3 ? 0 : ndim; /* (F) and (C,H,W) are the plain layouts */
    for (int i = 0; i < ndim; i++) d->view[i] = shape[i];
}

bool tg_dataset_fit_shape(tg_dataset *d, const int64_t *shape, int ndim)
{
    int64_t have[TG_DATASET_MAX_RANK];
    const int have_ndim = tg_dataset_sample_shape(d, have);
    if (ndim < 1 || ndim > TG_DATASET_MAX_RANK) return false;
    const int a = first_kept_dim(have, have_ndim), b = first_kept_dim(shape, ndim);
    if (have_ndim - a != ndim - b || memcmp(have + a, shape + b, (size_t)(ndim - b) * sizeof *shape)) return false;
    if (have_ndim != ndim) view_samples(d, shape, ndim);
    return true;
}

/* Largest class label accepted from a file: beyond it a typo, not a class (and n_classes is an int) */
#define DATA_MAX_LABEL 1000000

tg_status tg_dataset_load_npy(const char *x_path, const char *y_path, tg_dataset **out, char *err, size_t errsz)
{
    *out = NULL;
    tg_tensor *x = NULL, *y = NULL;
    tg_status st = tg_npy_load(x_path, &x, NULL, err, errsz);
    if (st == TG_OK) st = tg_npy_load(y_path, &y, NULL, err, errsz);
    char xs[TG_SHAPE_STR_LEN] = "", ys[TG_SHAPE_STR_LEN] = "";
    if (x) tg_shape_str(x, xs, sizeof xs);
    if (y) tg_shape_str(y, ys, sizeof ys);
    tg_dataset *d = NULL;
    if (st != TG_OK) {
    } else if (x->dtype != TG_REAL || x->ndim < 2 || x->ndim > 5 || x->shape[0] < 1) {
        SAY("%s: inputs must be float [N,C,D,H,W], [N,C,H,W], [N,H,W] or [N,F] with N >= 1, not %s%s", x_path,
            x->dtype == TG_REAL ? "" : "int64 ", xs);
        st = TG_ERR_FORMAT;
    } else if (y->dtype == TG_INT64 ? y->ndim != 1 : y->ndim != 1 && y->ndim != 2) {
        SAY("%s: labels must be int64 [N] (classes) or float [N] or [N,K] (targets), not %s%s", y_path,
            y->dtype == TG_INT64 ? "int64 " : "float ", ys);
        st = TG_ERR_FORMAT;
    } else if (y->shape[0] != x->shape[0]) {
        SAY("%s: %lld labels for %lld inputs (x=%s y=%s)", y_path, (long long)y->shape[0], (long long)x->shape[0],
            xs, ys);
        st = TG_ERR_FORMAT;
    } else if (x->numel / x->shape[0] < 1 || y->numel / y->shape[0] < 1) {
        SAY("%s: a sample has no values (x=%s y=%s)", x->numel / x->shape[0] < 1 ? x_path : y_path, xs, ys);
        st = TG_ERR_FORMAT;
    }
    const bool targets = st == TG_OK && y->dtype == TG_REAL;
    for (int64_t i = 0; targets && st == TG_OK && i < y->numel; i++)
        if (!isfinite(y->data[i]) || fabs((double)y->data[i]) > FLT_MAX) {
            SAY("%s: target %g at index %lld is not finite%s", y_path, (double)y->data[i], (long long)i,
                isfinite(y->data[i]) ? " as a float32" : "");
            st = TG_ERR_FORMAT;
        }
    for (int64_t i = 0; !targets && st == TG_OK && i < y->numel; i++)
        if (y->idata[i] < 0 || y->idata[i] > DATA_MAX_LABEL) {
            SAY("%s: label %lld at index %lld is outside 0..%d", y_path, (long long)y->idata[i], (long long)i,
                DATA_MAX_LABEL);
            st = TG_ERR_FORMAT;
        }
    if (st == TG_OK && !(d = calloc(1, sizeof *d))) st = TG_ERR_NOMEM;
    if (st == TG_OK) {
        d->n = x->shape[0];
        /* [N,H,W]: one channel (a 1-D model's [N,C,L] is re-viewed by tg_dataset_fit_shape) */
        const int64_t gray[3] = {1, x->ndim == 3 ? x->shape[1] : 1, x->ndim == 3 ? x->shape[2] : 1};
        if (x->ndim == 3) view_samples(d, gray, 3);
        else view_samples(d, x->shape + 1, x->ndim - 1);
        d->images = malloc((size_t)x->numel * sizeof *d->images);
        if (targets) {
            d->n_targets = y->numel / d->n;
            d->targets = malloc((size_t)y->numel * sizeof *d->targets);
        } else {
            d->labels = malloc((size_t)d->n * sizeof *d->labels);
        }
        if (!d->images || !(targets ? (void *)d->targets : (void *)d->labels)) {
            tg_dataset_free(d), d = NULL;
            SAY("%s: out of memory for the dataset (x=%s)", x_path, xs);
            st = TG_ERR_NOMEM;
        } else {
            for (int64_t i = 0; i < x->numel; i++) d->images[i] = (float)x->data[i];
            for (int64_t i = 0; targets && i < y->numel; i++) d->targets[i] = (float)y->data[i];
            for (int64_t i = 0; !targets && i < d->n; i++) {
                d->labels[i] = y->idata[i];
                if (y->idata[i] + 1 > d->n_classes) d->n_classes = (int)y->idata[i] + 1;
            }
        }
    }
    tg_tensor_free(x), tg_tensor_free(y);
    *out = d;
    return st;
}

tg_status tg_dataset_load_any(const char *spec, bool train, tg_dataset **out, char *err, size_t errsz)
{
    return tg_dataset_load_spec(spec, NULL, train, out, err, errsz);
}

/* Whether name ends with suffix, ignoring ASCII case. */
static bool ends_with_nocase(const char *name, const char *suffix)
{
    const size_t n = strlen(name), k = strlen(suffix);
    if (n < k) return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)name[n - k + i]) != tolower((unsigned char)suffix[i])) return false;
    return true;
}

/* A regular file path exists. */
static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

tg_data_source tg_data_source_of(const char *spec)
{
    if (ends_with_nocase(spec, ".csv")) return TG_DATA_CSV;
    if (strchr(spec, ',')) return TG_DATA_NPY_PAIR;
    /* a directory holding MNIST's training images (either form) is an IDX set */
    static const char *const idx_names[] = {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                                            "t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"};
    char path[4096];
    for (size_t i = 0; i < sizeof idx_names / sizeof *idx_names; i++) {
        snprintf(path, sizeof path, "%s/%s", spec, idx_names[i]);
        if (file_exists(path)) return TG_DATA_IDX_DIR;
    }
    struct stat sb;
    return stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode) ? TG_DATA_IMAGE_DIR : TG_DATA_IDX_DIR;
}

tg_status tg_dataset_load_spec(const char *spec, const tg_data_options *o, bool train, tg_dataset **out, char *err,
                               size_t errsz)
{
    *out = NULL;
    const tg_data_options none = {0};
    if (!o) o = &none;
    switch (tg_data_source_of(spec)) {
    case TG_DATA_CSV: return tg_dataset_load_csv(spec, o->label_col, o->float_targets, out, err, errsz);
    case TG_DATA_IMAGE_DIR: return tg_dataset_load_image_dir(spec, o->c, o->h, o->w, out, err, errsz);
    case TG_DATA_IDX_DIR: {
        struct stat sb;
        if (stat(spec, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return SAY("%s: not a directory, an X.npy,y.npy pair or a .csv file", spec), TG_ERR_IO;
        return tg_dataset_load_mnist_dir(spec, train, out, err, errsz);
    }
    case TG_DATA_NPY_PAIR: break;
    }
    const char *comma = strchr(spec, ',');
    const size_t len = (size_t)(comma - spec);
    char *x_path = malloc(len + 1);
    if (!x_path) return SAY("%s: out of memory", spec), TG_ERR_NOMEM;
    memcpy(x_path, spec, len);
    x_path[len] = 0;
    tg_status st;
    if (!len || !comma[1] || strchr(comma + 1, ',')) {
        SAY("%s: expected X.npy,y.npy (two file names and one comma) or a directory", spec);
        st = TG_ERR_INVALID;
    } else {
        st = tg_dataset_load_npy(x_path, comma + 1, out, err, errsz);
    }
    free(x_path);
    return st;
}

tg_status tg_dataset_split(tg_dataset *d, double fraction, uint64_t seed, tg_dataset **held, char *err,
                           size_t errsz)
{
    *held = NULL;
    const int64_t n_held = (int64_t)(fraction * (double)d->n + 0.5);
    if (!(fraction > 0 && fraction < 1) || n_held < 1 || n_held >= d->n)
        return SAY("split: a fraction of %g of %lld samples leaves one side empty", fraction, (long long)d->n),
               TG_ERR_INVALID;
    const int64_t per = d->c * d->h * d->w, n_keep = d->n - n_held, nt = d->targets ? d->n_targets : 0;
    tg_dataset *h = calloc(1, sizeof *h);
    float *keep_img = malloc((size_t)(n_keep * per) * sizeof *keep_img);
    int64_t *keep_lab = d->labels ? malloc((size_t)n_keep * sizeof *keep_lab) : NULL;
    float *keep_tgt = nt ? malloc((size_t)(n_keep * nt) * sizeof *keep_tgt) : NULL;
    int64_t *order = malloc((size_t)d->n * sizeof *order);
    bool *is_held = calloc((size_t)d->n, sizeof *is_held);
    char **names = d->class_names ? strings_copy((const char *const *)d->class_names, d->n_classes) : NULL;
    if (h) {
        *h = *d;
        h->n = n_held;
        h->images = malloc((size_t)(n_held * per) * sizeof *h->images);
        h->labels = d->labels ? malloc((size_t)n_held * sizeof *h->labels) : NULL;
        h->targets = nt ? malloc((size_t)(n_held * nt) * sizeof *h->targets) : NULL;
        h->class_names = names;
    }
    if (!h || !h->images || (d->labels && (!h->labels || !keep_lab)) || (nt && (!h->targets || !keep_tgt)) ||
        !keep_img || !order || !is_held || (d->class_names && !names)) {
        if (h) free(h->images), free(h->labels), free(h->targets);
        strings_free(names, d->n_classes);
        free(h), free(keep_img), free(keep_lab), free(keep_tgt), free(order), free(is_held);
        return SAY("split: out of memory for %lld samples", (long long)d->n), TG_ERR_NOMEM;
    }
    /* a seeded Fisher-Yates permutation picks the held samples; both sides keep the file order */
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (int64_t i = 0; i < d->n; i++) order[i] = i;
    for (int64_t i = d->n - 1; i > 0; i--) {
        const int64_t j = (int64_t)tg_rng_below(&rng, (uint64_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int64_t i = 0; i < n_held; i++) is_held[order[i]] = true;
    for (int64_t i = 0, kh = 0, kk = 0; i < d->n; i++) {
        float *dst = is_held[i] ? h->images + kh * per : keep_img + kk * per;
        memcpy(dst, d->images + i * per, (size_t)per * sizeof *dst);
        if (nt) memcpy(is_held[i] ? h->targets + kh * nt : keep_tgt + kk * nt, d->targets + i * nt,
                       (size_t)nt * sizeof *keep_tgt);
        if (d->labels) (is_held[i] ? h->labels : keep_lab)[is_held[i] ? kh : kk] = d->labels[i];
        if (is_held[i]) kh++;
        else kk++;
    }
    free(d->images), free(d->labels), free(d->targets), free(order), free(is_held);
    d->images = keep_img, d->labels = keep_lab, d->targets = keep_tgt, d->n = n_keep;
    *held = h;
    return TG_OK;
}

tg_status tg_norm_stats_alloc(tg_norm_stats *s, int64_t n)
{
    s->n = 0;
    s->mean = malloc((size_t)(n > 0 ? n : 1) * sizeof *s->mean);
    s->std = malloc((size_t)(n > 0 ? n : 1) * sizeof *s->std);
    if (!s->mean || !s->std) {
        tg_norm_stats_free(s);
        return TG_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) s->mean[i] = 0, s->std[i] = 1;
    s->n = n;
    return TG_OK;
}

void tg_norm_stats_free(tg_norm_stats *s)
{
    if (!s) return;
    free(s->mean), free(s->std);
    s->mean = s->std = NULL;
    s->n = 0;
}

tg_status tg_norm_stats_compute(const tg_dataset *d, tg_norm_stats *s)
{
    if (tg_norm_stats_alloc(s, d->c) != TG_OK) return TG_ERR_NOMEM;
    const int64_t plane = d->h * d->w, per = d->c * plane;
    for (int64_t c = 0; c < d->c; c++) {
        /* two passes in double: the mean first, then squared deviations (no cancellation) */
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < d->n; i++)
            for (int64_t k = 0; k < plane; k++) sum += d->images[i * per + c * plane + k];
        const double count = (double)d->n * (double)plane, mean = count > 0 ? sum / count : 0;
        for (int64_t i = 0; i < d->n; i++)
            for (int64_t k = 0; k < plane; k++) {
                const double dev = d->images[i * per + c * plane + k] - mean;
                sq += dev * dev;
            }
        const double std = count > 0 ? sqrt(sq / count) : 0;
        s->mean[c] = mean;
        s->std[c] = std > 0 && isfinite(std) ? std : 1;
    }
    return TG_OK;
}

void tg_norm_stats_apply(const tg_norm_stats *s, tg_real *x, int64_t n, int64_t per)
{
    const int64_t plane = per / s->n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < s->n; c++) {
            tg_real *p = x + i * per + c * plane;
            for (int64_t k = 0; k < plane; k++) p[k] = (tg_real)((p[k] - s->mean[c]) / s->std[c]);
        }
}

tg_status tg_dataset_normalize_stats(tg_dataset *d, const tg_norm_stats *s)
{
    if (s->n != d->c) return TG_ERR_INVALID;
    const int64_t plane = d->h * d->w, per = d->c * plane;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t c = 0; c < d->c; c++) {
            float *p = d->images + i * per + c * plane;
            for (int64_t k = 0; k < plane; k++) p[k] = (float)((p[k] - s->mean[c]) / s->std[c]);
        }
    return TG_OK;
}

void tg_dataset_free(tg_dataset *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    free(d->targets);
    strings_free(d->class_names, d->n_classes);
    free(d);
}

void tg_dataset_normalize(tg_dataset *d, double mean, double std)
{
    const int64_t total = d->n * d->c * d->h * d->w;
    for (int64_t i = 0; i < total; i++) d->images[i] = (float)((d->images[i] - mean) / std);
}

/* ---------------- batches ---------------- */

tg_status tg_batcher_init(tg_batcher *b, const tg_dataset *d, int64_t batch, bool shuffle, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    if (!d || batch <= 0) return TG_ERR_INVALID;
    b->order = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *b->order);
    if (!b->order) return TG_ERR_NOMEM;
    b->data = d, b->batch = batch, b->shuffle = shuffle;
    tg_rng_seed(&b->rng, seed);
    tg_batcher_reset(b);
    return TG_OK;
}

void tg_batcher_free(tg_batcher *b)
{
    free(b->order);
    b->order = NULL;
}

void tg_batcher_reset(tg_batcher *b)
{
    b->pos = 0;
    for (int64_t i = 0; i < b->data->n; i++) b->order[i] = i;
    if (b->shuffle)
        for (int64_t i = b->data->n - 1; i > 0; i--) {
            const int64_t j = (int64_t)tg_rng_below(&b->rng, (uint64_t)i + 1);
            const int64_t tmp = b->order[i];
            b->order[i] = b->order[j], b->order[j] = tmp;
        }
}

/* Copies one image into dst, flipped and/or shifted by (dy, dx) with zero fill (a random crop of
 * the zero-padded image). */
static void copy_augmented(tg_real *dst, const float *src, int64_t c, int64_t h, int64_t w, bool flip,
                           int64_t dy, int64_t dx)
{
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                const int64_t sy = y + dy, sx0 = x + dx, sx = flip ? w - 1 - sx0 : sx0;
                const bool inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
                dst[(ch * h + y) * w + x] = inside ? (tg_real)src[(ch * h + sy) * w + sx] : 0;
            }
}

int64_t tg_batcher_next(tg_batcher *b, tg_tensor *x, tg_tensor *y)
{
    const tg_dataset *d = b->data;
    const int64_t n = d->n - b->pos < b->batch ? d->n - b->pos : b->batch;
    if (n <= 0) return 0;
    const int64_t per = d->c * d->h * d->w;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = b->order[b->pos + i];
        const float *src = d->images + k * per;
        tg_real *dst = x->data + i * per;
        bool flip = false;
        int64_t dy = 0, dx = 0;
        const bool image = d->sample_ndim != 1; /* features have no left-right or crop */
        if (image && b->augment.hflip) flip = tg_rng_below(&b->rng, 2);
        if (image && b->augment.crop_padding > 0) {
            const uint64_t span = 2 * (uint64_t)b->augment.crop_padding + 1;
            dy = (int64_t)tg_rng_below(&b->rng, span) - b->augment.crop_padding;
            dx = (int64_t)tg_rng_below(&b->rng, span) - b->augment.crop_padding;
        }
        copy_augmented(dst, src, d->c, d->h, d->w, flip, dy, dx);
        if (y && y->dtype == TG_INT64 && d->labels) y->idata[i] = d->labels[k];
        if (y && y->dtype == TG_REAL && d->targets)
            for (int64_t j = 0; j < d->n_targets; j++) y->data[i * d->n_targets + j] = (tg_real)d->targets[k * d->n_targets + j];
    }
    b->pos += n;
    return n;
}

/* ---------------- loss kinds ---------------- */

static const char *const loss_names[TG_LOSS_COUNT] = {"cross_entropy", "mse", "l1"};

const char *tg_loss_kind_name(tg_loss_kind k) { return k >= 0 && k < TG_LOSS_COUNT ? loss_names[k] : NULL; }

int tg_loss_kind_from_name(const char *name)
{
    for (int k = 0; name && k < TG_LOSS_COUNT; k++)
        if (!strcmp(name, loss_names[k])) return k;
    return -1;
}

/* ---------------- CSV ---------------- */

/* Characters of a field quoted in a message */
#define CSV_QUOTE_MAX 40
#define CSV_QUOTE_BUF (4 * CSV_QUOTE_MAX + 8)
/* Characters of the header's names listed when --label names none of them */
#define CSV_NAMES_LIST 200

/* Reads fields one at a time into a growing scratch buffer (quotes undone). */
typedef struct csv_reader {
    const char *p, *end;
    int64_t line;  /* the line the reader is on, from 1 */
    char *text;    /* the current field, NUL-terminated (it may hold NULs of its own: len counts) */
    size_t len, cap;
    bool quoted;   /* the field was quoted (so "" is an empty field, not a blank line) */
} csv_reader;

static bool csv_push(csv_reader *r, char c)
{
    if (r->len + 1 >= r->cap) {
        const size_t cap = r->cap ? 2 * r->cap : 64;
        char *t = realloc(r->text, cap);
        if (!t) return false;
        r->text = t, r->cap = cap;
    }
    r->text[r->len++] = c;
    return true;
}

static bool csv_blank(char c) { return c == ' ' || c == '\t'; }

/* The next field; *last: it ended its record (a line break or the end of the input). Returns
 * NULL or why the bytes are not CSV. */
static const char *csv_field(csv_reader *r, bool *last)
{
    r->len = 0;
    if (!csv_push(r, 0)) return out_of_memory; /* makes sure text exists */
    r->len = 0;
    while (r->p < r->end && csv_blank(*r->p)) r->p++;
    r->quoted = r->p < r->end && *r->p == '"';
    if (r->quoted) { /* RFC 4180: "" is a quote, commas and line breaks are text */
        r->p++;
        for (;;) {
            if (r->p >= r->end) return "a quoted field is not closed";
            const char c = *r->p++;
            if (c == '"') {
                if (r->p < r->end && *r->p == '"') r->p++;
                else break;
            } else if (c == '\n') {
                r->line++;
            }
            if (!csv_push(r, c)) return out_of_memory;
        }
        while (r->p < r->end && csv_blank(*r->p)) r->p++;
        if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') return "text after a closing quote";
    } else {
        while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
            if (!csv_push(r, *r->p++)) return out_of_memory;
        while (r->len && csv_blank(r->text[r->len - 1])) r->len--;
    }
    r->text[r->len] = 0;
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        *last = false;
    } else { /* \n, \r\n, \r or the end */
        if (r->p < r->end && *r->p == '\r') r->p++;
        if (r->p < r->end && *r->p == '\n') r->p++;
        r->line++;
        *last = true;
    }
    return NULL;
}

/* A field as a finite number: NULL, or why not. Only decimal notation: strtod's "nan", "inf" and
 * hex forms are refused, as is a value past the float range (it would be stored as Inf). */
static const char *csv_number(const char *text, size_t len, double *v)
{
    if (!len) return "is empty, not a number";
    char *end;
    *v = strtod(text, &end);
    bool plain = true;
    for (size_t i = 0; i < len; i++) plain &= text[i] && strchr("0123456789+-.eE", text[i]) != NULL;
    if (end == text + len && !isfinite(*v)) return plain ? "is out of the range of a double" : "is NaN or Inf text, not accepted";
    if (end != text + len || !plain) return "is not a number";
    if (fabs(*v) > FLT_MAX) return "is out of the range of a float (the values are stored as float32)";
    return NULL;
}

/* Whether text is a decimal index (digits only), into *idx. */
static bool csv_index(const char *text, long *idx)
{
    if (!*text) return false;
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > TG_CSV_MAX_COLUMNS) return false;
        v = v * 10 + (*p - '0');
    }
    *idx = v;
    return true;
}

tg_status tg_dataset_load_csv(const char *path, const char *label_col, bool float_targets, tg_dataset **out,
                              char *err, size_t errsz)
{
    *out = NULL;
    uint8_t *bytes;
    size_t len;
    tg_status st = tg_read_file(path, 0, &bytes, &len, err, errsz);
    if (st != TG_OK) return st;
    st = tg_dataset_parse_csv((const char *)bytes, len, path, label_col, float_targets, out, err, errsz);
    free(bytes);
    return st;
}

tg_status tg_dataset_parse_csv(const char *bytes, size_t len, const char *name, const char *label_col,
                               bool float_targets, tg_dataset **out, char *err, size_t errsz)
{
    *out = NULL;
    csv_reader r = {.p = bytes, .end = bytes + len, .line = 1};
    char q[CSV_QUOTE_BUF], q2[CSV_QUOTE_BUF];
    char **header = NULL;    /* the first row's fields */
    int ncols = 0, header_cap = 0, label = -1;
    bool has_header = false;
    float *feat = NULL, *lab = NULL;
    int64_t n = 0, cap = 0;
    tg_status st = TG_ERR_FORMAT;
    const char *why;
    bool last = false;
    /* the first non-blank row: its width fixes every row's, and it may be a header */
    while (r.p < r.end && !ncols) {
        const int64_t line = r.line;
        do {
            if ((why = csv_field(&r, &last))) goto bad_text;
            if (last && !ncols && r.len == 0 && !r.quoted) break; /* a blank line */
            if (ncols == TG_CSV_MAX_COLUMNS) {
                SAY("%s:%lld: more than %d columns", name, (long long)line, TG_CSV_MAX_COLUMNS);
                goto fail;
            }
            if (ncols == header_cap) { /* doubled: a wide row costs no quadratic copying */
                header_cap = header_cap ? 2 * header_cap : 16;
                char **h = realloc(header, (size_t)header_cap * sizeof *h);
                if (!h) {
                    why = out_of_memory;
                    goto bad_text;
                }
                header = h;
            }
            if (!(header[ncols] = malloc(r.len + 1))) {
                why = out_of_memory;
                goto bad_text;
            }
            memcpy(header[ncols], r.text, r.len + 1);
            ncols++;
        } while (!last);
        if (!ncols) continue;
        int numbers = 0, first_text = -1, first_number = -1;
        for (int j = 0; j < ncols; j++) {
            double v;
            if (csv_number(header[j], strlen(header[j]), &v)) first_text = first_text < 0 ? j : first_text;
            else numbers++, first_number = first_number < 0 ? j : first_number;
        }
        if (numbers && numbers < ncols) {
            SAY("%s:%lld: the first row mixes names and numbers (column %d '%s' is text, column %d '%s' a number)",
                name, (long long)line, first_text + 1, tg_escape(header[first_text], TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q, sizeof q),
                first_number + 1, tg_escape(header[first_number], TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q2, sizeof q2));
            goto fail;
        }
        has_header = numbers == 0;
        if (!has_header) r.p = bytes, r.line = 1; /* the first row is data: read it again below */
    }
    if (!ncols) {
        SAY("%s: empty file (no rows)", name);
        goto fail;
    }
    if (ncols < 2) {
        SAY("%s: %d column: needs the label and at least one feature column", name, ncols);
        goto fail;
    }
    /* the label column: a header name, else a 0-based index, else the last column */
    long idx;
    for (int j = 0; has_header && label_col && j < ncols && label < 0; j++)
        if (!strcmp(header[j], label_col)) label = j;
    if (!label_col) {
        label = ncols - 1;
    } else if (label < 0 && csv_index(label_col, &idx)) {
        if (idx >= ncols) {
            SAY("%s: label column %ld is past the %d columns (indices count from 0)", name, idx, ncols);
            goto fail;
        }
        label = (int)idx;
    } else if (label < 0) {
        char names[CSV_NAMES_LIST + 8] = "";
        size_t used = 0;
        for (int j = 0; has_header && j < ncols && used < CSV_NAMES_LIST; j++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", j ? ", " : "",
                                     tg_escape(header[j], TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q2, sizeof q2));
        if (used >= CSV_NAMES_LIST) strcpy(names + CSV_NAMES_LIST, "...");
        if (has_header)
            SAY("%s: no column named '%s' (the header has: %s)", name,
                tg_escape(label_col, TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q, sizeof q), names);
        else
            SAY("%s: the file has no header, so the label column must be an index, not '%s'", name,
                tg_escape(label_col, TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q, sizeof q));
        goto fail;
    }
    const int nf = ncols - 1;
    while (r.p < r.end) {
        const int64_t line = r.line;
        int j = 0;
        do {
            const int64_t field_line = r.line;
            if ((why = csv_field(&r, &last))) goto bad_text;
            if (j == 0 && last && r.len == 0 && !r.quoted) {
                j = -1; /* a blank line */
                break;
            }
            if (j >= ncols) {
                SAY("%s:%lld: more fields than the %d of the first row", name, (long long)line, ncols);
                goto fail;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                float *f2 = realloc(feat, (size_t)(cap * nf) * sizeof *feat);
                if (f2) feat = f2;
                float *l2 = f2 ? realloc(lab, (size_t)cap * sizeof *lab) : NULL;
                if (l2) lab = l2;
                if (!f2 || !l2) {
                    SAY("%s:%lld: out of memory for %lld rows", name, (long long)line, (long long)cap);
                    st = TG_ERR_NOMEM;
                    goto fail;
                }
            }
            double v;
            const char *bad = csv_number(r.text, r.len, &v);
            if (!bad && j == label && !float_targets && (v != floor(v) || v < 0 || v > DATA_MAX_LABEL))
                bad = "is not a class index (an integer 0..1000000)";
            if (bad) {
                char col[CSV_QUOTE_BUF + 8] = "";
                if (has_header) snprintf(col, sizeof col, " (%s)", tg_escape(header[j], TG_ESCAPE_CSTR, CSV_QUOTE_MAX, q2, sizeof q2));
                SAY("%s:%lld:%d%s: %s'%s' %s", name, (long long)field_line, j + 1, col, j == label ? "label " : "",
                    tg_escape(r.text, r.len, CSV_QUOTE_MAX, q, sizeof q), bad);
                goto fail;
            }
            if (j == label) lab[n] = (float)v;
            else feat[n * nf + (j < label ? j : j - 1)] = (float)v;
            j++;
        } while (!last);
        if (j < 0) continue;
        if (j < ncols) {
            SAY("%s:%lld: %d fields, but the first row has %d", name, (long long)line, j, ncols);
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        SAY("%s: no data rows%s", name, has_header ? " after the header" : "");
        goto fail;
    }
    tg_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        SAY("%s: out of memory", name);
        st = TG_ERR_NOMEM;
        goto fail;
    }
    d->n = n, d->c = nf, d->h = d->w = 1, d->sample_ndim = 1;
    d->images = feat, feat = NULL;
    if (float_targets) {
        d->targets = lab, lab = NULL, d->n_targets = 1;
    } else if (!(d->labels = malloc((size_t)n * sizeof *d->labels))) {
        tg_dataset_free(d);
        SAY("%s: out of memory for %lld labels", name, (long long)n);
        st = TG_ERR_NOMEM;
        goto fail;
    } else {
        for (int64_t i = 0; i < n; i++) {
            d->labels[i] = (int64_t)lab[i];
            if (d->labels[i] + 1 > d->n_classes) d->n_classes = (int)d->labels[i] + 1;
        }
    }
    *out = d;
    st = TG_OK;
    goto fail; /* the common clean-up */
bad_text:
    if (why == out_of_memory) st = TG_ERR_NOMEM;
    SAY("%s:%lld: %s", name, (long long)r.line, why);
fail:
    strings_free(header, ncols);
    free(r.text), free(feat), free(lab);
    return st;
}

/* ---------------- image folders ---------------- */

/* Most classes and images an image folder may hold: past them, the wrong directory */
#define IMAGE_DIR_MAX_CLASSES 100000
#define IMAGE_DIR_MAX_FILES 10000000

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static bool name_list_add(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v, l->cap = cap;
    }
    const size_t len = strlen(s) + 1;
    if (!(l->v[l->n] = malloc(len))) return false;
    memcpy(l->v[l->n++], s, len);
    return true;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted entries of dir: sub-directories (dirs true) or .png/.pgm files; hidden ones skipped. */
static tg_status list_dir(const char *dir, bool dirs, name_list *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return SAY("%s: cannot open the directory: %s", dir, strerror(errno)), TG_ERR_IO;
    struct dirent *e;
    char path[4096];
    tg_status st = TG_OK;
    while (st == TG_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        const bool keep = dirs ? S_ISDIR(sb.st_mode)
                               : S_ISREG(sb.st_mode) && (ends_with_nocase(e->d_name, ".png") || ends_with_nocase(e->d_name, ".pgm"));
        if (!keep) continue;
        if (out->n >= (dirs ? IMAGE_DIR_MAX_CLASSES : IMAGE_DIR_MAX_FILES)) {
            SAY("%s: more than %d %s", dir, dirs ? IMAGE_DIR_MAX_CLASSES : IMAGE_DIR_MAX_FILES, dirs ? "class folders" : "images");
            st = TG_ERR_FORMAT;
        } else if (!name_list_add(out, e->d_name)) {
            SAY("%s: out of memory for the file list", dir);
            st = TG_ERR_NOMEM;
        }
    }
    closedir(d);
    if (st != TG_OK) strings_free(out->v, out->n), memset(out, 0, sizeof *out);
    else if (out->n) qsort(out->v, (size_t)out->n, sizeof *out->v, name_cmp);
    return st;
}

tg_status tg_dataset_load_image_dir(const char *dir, int c, int h, int w, tg_dataset **out, char *err, size_t errsz)
{
    *out = NULL;
    if (c < 0 || h < 0 || w < 0 || (c && c != 1 && c != 3))
        return SAY("%s: images convert to 1 or 3 channels, not %d (shape %dx%dx%d)", dir, c, c, h, w), TG_ERR_INVALID;
    name_list classes, *files = NULL;
    tg_status st = list_dir(dir, true, &classes, err, errsz);
    if (st != TG_OK) return st;
    const int n_classes = classes.n;
    tg_dataset *d = NULL;
    tg_image im = {0};
    char path[8192];
    int64_t total = 0;
    if (!classes.n) {
        SAY("%s: no class sub-folders (and no MNIST IDX files): expected DIR/<class>/<image>.png", dir);
        st = TG_ERR_FORMAT;
        goto done;
    }
    if (!(files = calloc((size_t)classes.n, sizeof *files))) {
        SAY("%s: out of memory for %d classes", dir, classes.n);
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k < classes.n && st == TG_OK; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        if ((st = list_dir(path, false, &files[k], err, errsz)) != TG_OK) break;
        if (!files[k].n) {
            SAY("%s: class folder has no .png or .pgm image", path);
            st = TG_ERR_FORMAT;
        }
        total += files[k].n;
    }
    if (st != TG_OK) goto done;
    if (total > IMAGE_DIR_MAX_FILES) {
        SAY("%s: %lld images, more than the limit of %d", dir, (long long)total, IMAGE_DIR_MAX_FILES);
        st = TG_ERR_FORMAT;
        goto done;
    }
    if (!c || !h || !w) { /* the first image sets what is not given */
        snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[0], files[0].v[0]);
        if ((st = tg_image_load(path, &im, err, errsz)) != TG_OK) goto done;
        c = c ? c : im.channels, h = h ? h : im.height, w = w ? w : im.width;
        tg_image_free(&im);
    }
    const int64_t per = (int64_t)c * h * w;
    /* the whole set in memory, bounded before allocating: (limit on images) x (limit on pixels) */
    if (per > 3 * TG_IMAGE_MAX_PIXELS || total > (int64_t)(SIZE_MAX / sizeof(float)) / per) {
        SAY("%s: %lld images of %dx%dx%d do not fit in memory", dir, (long long)total, c, h, w);
        st = TG_ERR_NOMEM;
        goto done;
    }
    if (!(d = calloc(1, sizeof *d)) || !(d->images = malloc((size_t)(total * per) * sizeof *d->images)) ||
        !(d->labels = malloc((size_t)total * sizeof *d->labels))) {
        SAY("%s: out of memory for %lld images of %dx%dx%d", dir, (long long)total, c, h, w);
        st = TG_ERR_NOMEM;
        goto done;
    }
    d->n = total, d->c = c, d->h = h, d->w = w, d->sample_ndim = 3;
    int64_t i = 0;
    for (int k = 0; k < classes.n && st == TG_OK; k++)
        for (int f = 0; f < files[k].n && st == TG_OK; f++, i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[k], files[k].v[f]);
            if ((st = tg_image_load(path, &im, err, errsz)) != TG_OK) break;
            tg_image_to_input(&im, c, h, w, d->images + i * per); /* c, h, w were checked above */
            tg_image_free(&im);
            d->labels[i] = k;
        }
    if (st != TG_OK) goto done;
    d->n_classes = classes.n;
    d->class_names = classes.v, classes.v = NULL, classes.n = 0;
done:
    for (int k = 0; files && k < n_classes; k++) strings_free(files[k].v, files[k].n);
    free(files);
    strings_free(classes.v, classes.n);
    if (st != TG_OK) tg_dataset_free(d), d = NULL;
    *out = d;
    return st;
}
