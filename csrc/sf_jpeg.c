#include "sf_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "sf_pool.h"

/* ---- errors: libjpeg must never exit() the process ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} sf_error_mgr;

static void on_error(j_common_ptr cinfo)
{
    longjmp(((sf_error_mgr *)cinfo->err)->jump, 1);
}

static void on_message(j_common_ptr cinfo) { (void)cinfo; /* warnings stay silent */ }

/* ---- destination: a growable buffer we own, so an error path can free it ---- */

typedef struct {
    struct jpeg_destination_mgr pub;
    uint8_t *buf;
    size_t cap;
} sf_dest_mgr;

static void dest_init(j_compress_ptr cinfo) { (void)cinfo; }

static boolean dest_grow(j_compress_ptr cinfo)
{
    sf_dest_mgr *d = (sf_dest_mgr *)cinfo->dest;
    size_t cap = d->cap * 2;
    uint8_t *buf = realloc(d->buf, cap);
    if (buf == NULL)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    d->pub.next_output_byte = buf + d->cap;
    d->pub.free_in_buffer = cap - d->cap;
    d->buf = buf;
    d->cap = cap;
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo) { (void)cinfo; }

/* ---- the encoder ---- */

struct sf_jpeg_encoder {
    struct jpeg_compress_struct cinfo;
    sf_error_mgr err;
    sf_dest_mgr dest;
    uint8_t *scratch; /* converted rows for the raw-data path, grown as needed */
    size_t scratch_cap;
    JSAMPROW rows[3][16];
};

sf_jpeg_encoder *sf_jpeg_encoder_new(void)
{
    sf_jpeg_encoder *volatile enc = calloc(1, sizeof *enc);
    if (enc == NULL)
        return NULL;
    enc->cinfo.err = jpeg_std_error(&enc->err.pub);
    enc->err.pub.error_exit = on_error;
    enc->err.pub.output_message = on_message;
    if (setjmp(enc->err.jump)) { /* only out of memory can fail here */
        free(enc);
        return NULL;
    }
    jpeg_create_compress(&enc->cinfo);
    enc->dest.pub.init_destination = dest_init;
    enc->dest.pub.empty_output_buffer = dest_grow;
    enc->dest.pub.term_destination = dest_term;
    enc->cinfo.dest = &enc->dest.pub;
    return enc;
}

