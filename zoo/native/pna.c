/* Neighbourhood statistics of the GMN's PNA layer (zoo/models/_pna.py); wrappers and torch
 * fallbacks in zoo/native/pna.py, tested against torch's reductions. */
#include "common.h"

/* m[k] = the min (sign = 1) or max (sign = -1) of xi[r, k] over r < d, and im[k] the first
 * r attaining it (im may be NULL). */
BODY extreme(const float *xi, float *restrict m, int64_t *restrict im, float sign, int64_t d,
             int64_t f) {
    for (int64_t k = 0; k < f; k++)
        m[k] = xi[k];
    if (im)
        for (int64_t k = 0; k < f; k++)
            im[k] = 0;
    for (int64_t r = 1; r < d; r++)
        for (int64_t k = 0; k < f; k++) {
            float v = xi[r * f + k];
            int better = sign * v < sign * m[k];
            if (im)
                im[k] = better ? r : im[k];
            m[k] = better ? v : m[k];
        }
}

/* For x [n, d, f]: per (node i, feature k) over its d neighbours r,
 *   sum = sum_r x,  sq = sum_r x^2,  mn/mx = min/max_r x with imin/imax the first r
 * attaining it (as torch.min/max(dim=1)). Any of mn, mx, sq, imin, imax may be NULL
 * (not computed; imin needs mn, imax needs mx). Outputs are [n, f]. d >= 1. */
BODY block_stats(const float *x, float *restrict sum, float *restrict mn, float *restrict mx,
                 float *restrict sq, int64_t *restrict imin, int64_t *restrict imax,
                 int64_t n, int64_t d, int64_t f) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d * f;
        float *s = sum + i * f;
        for (int64_t k = 0; k < f; k++)
            s[k] = xi[k];
        for (int64_t r = 1; r < d; r++)
            for (int64_t k = 0; k < f; k++)
                s[k] += xi[r * f + k];
        if (sq) {
            float *q = sq + i * f;
            for (int64_t k = 0; k < f; k++)
                q[k] = xi[k] * xi[k];
            for (int64_t r = 1; r < d; r++)
                for (int64_t k = 0; k < f; k++)
                    q[k] += xi[r * f + k] * xi[r * f + k];
        }
        if (mn)
            extreme(xi, mn + i * f, imin ? imin + i * f : NULL, 1.0f, d, f);
        if (mx)
            extreme(xi, mx + i * f, imax ? imax + i * f : NULL, -1.0f, d, f);
    }
}

void zoo_block_stats(const float *x, float *sum, float *mn, float *mx, float *sq,
                     int64_t *imin, int64_t *imax, int64_t n, int64_t d, int64_t f) {
    WITH_WIDTH(f, block_stats(x, sum, mn, mx, sq, imin, imax, n, d, jc))
}

/* Gradient of block_stats with respect to x [n, d, f]:
 *   grad[i,r,k] = g_sum[i,k] + 2 x[i,r,k] g_sq[i,k] + [r == imin[i,k]] g_min[i,k]
 *                 + [r == imax[i,k]] g_max[i,k],
 * where a NULL g_sq, g_min or g_max (with its index array) contributes nothing. */
BODY block_stats_backward(const float *x, const float *g_sum, const float *g_sq,
                          const float *g_min, const float *g_max, const int64_t *imin,
                          const int64_t *imax, float *restrict grad, int64_t n, int64_t d,
                          int64_t f) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d * f, *gs = g_sum + i * f;
        float *gi = grad + i * d * f;
        for (int64_t r = 0; r < d; r++) {
            float *gr = gi + r * f;
            if (g_sq) {
                const float *gq = g_sq + i * f, *xr = xi + r * f;
                for (int64_t k = 0; k < f; k++)
                    gr[k] = gs[k] + 2.0f * xr[k] * gq[k];
            } else {
                for (int64_t k = 0; k < f; k++)
                    gr[k] = gs[k];
            }
        }
        /* the extremes: one scattered add per (node, feature) */
        if (g_min)
            for (int64_t k = 0; k < f; k++)
                gi[imin[i * f + k] * f + k] += g_min[i * f + k];
        if (g_max)
            for (int64_t k = 0; k < f; k++)
                gi[imax[i * f + k] * f + k] += g_max[i * f + k];
    }
}

void zoo_block_stats_backward(const float *x, const float *g_sum, const float *g_sq,
                              const float *g_min, const float *g_max, const int64_t *imin,
                              const int64_t *imax, float *grad, int64_t n, int64_t d,
                              int64_t f) {
    WITH_WIDTH(f, block_stats_backward(x, g_sum, g_sq, g_min, g_max, imin, imax, grad, n, d,
                                       jc))
}
