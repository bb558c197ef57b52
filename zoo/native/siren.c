/* Kernels of the SIREN fitting hot path (zoo/inr/grid.py); wrappers and torch fallbacks in
 * zoo/native/siren.py, tested against float64 references. */
#include "common.h"

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
BODY grid_compose(const float *sa, const float *ca, const float *sc, const float *cc,
                  float *restrict s, float *restrict c, int64_t m, int64_t h, int64_t w,
                  int64_t j) {
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

void zoo_grid_compose(const float *sa, const float *ca, const float *sc, const float *cc,
                      float *s, float *c, int64_t m, int64_t h, int64_t w, int64_t j) {
    WITH_WIDTH(j, grid_compose(sa, ca, sc, cc, s, c, m, h, w, jc))
}

/* With y = x * u elementwise on the grid [m, H, W, J] (never stored):
 *   rows[b,h,k] = sum_w y[b,h,w,k],   cols[b,w,k] = sum_h y[b,h,w,k].
 * rows: [m, H, J], cols: [m, W, J], overwritten; float accumulation in pixel order. */
BODY mul_grid_sums(const float *x, const float *u, float *restrict rows,
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

void zoo_mul_grid_sums(const float *x, const float *u, float *rows, float *cols, int64_t m,
                       int64_t h, int64_t w, int64_t j) {
    WITH_WIDTH(j, mul_grid_sums(x, u, rows, cols, m, h, w, jc))
}

/* Linear output layer of a SIREN, its loss and the first steps of the backward pass, in one
 * pass over the pixels of each INR b (see output_layer_backward_ in native.py):
 *   y[p,o] = sum_k s[p,k] w[o,k] + bias[o],  r = y - t,  mse[b] = mean_{p,o} r^2,
 *   g = 2 r / (n o_dim),  gw[o,k] = sum_p g[p,o] s[p,k],  gb[o] = sum_p g[p,o],
 *   c[p,k] <- c[p,k] * scale * sum_o g[p,o] w[o,k]   (c holds cos z on entry: now the
 *   gradient with respect to the last hidden pre-activation, times its w0 = scale),
 *   hb[k] = sum_p c[p,k] (new c).
 * s, c: [m, n, j]; w: [m, o_dim, j]; bias: [m, o_dim]; t: [m, n, o_dim]; mse: [m];
 * gw: [m, o_dim, j]; gb: [m, o_dim]; hb: [m, j]; o_dim <= 16. */
BODY output_layer_backward(const float *s, float *c, const float *w, const float *bias,
                           const float *t, float scale, float *restrict mse,
                           float *restrict gw, float *restrict gb, float *restrict hb,
                           int64_t m, int64_t n, int64_t j, int64_t o_dim) {
    enum { TILE = 64 };  /* pixels whose dot products are computed before they are used */
    float g[TILE * 16];
    for (int64_t b = 0; b < m; b++) {
        const float *wb = w + b * o_dim * j;
        float *gwb = gw + b * o_dim * j, *hbb = hb + b * j;
        float sq = 0.0f, gbo[16];
        for (int64_t k = 0; k < o_dim * j; k++)
            gwb[k] = 0.0f;
        for (int64_t k = 0; k < j; k++)
            hbb[k] = 0.0f;
        for (int64_t o = 0; o < o_dim; o++)
            gbo[o] = 0.0f;
        for (int64_t p0 = 0; p0 < n; p0 += TILE) {
            int64_t np = n - p0 < TILE ? n - p0 : TILE;
            /* Independent dot products first: their reductions overlap in the pipeline. */
            for (int64_t q = 0; q < np; q++) {
                const float *sp = s + (b * n + p0 + q) * j;
                for (int64_t o = 0; o < o_dim; o++) {
                    const float *wo = wb + o * j;
                    float y = 0.0f;
#pragma omp simd reduction(+ : y)
                    for (int64_t k = 0; k < j; k++)
                        y += sp[k] * wo[k];
                    float r = y + bias[b * o_dim + o] - t[(b * n + p0 + q) * o_dim + o];
                    sq += r * r;
                    g[q * o_dim + o] = 2.0f * r / (float)(n * o_dim);
                    gbo[o] += g[q * o_dim + o];
                }
            }
            for (int64_t q = 0; q < np; q++) {
                const float *sp = s + (b * n + p0 + q) * j;
                float *cp = c + (b * n + p0 + q) * j;
                const float *gq = g + q * o_dim;
                for (int64_t o = 0; o < o_dim; o++) {
                    float *gwo = gwb + o * j;
                    for (int64_t k = 0; k < j; k++)
                        gwo[k] += gq[o] * sp[k];
                }
                if (o_dim == 1) { /* the common case, kept simple enough to vectorise */
                    float f = scale * gq[0];
                    for (int64_t k = 0; k < j; k++) {
                        cp[k] *= f * wb[k];
                        hbb[k] += cp[k];
                    }
                    continue;
                }
                for (int64_t k = 0; k < j; k++) {
                    float back = 0.0f;
                    for (int64_t o = 0; o < o_dim; o++)
                        back += gq[o] * wb[o * j + k];
                    cp[k] *= scale * back;
                    hbb[k] += cp[k];
                }
            }
        }
        mse[b] = sq / (float)(n * o_dim);
        for (int64_t o = 0; o < o_dim; o++)
            gb[b * o_dim + o] = gbo[o];
    }
}

void zoo_output_layer_backward(const float *s, float *c, const float *w, const float *bias,
                               const float *t, float scale, float *mse, float *gw, float *gb,
                               float *hb, int64_t m, int64_t n, int64_t j, int64_t o_dim) {
    WITH_WIDTH(j, output_layer_backward(s, c, w, bias, t, scale, mse, gw, gb, hb, m, n, jc,
                                        o_dim))
}
