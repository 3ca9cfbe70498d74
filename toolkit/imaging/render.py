"""Share-ready images: a master cropped to a network's size, with the brand's logo and headline on it."""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from toolkit.errors import N_, Invalid
from toolkit.imaging.inspect import DECODE_ERRORS
from toolkit.imaging.pixels import flatten
from toolkit.imaging.presets import Preset
from toolkit.imaging.tiles import Tiled, is_tiled

FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
WATERMARK_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")

# Enlarging further than this shows soft, blocky pictures; a smaller image on a plain canvas is better.
MAX_UPSCALE = 1.5
# The headline band grows with the text between these shares of the image height.
BAND_MIN_SHARE = 0.18
BAND_MAX_SHARE = 0.28
HEADLINE_MAX_LINES = 3
# A logo never covers more than this share of the image height, however tall its shape.
LOGO_MAX_HEIGHT_SHARE = 0.25
# Speed over the last few per cent of size: renditions are cached and made on demand.
PNG_COMPRESS_LEVEL = 3
WEBP_METHOD = 2

# Pillow widens the bicubic kernel with the scale factor, so reductions stay antialiased; next to
# Lanczos the difference is a hair of sharpness, and on a 2560 px master bicubic saved 5-30 ms per
# rendition (bench/bench_render.py), which is what keeps the larger presets near 60 ms. When
# enlarging, Lanczos only adds halos, so bicubic is the better filter there too.
_REDUCE = Image.Resampling.BICUBIC
_ENLARGE = Image.Resampling.BICUBIC
# Resampling is the costliest step; split across cores when each strip has enough work to beat the
# cost of handing it over.
_WORKERS = min(4, os.cpu_count() or 1)
_STRIP_PIXELS = 300_000
_LINE_SPACING = 1.2
_MAX_COMMENT_BYTES = 60_000
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Look:
    """How share images are dressed: colours, logo placement, encoder qualities and headline font."""

    background: tuple[int, int, int] = (255, 255, 255)
    brand_colour: tuple[int, int, int] = (0, 82, 147)
    text_colour: tuple[int, int, int] = (255, 255, 255)
    watermark_position: str = "bottom-right"
    watermark_margin: float = 0.03
    watermark_scale: float = 0.18
    watermark_opacity: float = 0.85
    jpeg_quality: int = 85
    webp_quality: int = 82
    font: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Rendition:
    """An encoded share image; low_resolution when the master was too small to fill the preset."""

    data: bytes
    content_type: str
    width: int
    height: int
    low_resolution: bool


