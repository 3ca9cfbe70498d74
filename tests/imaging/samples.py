"""Images, ICC profiles and hand-made files for the imaging tests, all built in memory."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageStat

RED = (220, 20, 30)
WHITE = (255, 255, 255)
D50 = (0.9642, 1.0, 0.8249)
# sRGB primaries adapted to D50 (the ICC connection space), one row per X, Y, Z.
SRGB_TO_XYZ_D50 = (
    (0.4360747, 0.3850649, 0.1430804),
    (0.2225045, 0.7168786, 0.0606169),
    (0.0139322, 0.0971045, 0.7141733),
)
# Adobe RGB (1998) primaries adapted to D50, as (X, Y, Z) per primary.
ADOBE_RGB_PRIMARIES = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
ADOBE_RGB_GAMMA = 563 / 256


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    """img saved in fmt to bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def write(directory: Path, name: str, data: bytes) -> Path:
    """data written to directory/name; the path."""
    path = directory / name
    path.write_bytes(data)
    return path


def detailed(size: tuple[int, int]) -> Image.Image:
    """An RGB picture with gradients and grain, so encoders do real work."""
    horizontal = Image.linear_gradient("L").resize(size).rotate(90, expand=False)
    vertical = Image.linear_gradient("L").resize(size)
    grain = Image.effect_noise(size, 24)
    return Image.merge("RGB", (horizontal, vertical, grain))


def quadrant(size: tuple[int, int] = (200, 120)) -> Image.Image:
    """White with a red top-left quadrant: every flip and rotation of it looks different."""
    img = Image.new("RGB", size, WHITE)
    img.paste(RED, (0, 0, size[0] // 2, size[1] // 2))
    return img


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """An image whose left half is one colour and right half another."""
    img = Image.new("RGB", size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def mean(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> tuple[float, ...]:
    """Mean of each band of img (or of box in it)."""
    region = img.crop(box) if box else img
    return tuple(ImageStat.Stat(region).mean)


def pixel(img: Image.Image, xy: tuple[int, int]) -> tuple[float, ...]:
    """The bands of one pixel of img."""
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return tuple(float(band) for band in value)


def brightest(img: Image.Image) -> float:
    """The highest value in a single-band image."""
    low, high = img.getextrema()
    assert isinstance(high, int | float)
    return float(high)


def close(actual: tuple[float, ...], expected: tuple[float, ...], tolerance: float) -> bool:
    """Whether every band of actual is within tolerance of expected."""
    return len(actual) == len(expected) and all(
        abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)
    )


def opened(data: bytes) -> Image.Image:
    """data decoded, with its info, as a loaded image."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def gps_exif(orientation: int | None = None) -> Image.Exif:
    """EXIF with a camera make, a GPS position and optionally an orientation."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 0.0)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 0.0)
    return exif


def animated_gif(size: tuple[int, int], colours: list[tuple[int, int, int]]) -> bytes:
    """A GIF with one frame per colour."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels but whose data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def make_logo(size: tuple[int, int] = (300, 100), colour: tuple[int, int, int] = (0, 160, 60)) -> bytes:
    """A PNG logo: an opaque coloured block inside a transparent border."""
    img = Image.new("RGBA", size, colour + (0,))
    border = min(size) // 10
    inner = (border, border, size[0] - 1 - border, size[1] - 1 - border)
    ImageDraw.Draw(img).rectangle(inner, fill=colour + (255,))
    return encode(img, "PNG")


# ICC profiles (version 2), enough for LittleCMS to convert from them.


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # ASCII description, then empty Unicode and ScriptCode parts.
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(8 + 3 + 67)


def _gamma(value: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(value * 256))


def _profile(device_class: bytes, space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_end = 128 + 4 + 12 * len(tags)
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, data in tags:
        body += bytes(-(table_end + len(body)) % 4)
        table += signature + struct.pack(">II", table_end + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", table_end + len(body))
        + bytes(4)
        + struct.pack(">I", 0x02100000)
        + device_class
        + space
        + b"XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + _s15(D50[0])
        + _s15(D50[1])
        + _s15(D50[2])
        + bytes(48)
    )
    return header + table + body


def rgb_profile(primaries: tuple[tuple[float, float, float], ...], gamma: float) -> bytes:
    """A matrix/curve RGB profile with the given D50 primaries and a plain gamma."""
    tags = [(b"desc", _desc("test RGB")), (b"wtpt", _xyz(*D50))]
    tags += [(name, _xyz(*xyz)) for name, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True)]
    tags += [(name, _gamma(gamma)) for name in (b"rTRC", b"gTRC", b"bTRC")]
    return _profile(b"mntr", b"RGB ", tags)


def srgb_primaries() -> tuple[tuple[float, float, float], ...]:
    """sRGB's primaries as (X, Y, Z) each."""
    (rx, gx, bx), (ry, gy, by), (rz, gz, bz) = SRGB_TO_XYZ_D50
    return (rx, ry, rz), (gx, gy, gz), (bx, by, bz)


def grey_profile(gamma: float) -> bytes:
    """A greyscale profile with a plain gamma."""
    tags = [(b"desc", _desc("test grey")), (b"wtpt", _xyz(*D50)), (b"kTRC", _gamma(gamma))]
    return _profile(b"mntr", b"GRAY", tags)


Corner = tuple[int, int, int, int]


def cmyk_profile(overrides: dict[Corner, tuple[float, float, float]] | None = None) -> bytes:
    """A CMYK printer profile: R = (1-C)(1-K) and so on, except ink corners given (as sRGB) in overrides."""
    overrides = overrides or {}
    grid = b""
    for c, m, y, k in itertools.product((0, 1), repeat=4):
        rgb = overrides.get((c, m, y, k), ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)))
        for value in _srgb_to_xyz(rgb):
            grid += struct.pack(">H", min(0xFFFF, round(value * 32768)))
    identity = b"".join(_s15(1.0 if row == col else 0.0) for row in range(3) for col in range(3))
    linear = struct.pack(">HH", 0, 0xFFFF)
    lut = b"mft2" + bytes(4) + bytes([4, 3, 2, 0]) + identity + struct.pack(">HH", 2, 2)
    lut += linear * 4 + grid + linear * 3
    return _profile(b"prtr", b"CMYK", [(b"desc", _desc("test CMYK")), (b"wtpt", _xyz(*D50)), (b"A2B0", lut)])


def _srgb_to_xyz(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x, y, z = (sum(row[i] * linear[i] for i in range(3)) for row in SRGB_TO_XYZ_D50)
    return x, y, z
