/* Compiled kernels for the SIREN fitting hot path (see zoo/inr/native.py).
 *
 * Plain C that the compiler vectorises (-O3 -march=native): no intrinsics, so it builds
 * on any CPU gcc or clang targets. Every function has a torch fallback in native.py and
 * is tested against a float64 reference.
 */
#include <stdint.h>
#include <math.h>

/* s[i] = sin(z[i]), c[i] = cos(z[i]); c may alias z (in place), s may not.
 *
 * Range reduction by pi/2 (Cody-Waite, three parts, exact for |z| < ~1e5), then the
 * Cephes minimax polynomials on [-pi/4, pi/4] and a quadrant swap: max abs error ~1e-7,
 * one pass computing both values instead of two libm-style passes. */
void zoo_sincos(const float *z, float *restrict s, float *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float x = z[i];
        float q = rintf(x * 0.63661977236758134f);
        float r = fmaf(q, -1.5703125f, x);
        r = fmaf(q, -4.837512969970703125e-4f, r);
        r = fmaf(q, -7.549789948768648e-8f, r);
        float r2 = r * r;
        float sp = fmaf(fmaf(fmaf(-1.9515295891e-4f, r2, 8.3321608736e-3f), r2,
                             -1.6666654611e-1f), r2 * r, r);
        float cp = fmaf(fmaf(fmaf(fmaf(2.443315711809948e-5f, r2, -1.388731625493765e-3f), r2,
                                  4.166664568298827e-2f), r2, -0.5f), r2, 1.0f);
        int32_t k = (int32_t)q;
        float sv = (k & 1) ? cp : sp;
        float cv = (k & 1) ? sp : cp;
        s[i] = (k & 2) ? -sv : sv;
        c[i] = ((k + 1) & 2) ? -cv : cv;
    }
}

/* First SIREN layer on a pixel grid, from its separable parts (see grid_compose in
 * native.py): for every INR b, row h, column w and neuron j,
 *   s[b,h,w,j] = sa[b,h,j] cc[b,w,j] + ca[b,h,j] sc[b,w,j]   (= sin(A + C))
 *   c[b,h,w,j] = ca[b,h,j] cc[b,w,j] - sa[b,h,j] sc[b,w,j]   (= cos(A + C)), skipped if c is NULL.
 * sa, ca: [m, H, J]; sc, cc: [m, W, J]; s, c: [m, H, W, J]; all contiguous. */
void zoo_grid_compose(const float *sa, const float *ca, const float *sc, const float *cc,
                      float *restrict s, float *restrict c,
                      int64_t m, int64_t h, int64_t w, int64_t j) {
    for (int64_t b = 0; b < m; b++) {
        for (int64_t r = 0; r < h; r++) {
            const float *sar = sa + (b * h + r) * j, *car = ca + (b * h + r) * j;
            for (int64_t q = 0; q < w; q++) {
                const float *scq = sc + (b * w + q) * j, *ccq = cc + (b * w + q) * j;
                float *so = s + ((b * h + r) * w + q) * j;
                for (int64_t k = 0; k < j; k++)
                    so[k] = sar[k] * ccq[k] + car[k] * scq[k];
                if (c) {
                    float *co = c + ((b * h + r) * w + q) * j;
                    for (int64_t k = 0; k < j; k++)
                        co[k] = car[k] * ccq[k] - sar[k] * scq[k];
                }
            }
        }
    }
}

/* x[b,n,k] *= g[b,n] * v[b,k]  (x: [m, N, J], g: [m, N], v: [m, J]; contiguous). */
void zoo_outer_scale(float *restrict x, const float *g, const float *v,
                     int64_t m, int64_t n, int64_t j) {
    for (int64_t b = 0; b < m; b++)
        for (int64_t p = 0; p < n; p++) {
            float gp = g[b * n + p];
            float *xp = x + (b * n + p) * j;
            const float *vb = v + b * j;
            for (int64_t k = 0; k < j; k++)
                xp[k] *= gp * vb[k];
        }
}

/* With y = x * u elementwise on the grid [m, H, W, J] (never stored):
 *   rows[b,h,k] = sum_w y[b,h,w,k],   cols[b,w,k] = sum_h y[b,h,w,k].
 * rows: [m, H, J], cols: [m, W, J], overwritten; float accumulation in pixel order. */
void zoo_mul_grid_sums(const float *x, const float *u, float *restrict rows,
                       float *restrict cols, int64_t m, int64_t h, int64_t w, int64_t j) {
    for (int64_t b = 0; b < m; b++) {
        float *cb = cols + b * w * j;
        for (int64_t t = 0; t < w * j; t++)
            cb[t] = 0.0f;
        for (int64_t r = 0; r < h; r++) {
            float *rr = rows + (b * h + r) * j;
            for (int64_t k = 0; k < j; k++)
                rr[k] = 0.0f;
            for (int64_t q = 0; q < w; q++) {
                const float *xp = x + ((b * h + r) * w + q) * j;
                const float *up = u + ((b * h + r) * w + q) * j;
                float *cq = cb + q * j;
                for (int64_t k = 0; k < j; k++) {
                    float y = xp[k] * up[k];
                    rr[k] += y;
                    cq[k] += y;
                }
            }
        }
    }
}