def render_share_image(
    source: bytes,
    preset: Preset,
    fmt: str,
    *,
    look: Look,
    focal: tuple[float, float] | None = None,
    logo: bytes | None = None,
    headline: str | None = None,
    description: str | None = None,
) -> Rendition:
    """A share-ready image of source in the preset's size and fmt (jpeg, png, webp), with logo and headline.

    source is a master or, faster, its tiles (toolkit.imaging.tiles). focal is (x, y) as shares of
    the source's width and height; None is the centre. description is
    alt text carried inside the file (JPEG comment, PNG "Description" text, WebP XMP), never as EXIF.
    """
    if fmt not in FORMATS:
        raise Invalid(
            N_("Unknown image format %(format)s. Choose one of: %(formats)s."),
            format=fmt,
            formats=", ".join(FORMATS),
        )
    if look.watermark_position not in WATERMARK_POSITIONS:
        raise Invalid(
            N_("Unknown logo position %(position)s. Choose one of: %(positions)s."),
            position=look.watermark_position,
            positions=", ".join(WATERMARK_POSITIONS),
        )
    size = (preset.width, preset.height)
    # JPEG has no transparency: flatten before resampling, which is then cheaper (RGB) and equal.
    picture, low_resolution = _cropped(source, size, focal, look.background if fmt == "jpeg" else None)
    keep_alpha = picture.mode == "RGBA"
    canvas = picture
    if picture.size != size:
        fill = look.background + (255,) if keep_alpha else look.background
        canvas = Image.new(picture.mode, size, fill)
        canvas.paste(picture, ((size[0] - picture.width) // 2, (size[1] - picture.height) // 2))
    band_height = 0
    if headline and headline.strip():
        band_height = _draw_headline(canvas, headline, look)
    if logo is not None:
        _place_logo(canvas, logo, look, band_height)
    return Rendition(_encode(canvas, fmt, look, description), FORMATS[fmt], size[0], size[1], low_resolution)


def _cropped(
    source: bytes,
    size: tuple[int, int],
    focal: tuple[float, float] | None,
    background: tuple[int, int, int] | None,
) -> tuple[Image.Image, bool]:
    """The part of source (a master, or its tiles) shown at size, scaled, as RGB(A); and whether it
    fell short of filling size.

    With a background, transparency is flattened onto it and the result is RGB.
    """
    if is_tiled(source):
        tiled = Tiled.parse(source)
        view = _View.of(tiled.size, size, focal)
        reduce = _reduction(tiled.size, view.scale)
        picture, origin = tiled.region(view.region(tiled.size, reduce), reduce, _pool(), background)
        return _resized(picture, view.out, view.box_in(origin, 1 / reduce)), view.low_resolution
    with Image.open(io.BytesIO(source), formats=("JPEG", "PNG")) as img:
        view = _View.of(img.size, size, focal)
        src_w, src_h = img.size
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale almost for free; ask for the smallest one
        # that still holds at least the output's pixels over the crop.
        drafted = img.draft(img.mode, (math.ceil(src_w * view.scale), math.ceil(src_h * view.scale)))
        factor = drafted[1][2] / src_w if drafted else 1.0
        img.load()
        picture = _resized(_plain(img, background), view.out, view.box_in((0, 0), factor))
    return picture, view.low_resolution


@dataclass(frozen=True)
class _View:
    """Which part of the source a rendition shows (box, in source pixels), at which scale and size."""

    box: tuple[float, float, float, float]
    scale: float
    out: tuple[int, int]
    low_resolution: bool

    @classmethod
    def of(cls, source: tuple[int, int], size: tuple[int, int], focal: tuple[float, float] | None) -> _View:
        src_w, src_h = source
        width, height = size
        # The largest box of the output's shape that fits the source decides the scale.
        crop_w = min(src_w, src_h * width / height)
        scale = min(width / crop_w, MAX_UPSCALE)
        low_resolution = width / crop_w > MAX_UPSCALE
        # When the scale is capped the canvas has room to spare, so show more of the source, not less.
        view_w = min(src_w, width / scale)
        view_h = min(src_h, height / scale)
        fx, fy = _focal(focal)
        left = _clamp(fx * src_w - view_w / 2, 0.0, src_w - view_w)
        top = _clamp(fy * src_h - view_h / 2, 0.0, src_h - view_h)
        out = (
            (min(width, round(view_w * scale)), min(height, round(view_h * scale)))
            if low_resolution
            else size
        )
        return cls((left, top, left + view_w, top + view_h), scale, out, low_resolution)

    def box_in(self, origin: tuple[int, int], factor: float) -> tuple[float, float, float, float]:
        """box in the pixels of a picture that starts at origin of the source and is factor its scale."""
        left, top, right, bottom = self.box
        x, y = origin
        return ((left - x) * factor, (top - y) * factor, (right - x) * factor, (bottom - y) * factor)

    def region(self, source: tuple[int, int], reduce: int) -> tuple[int, int, int, int]:
        """The whole source pixels the resampling reads: the box and the filter's reach around it."""
        # Bicubic reads two pixels either side at 1:1, and proportionally more when reducing.
        reach = math.ceil(reduce * (2 / min(1.0, self.scale * reduce) + 1))
        left, top, right, bottom = self.box
        return (
            max(0, math.floor(left) - reach),
            max(0, math.floor(top) - reach),
            min(source[0], math.ceil(right) + reach),
            min(source[1], math.ceil(bottom) + reach),
        )


def _reduction(source: tuple[int, int], scale: float) -> int:
    """The decode scale libjpeg's draft mode would pick: 1/1 to 1/8, never fewer pixels than needed."""
    src_w, src_h = source
    ratio = min(src_w // math.ceil(src_w * scale), src_h // math.ceil(src_h * scale))
    return next((reduce for reduce in (8, 4, 2) if reduce <= ratio), 1)


def _plain(img: Image.Image, background: tuple[int, int, int] | None) -> Image.Image:
    # Masters are RGB or RGBA; anything else handed in is brought to one of those.
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    return flatten(img, background) if background is not None else img


def _resized(img: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image:
    """box of img resampled to size, in horizontal strips on all cores when it is big enough to pay."""
    width, height = size
    left, top, right, bottom = box
    resample = _REDUCE if width < right - left else _ENLARGE
    strips = min(_WORKERS, width * height // _STRIP_PIXELS)
    if strips < 2:
        return img.resize(size, resample, box=box)
    rows = [round(height * i / strips) for i in range(strips + 1)]
    step = (bottom - top) / height

    # Each output row depends only on its own source rows, so strips resampled apart join seamlessly.
    def strip(i: int) -> Image.Image:
        region = (left, top + rows[i] * step, right, top + rows[i + 1] * step)
        return img.resize((width, rows[i + 1] - rows[i]), resample, box=region)

    others = [_pool().submit(strip, i) for i in range(1, strips)]
    result = Image.new(img.mode, size)
    result.paste(strip(0), (0, 0))
    for i, future in enumerate(others, start=1):
        result.paste(future.result(), (0, rows[i]))
    return result


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    # Made on first use and again after a fork: a pool inherited from a parent process has no threads.
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=max(1, _WORKERS - 1), thread_name_prefix="render")
    return _executor


def _forget_pool() -> None:
    global _executor
    _executor = None


os.register_at_fork(after_in_child=_forget_pool)


def _focal(focal: tuple[float, float] | None) -> tuple[float, float]:
    if focal is None:
        return 0.5, 0.5
    x, y = focal
    # Focal points come from stored metadata; a stray value should move the crop, not fail it.
    return _share(x), _share(y)


def _share(value: float) -> float:
    return _clamp(value, 0.0, 1.0) if math.isfinite(value) else 0.5


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def _draw_headline(canvas: Image.Image, headline: str, look: Look) -> int:
    """Draw the headline band across the bottom of canvas; return the band's height."""
    width, height = canvas.size
    pad_x = round(width * 0.05)
    pad_y = round(height * 0.03)
    min_band = round(height * BAND_MIN_SHARE)
    max_band = round(height * BAND_MAX_SHARE)
    blob = _Blob(_digest(look.font) if look.font is not None else None, look.font)
    font, size, lines = _fit_text(
        " ".join(_drawable(headline, blob).split()),
        blob,
        width - 2 * pad_x,
        max_band - 2 * pad_y,
        start=min(0.8 * (min_band - 2 * pad_y), 0.07 * width),
        smallest=max(10.0, height * 0.02),
    )
    line_height = round(size * _LINE_SPACING)
    block = line_height * len(lines)
    band = min(max_band, max(min_band, block + 2 * pad_y))
    top = height - band
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, top, width, height), fill=_colour(canvas, look.brand_colour))
    y = top + (band - block) / 2 + line_height / 2
    for line in lines:
        draw.text((pad_x, y), line, font=font, fill=_colour(canvas, look.text_colour), anchor="lm")
        y += line_height
    return band


def _colour(canvas: Image.Image, rgb: tuple[int, int, int]) -> tuple[int, ...]:
    return rgb + (255,) if canvas.mode == "RGBA" else rgb


def _fit_text(
    text: str, blob: _Blob, max_width: int, max_height: int, *, start: float, smallest: float
) -> tuple[_Font, int, list[str]]:
    """The largest font (from start down to smallest) at which text wraps into the box: font, size, lines."""
    wanted = max(start, smallest)
    while True:
        size = round(wanted)
        font = _font(blob, size)
        lines = _wrap(text, font, max_width)
        fits = len(lines) <= HEADLINE_MAX_LINES and round(size * _LINE_SPACING) * len(lines) <= max_height
        if fits or wanted <= smallest:
            break
        wanted = max(smallest, wanted * 0.9)
    if len(lines) > HEADLINE_MAX_LINES:
        lines = lines[:HEADLINE_MAX_LINES]
        lines[-1] = _ellipsize(lines[-1], font, max_width, "…" if _has_glyph(blob, "…") else "...")
    return font, size, lines


def _wrap(text: str, font: _Font, max_width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        # A single word wider than the line (a long URL, a German compound) is broken where it must.
        while font.getlength(word) > max_width and len(word) > 1:
            cut = _longest_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _longest_prefix(word: str, font: _Font, max_width: int) -> int:
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(word[:mid]) <= max_width:
            low = mid
        else:
            high = mid - 1
    return low


def _ellipsize(line: str, font: _Font, max_width: int, ellipsis: str) -> str:
    while line and font.getlength(line + ellipsis) > max_width:
        line = line[:-1]
    return line.rstrip() + ellipsis


def _drawable(text: str, blob: _Blob) -> str:
    """text with each character the font cannot draw replaced by a plain look-alike, or left out.

    Pillow's built-in font has no accented letters, dashes or currency signs; an empty box in a
    headline looks broken, "Cafe" does not.
    """
    result = []
    for char in text:
        if _has_glyph(blob, char):
            result.append(char)
            continue
        stand_in = _STAND_INS.get(char) or "".join(
            part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part)
        )
        if stand_in != char and all(_has_glyph(blob, part) for part in stand_in):
            result.append(stand_in)
    return "".join(result)


_STAND_INS = {
    "—": "-", "–": "-", "‐": "-", "‑": "-", "‘": "'", "’": "'",
    "‚": ",", "“": '"', "”": '"', "„": '"', "…": "...", "•": "-",
    "€": "EUR", "£": "GBP", "×": "x", "→": "->", " ": " ", "®": "(R)",
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe",
}
_PROBE_SIZE = 24
# A private-use code point: no font draws it, so it shows what the font's "missing glyph" box looks like.
_NO_SUCH_CHARACTER = "􏿽"


@lru_cache(maxsize=4096)
def _has_glyph(blob: _Blob, char: str) -> bool:
    if char.isspace():
        return True
    font = _font(blob, _PROBE_SIZE)
    return _ink(font, char) != _ink(font, _NO_SUCH_CHARACTER)


def _ink(font: _Font, text: str) -> bytes:
    img = Image.new("L", (_PROBE_SIZE * 3, _PROBE_SIZE * 2))
    ImageDraw.Draw(img).text((0, 0), text, font=font, fill=255)
    return img.tobytes()


@dataclass(frozen=True)
class _Blob:
    """Bytes for a cache key: compared and hashed by digest, so big blobs are hashed once per call."""

    digest: bytes | None
    data: bytes | None = field(compare=False, hash=False)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


@lru_cache(maxsize=64)
def _font(blob: _Blob, size: int) -> _Font:
    # Parsing a TrueType file costs milliseconds; headlines are set in few fonts and sizes.
    if blob.data is None:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(io.BytesIO(blob.data), size=size)
    except OSError:
        raise Invalid(N_("The headline font is not a usable TrueType or OpenType font.")) from None


def _place_logo(canvas: Image.Image, logo: bytes, look: Look, band_height: int) -> None:
    width, height = canvas.size
    target_width = max(1, round(width * _clamp(look.watermark_scale, 0.0, 1.0)))
    max_height = max(1, round(height * LOGO_MAX_HEIGHT_SHARE))
    opacity = _clamp(look.watermark_opacity, 0.0, 1.0)
    mark = _prepared_logo(_Blob(_digest(logo), logo), target_width, max_height, round(opacity * 255))
    margin = round(width * look.watermark_margin)
    # At the bottom, the logo sits above the headline band rather than on it.
    usable_height = height - band_height
    position = look.watermark_position
    if position == "center":
        x, y = (width - mark.width) // 2, (usable_height - mark.height) // 2
    else:
        vertical, horizontal = position.split("-")
        x = margin if horizontal == "left" else width - margin - mark.width
        y = margin if vertical == "top" else usable_height - margin - mark.height
    # A huge margin or a tall band must not push the logo off the canvas.
    x, y = max(0, min(x, width - mark.width)), max(0, min(y, height - mark.height))
    if canvas.mode == "RGBA":
        canvas.alpha_composite(mark, (x, y))
    else:
        canvas.paste(mark, (x, y), mark)


@lru_cache(maxsize=32)
def _prepared_logo(blob: _Blob, target_width: int, max_height: int, alpha: int) -> Image.Image:
    """The logo decoded, scaled and faded: the same few logos go on thousands of images."""
    assert blob.data is not None
    try:
        with Image.open(io.BytesIO(blob.data)) as img:
            mark = img.convert("RGBA")
    except DECODE_ERRORS:
        raise Invalid(N_("The logo is not a usable image.")) from None
    scale = min(target_width / mark.width, max_height / mark.height)
    size = (max(1, round(mark.width * scale)), max(1, round(mark.height * scale)))
    mark = mark.resize(size, _REDUCE if size[0] < mark.width else _ENLARGE, reducing_gap=3.0)
    if alpha < 255:
        mark.putalpha(mark.getchannel("A").point(lambda a: a * alpha // 255))
    return mark


def _encode(canvas: Image.Image, fmt: str, look: Look, description: str | None) -> bytes:
    # Nothing from the master's info (EXIF, ICC, comments) may reach the download.
    canvas.info = {}
    text = _clean(description) if description else ""
    with _encoder_file() as buf:
        if fmt == "jpeg":
            # A JPEG comment segment holds at most 64 KB; cut on a character boundary well below that.
            comment = text.encode("utf-8")[:_MAX_COMMENT_BYTES].decode("utf-8", "ignore").encode()
            canvas.save(
                buf, "JPEG", quality=look.jpeg_quality, progressive=True, optimize=False, comment=comment
            )
        elif fmt == "png":
            info = PngImagePlugin.PngInfo()
            if text:
                info.add_text("Description", text)
            canvas.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)
        else:
            xmp = _xmp(text) if text else b""
            canvas.save(buf, "WEBP", quality=look.webp_quality, method=WEBP_METHOD, xmp=xmp)
        buf.seek(0)
        return buf.read()


def _encoder_file() -> IO[bytes]:
    """An in-memory file with a descriptor to encode into.

    Pillow's JPEG encoder holds the GIL while it writes to a BytesIO and releases it while it writes
    to a file descriptor, so only the latter lets renditions in other threads use the other cores.
    """
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("rendition", os.MFD_CLOEXEC), "w+b")
    return tempfile.TemporaryFile()


def _clean(text: str) -> str:
    # Control characters are not allowed in XML and have no business in alt text anyway.
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n").strip()


def _xmp(description: str) -> bytes:
    """An XMP packet carrying description as dc:description and IPTC accessibility alt text."""
    value = escape(description)
    alt = f'<rdf:Alt><rdf:li xml:lang="x-default">{value}</rdf:li></rdf:Alt>'
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">'
        f"<dc:description>{alt}</dc:description>"
        f"<Iptc4xmpCore:AltTextAccessibility>{alt}</Iptc4xmpCore:AltTextAccessibility>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    ).encode()
