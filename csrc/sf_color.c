#include "sf_color.h"

#include <math.h>
#include <stddef.h>

/* Each row loop is also built for AVX2 and picked at load time; the baseline
 * (SSE2) vectorises too, since everything is 16-bit. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__ELF__) /* ifunc */
#define SF_VECTOR __attribute__((target_clones("avx2", "default")))
#else
#define SF_VECTOR
#endif

#define Q8(x) ((int16_t)lrint((x) * 256.0))

static void matrix_coefficients(sf_matrix m, double *kr, double *kb)
{
    switch (m) {
    case SF_MATRIX_BT709: *kr = 0.2126; *kb = 0.0722; break;
    case SF_MATRIX_BT2020: *kr = 0.2627; *kb = 0.0593; break;
    default: *kr = 0.299; *kb = 0.114; break;
    }
}

void sf_ycc_map_init(sf_ycc_map *map, int full_range, sf_matrix matrix)
{
    double kr, kb, kr2, kb2;
    matrix_coefficients(matrix, &kr, &kb);
    matrix_coefficients(SF_MATRIX_BT601, &kr2, &kb2);
    double kg = 1.0 - kr - kb, kg2 = 1.0 - kr2 - kb2;

    /* Output = 255 x normalised value: Y in [0, 1], Pb/Pr in [-0.5, 0.5]. */
    double ys = full_range ? 1.0 : 255.0 / 219.0;
    double cs = full_range ? 1.0 : 255.0 / 224.0;

    /* Y' = Y + a*Pb + b*Pr and (Pb', Pr') = C (Pb, Pr): grey stays grey, so the
     * output chroma never depends on luma. Columns found by pushing unit vectors
     * through RGB. */
    double a[2], c[2][2];
    for (int k = 0; k < 2; k++) {
        double pb = k == 0 ? 1.0 : 0.0, pr = k == 1 ? 1.0 : 0.0;
        double r = 2.0 * (1.0 - kr) * pr;
        double b = 2.0 * (1.0 - kb) * pb;
        double g = (-kr * r - kb * b) / kg;
        double y2 = kr2 * r + kg2 * g + kb2 * b;
        a[k] = y2;
        c[0][k] = (b - y2) / (2.0 * (1.0 - kb2));
        c[1][k] = (r - y2) / (2.0 * (1.0 - kr2));
    }

    map->identity = full_range && matrix == SF_MATRIX_BT601;
    map->luma_only = matrix == SF_MATRIX_BT601;
    map->y_off = full_range ? 0 : 16;
    map->y_k = Q8(ys - 1.0);
    map->y_cb = Q8(a[0] * cs);
    map->y_cr = Q8(a[1] * cs);
    map->cb_cb = Q8(c[0][0] * cs - 1.0);
    map->cb_cr = Q8(c[0][1] * cs);
    map->cr_cb = Q8(c[1][0] * cs);
    map->cr_cr = Q8(c[1][1] * cs - 1.0);
}

/* min/max rather than one nested ternary: the vectoriser turns these into
 * pmaxsw/pminsw, the ternary into compare-and-mask sequences twice as slow. */
static inline int16_t max16(int16_t a, int16_t b) { return a > b ? a : b; }
static inline int16_t min16(int16_t a, int16_t b) { return a < b ? a : b; }
static inline uint8_t clamp8(int16_t v) { return (uint8_t)min16(max16(v, 0), 255); }

SF_VECTOR void sf_ycc_luma_delta(const sf_ycc_map *map, const uint8_t *restrict cb,
                                 const uint8_t *restrict cr, int16_t *restrict tmp,
                                 int16_t *restrict delta, int width)
{
    const int16_t ku = map->y_cb, kv = map->y_cr;
    int cw = (width + 1) / 2;
    for (int i = 0; i < cw; i++)
        tmp[i] = (int16_t)(ku * (int16_t)(cb[i] - 128) + kv * (int16_t)(cr[i] - 128));
    for (int i = 0; i < width / 2; i++) {
        delta[2 * i] = tmp[i];
        delta[2 * i + 1] = tmp[i];
    }
    if (width & 1)
        delta[width - 1] = tmp[cw - 1];
}

SF_VECTOR void sf_ycc_luma_row(const sf_ycc_map *map, const uint8_t *restrict y,
                               const int16_t *restrict delta, uint8_t *restrict out, int width)
{
    const int16_t k = map->y_k, off = map->y_off;
    if (delta == NULL) {
        for (int x = 0; x < width; x++) {
            int16_t t = (int16_t)(y[x] - off);
            out[x] = clamp8((int16_t)(t + (int16_t)((int16_t)(t * k + 128) >> 8)));
        }
    } else {
        for (int x = 0; x < width; x++) {
            int16_t t = (int16_t)(y[x] - off);
            out[x] = clamp8((int16_t)(t + (int16_t)((int16_t)(t * k + delta[x] + 128) >> 8)));
        }
    }
}

SF_VECTOR void sf_ycc_chroma_row(const sf_ycc_map *map, const uint8_t *restrict cb,
                                 const uint8_t *restrict cr, uint8_t *restrict out_cb,
                                 uint8_t *restrict out_cr, int width)
{
    const int16_t bb = map->cb_cb, br = map->cb_cr, rb = map->cr_cb, rr = map->cr_cr;
    for (int x = 0; x < width; x++) {
        int16_t u = (int16_t)(cb[x] - 128), v = (int16_t)(cr[x] - 128);
        int16_t du = (int16_t)((int16_t)(bb * u + br * v + 128) >> 8);
        int16_t dv = (int16_t)((int16_t)(rb * u + rr * v + 128) >> 8);
        out_cb[x] = clamp8((int16_t)(128 + u + du));
        out_cr[x] = clamp8((int16_t)(128 + v + dv));
    }
}
