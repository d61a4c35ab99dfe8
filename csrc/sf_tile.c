#include "sf_tile.h"

#include <string.h>

static void fill_plane(uint8_t *p, ptrdiff_t stride, int w, int h, uint8_t v)
{
    for (int r = 0; r < h; r++)
        memset(p + r * stride, v, (size_t)w);
}

static void copy_plane(uint8_t *dst, ptrdiff_t dstride, int dw, int dh, const uint8_t *src,
                       ptrdiff_t sstride, int w, int h, int x, int y)
{
    if (x >= dw || y >= dh)
        return;
    if (x + w > dw)
        w = dw - x;
    if (y + h > dh)
        h = dh - y;
    for (int r = 0; r < h; r++)
        memcpy(dst + (y + r) * dstride + x, src + r * sstride, (size_t)w);
}

void sf_tile_compose(const sf_canvas *c, const uint8_t yuv[3], const sf_cell *cells, size_t n)
{
    int cw = (c->width + 1) / 2, ch = (c->height + 1) / 2;
    fill_plane(c->plane[0], c->stride[0], c->width, c->height, yuv[0]);
    fill_plane(c->plane[1], c->stride[1], cw, ch, yuv[1]);
    fill_plane(c->plane[2], c->stride[2], cw, ch, yuv[2]);
    for (size_t i = 0; i < n; i++) {
        const sf_cell *s = &cells[i];
        copy_plane(c->plane[0], c->stride[0], c->width, c->height, s->plane[0], s->stride[0],
                   s->width, s->height, s->x, s->y);
        for (int p = 1; p < 3; p++)
            copy_plane(c->plane[p], c->stride[p], cw, ch, s->plane[p], s->stride[p],
                       (s->width + 1) / 2, (s->height + 1) / 2, s->x / 2, s->y / 2);
    }
}

double sf_black_ratio(const uint8_t *y, ptrdiff_t stride, int width, int height, int threshold,
                      int full_range)
{
    if (width <= 0 || height <= 0)
        return 0.0;
    /* The largest stored value that still counts as darker than the threshold, in
     * 64 bits: any int threshold, however large, is one. */
    long long limit;
    if (full_range)
        limit = (long long)threshold - 1;
    else /* (Y - 16) * 255 / 219 < t  <=>  Y < 16 + t * 219 / 255 */
        limit = 16 + ((long long)threshold * 219 + 254) / 255 - 1;
    if (limit < 0)
        return 0.0;
    const int lim = limit > 255 ? 255 : (int)limit;
    size_t dark = 0;
    for (int r = 0; r < height; r++) {
        const uint8_t *row = y + r * stride;
        size_t count = 0;
        for (int x = 0; x < width; x++)
            count += row[x] <= lim;
        dark += count;
    }
    return (double)dark / ((double)width * height);
}

void sf_luma_histogram(const uint8_t *y, ptrdiff_t stride, int width, int height, uint32_t hist[256])
{
    for (int r = 0; r < height; r++) {
        const uint8_t *row = y + r * stride;
        for (int x = 0; x < width; x++)
            hist[row[x]]++;
    }
}
