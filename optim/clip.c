/* optim/clip.c — gradient clipping: global norm, value, adaptive (unit-wise, NFNets). */
#include "optim.h"

#include <math.h>

/* total (max |g| for the infinity norm, else + sum |g|^p) over g[0..count). The training loop
 * measures the L2 norm every step, so p = 2 and p = 1 skip pow() (it cost LeNet-5's 1.26 M
 * parameters ~15% of a step); four partial sums in a fixed order keep the adds from waiting on
 * each other and the result independent of anything but the values. */
static double norm_accumulate(const tg_real *g, int64_t count, double norm_type, double total)
{
    if (isinf(norm_type)) {
        for (int64_t k = 0; k < count; k++) {
            const double a = fabs((double)g[k]);
            total = a > total || isnan(a) ? a : total;
        }
        return total;
    }
    double part[4] = {0, 0, 0, 0};
    int64_t k = 0;
    if (norm_type == 2) {
        for (; k + 4 <= count; k += 4)
            for (int j = 0; j < 4; j++) part[j] += (double)g[k + j] * (double)g[k + j];
        for (; k < count; k++) part[0] += (double)g[k] * (double)g[k];
    } else if (norm_type == 1) {
        for (; k + 4 <= count; k += 4)
            for (int j = 0; j < 4; j++) part[j] += fabs((double)g[k + j]);
        for (; k < count; k++) part[0] += fabs((double)g[k]);
    } else {
        for (; k < count; k++) part[0] += pow(fabs((double)g[k]), norm_type);
    }
    return total + ((part[0] + part[1]) + (part[2] + part[3]));
}

double tg_clip_grad_norm(tg_tensor *const *params, int n, double max_norm, double norm_type)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        if (params[i] && params[i]->grad) total = norm_accumulate(params[i]->grad, params[i]->numel, norm_type, total);
    if (!isinf(norm_type)) total = norm_type == 2 ? sqrt(total) : pow(total, 1 / norm_type);
    const double coef = max_norm / (total + 1e-6);
    /* as torch.nn.utils.clip_grad_norm_ (clamp(coef, max=1) then multiply): a NaN norm makes every
     * gradient NaN rather than leaving the finite ones unclipped */
    if (!(coef >= 1))
        for (int i = 0; i < n; i++) {
            if (!params[i] || !params[i]->grad) continue;
            for (int64_t k = 0; k < params[i]->numel; k++) params[i]->grad[k] *= (tg_real)coef;
        }
    return total;
}

void tg_clip_grad_value(tg_tensor *const *params, int n, double clip)
{
    for (int i = 0; i < n; i++) {
        if (!params[i] || !params[i]->grad) continue;
        tg_real *g = params[i]->grad;
        for (int64_t k = 0; k < params[i]->numel; k++)
            g[k] = g[k] > clip ? (tg_real)clip : g[k] < -clip ? (tg_real)-clip : g[k];
    }
}

void tg_clip_grad_adaptive(tg_tensor *const *params, int n, double clip, double eps)
{
    for (int i = 0; i < n; i++) {
        tg_tensor *p = params[i];
        if (!p || !p->grad || p->numel == 0) continue;
        const int64_t units = p->ndim >= 2 ? p->shape[0] : 1, len = p->numel / units;
        for (int64_t u = 0; u < units; u++) {
            const tg_real *w = p->data + u * len;
            tg_real *g = p->grad + u * len;
            double wn = 0, gn = 0;
            for (int64_t k = 0; k < len; k++) {
                wn += (double)w[k] * w[k];
                gn += (double)g[k] * g[k];
            }
            wn = fmax(sqrt(wn), eps);
            gn = sqrt(gn);
            if (gn > 0 && gn / wn > clip) {
                const double scale = clip * wn / gn;
                for (int64_t k = 0; k < len; k++) g[k] *= (tg_real)scale;
            }
        }
    }
}