void sf_jpeg_encoder_free(sf_jpeg_encoder *enc)
{
    if (enc == NULL)
        return;
    jpeg_destroy_compress(&enc->cinfo);
    free(enc->scratch);
    free(enc);
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* Row layout of the scratch buffer for one iMCU row of a YUV 4:2:0 image. */
typedef struct {
    int w, h, cwid, chgt; /* image and chroma sizes */
    int yw, cw;           /* padded row widths: whole DCT blocks */
    uint8_t *y, *cb, *cr; /* 16 luma rows, 8 + 8 chroma rows */
    int16_t *delta, *tmp; /* chroma term of luma (one row, half a row), or NULL */
} sf_raw_layout;

/* Fills one iMCU row (16 luma lines, 8 chroma lines) starting at luma line y0.
 * Lines past the bottom repeat the last one and columns past the right edge repeat
 * the last column, so the padding libjpeg reads is defined and does not bleed.
 * Rows are always copied, even when the planes could go in as they are: libjpeg's
 * SIMD code reads 8 rows at once, block by block, and from a small buffer in cache
 * that is about 20% faster than from the frame in memory. */
static void fill_rows(sf_jpeg_encoder *enc, const sf_image *img, const sf_ycc_map *map,
                      const sf_raw_layout *L, int y0)
{
    for (int i = 0; i < 8; i++) {
        int cy = y0 / 2 + i < L->chgt ? y0 / 2 + i : L->chgt - 1;
        const uint8_t *cb = img->plane[1] + cy * img->stride[1];
        const uint8_t *cr = img->plane[2] + cy * img->stride[2];
        uint8_t *ocb = L->cb + i * L->cw, *ocr = L->cr + i * L->cw;
        if (map->identity) {
            memcpy(ocb, cb, L->cwid);
            memcpy(ocr, cr, L->cwid);
        } else {
            sf_ycc_chroma_row(map, cb, cr, ocb, ocr, L->cwid);
        }
        memset(ocb + L->cwid, ocb[L->cwid - 1], L->cw - L->cwid);
        memset(ocr + L->cwid, ocr[L->cwid - 1], L->cw - L->cwid);
        enc->rows[1][i] = ocb;
        enc->rows[2][i] = ocr;
    }
    int delta_row = -1;
    for (int i = 0; i < 16; i++) {
        int yy = y0 + i < L->h ? y0 + i : L->h - 1;
        const uint8_t *y = img->plane[0] + yy * img->stride[0];
        uint8_t *oy = L->y + i * L->yw;
        if (map->identity) {
            memcpy(oy, y, L->w);
        } else {
            if (L->delta != NULL && yy / 2 != delta_row) { /* shared by two luma rows */
                delta_row = yy / 2;
                sf_ycc_luma_delta(map, img->plane[1] + delta_row * img->stride[1],
                                  img->plane[2] + delta_row * img->stride[2], L->tmp, L->delta,
                                  L->w);
            }
            sf_ycc_luma_row(map, y, L->delta, oy, L->w);
        }
        memset(oy + L->w, oy[L->w - 1], L->yw - L->w);
        enc->rows[0][i] = oy;
    }
}

static void write_yuv420(sf_jpeg_encoder *enc, const sf_image *img)
{
    j_compress_ptr cinfo = &enc->cinfo;
    sf_ycc_map map;
    sf_ycc_map_init(&map, img->full_range, img->matrix);
    sf_raw_layout L = {.w = img->width, .h = img->height};
    L.cwid = (L.w + 1) / 2;
    L.chgt = (L.h + 1) / 2;
    L.yw = round_up(L.w, 16);
    L.cw = round_up(L.cwid, 8);
    size_t need = (size_t)16 * L.yw + (size_t)16 * L.cw;
    if (!map.luma_only)
        need += sizeof(int16_t) * (size_t)(L.yw + L.cw) + sizeof(int16_t);
    if (need > enc->scratch_cap) {
        free(enc->scratch);
        enc->scratch_cap = 0;
        if ((enc->scratch = malloc(need)) == NULL)
            ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 2);
        enc->scratch_cap = need;
    }
    L.y = enc->scratch;
    L.cb = L.y + 16 * L.yw;
    L.cr = L.cb + 8 * L.cw;
    if (!map.luma_only) { /* aligned for int16 */
        L.delta = (int16_t *)(((uintptr_t)(L.cr + 8 * L.cw) + 1) & ~(uintptr_t)1);
        L.tmp = L.delta + L.yw;
    }
    JSAMPARRAY planes[3] = {enc->rows[0], enc->rows[1], enc->rows[2]};
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        fill_rows(enc, img, &map, &L, (int)cinfo->next_scanline);
        jpeg_write_raw_data(cinfo, planes, 16);
    }
}

static void write_packed(j_compress_ptr cinfo, const sf_image *img)
{
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(img->plane[0] + cinfo->next_scanline * img->stride[0]);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
}

static void set_sampling(j_compress_ptr cinfo, int h, int v)
{
    cinfo->comp_info[0].h_samp_factor = h;
    cinfo->comp_info[0].v_samp_factor = v;
    for (int c = 1; c < 3; c++) {
        cinfo->comp_info[c].h_samp_factor = 1;
        cinfo->comp_info[c].v_samp_factor = 1;
    }
}

