/* nn/data_cache.c — the decoded-data cache (see data_cache.h). */
#include "data_cache.h"

#include "data.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

/* "tapegrad decoded data", format 1: a header, the source's absolute path, the payload. */
static const char CACHE_MAGIC[8] = {'T', 'G', 'D', 'E', 'C', 'O', 'D', '1'};
typedef struct cache_header {
    char magic[8];
    uint64_t source_size;
    int64_t mtime_sec, mtime_nsec;
    uint64_t payload_len;
    uint64_t checksum;
    uint32_t path_len;
    uint32_t reserved; /* 0 */
} cache_header;
_Static_assert(sizeof(cache_header) == 56, "the cache header has no padding");

/* An entry larger than this is not read (the largest IDX data is bounded alike in data.c). */
#define CACHE_MAX_PAYLOAD ((uint64_t)1 << 40)
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MIX_PRIME 0x9e3779b97f4a7c15ull

uint64_t tg_data_cache_checksum(const uint8_t *p, size_t n)
{
    uint64_t h[4] = {FNV_OFFSET, FNV_OFFSET ^ 1, FNV_OFFSET ^ 2, FNV_OFFSET ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * k, 8);
            h[k] = (h[k] ^ w) * MIX_PRIME;
            h[k] ^= h[k] >> 29; /* high bits of a word reach the low ones */
        }
    uint64_t total = (uint64_t)n * MIX_PRIME;
    for (; i < n; i++) total = (total ^ p[i]) * FNV_PRIME;
    for (int k = 0; k < 4; k++) total = (total ^ h[k]) * MIX_PRIME, total ^= total >> 31;
    return total;
}

static bool cache_off(void)
{
    const char *e = getenv("TG_DATA_CACHE");
    return e && (!strcmp(e, "0") || !strcmp(e, "off"));
}

/* The directory (created when missing); false when none can be named or made. */
static bool cache_dir(char *out, size_t size)
{
    const char *own = getenv("TG_DATA_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (own && *own) n = snprintf(out, size, "%s", own);
    else if (xdg && *xdg == '/') n = snprintf(out, size, "%s/tapegrad", xdg);
    else if (home && *home) {
        n = snprintf(out, size, "%s/.cache", home);
        if (n > 0 && (size_t)n < size) (void)mkdir(out, 0700);
        n = snprintf(out, size, "%s/.cache/tapegrad", home);
    } else return false;
    if (n <= 0 || (size_t)n >= size) return false;
    if (own && *own) { /* its parent too, as mkdir -p would for one level */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", out);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) *slash = '\0', (void)mkdir(parent, 0700);
    } else if (xdg && *xdg == '/') (void)mkdir(xdg, 0700);
    (void)mkdir(out, 0700);
    struct stat sb;
    return stat(out, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int tg_data_cache_path(const char *path, char *out, size_t size)
{
    char abs[PATH_MAX], dir[PATH_MAX];
    if (cache_off() || !path || !realpath(path, abs) || !cache_dir(dir, sizeof dir)) return -1;
    uint64_t h = FNV_OFFSET;
    for (const char *c = abs; *c; c++) h = (h ^ (uint8_t)*c) * FNV_PRIME;
    const char *base = strrchr(abs, '/');
    int n = snprintf(out, size, "%s/%.64s-%016llx.decoded", dir, base ? base + 1 : abs, (unsigned long long)h);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static void header_of(const struct stat *src, const char *abs, cache_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, sizeof h->magic);
    h->source_size = (uint64_t)src->st_size;
    h->mtime_sec = (int64_t)src->st_mtim.tv_sec;
    h->mtime_nsec = (int64_t)src->st_mtim.tv_nsec;
    h->path_len = (uint32_t)strlen(abs);
}

/* The payload of a valid entry for this source (malloc'd), or NULL: every field is checked. */
static uint8_t *cache_read(const char *file, const cache_header *want, const char *abs, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (!f) return NULL;
    cache_header h;
    uint8_t *payload = NULL;
    char stored_path[PATH_MAX];
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || fread(&h, sizeof h, 1, f) != 1) goto bad;
    if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) || h.reserved != 0 || h.source_size != want->source_size ||
        h.mtime_sec != want->mtime_sec || h.mtime_nsec != want->mtime_nsec || h.path_len != want->path_len ||
        h.path_len >= sizeof stored_path || h.payload_len > CACHE_MAX_PAYLOAD)
        goto bad;
    /* the payload is exactly the rest of the file */
    if ((uint64_t)sb.st_size != sizeof h + h.path_len + h.payload_len) goto bad;
    if (fread(stored_path, 1, h.path_len, f) != h.path_len || memcmp(stored_path, abs, h.path_len)) goto bad;
    payload = malloc((size_t)h.payload_len + 1);
    if (!payload || fread(payload, 1, (size_t)h.payload_len, f) != h.payload_len) goto bad;
    if (tg_data_cache_checksum(payload, (size_t)h.payload_len) != h.checksum) goto bad;
    fclose(f);
    payload[h.payload_len] = 0; /* as tg_read_file's buffers */
    *len = (size_t)h.payload_len;
    return payload;
bad:
    free(payload);
    fclose(f);
    return NULL;
}

/* Writes the entry under a temporary name, then renames it into place; failures leave no entry. */
static void cache_write(const char *file, cache_header h, const char *abs, const uint8_t *payload, size_t len)
{
    char tmp[PATH_MAX + 32];
    int n = snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
    if (n <= 0 || (size_t)n >= sizeof tmp) return;
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    h.payload_len = len;
    h.checksum = tg_data_cache_checksum(payload, len);
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(abs, 1, h.path_len, f) == h.path_len &&
              fwrite(payload, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, file) != 0) remove(tmp);
}

static bool is_gzip(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t magic[2];
    bool gz = fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    fclose(f);
    return gz;
}

tg_status tg_read_file_cached(const char *path, uint8_t **out, size_t *out_len, char *err, size_t errsz)
{
    char abs[PATH_MAX], file[PATH_MAX + 96];
    struct stat src;
    /* the source's size and mtime are taken before it is read: a later change makes the entry stale */
    const bool cacheable = stat(path, &src) == 0 && S_ISREG(src.st_mode) && realpath(path, abs) &&
                           is_gzip(path) && tg_data_cache_path(path, file, sizeof file) == 0;
    if (!cacheable) return tg_read_file_maybe_gz(path, out, out_len, err, errsz);
    cache_header h;
    header_of(&src, abs, &h);
    uint8_t *cached = cache_read(file, &h, abs, out_len);
    if (cached) {
        *out = cached;
        return TG_OK;
    }
    tg_status st = tg_read_file_maybe_gz(path, out, out_len, err, errsz);
    if (st == TG_OK) cache_write(file, h, abs, *out, *out_len);
    return st;
}
