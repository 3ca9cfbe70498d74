"""Small upload files for the library tests: good images of every awkward kind, and bad files."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image

from tests.imaging.samples import animated_gif, cmyk_profile, detailed, encode, png_declaring, quadrant

RED = (220, 20, 30)

# The transpose that makes a picture stored with EXIF orientation n look upright, inverted: applied
# to an upright picture it gives the pixels a camera would have stored.
_STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def jpeg(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG", quality=90)


def distinct_jpeg(n: int, size: tuple[int, int] = (48, 32)) -> bytes:
    """A small JPEG whose bytes differ for every n (so uploads are not duplicates)."""
    return jpeg(size, ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(Image.new("RGB", size, (250, 200, 40)), "PNG")


def oriented_jpeg(orientation: int, size: tuple[int, int] = (80, 48)) -> bytes:
    """An upright quadrant picture (red top-left), stored rotated/flipped with that EXIF orientation."""
    stored = quadrant(size).transpose(_STORED_FOR_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def cmyk_jpeg(*, with_profile: bool, size: tuple[int, int] = (48, 32)) -> bytes:
    """Pure magenta+yellow ink: red, with or without an embedded CMYK profile."""
    img = Image.new("CMYK", size, (0, 255, 255, 0))
    params = {"icc_profile": cmyk_profile()} if with_profile else {}
    return encode(img, "JPEG", quality=95, **params)


def grey16_png(value: int = 32768, size: tuple[int, int] = (40, 30)) -> bytes:
    return encode(Image.new("I;16", size, value), "PNG")


def rgb16_png(rgb: tuple[int, int, int] = (65535, 32768, 0), size: tuple[int, int] = (20, 10)) -> bytes:
    """A 48-bit RGB PNG made by hand (Pillow does not write them)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + struct.pack(">HHH", *rgb) * size[0]
    header = struct.pack(">IIBBBBB", size[0], size[1], 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size[1]))
        + chunk(b"IEND", b"")
    )


def palette_png_with_transparency(size: tuple[int, int] = (40, 20)) -> bytes:
    """Left half transparent (palette index 0), right half red."""
    img = Image.new("P", size, 0)
    img.putpalette([0, 0, 0, *RED] + [0, 0, 0] * 254)
    img.paste(1, (size[0] // 2, 0, size[0], size[1]))
    return encode(img, "PNG", transparency=0)


def gif_frames(colours: list[tuple[int, int, int]], size: tuple[int, int] = (30, 20)) -> bytes:
    return animated_gif(size, colours)


def truncated_jpeg() -> bytes:
    whole = encode(detailed((320, 240)), "JPEG", quality=90)
    return whole[: len(whole) // 2]


def huge_png_tiny_body() -> bytes:
    return png_declaring(100_000, 100_000)


def zip_file() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", jpeg())
    return buf.getvalue()


HTML = b"<!doctype html><html><head><title>x</title></head><body><img src=x onerror=alert(1)></body></html>"
TEXT = b"This is a plain text file that someone named holiday.jpg.\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
