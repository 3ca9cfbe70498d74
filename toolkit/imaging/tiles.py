"""The render source: a master cut into independently coded tiles, so a rendition decodes only the
part of the picture it shows, on every core.

A share image of a 2560 px master shows 40-100% of it: a portrait crop of a landscape photo needs a
column of it, a 16:9 crop of a 3:2 photo drops a band at top and bottom. One JPEG has to be decoded
whole, on one core; tiles are decoded only where they meet the crop, side by side in threads
(Pillow's decoders release the GIL). Transparency is kept as a lossless alpha plane beside JPEG
colour, because decoding a 2560 px RGBA PNG costs more than the rest of a rendition together.

Layout of the blob (one object, read in one request): MAGIC, a 4-byte big-endian header length, a
JSON header {width, height, tile, alpha, parts: [[offset, length], ...]}, then the parts: per tile,
row by row, its colour (JPEG) and, when alpha is true, its alpha plane (PNG, mode L).
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass

from PIL import Image

from toolkit.imaging.pixels import flatten

REVISION = 1
MAGIC = b"TKTILES%d" % REVISION
TILE = 512
# Tiles are the first encoding of the master's pixels (made with it), so they keep its quality.
TILE_JPEG_QUALITY = 90
# Alpha planes are mostly runs of 0 and 255: fast zlib levels decode fastest at nearly the same size.
ALPHA_PNG_COMPRESS_LEVEL = 1
# Transparent parts get the colour of nearby visible pixels (averaged over cells this size), so
# JPEG blocks on an edge see no hard step to a made-up fill colour and show no ringing.
_BLEED_CELL = 8
_HEADER = struct.Struct(">I")


def is_tiled(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def make_tiles(pic: Image.Image) -> bytes:
    """The render source of a master picture (RGB, or RGBA with something transparent in it)."""
    if pic.mode not in ("RGB", "RGBA"):
        raise ValueError(f"tiles are made from RGB or RGBA pictures, not {pic.mode}")
    alpha = pic.getchannel("A") if pic.mode == "RGBA" else None
    colour = _bled(pic, alpha) if alpha is not None else pic
    colour.info = {}
    parts: list[bytes] = []
    for box in _boxes(pic.width, pic.height):
        buf = io.BytesIO()
        colour.crop(box).save(buf, "JPEG", quality=TILE_JPEG_QUALITY)
        parts.append(buf.getvalue())
        if alpha is not None:
            buf = io.BytesIO()
            alpha.crop(box).save(buf, "PNG", compress_level=ALPHA_PNG_COMPRESS_LEVEL)
            parts.append(buf.getvalue())
    offsets = []
    position = 0
    for part in parts:
        offsets.append([position, len(part)])
        position += len(part)
    header = json.dumps(
        {
            "width": pic.width,
            "height": pic.height,
            "tile": TILE,
            "alpha": alpha is not None,
            "parts": offsets,
        },
        separators=(",", ":"),
    ).encode()
    return b"".join([MAGIC, _HEADER.pack(len(header)), header, *parts])


def tiles_from_master(master: bytes) -> bytes:
    """The render source of a stored master (JPEG or PNG), for assets uploaded before tiles existed."""
    with Image.open(io.BytesIO(master), formats=("JPEG", "PNG")) as img:
        pic = img.convert("RGBA" if img.mode == "RGBA" else "RGB")
    return make_tiles(pic)


@dataclass(frozen=True)
class Tiled:
    """A parsed render source: sizes and where each tile's parts lie in the blob."""

    data: memoryview
    width: int
    height: int
    tile: int
    alpha: bool
    parts: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, data: bytes) -> Tiled:
        if not is_tiled(data):
            raise ValueError("not a tiled render source")
        start = len(MAGIC) + _HEADER.size
        (length,) = _HEADER.unpack_from(data, len(MAGIC))
        header = json.loads(data[start : start + length])
        body = start + length
        parts = tuple((body + offset, size) for offset, size in header["parts"])
        tiled = cls(
            memoryview(data), header["width"], header["height"], header["tile"], header["alpha"], parts
        )
        if len(parts) != tiled.columns * tiled.rows * (2 if tiled.alpha else 1):
            raise ValueError("tiled render source has the wrong number of parts")
        return tiled

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def columns(self) -> int:
        return math.ceil(self.width / self.tile)

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.tile)

    def region(
        self,
        box: tuple[int, int, int, int],
        reduce: int,
        pool: Executor | None,
        background: tuple[int, int, int] | None = None,
    ) -> tuple[Image.Image, tuple[int, int]]:
        """The tiles covering box (in source pixels), decoded at 1/reduce scale (1, 2, 4 or 8) and
        joined: an RGB or RGBA picture, and the source position of its top-left corner.

        With a background, transparency is flattened onto it (tile by tile, in parallel) and the
        picture is RGB.
        """
        left, top, right, bottom = box
        first_col, last_col = left // self.tile, (right - 1) // self.tile
        first_row, last_row = top // self.tile, (bottom - 1) // self.tile
        origin = (first_col * self.tile, first_row * self.tile)
        span_w = min(self.width, (last_col + 1) * self.tile) - origin[0]
        span_h = min(self.height, (last_row + 1) * self.tile) - origin[1]
        mode = "RGBA" if self.alpha and background is None else "RGB"
        canvas = Image.new(mode, (_scaled(span_w, reduce), _scaled(span_h, reduce)))
        cells = [
            (col, row) for row in range(first_row, last_row + 1) for col in range(first_col, last_col + 1)
        ]

        def place(cell: tuple[int, int]) -> None:
            col, row = cell
            picture = self._tile(col, row, reduce)
            if background is not None:
                picture = flatten(picture, background)
            offset = ((col * self.tile - origin[0]) // reduce, (row * self.tile - origin[1]) // reduce)
            canvas.paste(picture, offset)

        _run_all(place, cells, pool)
        return canvas, origin

    def _tile(self, col: int, row: int, reduce: int) -> Image.Image:
        index = row * self.columns + col
        width = min(self.tile, self.width - col * self.tile)
        height = min(self.tile, self.height - row * self.tile)
        wanted = (_scaled(width, reduce), _scaled(height, reduce))
        step = 2 if self.alpha else 1
        # No context manager: closing an image frees its pixels, and these are in-memory reads.
        colour: Image.Image = Image.open(io.BytesIO(self._part(index * step)), formats=("JPEG",))
        if reduce > 1:
            colour.draft("RGB", (max(1, width // reduce), max(1, height // reduce)))
        colour.load()
        # libjpeg picks its own scale for tiles a few pixels wide; bring them in line with the rest.
        if colour.size != wanted:
            colour = colour.resize(wanted, Image.Resampling.BOX)
        if not self.alpha:
            return colour
        alpha: Image.Image = Image.open(io.BytesIO(self._part(index * step + 1)), formats=("PNG",))
        alpha.load()
        if reduce > 1:
            alpha = alpha.reduce(reduce)
        if alpha.size != wanted:
            alpha = alpha.resize(wanted, Image.Resampling.BOX)
        colour.putalpha(alpha)
        return colour

    def _part(self, index: int) -> bytes:
        start, length = self.parts[index]
        return bytes(self.data[start : start + length])


def _run_all(
    action: Callable[[tuple[int, int]], None], cells: list[tuple[int, int]], pool: Executor | None
) -> None:
    # The calling thread takes a share too, so one spare core already halves the decode.
    if pool is None or len(cells) < 2:
        for cell in cells:
            action(cell)
        return
    others = [pool.submit(action, cell) for cell in cells[1::2]]
    for cell in cells[0::2]:
        action(cell)
    for future in others:
        future.result()


def _scaled(length: int, reduce: int) -> int:
    return -(-length // reduce)


def _boxes(width: int, height: int) -> Iterable[tuple[int, int, int, int]]:
    for top in range(0, height, TILE):
        for left in range(0, width, TILE):
            yield left, top, min(left + TILE, width), min(top + TILE, height)


def _bled(pic: Image.Image, alpha: Image.Image) -> Image.Image:
    """pic's colour where anything shows, and the local average of visible colour where nothing does."""
    width, height = pic.size
    # Pillow resamples RGBA premultiplied, so these averages weigh each pixel by how much it shows.
    mean = pic.resize((1, 1), Image.Resampling.BOX).convert("RGB").getpixel((0, 0))
    assert isinstance(mean, tuple)
    cells = pic.resize((_scaled(width, _BLEED_CELL), _scaled(height, _BLEED_CELL)), Image.Resampling.BOX)
    local = Image.new("RGB", cells.size, mean)
    local.paste(cells.convert("RGB"), mask=_shows(cells.getchannel("A")))
    colour = local.resize(pic.size, Image.Resampling.BILINEAR)
    colour.paste(pic.convert("RGB"), mask=_shows(alpha))
    return colour


def _shows(alpha: Image.Image) -> Image.Image:
    return alpha.point(lambda a: 255 if a else 0)
