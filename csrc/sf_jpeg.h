/* JPEG encoding with libjpeg-turbo: YUV 4:2:0 planes through the raw-data path
 * (no RGB round trip), packed RGB24 and GRAY8; one image or a batch over threads. */
#ifndef SF_JPEG_H
#define SF_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "sf_color.h"

typedef enum {
    SF_PIX_YUV420 = 0,
    SF_PIX_RGB24 = 1,
    SF_PIX_GRAY8 = 2,
} sf_pixfmt;

/* Borrowed pixels. Rows are stride bytes apart; YUV420 chroma planes hold
 * (width+1)/2 x (height+1)/2 samples. */
typedef struct {
    sf_pixfmt format;
    int width, height;
    const uint8_t *plane[3];
    ptrdiff_t stride[3];
    int full_range;   /* YUV420: 0 = video range (Y 16..235, C 16..240) */
    sf_matrix matrix; /* YUV420: the source's YCbCr matrix */
} sf_image;

typedef struct {
    int quality;     /* 1..100 */
    int subsampling; /* RGB24 input: 444, 422 or 420; YUV420 input is always 420 */
    int optimize;    /* optimised Huffman tables */
    int accurate_dct; /* 1: integer "slow" DCT; 0: the fast one, as TurboJPEG uses below q96 */
} sf_jpeg_options;

#define SF_JPEG_MSG_LEN 200

typedef struct {
    uint8_t *data; /* malloc'ed; release with sf_jpeg_result_free */
    size_t size;
    int status;    /* SF_OK or an SF_E* code */
    char message[SF_JPEG_MSG_LEN];
} sf_jpeg_result;

enum { SF_OK = 0, SF_EJPEG = 1, SF_ENOMEM = 2, SF_EINVAL = 3 };

/* Largest side libjpeg accepts. */
#define SF_JPEG_MAX_DIMENSION 65500

/* A libjpeg compressor kept across images, so a batch pays its set-up once per
 * thread. Not thread-safe: one per thread. */
typedef struct sf_jpeg_encoder sf_jpeg_encoder;

sf_jpeg_encoder *sf_jpeg_encoder_new(void);
void sf_jpeg_encoder_free(sf_jpeg_encoder *enc);
int sf_jpeg_encoder_run(sf_jpeg_encoder *enc, const sf_image *img, const sf_jpeg_options *opt,
                        sf_jpeg_result *out);

/* One image with a throwaway encoder. */
int sf_jpeg_encode(const sf_image *img, const sf_jpeg_options *opt, sf_jpeg_result *out);

/* Encodes n images on up to `threads` threads (0 = all CPUs); each result carries its
 * own status. Output bytes do not depend on the thread count. Returns threads used. */
int sf_jpeg_encode_batch(const sf_image *imgs, size_t n, const sf_jpeg_options *opt,
                         sf_jpeg_result *out, int threads);

void sf_jpeg_result_free(sf_jpeg_result *out);

/* The libjpeg built in, e.g. "libjpeg-turbo 3.1.3": the wheels link their own. */
const char *sf_jpeg_library(void);

#endif
