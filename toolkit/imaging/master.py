"""The master: an upright, sRGB, metadata-free copy of an upload, small enough to render from quickly.

It is made once, when the image is uploaded, so that the thousands of share-ready renditions made
later never decode the (possibly 50 MB, CMYK, rotated) original. process_upload checks an upload
and makes its master from one decode, within the process's decode budget (toolkit.imaging.budget):
what the decode will cost is worked out from the header first (decode_cost), so an image the
budget cannot hold is refused before a single pixel is decoded.
"""

from __future__ import annotations

import io
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import IO

from PIL import Image, ImageCms, ImageFile

from toolkit.errors import Invalid
from toolkit.imaging.budget import DecodeBudget
from toolkit.imaging.inspect import (
    DAMAGED,
    DECODE_ERRORS,
    ImageInfo,
    check_frames,
    check_pixels,
    construct,
    describe,
    open_image,
    quiet_pixel_guard,
    sniff,
    webp_canvas_size,
)
from toolkit.imaging.pixels import flatten
from toolkit.imaging.tiles import make_tiles

MASTER_MAX_EDGE = 2560
THUMB_WIDTHS = (320, 640)

MASTER_JPEG_QUALITY = 90
THUMB_JPEG_QUALITY = 82
# Masters with transparency are written once and read often; level 4 is close to the smallest
# file at a fraction of the time of level 9.
MASTER_PNG_COMPRESS_LEVEL = 4

_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_REDUCING_GAP = 3.0
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Master:
    """The stored master: JPEG (baseline, quality 90), or PNG when the image has transparency; and
    tiles, the same pixels cut up for fast rendering (toolkit.imaging.tiles). process_upload also
    makes its thumbnails (JPEG by width), within the same decode budget."""

    data: bytes
    content_type: str
    width: int
    height: int
    tiles: bytes
    thumbs: dict[int, bytes] = field(default_factory=dict)


def process_upload(
    path: str | os.PathLike[str],
    *,
    max_pixels: int,
    budget: DecodeBudget,
    max_edge: int = MASTER_MAX_EDGE,
) -> tuple[ImageInfo, Master]:
    """Check an upload and make its master from one decode: (what the upload is, its master).

    UnsupportedMedia for what is not a supported image; Invalid for a damaged file, too many
    pixels, or a decode the budget cannot hold, refused from the header before decoding. Otherwise
    it waits until the budget has room and a core is free, then decodes the first frame once
    (which also proves the file is whole). All frames count towards max_pixels and the budget.
    """
    with open(path, "rb") as fp, quiet_pixel_guard():
        file_size = os.fstat(fp.fileno()).st_size
        content_type, head = sniff(fp)
        canvas = webp_canvas_size(head) if content_type == "image/webp" else None
        if canvas is None:
            return _process(fp, content_type, file_size, max_pixels, budget, max_edge, held=False)
        # Pillow's WebP reader decodes into its canvases while it opens the file: budget that first.
        width, height = canvas
        check_pixels(width * height, max_pixels)
        need = decode_cost(content_type, width, height, "RGBA", max_edge=max_edge, file_size=file_size)
        budget.check(need, width=width, height=height)
        with budget.hold(need):
            return _process(fp, content_type, file_size, max_pixels, budget, max_edge, held=True)


def _process(
    fp: IO[bytes],
    content_type: str,
    file_size: int,
    max_pixels: int,
    budget: DecodeBudget,
    max_edge: int,
    *,
    held: bool,
) -> tuple[ImageInfo, Master]:
    img = construct(content_type, fp)
    try:
        frames = check_frames(img, max_pixels)
        width, height = img.size
        _draft_jpeg(img, max_edge)
        need = decode_cost(
            content_type,
            img.width,
            img.height,
            img.mode,
            max_edge=max_edge,
            key_colour="transparency" in img.info,
            full_size=(width, height),
            jpeg_samples=_progressive_samples(img),
            file_size=file_size,
        )
        # Only the first frame is decoded, but every frame counts, as for max_pixels.
        every_frame = img.width * img.height * pixel_bytes(img.mode) * frames
        budget.check(max(need, every_frame), width=width, height=height, frames=frames)
        with nullcontext() if held else budget.hold(need):
            master, has_alpha = _master_of(img, max_edge)
            master = replace(master, thumbs={w: make_thumbnail(master.data, w) for w in THUMB_WIDTHS})
    finally:
        img.close()
    return ImageInfo(content_type, width, height, frames, has_alpha), master


