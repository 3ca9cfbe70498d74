"""Demo brand imagery, drawn with Pillow when the demo is seeded (no files shipped, no network).

Each picture is made of gradients, shapes and text, large enough (1600-2400 px) to exercise the
real upload path: inspection, master, thumbnails and later the share-ready renditions.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFilter, ImageFont

if TYPE_CHECKING:
    from toolkit.portal import Portal

Colour = tuple[int, int, int]
BRAND_BLUE: Colour = (0, 82, 147)
BRAND_ORANGE: Colour = (255, 140, 50)


@dataclass(frozen=True)
class DemoImage:
    filename: str
    title: str
    tags: tuple[str, ...]
    description: str
    alt_text: str
    painter: Callable[[], Image.Image]
    focal: tuple[float, float] | None = None


def _vertical_gradient(size: tuple[int, int], stops: list[tuple[float, Colour]]) -> Image.Image:
    """A top-to-bottom gradient through colour stops given as (position 0..1, colour)."""
    width, height = size
    column = Image.new("RGB", (1, height))
    pixels = column.load()
    assert pixels is not None
    for y in range(height):
        t = y / max(1, height - 1)
        for (p0, c0), (p1, c1) in zip(stops, stops[1:], strict=False):
            if p0 <= t <= p1:
                f = (t - p0) / max(1e-9, p1 - p0)
                pixels[0, y] = tuple(round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True))
                break
    return column.resize((width, height), Image.Resampling.NEAREST)


def _glow(
    size: tuple[int, int], box: tuple[int, int, int, int], colour: Colour, radius: float
) -> Image.Image:
    layer = Image.new("RGBA", size, colour + (0,))
    ImageDraw.Draw(layer).ellipse(box, fill=colour + (200,))
    return layer.filter(ImageFilter.GaussianBlur(radius))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def harbour_sunrise() -> Image.Image:
    size = (2400, 1600)
    img = _vertical_gradient(
        size,
        [
            (0.0, (28, 40, 92)),
            (0.35, (226, 110, 92)),
            (0.58, (255, 196, 120)),
            (0.6, (60, 84, 130)),
            (1.0, (18, 30, 60)),
        ],
    ).convert("RGBA")
    img.alpha_composite(_glow(size, (1000, 620, 1400, 1020), (255, 220, 150), 80))
    draw = ImageDraw.Draw(img)
    draw.ellipse((1110, 730, 1290, 910), fill=(255, 236, 190, 255))
    rng = random.Random(4)
    horizon = int(size[1] * 0.6)
    for _ in range(260):
        y = rng.randint(horizon + 6, size[1])
        spread = 60 + (y - horizon) * 0.9
        x = 1200 + rng.gauss(0, spread / 2)
        length = rng.randint(30, 160)
        draw.line((x - length / 2, y, x + length / 2, y), fill=(255, 210, 150, rng.randint(40, 140)), width=3)
    # A pier and a crane on the horizon, in silhouette.
    draw.rectangle((0, horizon - 40, 700, horizon + 10), fill=(20, 24, 44, 255))
    for x in range(40, 700, 90):
        draw.rectangle((x, horizon + 10, x + 14, horizon + 120), fill=(20, 24, 44, 255))
    draw.polygon(
        [(1700, horizon), (1760, horizon - 420), (1790, horizon - 420), (1850, horizon)], fill=(20, 24, 44)
    )
    draw.line((1700, horizon - 400, 2200, horizon - 400), fill=(20, 24, 44), width=18)
    draw.line((2150, horizon - 400, 2150, horizon - 180), fill=(20, 24, 44), width=4)
    return img.convert("RGB")


def dune_day() -> Image.Image:
    size = (2000, 1333)
    img = _vertical_gradient(size, [(0.0, (120, 180, 230)), (0.55, (210, 232, 245)), (1.0, (210, 232, 245))])
    draw = ImageDraw.Draw(img)
    layers = [
        (0.52, (226, 196, 150), 40, 0.004),
        (0.64, (214, 176, 124), 55, 0.003),
        (0.78, (194, 150, 98), 70, 0.0022),
    ]
    for base, colour, amplitude, frequency in layers:
        points = [(0, size[1])]
        for x in range(0, size[0] + 20, 20):
            y = size[1] * base + amplitude * math.sin(x * frequency * math.tau / 2 + base * 9)
            points.append((x, int(y)))
        points.append((size[0], size[1]))
        draw.polygon(points, fill=colour)
    # Marram grass tufts along the nearest dune.
    rng = random.Random(7)
    for _ in range(140):
        x = rng.randint(0, size[0])
        y = int(size[1] * 0.8 + 60 * math.sin(x * 0.0022 * math.pi + 7))
        for _ in range(6):
            draw.line((x, y, x + rng.randint(-40, 40), y - rng.randint(40, 110)), fill=(96, 120, 60), width=3)
    return img


def product_launch() -> Image.Image:
    size = (1800, 1800)
    img = Image.new("RGBA", size, BRAND_BLUE + (255,))
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rng = random.Random(11)
    palette = [(255, 255, 255), BRAND_ORANGE, (90, 200, 250), (255, 205, 60)]
    for _ in range(28):
        r = rng.randint(40, 260)
        x, y = rng.randint(-100, size[0] + 100), rng.randint(-100, size[1] + 100)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(palette) + (rng.randint(40, 110),))
    img.alpha_composite(overlay)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((260, 620, 1540, 1180), radius=60, fill=(255, 255, 255, 235))
    draw.text((900, 820), "Launch day", font=_font(150), fill=BRAND_BLUE, anchor="mm")
    draw.text((900, 1000), "Toolkit 2.0 is here", font=_font(80), fill=(60, 70, 90), anchor="mm")
    return img.convert("RGB")


def city_lights() -> Image.Image:
    size = (2400, 1350)
    img = _vertical_gradient(size, [(0.0, (8, 12, 36)), (0.7, (40, 42, 96)), (1.0, (90, 60, 110))])
    draw = ImageDraw.Draw(img)
    rng = random.Random(23)
    for _ in range(400):
        x, y = rng.randint(0, size[0]), rng.randint(0, int(size[1] * 0.5))
        shade = rng.randint(150, 255)
        draw.point((x, y), fill=(shade, shade, shade))
    x = 0
    while x < size[0]:
        width = rng.randint(90, 220)
        top = rng.randint(int(size[1] * 0.3), int(size[1] * 0.75))
        body = (18, 20, 40) if rng.random() < 0.5 else (26, 28, 52)
        draw.rectangle((x, top, x + width, size[1]), fill=body)
        for wy in range(top + 20, size[1] - 20, 34):
            for wx in range(x + 14, x + width - 20, 28):
                if rng.random() < 0.35:
                    draw.rectangle((wx, wy, wx + 12, wy + 18), fill=(255, 214, 120))
        x += width + rng.randint(4, 30)
    return img


def mountain_trail() -> Image.Image:
    size = (2200, 1467)
    img = _vertical_gradient(size, [(0.0, (250, 214, 170)), (0.5, (236, 170, 150)), (1.0, (120, 90, 120))])
    draw = ImageDraw.Draw(img)
    rng = random.Random(31)
    ridges = [(0.45, (150, 120, 150)), (0.58, (112, 90, 126)), (0.72, (76, 62, 98)), (0.86, (44, 38, 66))]
    for base, colour in ridges:
        points = [(0, size[1])]
        y = size[1] * base
        for x in range(0, size[0] + 40, 40):
            y += rng.uniform(-45, 45)
            y = min(max(y, size[1] * (base - 0.12)), size[1] * (base + 0.08))
            points.append((x, int(y)))
        points.append((size[0], size[1]))
        draw.polygon(points, fill=colour)
    draw.ellipse((1500, 260, 1700, 460), fill=(255, 240, 220))
    return img


def conference_stage() -> Image.Image:
    size = (1600, 2000)
    img = Image.new("RGBA", size, (16, 14, 30, 255))
    beams = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(beams)
    for x, colour in ((300, (120, 160, 255)), (800, (255, 200, 120)), (1300, (255, 120, 180))):
        draw.polygon([(x - 30, 0), (x + 30, 0), (x + 330, 1300), (x - 330, 1300)], fill=colour + (70,))
    img.alpha_composite(beams.filter(ImageFilter.GaussianBlur(30)))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 1250, size[0], 1400), fill=(46, 40, 70, 255))
    draw.rounded_rectangle((420, 520, 1180, 960), radius=24, fill=BRAND_BLUE + (255,))
    draw.text(
        (800, 740), "Ambassadors\nsummit", font=_font(96), fill=(255, 255, 255), anchor="mm", align="center"
    )
    rng = random.Random(5)
    for row in range(6):
        y = 1480 + row * 90
        for col in range(12):
            x = col * 140 + (70 if row % 2 else 0) + rng.randint(-12, 12)
            draw.ellipse((x, y, x + 90, y + 90), fill=(8, 8, 16, 255))
            draw.rectangle((x - 10, y + 70, x + 100, y + 200), fill=(8, 8, 16, 255))
    return img.convert("RGB")


def brand_logo() -> Image.Image:
    font = _font(150)
    text_width = math.ceil(ImageDraw.Draw(Image.new("L", (1, 1))).textlength("Ambassador", font=font))
    size = (390 + text_width + 40, 400)
    img = Image.new("RGBA", size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((20, 40, 340, 360), radius=70, fill=BRAND_BLUE + (255,))
    draw.polygon([(110, 290), (180, 110), (250, 290)], fill=(255, 255, 255, 255))
    draw.ellipse((155, 220, 205, 270), fill=BRAND_ORANGE + (255,))
    draw.text((390, 200), "Ambassador", font=font, fill=BRAND_BLUE + (255,), anchor="lm")
    return img


DEMO_IMAGES = [
    DemoImage(
        "harbour-sunrise.jpg",
        "Sunrise over the harbour",
        ("harbour", "sunrise", "office"),
        "The view from our harbour office at dawn.",
        "The sun rising over calm water, with a pier and a crane in silhouette.",
        harbour_sunrise,
        (0.5, 0.52),
    ),
    DemoImage(
        "dune-day.jpg",
        "Team day in the dunes",
        ("team", "outdoors", "summer"),
        "Our yearly team day on the coast.",
        "Rolling sand dunes with marram grass under a light blue sky.",
        dune_day,
    ),
    DemoImage(
        "launch-day.png",
        "Launch day: Toolkit 2.0",
        ("product", "launch", "campaign"),
        "Campaign visual for the Toolkit 2.0 launch.",
        "The words 'Launch day, Toolkit 2.0 is here' on a blue background with colourful circles.",
        product_launch,
        (0.5, 0.5),
    ),
    DemoImage(
        "city-lights.jpg",
        "City lights",
        ("city", "night", "office"),
        "Late evening downtown, where our head office is.",
        "A city skyline at night with lit windows and a starry sky.",
        city_lights,
    ),
    DemoImage(
        "mountain-trail.jpg",
        "Mountain ridges at dusk",
        ("outdoors", "landscape", "summer"),
        "From the hiking weekend of the platform team.",
        "Layers of purple mountain ridges under a peach-coloured evening sky.",
        mountain_trail,
        (0.7, 0.3),
    ),
    DemoImage(
        "ambassadors-summit.jpg",
        "Ambassadors summit",
        ("event", "conference", "campaign"),
        "Main stage of the ambassadors summit.",
        "A conference stage under coloured spotlights with a screen reading 'Ambassadors summit'.",
        conference_stage,
        (0.5, 0.37),
    ),
    DemoImage(
        "logo.png",
        "Ambassador logo",
        ("logo", "brand"),
        "The brand logo with a transparent background, for watermarks.",
        "The Ambassador logo: a blue rounded square with a white triangle, and the word Ambassador.",
        brand_logo,
    ),
]


def draw(demo: DemoImage, path: Path) -> str:
    """Paint demo into path (format from the file name); returns the file's sha256."""
    image = demo.painter()
    if path.suffix == ".png":
        image.save(path, "PNG", optimize=False)
    else:
        image.save(path, "JPEG", quality=88)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seed(portal: Portal) -> None:
    """Demo imagery: a few generated brand pictures and a transparent logo, approved and described."""
    import tempfile

    from toolkit.assets import UploadedFile

    marketing = portal.accounts.by_email("marketing@example.com")
    with tempfile.TemporaryDirectory(prefix="toolkit-demo-") as folder:
        for demo in DEMO_IMAGES:
            path = Path(folder) / demo.filename
            digest = draw(demo, path)
            upload = UploadedFile(path, path.stat().st_size, digest, demo.filename)
            asset, _ = portal.assets.add_upload(upload, actor=marketing, title=demo.title, tags=demo.tags)
            portal.assets.update(
                asset.id,
                {
                    "description": demo.description,
                    "alt_text": demo.alt_text,
                    "status": "approved",
                    "focal": list(demo.focal) if demo.focal else None,
                    "source": "Ambassador Toolkit demo",
                    "licence": "Free to share by every employee",
                },
                actor=marketing,
            )
