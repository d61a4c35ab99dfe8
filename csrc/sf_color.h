/* Video YCbCr (limited or full range, BT.601/709/2020 matrix) to JPEG/JFIF YCbCr
 * (full range, BT.601), in fixed point, row by row, written so the compiler can
 * vectorise every loop. */
#ifndef SF_COLOR_H
#define SF_COLOR_H

#include <stdint.h>

typedef enum {
    SF_MATRIX_BT601 = 0,
    SF_MATRIX_BT709 = 1,
    SF_MATRIX_BT2020 = 2,
} sf_matrix;

/* Every output is its input plus a small Q8 correction, so all the arithmetic fits
 * 16-bit lanes: y' = t + (t*y_k + y_cb*u + y_cr*v) / 256 with t = y - y_off, and
 * cb' = 128 + u + (cb_cb*u + cb_cr*v) / 256 with u = cb - 128, v = cr - 128. */
typedef struct {
    int identity;  /* full-range BT.601: nothing to do */
    int avx2;      /* the rows go through the AVX2 kernels (set by init where the CPU has it) */
    int luma_only; /* same matrix: luma does not depend on chroma */
    int16_t y_off, y_k;
    int16_t y_cb, y_cr;
    int16_t cb_cb, cb_cr, cr_cb, cr_cr;
} sf_ycc_map;

void sf_ycc_map_init(sf_ycc_map *map, int full_range, sf_matrix matrix);

/* The chroma term of luma for every luma column of a row pair (`width` luma
 * samples; cb/cr hold (width+1)/2; `tmp` holds (width+1)/2). Unused when luma_only. */
void sf_ycc_luma_delta(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr,
                       int16_t *tmp, int16_t *delta, int width);

/* One output luma row; `delta` from sf_ycc_luma_delta, or NULL when luma_only. */
void sf_ycc_luma_row(const sf_ycc_map *map, const uint8_t *y, const int16_t *delta,
                     uint8_t *out, int width);

/* One output chroma row pair of `width` samples. */
void sf_ycc_chroma_row(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr,
                       uint8_t *out_cb, uint8_t *out_cr, int width);

#endif
