# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin bindings over csrc/: buffers in, pointers and sizes out, the GIL released
around the native work. Argument checking that guards memory safety lives here;
everything friendlier lives in stillframe.jpeg."""

from libc.stdint cimport int16_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from cpython.bytes cimport PyBytes_FromStringAndSize

from stillframe.errors import InternalError, InvalidParameter


MAX_DIMENSION = SF_JPEG_MAX_DIMENSION
JPEG_LIBRARY = sf_jpeg_library().decode()
_MATRICES = {"bt601": SF_MATRIX_BT601, "bt709": SF_MATRIX_BT709, "bt2020": SF_MATRIX_BT2020}


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask)."""
    return sf_cpu_count()


def _pool_size(size_t n, int threads) -> int:
    """Threads a batch of `n` images runs on when `threads` are asked (0 = every
    CPU): never more than the CPUs or the images."""
    return sf_pool_size(n, threads)


cdef const uint8_t[:, :] _plane(obj, str name):
    """A 2-D uint8 view whose rows may be padded (any row stride, unit column stride)."""
    cdef const uint8_t[:, :] view
    try:
        view = obj
    except (ValueError, TypeError, BufferError) as exc:
        raise InvalidParameter(f"{name} must be a 2-D uint8 array: {exc}") from None
    if view.strides[1] != 1:
        raise InvalidParameter(
            f"{name} must have contiguous rows (column stride 1, not {view.strides[1]})")
    return view


cdef class Image:
    """Pixels borrowed from Python buffers, described for the encoder. The views held
    here keep those buffers alive while native code reads them."""
    cdef sf_image img
    cdef object views

    @staticmethod
    def yuv420(y, u, v, int width, int height, bint full_range=False, str matrix="bt601"):
        cdef Image self = Image.__new__(Image)
        cdef const uint8_t[:, :] vy = _plane(y, "Y plane")
        cdef const uint8_t[:, :] vu = _plane(u, "U plane")
        cdef const uint8_t[:, :] vv = _plane(v, "V plane")
        _check_size(width, height)
        cdef int cw = (width + 1) // 2, ch = (height + 1) // 2
        if vy.shape[0] < height or vy.shape[1] < width:
            raise InvalidParameter(
                f"Y plane is {vy.shape[0]}x{vy.shape[1]}, smaller than {height}x{width}")
        _check_chroma("U", vu.shape[0], vu.shape[1], ch, cw, width, height)
        _check_chroma("V", vv.shape[0], vv.shape[1], ch, cw, width, height)
        if matrix not in _MATRICES:
            raise InvalidParameter(f"matrix must be one of {sorted(_MATRICES)}, not {matrix!r}")
        self.img.format = SF_PIX_YUV420
        self.img.width = width
        self.img.height = height
        self.img.plane[0] = &vy[0, 0]
        self.img.plane[1] = &vu[0, 0]
        self.img.plane[2] = &vv[0, 0]
        self.img.stride[0] = vy.strides[0]
        self.img.stride[1] = vu.strides[0]
        self.img.stride[2] = vv.strides[0]
        self.img.full_range = full_range
        self.img.matrix = _MATRICES[matrix]
        self.views = (vy, vu, vv)
        return self

    @staticmethod
    def rgb24(rgb):
        cdef Image self = Image.__new__(Image)
        cdef const uint8_t[:, :, :] view
        try:
            view = rgb
        except (ValueError, TypeError, BufferError) as exc:
            raise InvalidParameter(
                f"RGB input must be an H x W x 3 uint8 array: {exc}"
            ) from None
        if view.shape[2] != 3 or view.strides[1] != 3 or view.strides[2] != 1:
            raise InvalidParameter(
                f"RGB input must be H x W x 3 with packed pixels, got shape "
                f"{tuple(view.shape)[:3]} and pixel stride {view.strides[1]}")
        _check_size(view.shape[1], view.shape[0])
        self.img.format = SF_PIX_RGB24
        self.img.width = view.shape[1]
        self.img.height = view.shape[0]
        self.img.plane[0] = &view[0, 0, 0]
        self.img.stride[0] = view.strides[0]
        self.views = view
        return self

    @staticmethod
    def gray8(gray):
        cdef Image self = Image.__new__(Image)
        cdef const uint8_t[:, :] view = _plane(gray, "GRAY8 input")
        _check_size(view.shape[1], view.shape[0])
        self.img.format = SF_PIX_GRAY8
        self.img.width = view.shape[1]
        self.img.height = view.shape[0]
        self.img.plane[0] = &view[0, 0]
        self.img.stride[0] = view.strides[0]
        self.views = view
        return self

    @property
    def width(self) -> int:
        return self.img.width

    @property
    def height(self) -> int:
        return self.img.height

    @property
    def format(self) -> str:
        return ("yuv420p", "rgb24", "gray")[<int> self.img.format]


cdef _check_chroma(str name, Py_ssize_t rows, Py_ssize_t cols, int ch, int cw,
                   int width, int height):
    if rows < ch or cols < cw:
        raise InvalidParameter(
            f"{name} plane is {rows}x{cols}, smaller than the {ch}x{cw} that 4:2:0 "
            f"chroma of a {width}x{height} image needs")