def _master_of(img: ImageFile.ImageFile, max_edge: int) -> tuple[Master, bool]:
    """The master of an opened image, and whether the image has transparency. The decoded frame is
    let go as soon as it is cut down, before the master is finished (encoded, tiled)."""
    decoded = _decode(img, max_edge)
    has_alpha = describe("", img, 1).has_alpha
    if decoded.pic is not img:
        img.close()
    return _finish(decoded), has_alpha


def make_master(path: str | os.PathLike[str], *, max_edge: int = MASTER_MAX_EDGE) -> Master:
    """The master of an accepted upload: first frame, upright, sRGB, long edge <= max_edge, no metadata.

    Without a budget, for files known to be sound (tests, benchmarks); uploads go through
    process_upload.
    """
    with open(path, "rb") as fp, quiet_pixel_guard():
        _, img = open_image(fp)
        with img:
            _draft_jpeg(img, max_edge)
            master, _ = _master_of(img, max_edge)
            return master


# What decoding costs, worked out from the header.

# Bytes per pixel of Pillow's in-memory modes (RGB is kept as four bytes a pixel, like RGBA).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "BGR;15": 2, "BGR;16": 2, **dict.fromkeys(_SIXTEEN_BIT_MODES, 2)}
_KEPT_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})
_DEEP_MODES = frozenset({"I", "F", *_SIXTEEN_BIT_MODES})
_ALPHA_MODES = frozenset({"RGBA", "LA", "La", "PA", "RGBa"})
# What finishing a master costs per pixel of it: the picture, sRGB conversion (colour, alpha and
# the result), the upright copy and the encoders' buffers, at four bytes a pixel (measured).
_FINISH_BYTES_PER_PIXEL = 16
# Pillow's WebP reader holds libwebp's canvas and a copy of the frame as bytes beside the decoded
# image (measured: three times the image, plus the file it reads whole).
_WEBP_DECODER_COPIES = 2


def pixel_bytes(mode: str) -> int:
    """Bytes one pixel of this mode takes in Pillow's memory."""
    return _PIXEL_BYTES.get(mode, 4)


