#include "sf_color.h"

#include <math.h>
#include <stddef.h>

/* The portable loops below vectorise by themselves (everything is 16-bit), and are
 * also built for AVX2 and picked at load time. Where the CPU has AVX2, the hand-written
 * kernels further down take the rows instead: the same arithmetic, bit for bit, in about
 * half the instructions (the compiler cannot see that packus already clamps, nor that
 * unsigned saturation can stand in for the signed clamp of a luma-only row). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__ELF__) /* ifunc */
#define SF_VECTOR __attribute__((target_clones("avx2", "default")))
#else
#define SF_VECTOR
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define SF_AVX2_KERNELS 1
#include <immintrin.h>
#define SF_AVX2 __attribute__((target("avx2")))
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
#ifdef SF_AVX2_KERNELS
    __builtin_cpu_init();
    map->avx2 = __builtin_cpu_supports("avx2");
#else
    map->avx2 = 0;
#endif
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

SF_VECTOR static void luma_delta(const sf_ycc_map *map, const uint8_t *restrict cb, const uint8_t *restrict cr,
                                 int16_t *restrict tmp, int16_t *restrict delta, int i, int width)
{
    const int16_t ku = map->y_cb, kv = map->y_cr;
    int cw = (width + 1) / 2;
    for (int j = i; j < cw; j++)
        tmp[j] = (int16_t)(ku * (int16_t)(cb[j] - 128) + kv * (int16_t)(cr[j] - 128));
    for (; i < width / 2; i++) {
        delta[2 * i] = tmp[i];
        delta[2 * i + 1] = tmp[i];
    }
    if (width & 1)
        delta[width - 1] = tmp[cw - 1];
}

#ifdef SF_AVX2_KERNELS
/* The kernels return how many samples they did (whole steps of 32); the portable
 * loops finish the row. */

/* Luma-only rows: t = y - off saturates at 0 as unsigned bytes (the signed formula
 * clamps those to 0 too) and the correction t*k/256 <= 255 fits a byte, so the sum
 * is one saturating byte add. Needs 0 <= k, 255*k + 128 < 65536. */
SF_AVX2 static int luma_only_avx2(const sf_ycc_map *map, const uint8_t *y, uint8_t *out, int width)
{
    const __m256i off = _mm256_set1_epi8((char)map->y_off), k = _mm256_set1_epi16(map->y_k);
    const __m256i half = _mm256_set1_epi16(128), zero = _mm256_setzero_si256();
    int x = 0;
    for (; x + 32 <= width; x += 32) {
        __m256i t = _mm256_subs_epu8(_mm256_loadu_si256((const __m256i *)(y + x)), off);
        __m256i lo = _mm256_unpacklo_epi8(t, zero), hi = _mm256_unpackhi_epi8(t, zero);
        lo = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mullo_epi16(lo, k), half), 8);
        hi = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mullo_epi16(hi, k), half), 8);
        /* unpack and pack both work within 128-bit lanes, so the order comes back */
        __m256i r = _mm256_adds_epu8(t, _mm256_packus_epi16(lo, hi));
        _mm256_storeu_si256((__m256i *)(out + x), r);
    }
    return x;
}

static inline __m256i SF_AVX2 widen16(const uint8_t *p)
{
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* Two rows of 16 in 16-bit lanes back to 32 bytes in order; packus is the clamp. */
static inline __m256i SF_AVX2 narrow32(__m256i a, __m256i b)
{
    return _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8);
}

