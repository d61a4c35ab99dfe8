/* Sprite sheets and luma statistics on 8-bit YUV 4:2:0 pictures. */
#ifndef SF_TILE_H
#define SF_TILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *plane[3];
    ptrdiff_t stride[3];
    int width, height; /* luma size; chroma is ((w+1)/2, (h+1)/2) */
} sf_canvas;

typedef struct {
    const uint8_t *plane[3];
    ptrdiff_t stride[3];
    int width, height; /* luma size of the cell picture */
    int x, y;          /* top-left on the canvas, even */
} sf_cell;

/* Fills the canvas with one colour, then copies each cell to its place (clipped
 * to the canvas). */
void sf_tile_compose(const sf_canvas *canvas, const uint8_t yuv[3], const sf_cell *cells, size_t n);

/* Share of luma samples darker than `threshold` (full-range units, 0..255): for
 * video-range planes a sample counts as (Y - 16) * 255 / 219. */
double sf_black_ratio(const uint8_t *y, ptrdiff_t stride, int width, int height, int threshold,
                      int full_range);

/* 256-bin luma histogram, added into `hist`. */
void sf_luma_histogram(const uint8_t *y, ptrdiff_t stride, int width, int height, uint32_t hist[256]);

#endif
