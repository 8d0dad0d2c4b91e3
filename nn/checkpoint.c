/* nn/checkpoint.c — versioned little-endian checkpoints with a CRC-32; .npy per tensor. */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/npy.h"
#include "data.h"
#include "module_internal.h"

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)
/* Longest tensor name a checkpoint holds: the longest path tg_module_named_tensors gives. */
#define CKPT_NAME_MAX ((int)sizeof(((tg_named_tensor *)0)->name) - 1)
/* Bytes of a name or path quoted in a message; tg_escape turns control bytes into \xNN and cuts the rest. */
#define CKPT_QUOTE_MAX 200
#define CKPT_QUOTE_BUF (4 * CKPT_QUOTE_MAX + 4)
#define QUOTE(s) tg_escape((s), TG_ESCAPE_CSTR, CKPT_QUOTE_MAX, (char[CKPT_QUOTE_BUF]){0}, CKPT_QUOTE_BUF)

/* Bytes per stored value: the build's tg_real (version 1 files always hold 8). */
#define CKPT_VALUE_BYTES ((int)sizeof(tg_real))
/* The first version that records the value type, the input normalisation and the epoch */
#define CKPT_VERSION_TYPED 2

static const char magic[8] = {'T', 'G', 'C', 'K', 'P', 'T', '\r', '\n'};

/* ---- writing: a growing buffer with explicit little-endian encoders ---- */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void put(wbuf *w, const void *data, size_t n)
{
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1 << 16;
        while (cap < w->len + n) cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        w->p = p, w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}
static void put_u64(wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}
static void put_f64(wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(w, u);
}
static void put_str(wbuf *w, const char *s)
{
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}
/* Values are written in the build's own type (4 or 8 bytes), so nothing is rounded and a float32
 * build's file is half the size. */
static void put_values(wbuf *w, const tg_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (CKPT_VALUE_BYTES == 8) {
            put_f64(w, v ? (double)v[i] : 0.0);
        } else {
            const float f = v ? (float)v[i] : 0.0f;
            uint32_t u;
            memcpy(&u, &f, 4);
            const uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
            put(w, b, 4);
        }
    }
}

/* ---- reading: bounds-checked decoders; any overrun marks the reader bad ---- */
typedef struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
    int value_bytes; /* 4 (float32) or 8 (float64): the file's value type */
} rbuf;