cdef _check_size(Py_ssize_t width, Py_ssize_t height):
    if not (0 < width <= SF_JPEG_MAX_DIMENSION and 0 < height <= SF_JPEG_MAX_DIMENSION):
        raise InvalidParameter(
            f"image size {width}x{height} is outside 1..{SF_JPEG_MAX_DIMENSION} pixels a side")


cdef sf_jpeg_options _options(int quality, int subsampling, bint optimize, object accurate_dct) except *:
    cdef sf_jpeg_options opt
    if not 1 <= quality <= 100:
        raise InvalidParameter(f"quality must be in 1..100, not {quality}")
    if subsampling not in (420, 422, 444):
        raise InvalidParameter(f"subsampling must be 420, 422 or 444, not {subsampling}")
    opt.quality = quality
    opt.subsampling = subsampling
    opt.optimize = optimize
    # TurboJPEG's rule: the fast DCT below quality 96, where its error hides under
    # quantisation; the accurate one above.
    opt.accurate_dct = quality >= 96 if accurate_dct is None else bool(accurate_dct)
    return opt


cdef object _take(sf_jpeg_result *res):
    """bytes from one result, or the stillframe error its status stands for."""
    if res.status == SF_OK:
        return PyBytes_FromStringAndSize(<char *> res.data, res.size)
    message = res.message.decode("utf-8", "replace")
    if res.status == SF_EINVAL:
        return InvalidParameter(message)
    if res.status == SF_ENOMEM:
        return MemoryError(message)
    return InternalError(message)


def encode(Image image not None, int quality=85, int subsampling=420, bint optimize=False,
           accurate_dct=None) -> bytes:
    """One image to JPEG bytes. `subsampling` applies to RGB input only;
    `accurate_dct` None picks by quality (accurate from 96 up)."""
    cdef sf_jpeg_options opt = _options(quality, subsampling, optimize, accurate_dct)
    cdef sf_jpeg_result res
    with nogil:
        sf_jpeg_encode(&image.img, &opt, &res)
    try:
        out = _take(&res)
    finally:
        sf_jpeg_result_free(&res)
    if isinstance(out, BaseException):
        raise out
    return out


def encode_batch(images, int quality=85, int subsampling=420, bint optimize=False,
                 int threads=0, accurate_dct=None) -> list:
    """Many images to JPEG bytes, in order, on up to `threads` native threads (0 = all)."""
    cdef sf_jpeg_options opt = _options(quality, subsampling, optimize, accurate_dct)
    cdef list items = list(images)
    cdef Py_ssize_t n = len(items), i
    if threads < 0:
        raise InvalidParameter(f"threads must be >= 0, not {threads}")
    for i in range(n):
        if not isinstance(items[i], Image):
            raise InvalidParameter(
                f"item {i} is a {type(items[i]).__name__}, not a stillframe._native.Image")
    if n == 0:
        return []
    cdef sf_image *imgs = <sf_image *> malloc(n * sizeof(sf_image))
    cdef sf_jpeg_result *res = <sf_jpeg_result *> malloc(n * sizeof(sf_jpeg_result))
    if imgs == NULL or res == NULL:
        free(imgs)
        free(res)
        raise MemoryError()
    memset(res, 0, n * sizeof(sf_jpeg_result))
    for i in range(n):
        imgs[i] = (<Image> items[i]).img
    try:
        with nogil:
            sf_jpeg_encode_batch(imgs, n, &opt, res, threads)
        outs = [_take(&res[i]) for i in range(n)]
    finally:
        for i in range(n):
            sf_jpeg_result_free(&res[i])
        free(imgs)
        free(res)
    for i in range(n):
        if isinstance(outs[i], BaseException):
            err = outs[i]
            raise type(err)(f"image {i}: {err}")
    return outs


def _ycc_row(y, cb, cr, bint full_range, str matrix, bint vector) -> tuple:
    """One row through the colour mapping the encoder applies (for tests): `y` holds
    `width` samples, `cb`/`cr` (width+1)//2. `vector` False keeps to the portable loops
    where the CPU has SIMD kernels. Returns (y, cb, cr) bytes and whether SIMD ran."""
    cdef const uint8_t[:] vy = y
    cdef const uint8_t[:] vb = cb
    cdef const uint8_t[:] vr = cr
    cdef int width = vy.shape[0], cw = (width + 1) // 2
    if width < 1 or vb.shape[0] != cw or vr.shape[0] != cw:
        raise InvalidParameter(f"a row of {width} luma samples needs {cw} of each chroma")
    if matrix not in _MATRICES:
        raise InvalidParameter(f"matrix must be one of {sorted(_MATRICES)}, not {matrix!r}")
    cdef sf_ycc_map m
    sf_ycc_map_init(&m, full_range, _MATRICES[matrix])
    m.avx2 = m.avx2 and vector
    oy, ob, orr = bytearray(width), bytearray(cw), bytearray(cw)
    cdef uint8_t[:] woy = oy
    cdef uint8_t[:] wob = ob
    cdef uint8_t[:] wor = orr
    cdef int16_t *work = <int16_t *> malloc(sizeof(int16_t) * (width + cw))
    if work == NULL:
        raise MemoryError()
    try:
        if not m.luma_only:
            sf_ycc_luma_delta(&m, &vb[0], &vr[0], work + width, work, width)
        sf_ycc_luma_row(&m, &vy[0], NULL if m.luma_only else work, &woy[0], width)
        sf_ycc_chroma_row(&m, &vb[0], &vr[0], &wob[0], &wor[0], cw)
    finally:
        free(work)
    return bytes(oy), bytes(ob), bytes(orr), bool(m.avx2)


