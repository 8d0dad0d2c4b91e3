/* optim/clip.c — gradient clipping: global norm, value, adaptive (unit-wise, NFNets). */
#include "optim.h"

#include <math.h>

double tg_clip_grad_norm(tg_tensor *const *params, int n, double max_norm, double norm_type)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i] || !params[i]->grad) continue;
        const tg_real *g = params[i]->grad;
        for (int64_t k = 0; k < params[i]->numel; k++) {
            const double a = fabs((double)g[k]);
            if (isinf(norm_type)) total = a > total ? a : total;
            else total += pow(a, norm_type);
        }
    }
    if (!isinf(norm_type)) total = pow(total, 1 / norm_type);
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1)
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