static uint64_t get_u64(rbuf *r)
{
    if (r->len - r->pos < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += 8;
    return v;
}
static double get_f64(rbuf *r)
{
    const uint64_t u = get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
/* A length-prefixed string into buf (NUL-terminated); false when too long or truncated. *len is
 * the length the file declares (to name it when it is past the limit). */
static bool get_str(rbuf *r, char *buf, size_t size, uint64_t *len)
{
    const uint64_t n = get_u64(r);
    *len = n;
    if (r->bad || n >= size || r->len - r->pos < n) return r->bad = true, false;
    memcpy(buf, r->p + r->pos, n);
    buf[n] = 0;
    r->pos += n;
    return true;
}
/* Reads n values of the file's type into dst, converting (dst NULL: skip, validating only). */
static void get_values(rbuf *r, tg_real *dst, int64_t n)
{
    if ((uint64_t)(r->len - r->pos) / (uint64_t)r->value_bytes < (uint64_t)n) {
        r->bad = true;
        return;
    }
    if (!dst) {
        r->pos += (size_t)n * (size_t)r->value_bytes;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (r->value_bytes == 8) {
            dst[i] = (tg_real)get_f64(r);
        } else {
            const uint8_t *b = r->p + r->pos;
            const uint32_t u = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            float f;
            memcpy(&f, &u, 4);
            dst[i] = (tg_real)f;
            r->pos += 4;
        }
    }
}

/* PART_LOSS came after version 2 files were out: a file without it was trained with cross-entropy */
enum { PART_OPTIM = 1, PART_SCHED = 2, PART_RNG = 4, PART_NORM = 8, PART_EPOCH = 16, PART_LOSS = 32 };
#define PART_ALL (PART_OPTIM | PART_SCHED | PART_RNG | PART_NORM | PART_EPOCH | PART_LOSS)

/* The reasons starting with this are TG_ERR_NOMEM, the others TG_ERR_FORMAT. */
static const char out_of_memory[] = "out of memory";

tg_status tg_checkpoint_save(const char *path, tg_module *net, const tg_optim *opt, const tg_sched *sched,
                             const tg_rng *rng, char *err, size_t errsz)
{
    return tg_checkpoint_save_ex(path, net, opt, sched, rng, NULL, err, errsz);
}

tg_status tg_checkpoint_save_ex(const char *path, tg_module *net, const tg_optim *opt, const tg_sched *sched,
                                const tg_rng *rng, const tg_checkpoint_extra *extra, char *err, size_t errsz)
{
    const tg_norm_stats *norm = extra && extra->norm && extra->norm->n > 0 ? extra->norm : NULL;
    const int64_t *epoch = extra ? extra->epoch : NULL;
    /* only a loss other than the default is recorded, so classifiers' files stay as they were */
    const int *loss = extra && extra->loss && *extra->loss != TG_LOSS_CROSS_ENTROPY ? extra->loss : NULL;
    const int n = tg_module_named_tensors(net, true, NULL, 0);
    tg_named_tensor *e = calloc((size_t)n + 1, sizeof *e);
    if (!e) return SAY("%s: out of memory for the model's tensor list", QUOTE(path)), TG_ERR_NOMEM;
    tg_module_named_tensors(net, true, e, n);
    wbuf w = {0};
    put(&w, magic, 8);
    put_u64(&w, TG_CHECKPOINT_VERSION);
    put_u64(&w, (uint64_t)CKPT_VALUE_BYTES);
    put_u64(&w, (opt ? PART_OPTIM : 0) | (sched ? PART_SCHED : 0) | (rng ? PART_RNG : 0) | (norm ? PART_NORM : 0) |
                    (epoch ? PART_EPOCH : 0) | (loss ? PART_LOSS : 0));
    put_u64(&w, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        put_str(&w, e[i].name);
        put_u64(&w, (uint64_t)e[i].tensor->ndim);
        for (int d = 0; d < e[i].tensor->ndim; d++) put_u64(&w, (uint64_t)e[i].tensor->shape[d]);
        put_values(&w, e[i].tensor->data, e[i].tensor->numel);
    }
    free(e);
    if (opt) {
        put_str(&w, tg_optim_kind_name(opt->cfg.kind));
        put_u64(&w, (uint64_t)opt->n_groups);
        for (int g = 0; g < opt->n_groups; g++) {
            put_u64(&w, (uint64_t)opt->groups[g].count);
            put_f64(&w, opt->groups[g].lr), put_f64(&w, opt->groups[g].initial_lr);
            put_f64(&w, opt->groups[g].weight_decay), put_f64(&w, opt->groups[g].momentum);
        }
        put_u64(&w, (uint64_t)opt->n_slots);
        for (int s = 0; s < opt->n_slots; s++) {
            const tg_param_slot *sl = &opt->slots[s];
            put_u64(&w, (uint64_t)sl->param->numel);
            put_u64(&w, (uint64_t)sl->step);
            put_u64(&w, (sl->state[0] ? 1u : 0) | (sl->state[1] ? 2u : 0) | (sl->state[2] ? 4u : 0));
            for (int k = 0; k < 3; k++)
                if (sl->state[k]) put_values(&w, sl->state[k], sl->param->numel);
        }
    }
    if (sched) {
        put_u64(&w, (uint64_t)sched->cfg.kind);
        put_u64(&w, (uint64_t)sched->t);
        put_f64(&w, sched->best);
        put_u64(&w, (uint64_t)sched->bad_epochs), put_u64(&w, (uint64_t)sched->cooldown_left);
    }
    if (rng)
        for (int i = 0; i < 4; i++) put_u64(&w, rng->s[i]);
    if (norm) {
        put_u64(&w, (uint64_t)norm->n);
        for (int64_t c = 0; c < norm->n; c++) put_f64(&w, norm->mean[c]);
        for (int64_t c = 0; c < norm->n; c++) put_f64(&w, norm->std[c]);
    }
    if (epoch) put_u64(&w, (uint64_t)*epoch);
    if (loss) put_u64(&w, (uint64_t)*loss);
    const uint32_t crc = w.oom ? 0 : tg_crc32(0, w.p, w.len);
    put_u64(&w, crc);
    if (w.oom) {
        free(w.p);
        return SAY("%s: out of memory for the checkpoint's bytes", QUOTE(path)), TG_ERR_NOMEM;
    }
    FILE *f = fopen(path, "wb");
    const bool ok = f && fwrite(w.p, 1, w.len, f) == w.len;
    const bool closed = f && fclose(f) == 0;
    free(w.p);
    const int saved_errno = errno;
    if (!ok || !closed) return SAY("%s: cannot write: %s", QUOTE(path), strerror(saved_errno)), TG_ERR_IO;
    return TG_OK;
}

/* Walks the file; with commit false only validates, with commit true copies (after a validating
 * pass succeeded, so it cannot fail half-way). Returns NULL or the reason. */
static const char *walk(rbuf *r, tg_named_tensor *e, int n, tg_optim *opt, tg_sched *sched, tg_rng *rng,
                        tg_norm_stats *norm, int64_t *epoch, int *loss, bool commit, char *why, size_t whysz)
{
    r->pos = 8;
    const uint64_t version = get_u64(r);
    if (version < 1 || version > TG_CHECKPOINT_VERSION)
        return snprintf(why, whysz, "version %llu is not supported (this build reads 1 to %d)",
                        (unsigned long long)version, TG_CHECKPOINT_VERSION), why;
    const uint64_t value_bytes = version >= CKPT_VERSION_TYPED ? get_u64(r) : 8;
    if (!r->bad && value_bytes != 4 && value_bytes != 8)
        return snprintf(why, whysz, "value size %llu is neither 4 (float32) nor 8 (float64)",
                        (unsigned long long)value_bytes), why;
    r->value_bytes = (int)value_bytes;
    const uint64_t parts = get_u64(r), count = get_u64(r);
    if (r->bad) return "truncated header";
    if (parts & ~(uint64_t)PART_ALL || (version < CKPT_VERSION_TYPED && parts & (PART_NORM | PART_EPOCH | PART_LOSS)))
        return snprintf(why, whysz, "unknown parts 0x%llx", (unsigned long long)parts), why;
    if (count != (uint64_t)n)
        return snprintf(why, whysz, "holds %llu tensors but the model has %d", (unsigned long long)count, n), why;
    for (int i = 0; i < n; i++) {
        char name[CKPT_NAME_MAX + 1];
        uint64_t name_len;
        if (!get_str(r, name, sizeof name, &name_len)) {
            if (name_len > CKPT_NAME_MAX && name_len <= r->len)
                return snprintf(why, whysz, "tensor %d's name is %llu bytes, longer than the limit of %d", i,
                                (unsigned long long)name_len, CKPT_NAME_MAX), why;
            return "truncated or bad tensor name";
        }
        if (strcmp(name, e[i].name))
            return snprintf(why, whysz, "tensor %d is '%s' but the model has '%s'", i, QUOTE(name), QUOTE(e[i].name)), why;
        const uint64_t ndim = get_u64(r);
        bool same = ndim == (uint64_t)e[i].tensor->ndim;
        for (uint64_t d = 0; d < ndim && d < TG_MAX_DIMS; d++) same &= get_u64(r) == (uint64_t)e[i].tensor->shape[d];
        if (r->bad) return "truncated tensor header";
        if (ndim > TG_MAX_DIMS)
            return snprintf(why, whysz, "'%s' has %llu dimensions, more than the limit of %d", QUOTE(name),
                            (unsigned long long)ndim, TG_MAX_DIMS), why;
        if (!same) {
            char s[TG_SHAPE_STR_LEN];
            return snprintf(why, whysz, "'%s' has another shape than the model's %s", QUOTE(name),
                            tg_shape_str(e[i].tensor, s, sizeof s)), why;
        }
        get_values(r, commit ? e[i].tensor->data : NULL, e[i].tensor->numel);
        if (r->bad) return "truncated tensor data";
    }
    if ((opt != NULL) && !(parts & PART_OPTIM)) return "has no optimizer state";
    if (parts & PART_OPTIM) {
        char kind[16];
        uint64_t kind_len;
        if (!get_str(r, kind, sizeof kind, &kind_len)) return "truncated or bad optimizer name";
        const uint64_t ng = get_u64(r);
        if (opt && strcmp(kind, tg_optim_kind_name(opt->cfg.kind)))
            return snprintf(why, whysz, "optimizer is %s but the file holds %s state", tg_optim_kind_name(opt->cfg.kind),
                            QUOTE(kind)), why;
        if (opt && ng != (uint64_t)opt->n_groups) return "optimizer parameter groups differ";
        for (uint64_t g = 0; g < ng && !r->bad; g++) {
            const uint64_t cnt = get_u64(r);
            const double lr = get_f64(r), ilr = get_f64(r), wd = get_f64(r), mom = get_f64(r);
            if (opt && cnt != (uint64_t)opt->groups[g].count) return "optimizer parameter groups differ";
            if (opt && commit) {
                tg_param_group *pg = &opt->groups[g];
                pg->lr = lr, pg->initial_lr = ilr, pg->weight_decay = wd, pg->momentum = mom;
            }
        }
        const uint64_t ns = get_u64(r);
        if (r->bad) return "truncated optimizer state";
        if (opt && ns != (uint64_t)opt->n_slots) return "optimizer parameters differ";
        for (uint64_t s = 0; s < ns; s++) {
            const uint64_t numel = get_u64(r), step = get_u64(r), mask = get_u64(r);
            if (r->bad || mask > 7) return "truncated or bad optimizer state";
            tg_param_slot *sl = opt ? &opt->slots[s] : NULL;
            if (sl && numel != (uint64_t)sl->param->numel) return "optimizer state sizes differ from the parameters";
            if (numel > (uint64_t)(r->len / value_bytes)) return "truncated optimizer state";
            for (int k = 0; k < 3; k++) {
                if (!(mask >> k & 1)) continue;
                /* Missing state buffers are made in the validating pass, so the copying pass
                 * cannot fail half-way; a zero buffer is what a fresh optimizer starts from. */
                if (sl && !sl->state[k] && !(sl->state[k] = calloc((size_t)numel, sizeof(tg_real))))
                    return snprintf(why, whysz, "%s for the optimizer state of parameter %llu", out_of_memory,
                                    (unsigned long long)s), why;
                tg_real *dst = sl && commit ? sl->state[k] : NULL;
                get_values(r, dst, (int64_t)numel);
                if (r->bad) return "truncated optimizer state";
            }
            if (sl && commit) sl->step = (int64_t)step;
        }
    }
    if (sched && !(parts & PART_SCHED)) return "has no schedule state";
    if (parts & PART_SCHED) {
        const uint64_t kind = get_u64(r), t = get_u64(r);
        const double best = get_f64(r);
        const uint64_t bad = get_u64(r), cool = get_u64(r);
        if (r->bad) return "truncated schedule state";
        if (sched && kind != (uint64_t)sched->cfg.kind) return "schedule kind differs";
        if (sched && commit) {
            /* the groups' lr came from the file above, so the schedule is not re-applied */
            sched->best = best, sched->bad_epochs = (int)bad, sched->cooldown_left = (int)cool;
            sched->t = (int64_t)t;
        }
    }
    if (rng && !(parts & PART_RNG)) return "has no RNG state";
    if (parts & PART_RNG) {
        uint64_t s[4];
        for (int i = 0; i < 4; i++) s[i] = get_u64(r);
        if (r->bad) return "truncated RNG state";
        if (rng && commit) memcpy(rng->s, s, sizeof s);
    }
    if (parts & PART_NORM) {
        const uint64_t nc = get_u64(r);
        if (r->bad || nc < 1 || nc > (r->len - r->pos) / 16) return "truncated or bad normalisation statistics";
        /* the arrays are made in the validating pass (norm arrives empty), filled in the copying one */
        if (norm && !commit && tg_norm_stats_alloc(norm, (int64_t)nc) != TG_OK)
            return snprintf(why, whysz, "%s for %llu normalisation channels", out_of_memory, (unsigned long long)nc),
                   why;
        for (uint64_t c = 0; c < 2 * nc; c++) {
            const double v = get_f64(r);
            if (c >= nc && !(v > 0 && isfinite(v))) return "a normalisation std is not a positive finite number";
            if (!isfinite(v)) return "a normalisation mean is not finite";
            if (norm && commit) (c < nc ? norm->mean : norm->std)[c % nc] = v;
        }
    }
    if (parts & PART_EPOCH) {
        const uint64_t ep = get_u64(r);
        if (r->bad || ep > INT32_MAX) return "truncated or bad epoch count";
        if (epoch && commit) *epoch = (int64_t)ep;
    }
    if (parts & PART_LOSS) {
        const uint64_t kind = get_u64(r);
        if (r->bad || kind >= TG_LOSS_COUNT) return "truncated or unknown loss kind";
        if (loss && commit) *loss = (int)kind;
    }
    if (r->len - r->pos != 8) return "unexpected bytes before the checksum";
    return NULL;
}

tg_status tg_checkpoint_load(const char *path, tg_module *net, tg_optim *opt, tg_sched *sched, tg_rng *rng,
                             char *err, size_t errsz)
{
    return tg_checkpoint_load_ex(path, net, opt, sched, rng, NULL, err, errsz);
}

tg_status tg_checkpoint_load_ex(const char *path, tg_module *net, tg_optim *opt, tg_sched *sched, tg_rng *rng,
                                tg_checkpoint_extra *extra, char *err, size_t errsz)
{
    uint8_t *bytes;
    size_t len;
    tg_status st = tg_read_file(path, 0, &bytes, &len, err, errsz);
    if (st != TG_OK) return st;
    st = tg_checkpoint_load_mem_ex(bytes, len, path, net, opt, sched, rng, extra, err, errsz);
    free(bytes);
    return st;
}

tg_status tg_checkpoint_load_mem(const uint8_t *bytes, size_t len, const char *path, tg_module *net, tg_optim *opt,
                                 tg_sched *sched, tg_rng *rng, char *err, size_t errsz)
{
    return tg_checkpoint_load_mem_ex(bytes, len, path, net, opt, sched, rng, NULL, err, errsz);
}

tg_status tg_checkpoint_load_mem_ex(const uint8_t *bytes, size_t len, const char *path, tg_module *net,
                                    tg_optim *opt, tg_sched *sched, tg_rng *rng, tg_checkpoint_extra *extra,
                                    char *err, size_t errsz)
{
    tg_status st = TG_ERR_FORMAT;
    tg_norm_stats norm = {0};
    int64_t epoch = 0;
    tg_norm_stats *want_norm = extra && extra->norm ? &norm : NULL;
    int64_t *want_epoch = extra && extra->epoch ? &epoch : NULL;
    int loss = TG_LOSS_CROSS_ENTROPY;
    int *want_loss = extra && extra->loss ? &loss : NULL;
    const char *why = NULL;
    char whybuf[2 * CKPT_QUOTE_BUF];
    tg_named_tensor *e = NULL;
    rbuf r = {.p = bytes, .len = len};
    if (len < 8 + 8 * 4 || memcmp(bytes, magic, 8)) {
        why = len < 8 || memcmp(bytes, magic, 8) ? "not a tapegrad checkpoint (bad magic)" : "truncated header";
    } else {
        rbuf tail = {.p = bytes, .len = len, .pos = len - 8};
        const uint64_t stored = get_u64(&tail);
        if (stored != tg_crc32(0, bytes, len - 8)) why = "checksum mismatch (truncated or altered file)";
    }
    if (!why) {
        const int n = tg_module_named_tensors(net, true, NULL, 0);
        e = calloc((size_t)n + 1, sizeof *e);
        if (!e) {
            why = "out of memory for the model's tensor list";
        } else {
            tg_module_named_tensors(net, true, e, n);
            why = walk(&r, e, n, opt, sched, rng, want_norm, want_epoch, want_loss, false, whybuf, sizeof whybuf);
            if (!why) {
                walk(&r, e, n, opt, sched, rng, want_norm, want_epoch, want_loss, true, whybuf, sizeof whybuf);
                st = TG_OK;
                /* absent parts read as none: no statistics (n 0), epoch 0 */
                if (want_norm) tg_norm_stats_free(extra->norm), *extra->norm = norm, norm = (tg_norm_stats){0};
                if (want_epoch) *extra->epoch = epoch;
                if (want_loss) *extra->loss = loss;
                if (extra) extra->version = (int)(bytes[8] | bytes[9] << 8); /* walk checked it is 1..2 */
            }
        }
    }
    if (why && !strncmp(why, out_of_memory, sizeof out_of_memory - 1)) st = TG_ERR_NOMEM;
    if (why) SAY("%s: %s", QUOTE(path), why);
    tg_norm_stats_free(&norm);
    free(e);
    return st;
}

/* ---- .npy of one named tensor ---- */

/* The tensor called name; NULL with *oom set when the list of names cannot be allocated. */
static tg_tensor *find_named(tg_module *net, const char *name, bool *oom)
{
    const int n = tg_module_named_tensors(net, true, NULL, 0);
    tg_named_tensor *e = calloc((size_t)n + 1, sizeof *e);
    tg_tensor *t = NULL;
    *oom = !e;
    if (!e) return NULL;
    tg_module_named_tensors(net, true, e, n);
    for (int i = 0; i < n && !t; i++)
        if (!strcmp(e[i].name, name)) t = e[i].tensor;
    free(e);
    return t;
}

tg_status tg_module_load_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz)
{
    bool oom;
    tg_tensor *dst = find_named(net, name, &oom);
    if (oom) return SAY("%s: out of memory for the model's tensor list", path), TG_ERR_NOMEM;
    if (!dst) return SAY("%s: the model has no tensor '%s'", QUOTE(path), QUOTE(name)), TG_ERR_INVALID;
    tg_tensor *src = NULL;
    tg_status st = tg_npy_load(path, &src, NULL, err, errsz);
    if (st != TG_OK) return st;
    if (src->dtype != TG_REAL || !tg_same_shape(src, dst)) {
        char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
        SAY("%s: shape %s does not match '%s' %s", QUOTE(path), tg_shape_str(src, a, sizeof a), QUOTE(name),
            tg_shape_str(dst, b, sizeof b));
        tg_tensor_free(src);
        return TG_ERR_FORMAT;
    }
    memcpy(dst->data, src->data, (size_t)dst->numel * sizeof(tg_real));
    tg_tensor_free(src);
    return TG_OK;
}

tg_status tg_module_save_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz)
{
    bool oom;
    tg_tensor *t = find_named(net, name, &oom);
    if (oom) return SAY("%s: out of memory for the model's tensor list", path), TG_ERR_NOMEM;
    if (!t) return SAY("%s: the model has no tensor '%s'", QUOTE(path), QUOTE(name)), TG_ERR_INVALID;
    return tg_npy_save(path, t, TG_NPY_F32, err, errsz);
}