def decode_cost(
    content_type: str,
    width: int,
    height: int,
    mode: str,
    *,
    max_edge: int = MASTER_MAX_EDGE,
    key_colour: bool = False,
    full_size: tuple[int, int] | None = None,
    jpeg_samples: float = 0.0,
    file_size: int = 0,
) -> int:
    """Bytes of memory that making the master of such an image holds at its peak (an upper bound,
    checked against measurements in bench/bench_uploads.py).

    width x height is what the decoder produces (a JPEG's reduced draft size; full_size is the
    declared size), mode its pixel mode. The peak is the larger of two phases: decoding and
    cutting down (the decoded frame, a converted copy when the mode needs one, and the resize's
    intermediate and result), then finishing the master from the cut-down picture.
    """
    pixels = width * height
    decoded = pixels * pixel_bytes(mode)
    extra = 0
    if mode in _DEEP_MODES:
        extra += pixels * 5  # scaled copy, then 8-bit grey
    elif mode not in _KEPT_MODES or key_colour:
        extra += pixels * 4  # palette, 1-bit, key colour, premultiplied ...: RGB(A) or LA copy
    target = _fitted((width, height), max_edge)
    target_pixels = target[0] * target[1]
    if target != (width, height):
        if mode in _ALPHA_MODES or key_colour:
            extra += pixels * 4  # Pillow resizes transparent pictures premultiplied: one more copy
        factor = max(1, min(int(width / target[0] / _REDUCING_GAP), int(height / target[1] / _REDUCING_GAP)))
        reduced_height = height // factor
        if factor > 1:
            extra += (width // factor) * reduced_height * 4
        # Lanczos resizes in two passes: every row at the new width, then the new height.
        extra += target[0] * reduced_height * 4 + target_pixels * 4
    if content_type == "image/webp":
        extra += pixels * 4 * _WEBP_DECODER_COPIES + file_size
    elif content_type == "image/tiff":
        extra += decoded  # libtiff reads a whole strip; some files are one strip
    if jpeg_samples and full_size is not None:
        # A progressive JPEG keeps every DCT coefficient (2 bytes) of every sample at full size.
        extra += int(full_size[0] * full_size[1] * jpeg_samples * 2)
    return max(decoded + extra, target_pixels * _FINISH_BYTES_PER_PIXEL)


def _fitted(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    long_edge = max(size)
    if long_edge <= max_edge:
        return size
    scale = max_edge / long_edge
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _progressive_samples(img: ImageFile.ImageFile) -> float:
    """Samples per pixel of a progressive JPEG, whose decoder holds all of its coefficients at
    once (three for 4:4:4 colour, 1.5 for 4:2:0); 0 for any other image."""
    if img.format != "JPEG" or not (img.info.get("progressive") or img.info.get("progression")):
        return 0.0
    factors = [(int(h), int(v)) for _, h, v, _ in getattr(img, "layer", None) or []]
    if not factors:
        return float(len(img.getbands()))
    h_max = max(h for h, _ in factors) or 1
    v_max = max(v for _, v in factors) or 1
    return sum(h * v for h, v in factors) / (h_max * v_max)


@dataclass
class _Decoded:
    pic: Image.Image
    orientation: int
    icc: bytes | None


def _decode(img: ImageFile.ImageFile, max_edge: int) -> _Decoded:
    """The first frame decoded, in a working mode and cut down to max_edge (not yet sRGB)."""
    try:
        img.load()
        orientation = _orientation(img)
        icc = img.info.get("icc_profile") or None
        pic = _working_mode(img)
    except DECODE_ERRORS:
        raise Invalid(DAMAGED) from None
    return _Decoded(_fit_long_edge(pic, max_edge), orientation, icc)


def _finish(decoded: _Decoded) -> Master:
    pic = _to_srgb(decoded.pic, decoded.icc)
    decoded.pic = pic  # the cut-down picture is not needed any more
    if decoded.orientation in _TRANSPOSE_FOR_ORIENTATION:
        pic = pic.transpose(_TRANSPOSE_FOR_ORIENTATION[decoded.orientation])
    if pic.mode == "RGBA" and pic.getchannel("A").getextrema()[0] == 255:
        # An alpha channel with nothing transparent in it (common in exported PNGs) needs no PNG.
        pic = pic.convert("RGB")
    # Pillow carries info (ICC, EXIF, comments) through conversions and some encoders write it back.
    pic.info = {}
    buf = io.BytesIO()
    if pic.mode == "RGBA":
        pic.save(buf, "PNG", compress_level=MASTER_PNG_COMPRESS_LEVEL)
        content_type = "image/png"
    else:
        pic.save(buf, "JPEG", quality=MASTER_JPEG_QUALITY, optimize=True)
        content_type = "image/jpeg"
    return Master(buf.getvalue(), content_type, pic.width, pic.height, make_tiles(pic))


def make_thumbnail(master: bytes, width: int) -> bytes:
    """A JPEG of the master, width pixels wide (never wider than the master), flattened on white."""
    if width < 1:
        raise ValueError(f"thumbnail width must be positive, got {width}")
    with Image.open(io.BytesIO(master), formats=("JPEG", "PNG")) as img:
        width = min(width, img.width)
        height = max(1, round(img.height * width / img.width))
        img.draft(img.mode, (width, height))
        pic = flatten(img, _WHITE)
        if pic.size != (width, height):
            pic = pic.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        pic.info = {}
        buf = io.BytesIO()
        pic.save(buf, "JPEG", quality=THUMB_JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def _draft_jpeg(img: ImageFile.ImageFile, max_edge: int) -> None:
    # Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding: a 6000x4000 photo then costs a quarter of
    # the decode time and memory, and the final resample still starts from more pixels than it keeps.
    if img.format != "JPEG" or max(img.size) <= max_edge:
        return
    scale = max_edge / max(img.size)
    img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except DECODE_ERRORS:
        # A broken EXIF block should not cost the image; it is dropped from the master anyway.
        return 1
    return value if isinstance(value, int) else 1


def _working_mode(img: Image.Image) -> Image.Image:
    """img in L, LA, RGB, RGBA or CMYK, with 8 bits per channel and transparency as alpha."""
    mode = img.mode
    has_key_colour = "transparency" in img.info
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK") and not has_key_colour:
        return img
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit greyscale spans 0..65535; Pillow's plain conversion would clip it to white.
        return img.point(lambda v: v / 257).convert("L")
    if mode in ("I", "F"):
        return _scaled_to_8_bit(img)
    if mode in ("L", "1") and has_key_colour:
        return img.convert("LA")
    if mode == "1":
        return img.convert("L")
    if mode in ("La", "PA"):
        return img.convert("LA" if mode == "La" else "RGBA")
    if mode == "P":
        return img.convert("RGBA" if has_key_colour else "RGB")
    return img.convert("RGBA" if has_key_colour or "A" in mode or "a" in mode else "RGB")


def _scaled_to_8_bit(img: Image.Image) -> Image.Image:
    # 32-bit integer and float images carry no declared range: take the usual ones (0..1 for float,
    # 8 or 16 bits for integers) and stretch anything larger to fit.
    low, high = img.getextrema()
    assert isinstance(high, int | float) and isinstance(low, int | float)
    if img.mode == "F" and high <= 1.0:
        full_scale = 1.0
    elif high <= 255:
        full_scale = 255.0
    elif high <= 65535:
        full_scale = 65535.0
    else:
        full_scale = float(high)
    factor = 255.0 / full_scale
    return img.point(lambda v: v * factor).convert("L")


def _fit_long_edge(pic: Image.Image, max_edge: int) -> Image.Image:
    size = _fitted(pic.size, max_edge)
    if size == pic.size:
        return pic
    # reducing_gap lets Pillow shrink by whole factors first (box filter) and resample the rest with
    # Lanczos: the same look for a fraction of the cost on large non-JPEG uploads.
    return pic.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


def _to_srgb(pic: Image.Image, icc: bytes | None) -> Image.Image:
    """pic converted to sRGB RGB or RGBA, through its embedded profile when it has a usable one."""
    alpha = pic.getchannel("A") if pic.mode in ("LA", "RGBA") else None
    colour = pic.convert(pic.mode[:-1]) if alpha is not None else pic
    converted = _through_profile(colour, icc) if icc else None
    if converted is None:
        converted = colour.convert("RGB")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _through_profile(colour: Image.Image, icc: bytes) -> Image.Image | None:
    try:
        transform = _transform_to_srgb(icc, colour.mode)
        result = ImageCms.applyTransform(colour, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A profile that does not parse or does not match the pixels (an RGB profile on a CMYK
        # image happens) is ignored, as browsers do.
        return None
    return result


@lru_cache(maxsize=16)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    # Building a transform parses the profile and precomputes tables (milliseconds for CMYK), and
    # uploads from one camera or one agency share the same few profiles.
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, _SRGB, mode, "RGB", ImageCms.Intent.PERCEPTUAL)