/* 16 chroma pairs to the 32 luma columns they cover: each term twice. */
SF_AVX2 static int luma_delta_avx2(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr, int16_t *delta,
                                   int width)
{
    const __m256i ku = _mm256_set1_epi16(map->y_cb), kv = _mm256_set1_epi16(map->y_cr);
    const __m256i half = _mm256_set1_epi16(128);
    int i = 0;
    for (; 2 * i + 32 <= width; i += 16) {
        __m256i u = _mm256_sub_epi16(widen16(cb + i), half), v = _mm256_sub_epi16(widen16(cr + i), half);
        __m256i t = _mm256_add_epi16(_mm256_mullo_epi16(ku, u), _mm256_mullo_epi16(kv, v));
        __m256i lo = _mm256_unpacklo_epi16(t, t), hi = _mm256_unpackhi_epi16(t, t);
        _mm256_storeu_si256((__m256i *)(delta + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(delta + 2 * i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    return i;
}

SF_AVX2 static int luma_with_delta_avx2(const sf_ycc_map *map, const uint8_t *y, const int16_t *delta,
                                        uint8_t *out, int width)
{
    const __m256i off = _mm256_set1_epi16(map->y_off), k = _mm256_set1_epi16(map->y_k);
    const __m256i half = _mm256_set1_epi16(128);
    int x = 0;
    for (; x + 32 <= width; x += 32) {
        __m256i r[2];
        for (int h = 0; h < 2; h++) {
            __m256i t = _mm256_sub_epi16(widen16(y + x + 16 * h), off);
            __m256i d = _mm256_loadu_si256((const __m256i *)(delta + x + 16 * h));
            __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(t, k), d), half);
            r[h] = _mm256_add_epi16(t, _mm256_srai_epi16(s, 8));
        }
        _mm256_storeu_si256((__m256i *)(out + x), narrow32(r[0], r[1]));
    }
    return x;
}

/* cb' = cb + (bb*u + br*v + 128) >> 8, the portable loop's 128 + u + du. */
SF_AVX2 static int chroma_avx2(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr,
                               uint8_t *out_cb, uint8_t *out_cr, int width)
{
    const __m256i bb = _mm256_set1_epi16(map->cb_cb), br = _mm256_set1_epi16(map->cb_cr);
    const __m256i rb = _mm256_set1_epi16(map->cr_cb), rr = _mm256_set1_epi16(map->cr_cr);
    const __m256i half = _mm256_set1_epi16(128);
    int x = 0;
    for (; x + 32 <= width; x += 32) {
        __m256i ob[2], or[2];
        for (int h = 0; h < 2; h++) {
            __m256i b = widen16(cb + x + 16 * h), r = widen16(cr + x + 16 * h);
            __m256i u = _mm256_sub_epi16(b, half), v = _mm256_sub_epi16(r, half);
            __m256i du = _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(bb, u), _mm256_mullo_epi16(br, v)), half);
            __m256i dv = _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(rb, u), _mm256_mullo_epi16(rr, v)), half);
            ob[h] = _mm256_add_epi16(b, _mm256_srai_epi16(du, 8));
            or[h] = _mm256_add_epi16(r, _mm256_srai_epi16(dv, 8));
        }
        _mm256_storeu_si256((__m256i *)(out_cb + x), narrow32(ob[0], ob[1]));
        _mm256_storeu_si256((__m256i *)(out_cr + x), narrow32(or[0], or[1]));
    }
    return x;
}
#endif

void sf_ycc_luma_delta(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr, int16_t *tmp, int16_t *delta,
                       int width)
{
    int i = 0;
#ifdef SF_AVX2_KERNELS
    if (map->avx2)
        i = luma_delta_avx2(map, cb, cr, delta, width);
#endif
    luma_delta(map, cb, cr, tmp, delta, i, width);
}

SF_VECTOR static void luma_rows(const sf_ycc_map *map, const uint8_t *restrict y,
                                const int16_t *restrict delta, uint8_t *restrict out, int x, int width)
{
    const int16_t k = map->y_k, off = map->y_off;
    if (delta == NULL) {
        for (; x < width; x++) {
            int16_t t = (int16_t)(y[x] - off);
            out[x] = clamp8((int16_t)(t + (int16_t)((int16_t)(t * k + 128) >> 8)));
        }
    } else {
        for (; x < width; x++) {
            int16_t t = (int16_t)(y[x] - off);
            out[x] = clamp8((int16_t)(t + (int16_t)((int16_t)(t * k + delta[x] + 128) >> 8)));
        }
    }
}

void sf_ycc_luma_row(const sf_ycc_map *map, const uint8_t *y, const int16_t *delta, uint8_t *out, int width)
{
    int x = 0;
#ifdef SF_AVX2_KERNELS
    if (map->avx2) {
        if (delta != NULL)
            x = luma_with_delta_avx2(map, y, delta, out, width);
        else if (map->y_k >= 0 && 255 * map->y_k + 128 < 65536)
            x = luma_only_avx2(map, y, out, width);
    }
#endif
    luma_rows(map, y, delta, out, x, width);
}

SF_VECTOR static void chroma_rows(const sf_ycc_map *map, const uint8_t *restrict cb, const uint8_t *restrict cr,
                                  uint8_t *restrict out_cb, uint8_t *restrict out_cr, int x, int width)
{
    const int16_t bb = map->cb_cb, br = map->cb_cr, rb = map->cr_cb, rr = map->cr_cr;
    for (; x < width; x++) {
        int16_t u = (int16_t)(cb[x] - 128), v = (int16_t)(cr[x] - 128);
        int16_t du = (int16_t)((int16_t)(bb * u + br * v + 128) >> 8);
        int16_t dv = (int16_t)((int16_t)(rb * u + rr * v + 128) >> 8);
        out_cb[x] = clamp8((int16_t)(128 + u + du));
        out_cr[x] = clamp8((int16_t)(128 + v + dv));
    }
}

void sf_ycc_chroma_row(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr, uint8_t *out_cb,
                       uint8_t *out_cr, int width)
{
    int x = 0;
#ifdef SF_AVX2_KERNELS
    if (map->avx2)
        x = chroma_avx2(map, cb, cr, out_cb, out_cr, width);
#endif
    chroma_rows(map, cb, cr, out_cb, out_cr, x, width);
}
