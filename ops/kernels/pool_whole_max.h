/* ops/kernels/pool_whole_max.h — the maximum of a whole plane and its position (global max
 * pooling), written once over GCC's vector extension; included by pool.c (16-byte vectors),
 * pool_avx2.c (32) and pool_avx512.c (64) after they define MAX_WHOLE_BYTES and MAX_WHOLE_FN (the
 * function's name; tg_pool_max_whole_fn's signature, pool_internal.h).
 *
 * Lane l keeps the maximum of positions l, l + LANES, ... by the window scan's rule (take v when
 * v > best or v is NaN: the first maximum, the last NaN), all lanes at once with no branch; the
 * lanes then merge by the same rule: a NaN lane's last position, else the largest value's first
 * position. The general path scanned such a window one position at a time through
 * max_row_general: a 32x32 plane took 5 ns a value (4.97 ms of a U-Net's 32 ms training step at
 * batch 64, models/more/unet_groupnorm.txt, 5 Dec). Positions are int32 lanes in float (the
 * caller keeps n <= INT32_MAX), int64 in double: as wide as the values, so a comparison's mask
 * selects them. */
#include <math.h>
#include <string.h>

#define MAX_WHOLE_LANES (MAX_WHOLE_BYTES / (int)sizeof(tg_real))
typedef tg_real max_whole_vec __attribute__((vector_size(MAX_WHOLE_BYTES)));
#ifdef TG_REAL_DOUBLE
typedef int64_t max_whole_ivec __attribute__((vector_size(MAX_WHOLE_BYTES)));
#else
typedef int32_t max_whole_ivec __attribute__((vector_size(MAX_WHOLE_BYTES)));
#endif

void MAX_WHOLE_FN(const tg_real *x, int64_t n, tg_real *y, int64_t *idx)
{
    max_whole_vec best;
    max_whole_ivec at, pos;
    for (int l = 0; l < MAX_WHOLE_LANES; l++) best[l] = -INFINITY, at[l] = pos[l] = l;
    int64_t i = 0;
    for (; i + MAX_WHOLE_LANES <= n; i += MAX_WHOLE_LANES, pos += MAX_WHOLE_LANES) {
        max_whole_vec v;
        memcpy(&v, x + i, sizeof v);
        const max_whole_ivec take = (v > best) | (v != v); /* all ones where v is taken */
        best = (max_whole_vec)(((max_whole_ivec)v & take) | ((max_whole_ivec)best & ~take));
        at = (pos & take) | (at & ~take);
    }
    tg_real lane_best[MAX_WHOLE_LANES];
    int64_t lane_at[MAX_WHOLE_LANES];
    for (int l = 0; l < MAX_WHOLE_LANES; l++) lane_best[l] = best[l], lane_at[l] = at[l];
    for (int l = 0; i + l < n; l++) { /* the last partial vector, each value into its lane */
        const tg_real v = x[i + l];
        if ((v > lane_best[l]) | (v != v)) lane_best[l] = v, lane_at[l] = i + l;
    }
    tg_real b = lane_best[0];
    int64_t a = lane_at[0];
    for (int l = 1; l < MAX_WHOLE_LANES && l < n; l++) {
        const tg_real bl = lane_best[l];
        const bool nan_l = bl != bl, nan_b = b != b;
        const bool take = nan_l ? (!nan_b || lane_at[l] > a) : (!nan_b && (bl > b || (bl == b && lane_at[l] < a)));
        if (take) b = bl, a = lane_at[l];
    }
    *y = b;
    if (idx) *idx = a;
}

#undef MAX_WHOLE_LANES
