/* fuzz/fuzz_data_cache.c — libFuzzer target: the decoded-data cache's entry reader
 * (nn/data_cache.c). The cache file is input a program never wrote itself (another version,
 * a full disk, a user's hand), so every field of it is checked before the payload is used.
 *
 * The input edits a valid entry for a small gzip source: byte 0 picks a length change (none, a
 * cut at a 16-bit offset, or the input's tail appended), then (16-bit offset, xor byte) pairs
 * flip bytes anywhere in the entry. Whatever the entry holds, tg_read_file_cached must return
 * the source's true decoded bytes: a damaged entry is ignored and rewritten, never believed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../nn/data.h"
#include "../nn/data_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* gzip of 160 bytes: three times i*7 mod 256 for i < 40, then a line of text (Python's
 * gzip.compress with mtime 0) */
static const uint8_t source_gz[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe7, 0x13, 0x95, 0x51, 0xd6, 0x32,
    0xb4, 0xb0, 0x77, 0xf3, 0x0d, 0x89, 0x4e, 0xca, 0x2c, 0x28, 0xaf, 0x6b, 0xed, 0x99, 0x3c, 0x6b, 0xe1, 0x8a,
    0xf5, 0xdb, 0xf6, 0x1e, 0x39, 0x7d, 0xe9, 0xe6, 0x83, 0xe7, 0xef, 0xbe, 0xfe, 0x61, 0xe6, 0x12, 0x64, 0xa0,
    0xb2, 0xba, 0x92, 0xc4, 0x82, 0xd4, 0xf4, 0xa2, 0xc4, 0x14, 0x85, 0x94, 0xd4, 0xe4, 0xfc, 0x94, 0xd4, 0x14,
    0xdd, 0x94, 0xc4, 0x92, 0x44, 0x85, 0xe4, 0xc4, 0xe4, 0x8c, 0x54, 0x85, 0xb4, 0xd2, 0xaa, 0x2a, 0x85, 0xe2,
    0xfc, 0xd2, 0xa2, 0xe4, 0x54, 0x2e, 0x00, 0xf1, 0x6f, 0xea, 0xfc, 0xa0, 0x00, 0x00, 0x00};

static char work_dir[64], source_path[256], entry_path[4096];
static uint8_t *truth, *valid_entry;
static size_t truth_len, valid_len;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = malloc(1 << 16);
    *len = b ? fread(b, 1, 1 << 16, f) : 0;
    fclose(f);
    return b;
}

/* The work directory goes with the process (the entry, its source, any temporary left). */
static void remove_work_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_data_cache: could not remove %s\n", work_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR"); /* a tmpfs one (/dev/shm) runs several times faster */
    snprintf(work_dir, sizeof work_dir, "%s/tg_fuzz_cache_XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(work_dir)) abort();
    atexit(remove_work_dir);
    const char *dir = work_dir;
    char cache_dir[256];
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", dir);
    snprintf(source_path, sizeof source_path, "%s/train.gz", dir);
    if (mkdir(cache_dir, 0700) != 0 || setenv("TG_DATA_CACHE_DIR", cache_dir, 1) != 0) abort();
    unsetenv("TG_DATA_CACHE");
    FILE *f = fopen(source_path, "wb");
    if (!f || fwrite(source_gz, 1, sizeof source_gz, f) != sizeof source_gz || fclose(f) != 0) abort();
    char err[256];
    if (tg_read_file_maybe_gz(source_path, &truth, &truth_len, err, sizeof err) != TG_OK) abort();
    uint8_t *first;
    size_t first_len;
    /* the first read writes the entry; its bytes are the valid entry every input edits */
    if (tg_read_file_cached(source_path, &first, &first_len, err, sizeof err) != TG_OK) abort();
    free(first);
    if (tg_data_cache_path(source_path, entry_path, sizeof entry_path) != 0) abort();
    valid_entry = slurp(entry_path, &valid_len);
    if (!valid_entry || valid_len <= truth_len) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ENTRY = 1 << 16 };
    static uint8_t entry[MAX_ENTRY];
    memcpy(entry, valid_entry, valid_len);
    size_t len = valid_len, pos = 1;
    const int length_change = size ? data[0] % 3 : 0;
    if (length_change == 1 && size >= 3) { /* cut */
        len = ((size_t)data[1] << 8 | data[2]) % (valid_len + 1);
        pos = 3;
    }
    size_t pairs_end = size;
    if (length_change == 2 && size >= 2) { /* the second half of the input is appended */
        pairs_end = 1 + (size - 1) / 2;
        const size_t extra = size - pairs_end < MAX_ENTRY - len ? size - pairs_end : MAX_ENTRY - len;
        memcpy(entry + len, data + pairs_end, extra);
        len += extra;
    }
    for (; pos + 3 <= pairs_end; pos += 3) {
        const size_t at = ((size_t)data[pos] << 8 | data[pos + 1]) % (len ? len : 1);
        if (len) entry[at] ^= data[pos + 2];
    }
    FILE *f = fopen(entry_path, "wb");
    if (!f || fwrite(entry, 1, len, f) != len || fclose(f) != 0) abort();
    uint8_t *got = NULL;
    size_t got_len = 0;
    char err[256];
    if (tg_read_file_cached(source_path, &got, &got_len, err, sizeof err) != TG_OK) abort();
    if (got_len != truth_len || memcmp(got, truth, truth_len) != 0) abort(); /* a wrong payload believed */
    free(got);
    return 0;
}
