"""Pixel operations shared by the master, its tiles and the renditions."""

from __future__ import annotations

from PIL import Image


def flatten(pic: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """pic as RGB, its transparent parts filled with background."""
    if pic.mode == "RGB":
        return pic
    if pic.mode != "RGBA":
        pic = pic.convert("RGBA")
    canvas = Image.new("RGB", pic.size, background)
    canvas.paste(pic, mask=pic)
    return canvas