# ---- sprites and luma statistics ------------------------------------------------------

cdef uint8_t[:, :] _out_plane(obj, str name):
    cdef uint8_t[:, :] view
    try:
        view = obj
    except (ValueError, TypeError, BufferError) as exc:
        raise InvalidParameter(f"{name} must be a writable 2-D uint8 array: {exc}") from None
    if view.strides[1] != 1:
        raise InvalidParameter(f"{name} must have contiguous rows")
    return view


def compose_yuv420(y, u, v, int width, int height, color, cells) -> None:
    """Fill the canvas planes (y, u, v; width x height luma) with `color` (Y, U, V)
    and copy each cell (y, u, v, width, height, x, y) to its place, x and y even.
    Cells reaching past the canvas are clipped."""
    cdef uint8_t[:, :] cy = _out_plane(y, "canvas Y")
    cdef uint8_t[:, :] cu = _out_plane(u, "canvas U")
    cdef uint8_t[:, :] cv = _out_plane(v, "canvas V")
    _check_size(width, height)
    if cy.shape[0] < height or cy.shape[1] < width:
        raise InvalidParameter("canvas Y plane is smaller than the canvas")
    _check_chroma("canvas U", cu.shape[0], cu.shape[1], (height + 1) // 2, (width + 1) // 2, width, height)
    _check_chroma("canvas V", cv.shape[0], cv.shape[1], (height + 1) // 2, (width + 1) // 2, width, height)
    cdef sf_canvas canvas
    canvas.plane[0] = &cy[0, 0]
    canvas.plane[1] = &cu[0, 0]
    canvas.plane[2] = &cv[0, 0]
    canvas.stride[0] = cy.strides[0]
    canvas.stride[1] = cu.strides[0]
    canvas.stride[2] = cv.strides[0]
    canvas.width = width
    canvas.height = height
    cdef uint8_t col[3]
    for i in range(3):
        col[i] = <uint8_t> int(color[i])
    cdef list items = list(cells)
    cdef Py_ssize_t n = len(items), k
    cdef sf_cell *arr = <sf_cell *> malloc(max(n, 1) * sizeof(sf_cell))
    if arr == NULL:
        raise MemoryError()
    keep = []
    try:
        for k in range(n):
            py, pu, pv, w, h, x, yy = items[k]
            img = Image.yuv420(py, pu, pv, w, h)  # validates the planes
            if x < 0 or yy < 0 or x % 2 or yy % 2:
                raise InvalidParameter(f"cell {k} must sit at even, non-negative x and y, not ({x}, {yy})")
            keep.append(img)
            arr[k].plane[0] = (<Image> img).img.plane[0]
            arr[k].plane[1] = (<Image> img).img.plane[1]
            arr[k].plane[2] = (<Image> img).img.plane[2]
            arr[k].stride[0] = (<Image> img).img.stride[0]
            arr[k].stride[1] = (<Image> img).img.stride[1]
            arr[k].stride[2] = (<Image> img).img.stride[2]
            arr[k].width = w
            arr[k].height = h
            arr[k].x = x
            arr[k].y = yy
        with nogil:
            sf_tile_compose(&canvas, col, arr, n)
    finally:
        free(arr)


def black_ratio(y, int width, int height, int threshold, bint full_range) -> float:
    """Share of the luma samples darker than `threshold` (0..255, full-range units;
    video-range samples are mapped first, so video black, 16, is black)."""
    cdef const uint8_t[:, :] view = _plane(y, "Y plane")
    if view.shape[0] < height or view.shape[1] < width or width <= 0 or height <= 0:
        raise InvalidParameter("Y plane is smaller than the picture")
    cdef double out
    with nogil:
        out = sf_black_ratio(&view[0, 0], view.strides[0], width, height, threshold, full_range)
    return out


def luma_histogram(y, int width, int height, hist) -> None:
    """Add the luma samples' 256-bin histogram into `hist` (uint32[256])."""
    cdef const uint8_t[:, :] view = _plane(y, "Y plane")
    cdef uint32_t[::1] h = hist
    if h.shape[0] != 256:
        raise InvalidParameter("hist must have 256 bins")
    if view.shape[0] < height or view.shape[1] < width or width <= 0 or height <= 0:
        raise InvalidParameter("Y plane is smaller than the picture")
    with nogil:
        sf_luma_histogram(&view[0, 0], view.strides[0], width, height, &h[0])
