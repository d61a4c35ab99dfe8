# The C headers of csrc/, declared as they are written (ptrdiff_t strides, uint32_t
# histograms): Cython checks the bindings in _native.pyx against these.

from libc.stddef cimport ptrdiff_t
from libc.stdint cimport int16_t, uint8_t, uint32_t


cdef extern from "sf_color.h" nogil:
    ctypedef enum sf_matrix:
        SF_MATRIX_BT601
        SF_MATRIX_BT709
        SF_MATRIX_BT2020

    ctypedef struct sf_ycc_map:
        int identity
        int avx2
        int luma_only

    void sf_ycc_map_init(sf_ycc_map *map, int full_range, sf_matrix matrix)
    void sf_ycc_luma_delta(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr,
                           int16_t *tmp, int16_t *delta, int width)
    void sf_ycc_luma_row(const sf_ycc_map *map, const uint8_t *y, const int16_t *delta, uint8_t *out, int width)
    void sf_ycc_chroma_row(const sf_ycc_map *map, const uint8_t *cb, const uint8_t *cr,
                           uint8_t *out_cb, uint8_t *out_cr, int width)


cdef extern from "sf_pool.h" nogil:
    int sf_cpu_count()
    int sf_pool_size(size_t n, int threads)


cdef extern from "sf_jpeg.h" nogil:
    ctypedef enum sf_pixfmt:
        SF_PIX_YUV420
        SF_PIX_RGB24
        SF_PIX_GRAY8

    ctypedef struct sf_image:
        sf_pixfmt format
        int width
        int height
        const uint8_t *plane[3]
        ptrdiff_t stride[3]
        int full_range
        sf_matrix matrix

    ctypedef struct sf_jpeg_options:
        int quality
        int subsampling
        int optimize
        int accurate_dct

    ctypedef struct sf_jpeg_result:
        uint8_t *data
        size_t size
        int status
        char message[200]

    enum:
        SF_OK
        SF_EJPEG
        SF_ENOMEM
        SF_EINVAL
        SF_JPEG_MAX_DIMENSION

    int sf_jpeg_encode(const sf_image *img, const sf_jpeg_options *opt, sf_jpeg_result *out)
    int sf_jpeg_encode_batch(const sf_image *imgs, size_t n, const sf_jpeg_options *opt,
                             sf_jpeg_result *out, int threads)
    void sf_jpeg_result_free(sf_jpeg_result *out)
    const char *sf_jpeg_library()


cdef extern from "sf_tile.h" nogil:
    ctypedef struct sf_canvas:
        uint8_t *plane[3]
        ptrdiff_t stride[3]
        int width
        int height

    ctypedef struct sf_cell:
        const uint8_t *plane[3]
        ptrdiff_t stride[3]
        int width
        int height
        int x
        int y

    void sf_tile_compose(const sf_canvas *canvas, const uint8_t yuv[3], const sf_cell *cells, size_t n)
    double sf_black_ratio(const uint8_t *y, ptrdiff_t stride, int width, int height, int threshold,
                          int full_range)
    void sf_luma_histogram(const uint8_t *y, ptrdiff_t stride, int width, int height, uint32_t hist[256])
