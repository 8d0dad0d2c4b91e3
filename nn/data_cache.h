/* nn/data_cache.h — gzip data files decoded once: tg_idx_load keeps the inflated bytes of a .gz
 * source in a user cache directory and reads them back on the next run instead of inflating again
 * (inflating Fashion-MNIST's training images was 5% of a short training run). Internal: not part
 * of tapegrad.h; the user-visible switches are environment variables.
 *
 * Where: $TG_DATA_CACHE_DIR if set, else $XDG_CACHE_HOME/tapegrad, else ~/.cache/tapegrad; one
 * file per source (named by a hash of its absolute path). TG_DATA_CACHE=0 turns the cache off.
 * Never trusted: an entry is used only when its magic, version, the source's size and mtime (ns),
 * its absolute path, the payload length (the file's exact remainder) and a 64-bit checksum of the
 * payload all match; anything else (stale, truncated, corrupt, foreign) is ignored and rewritten.
 * The decoded bytes are then parsed and checked as an uncached file's are. Failing to write the
 * cache is not an error (the data were read); entries are written to a temporary name and renamed
 * into place, so concurrent runs never see half an entry.
 *
 *   uint8_t *bytes; size_t len;
 *   if (tg_read_file_cached(path, &bytes, &len, err, sizeof err) == TG_OK) { ...; free(bytes); }
 */
#ifndef TG_NN_DATA_CACHE_H
#define TG_NN_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../graph/error.h"

/* As tg_read_file_maybe_gz (the decoded bytes, malloc'd), through the cache for gzip sources. */
tg_status tg_read_file_cached(const char *path, uint8_t **out, size_t *out_len, char *err, size_t errsz);

/* The cache file that holds path's decoded bytes (whether or not it exists yet); 0, or -1 when
 * the cache is off, no directory can be named, or path cannot be resolved. */
int tg_data_cache_path(const char *path, char *out, size_t size);

/* The checksum stored with each entry: 64 bits over n bytes, four independent lanes of
 * multiply-xor over 8-byte words (several GB/s, so checking an entry costs far less than
 * inflating it). */
uint64_t tg_data_cache_checksum(const uint8_t *p, size_t n);

#endif
