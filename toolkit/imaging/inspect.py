"""Upload validation: what an uploaded file really is, and whether it is safe and sound to process.

The type is decided from the file's first bytes, never from its name or the browser's claim, and the
pixel limit is checked from the header before any pixel is decoded, so a small file that declares an
enormous canvas is refused without allocating memory for it.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from PIL import (
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from toolkit.errors import N_, Invalid, UnsupportedMedia

SUPPORTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff")

EMPTY = N_("The file is empty.")
DAMAGED = N_("The image is damaged or incomplete.")
TOO_MANY_PIXELS = N_("The image has %(pixels)s pixels; the limit is %(limit)s.")
NOT_AN_IMAGE = N_("This file type is not supported. Upload a JPEG, PNG, WebP, GIF or TIFF image.")
SVG_NOT_SUPPORTED = N_("SVG is not supported yet. Export the image as PNG and upload that.")

# Enough for every magic number and for an SVG's XML prolog and comments before <svg.
_HEAD_BYTES = 4096

# What Pillow raises on a corrupt or truncated file; Image.open itself treats the last four as
# "not this format", and decoders report truncation as OSError.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
)

_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "image/jpeg": JpegImagePlugin.JpegImageFile,
    "image/png": PngImagePlugin.PngImageFile,
    "image/webp": WebPImagePlugin.WebPImageFile,
    "image/gif": GifImagePlugin.GifImageFile,
    "image/tiff": TiffImagePlugin.TiffImageFile,
}

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted upload is: its sniffed type, size, frame count and whether it has transparency."""

    content_type: str
    width: int
    height: int
    frames: int
    has_alpha: bool


def sniff_content_type(head: bytes) -> str | None:
    """The supported image type announced by a file's first bytes, or None when it is none of them."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # Classic TIFF (42) and BigTIFF (43), in both byte orders.
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    return None


def inspect_upload(path: str | os.PathLike[str], *, max_pixels: int) -> ImageInfo:
    """Check an uploaded file and describe it; UnsupportedMedia or Invalid when it cannot be used.

    All frames count towards max_pixels. Only the first frame is decoded, to prove the file is whole.
    Uploads go through toolkit.imaging.master.process_upload instead, which makes these checks
    and the master from a single, budgeted decode.
    """
    with open(path, "rb") as fp, quiet_pixel_guard():
        content_type, head = sniff(fp)
        if content_type == "image/webp":
            # Pillow's WebP reader allocates the whole canvas when it opens the file.
            canvas = webp_canvas_size(head)
            if canvas is not None:
                check_pixels(canvas[0] * canvas[1], max_pixels)
        img = construct(content_type, fp)
        with img:
            frames = check_frames(img, max_pixels)
            # Decoding the first frame is the only proof that the data is all there; it relies on
            # Pillow's default of refusing truncated files (ImageFile.LOAD_TRUNCATED_IMAGES False).
            try:
                img.load()
            except DECODE_ERRORS:
                raise Invalid(DAMAGED) from None
            return describe(content_type, img, frames)


def sniff(fp: IO[bytes]) -> tuple[str, bytes]:
    """The file's type from its first bytes, and those bytes; fp is left at its start.

    Invalid for an empty file, UnsupportedMedia for anything that is not a supported image.
    """
    head = fp.read(_HEAD_BYTES)
    content_type = _content_type(head)
    fp.seek(0)
    return content_type, head


def construct(content_type: str, fp: IO[bytes]) -> ImageFile.ImageFile:
    """The image of that type read lazily from fp: its header is parsed, no pixel is decoded
    (except for WebP, whose reader decodes into a canvas as it opens: see webp_canvas_size)."""
    return _construct(content_type, fp)


def check_frames(img: ImageFile.ImageFile, max_pixels: int) -> int:
    """How many frames (pages) img has, once its first frame and all of them together are within
    max_pixels. Frames are counted from their headers, without decoding them."""
    width, height = img.size
    check_pixels(width * height, max_pixels)
    try:
        frames = int(getattr(img, "n_frames", 1))
    except DECODE_ERRORS:
        raise Invalid(DAMAGED) from None
    check_pixels(width * height * frames, max_pixels)
    return frames


def describe(content_type: str, img: Image.Image, frames: int) -> ImageInfo:
    """What an accepted upload is, from its opened (and decoded) first frame."""
    has_alpha = img.mode in _ALPHA_MODES or "transparency" in img.info
    return ImageInfo(content_type, img.width, img.height, frames, has_alpha)


def open_image(fp: IO[bytes]) -> tuple[str, ImageFile.ImageFile]:
    """Open an image file lazily as its sniffed type: (content type, image); nothing is decoded yet.

    Call it inside quiet_pixel_guard() on files that inspect_upload has accepted.
    """
    content_type, _ = sniff(fp)
    return content_type, _construct(content_type, fp)


@contextmanager
def quiet_pixel_guard() -> Iterator[None]:
    """Silence Pillow's decompression-bomb warning and turn its error into Invalid.

    Callers enforce the configured pixel limit themselves, before decoding; Pillow's fixed
    process-wide guard would otherwise warn about images the operator chose to allow.
    catch_warnings swaps the process-wide filter list, so two threads racing here can at worst
    leave this one "ignore" in place, which only hides a warning that is handled here anyway.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError:
            raise Invalid(N_("The image has too many pixels to process.")) from None


def webp_canvas_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size declared in a WebP file's first 30 bytes, or None when the header does not say."""
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _content_type(head: bytes) -> str:
    if not head:
        raise Invalid(EMPTY)
    content_type = sniff_content_type(head)
    if content_type is None:
        if _looks_like_svg(head):
            raise UnsupportedMedia(SVG_NOT_SUPPORTED)
        raise UnsupportedMedia(NOT_AN_IMAGE)
    return content_type


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and b"<svg" in text


def _construct(content_type: str, fp: IO[bytes]) -> ImageFile.ImageFile:
    # The plugin class is used directly, not Image.open: the type is already known from the bytes,
    # and Image.open would run Pillow's own pixel check (warning or raising) before ours.
    try:
        return _PLUGINS[content_type](fp)
    except DECODE_ERRORS:
        raise Invalid(DAMAGED) from None


def check_pixels(pixels: int, limit: int) -> None:
    """Invalid when pixels (of one frame, or of all frames together) pass the limit."""
    if pixels > limit:
        raise Invalid(TOO_MANY_PIXELS, pixels=pixels, limit=limit)
