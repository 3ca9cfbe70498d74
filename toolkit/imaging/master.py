"""The master: an upright, sRGB, metadata-free copy of an upload, small enough to render from quickly.

It is made once, when the image is uploaded, so that the thousands of share-ready renditions made
later never decode the (possibly 50 MB, CMYK, rotated) original.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageCms, ImageFile

from toolkit.errors import Invalid
from toolkit.imaging.inspect import DAMAGED, DECODE_ERRORS, open_image, quiet_pixel_guard
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

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Master:
    """The stored master: JPEG (baseline, quality 90), or PNG when the image has transparency; and
    tiles, the same pixels cut up for fast rendering (toolkit.imaging.tiles)."""

    data: bytes
    content_type: str
    width: int
    height: int
    tiles: bytes


def make_master(path: str | os.PathLike[str], *, max_edge: int = MASTER_MAX_EDGE) -> Master:
    """The master of an accepted upload: first frame, upright, sRGB, long edge <= max_edge, no metadata."""
    with open(path, "rb") as fp, quiet_pixel_guard():
        _, img = open_image(fp)
        with img:
            _draft_jpeg(img, max_edge)
            try:
                img.load()
                orientation = _orientation(img)
                icc = img.info.get("icc_profile") or None
                pic = _working_mode(img)
            except DECODE_ERRORS:
                raise Invalid(DAMAGED) from None
            pic = _fit_long_edge(pic, max_edge)
            pic = _to_srgb(pic, icc)
    if orientation in _TRANSPOSE_FOR_ORIENTATION:
        pic = pic.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
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
    long_edge = max(pic.size)
    if long_edge <= max_edge:
        return pic
    scale = max_edge / long_edge
    size = (max(1, round(pic.width * scale)), max(1, round(pic.height * scale)))
    # reducing_gap lets Pillow shrink by whole factors first (box filter) and resample the rest with
    # Lanczos: the same look for a fraction of the cost on large non-JPEG uploads.
    return pic.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


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