int sf_jpeg_encoder_run(sf_jpeg_encoder *enc, const sf_image *img, const sf_jpeg_options *opt,
                        sf_jpeg_result *out)
{
    memset(out, 0, sizeof *out);
    if (img->width <= 0 || img->height <= 0 || img->width > SF_JPEG_MAX_DIMENSION ||
        img->height > SF_JPEG_MAX_DIMENSION) {
        snprintf(out->message, SF_JPEG_MSG_LEN, "image size %dx%d is outside 1..%d",
                 img->width, img->height, SF_JPEG_MAX_DIMENSION);
        return out->status = SF_EINVAL;
    }
    j_compress_ptr cinfo = &enc->cinfo;

    /* A compressed frame is rarely over a quarter of its raw size; dest_grow covers the rest. */
    enc->dest.cap = (size_t)img->width * img->height / 4 + 4096;
    enc->dest.buf = malloc(enc->dest.cap);
    if (enc->dest.buf == NULL) {
        snprintf(out->message, SF_JPEG_MSG_LEN, "out of memory");
        return out->status = SF_ENOMEM;
    }
    enc->dest.pub.next_output_byte = enc->dest.buf;
    enc->dest.pub.free_in_buffer = enc->dest.cap;

    if (setjmp(enc->err.jump)) {
        char msg[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)((j_common_ptr)cinfo, msg);
        snprintf(out->message, SF_JPEG_MSG_LEN, "libjpeg: %.180s", msg);
        jpeg_abort_compress(cinfo); /* the encoder stays usable */
        free(enc->dest.buf);
        enc->dest.buf = NULL;
        return out->status = SF_EJPEG;
    }

    cinfo->image_width = (JDIMENSION)img->width;
    cinfo->image_height = (JDIMENSION)img->height;
    switch (img->format) {
    case SF_PIX_GRAY8:
        cinfo->input_components = 1;
        cinfo->in_color_space = JCS_GRAYSCALE;
        break;
    case SF_PIX_RGB24:
        cinfo->input_components = 3;
        cinfo->in_color_space = JCS_RGB;
        break;
    default:
        cinfo->input_components = 3;
        cinfo->in_color_space = JCS_YCbCr;
        break;
    }
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, opt->quality, TRUE);
    cinfo->optimize_coding = opt->optimize ? TRUE : FALSE;
    cinfo->dct_method = opt->accurate_dct ? JDCT_ISLOW : JDCT_IFAST;

    if (img->format == SF_PIX_YUV420) {
        set_sampling(cinfo, 2, 2);
        cinfo->raw_data_in = TRUE;
        write_yuv420(enc, img);
    } else {
        if (img->format == SF_PIX_RGB24)
            set_sampling(cinfo, opt->subsampling == 444 ? 1 : 2, opt->subsampling == 420 ? 2 : 1);
        write_packed(cinfo, img);
    }
    jpeg_finish_compress(cinfo);

    out->size = enc->dest.cap - enc->dest.pub.free_in_buffer;
    out->data = enc->dest.buf;
    enc->dest.buf = NULL;
    return out->status = SF_OK;
}

int sf_jpeg_encode(const sf_image *img, const sf_jpeg_options *opt, sf_jpeg_result *out)
{
    sf_jpeg_encoder *enc = sf_jpeg_encoder_new();
    if (enc == NULL) {
        memset(out, 0, sizeof *out);
        snprintf(out->message, SF_JPEG_MSG_LEN, "out of memory");
        return out->status = SF_ENOMEM;
    }
    int status = sf_jpeg_encoder_run(enc, img, opt, out);
    sf_jpeg_encoder_free(enc);
    return status;
}

typedef struct {
    const sf_image *imgs;
    const sf_jpeg_options *opt;
    sf_jpeg_result *out;
    sf_jpeg_encoder **encoders; /* one per worker, made on first use */
} sf_batch;

static void encode_one(void *ctx, size_t i, int worker)
{
    sf_batch *b = ctx;
    if (b->encoders[worker] == NULL)
        b->encoders[worker] = sf_jpeg_encoder_new();
    if (b->encoders[worker] == NULL) {
        memset(&b->out[i], 0, sizeof b->out[i]);
        snprintf(b->out[i].message, SF_JPEG_MSG_LEN, "out of memory");
        b->out[i].status = SF_ENOMEM;
        return;
    }
    sf_jpeg_encoder_run(b->encoders[worker], &b->imgs[i], b->opt, &b->out[i]);
}

int sf_jpeg_encode_batch(const sf_image *imgs, size_t n, const sf_jpeg_options *opt,
                         sf_jpeg_result *out, int threads)
{
    int size = sf_pool_size(n, threads);
    sf_batch b = {imgs, opt, out, calloc(size > 0 ? size : 1, sizeof(sf_jpeg_encoder *))};
    if (b.encoders == NULL) {
        for (size_t i = 0; i < n; i++) {
            memset(&out[i], 0, sizeof out[i]);
            snprintf(out[i].message, SF_JPEG_MSG_LEN, "out of memory");
            out[i].status = SF_ENOMEM;
        }
        return 0;
    }
    int used = sf_parallel_for(n, size, encode_one, &b);
    for (int t = 0; t < size; t++)
        sf_jpeg_encoder_free(b.encoders[t]);
    free(b.encoders);
    return used;
}

void sf_jpeg_result_free(sf_jpeg_result *out)
{
    free(out->data);
    out->data = NULL;
    out->size = 0;
}

#define SF_STR_(x) #x
#define SF_STR(x) SF_STR_(x)

const char *sf_jpeg_library(void)
{
#ifdef LIBJPEG_TURBO_VERSION
    return "libjpeg-turbo " SF_STR(LIBJPEG_TURBO_VERSION);
#else
    return "libjpeg " SF_STR(JPEG_LIB_VERSION);
#endif
}
