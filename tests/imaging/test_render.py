from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest
from PIL import Image, ImageFont, PngImagePlugin

from toolkit.errors import Invalid
from toolkit.imaging.master import make_master
from toolkit.imaging.presets import PRESETS, Preset, get_preset
from toolkit.imaging.render import FORMATS, WATERMARK_POSITIONS, Look, Rendition, render_share_image
from toolkit.imaging.tiles import tiles_from_master

from .samples import (
    brightest,
    close,
    detailed,
    encode,
    gps_exif,
    halves,
    make_logo,
    mean,
    opened,
    pixel,
    rgb_profile,
    srgb_primaries,
    write,
)

LOOK = Look()
LANDSCAPE = get_preset("linkedin-landscape")
GREEN = (0, 160, 60)


@pytest.fixture(params=["whole", "tiled"], autouse=True)
def source_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test renders both from a whole master and from its tiles: the portal renders from
    tiles, and from a master only for what it cannot tile."""
    monkeypatch.setattr(sys.modules[__name__], "_TILED", request.param == "tiled")
    return str(request.param)


_TILED = False


@lru_cache(maxsize=32)
def _tiles(master: bytes) -> bytes:
    return tiles_from_master(master)


@pytest.fixture(scope="module")
def master() -> bytes:
    """A realistic master, made once: rendering never changes it."""
    return encode(detailed((2560, 1707)), "JPEG", quality=90)


@pytest.fixture(scope="module")
def white() -> bytes:
    return encode(Image.new("RGB", (2400, 1600), (255, 255, 255)), "JPEG", quality=95)


def _render(
    master: bytes,
    preset: Preset = LANDSCAPE,
    fmt: str = "jpeg",
    *,
    look: Look = LOOK,
    focal: tuple[float, float] | None = None,
    logo: bytes | None = None,
    headline: str | None = None,
    description: str | None = None,
) -> Rendition:
    source = _tiles(master) if _TILED else master
    return render_share_image(
        source, preset, fmt, look=look, focal=focal, logo=logo, headline=headline, description=description
    )


def _cases() -> Iterator[tuple[str, str]]:
    for name in PRESETS:
        for fmt in FORMATS:
            yield name, fmt


@pytest.mark.parametrize(("name", "fmt"), list(_cases()))
def test_render_share_image_every_preset_and_format_has_exact_size(
    master: bytes, name: str, fmt: str
) -> None:
    preset = PRESETS[name]
    rendition = _render(master, preset, fmt, logo=make_logo(), headline="Meet the team")
    img = opened(rendition.data)
    assert img.size == (preset.width, preset.height) == (rendition.width, rendition.height)
    assert Image.MIME[img.format or ""] == rendition.content_type == FORMATS[fmt]


def test_render_share_image_focal_point_moves_the_crop() -> None:
    source = encode(halves((1600, 800), (0, 0, 0), (255, 255, 255)), "PNG")
    square = get_preset("linkedin-square")
    left = opened(_render(source, square, "png", focal=(0.0, 0.5)).data)
    right = opened(_render(source, square, "png", focal=(1.0, 0.5)).data)
    centre = opened(_render(source, square, "png").data)
    assert mean(left)[0] < 5
    assert mean(right)[0] > 250
    assert 120 < mean(centre)[0] < 135


# Tiles are JPEG, whose banding on a gradient is bigger than this allows; test_tiles checks their joins.
@pytest.mark.parametrize("source_kind", ["whole"], indirect=True)
def test_render_share_image_has_no_seam_in_a_smooth_picture() -> None:
    # Big outputs are resampled in strips on several cores; the joins must not show.
    source = encode(Image.linear_gradient("L").resize((2000, 1500)).convert("RGB"), "PNG")
    img = opened(_render(source, get_preset("x-landscape"), "png").data).convert("L")
    rows = [mean(img, (0, row, img.width, row + 1))[0] for row in range(img.height)]
    steps = [abs(b - a) for a, b in zip(rows, rows[1:], strict=False)]
    assert max(steps) < 2 * (sum(steps) / len(steps)) + 1


def test_render_share_image_focal_point_is_clamped_inside_the_image() -> None:
    source = encode(halves((1600, 800), (0, 0, 0), (255, 255, 255)), "PNG")
    square = get_preset("linkedin-square")
    beyond = opened(_render(source, square, "png", focal=(-3.0, float("nan"))).data)
    assert mean(beyond)[0] < 5


def test_render_share_image_small_source_is_not_upscaled_past_limit() -> None:
    look = Look(background=(10, 200, 30))
    small = encode(Image.new("RGB", (400, 209), (250, 250, 250)), "PNG")
    rendition = _render(small, LANDSCAPE, "png", look=look)
    img = opened(rendition.data).convert("RGB")
    assert rendition.low_resolution
    assert img.size == (1200, 627)
    # 1.5 x 400 = 600 wide, centred: 300 px of background on either side.
    assert close(mean(img, (0, 0, 290, 627)), look.background, 2)
    assert close(mean(img, (910, 0, 1200, 627)), look.background, 2)
    assert close(mean(img, (310, 170, 890, 450)), (250, 250, 250), 2)


def test_render_share_image_moderate_enlargement_fills_the_preset() -> None:
    source = encode(Image.new("RGB", (1000, 523), (250, 250, 250)), "PNG")
    rendition = _render(source, LANDSCAPE, "png", look=Look(background=(10, 200, 30)))
    assert not rendition.low_resolution
    assert close(mean(opened(rendition.data).convert("RGB")), (250, 250, 250), 2)


def test_render_share_image_small_source_shows_all_of_itself_when_it_fits() -> None:
    # A 400x400 square at 1.5x is 600x600: it fits the 627 px tall canvas whole, so nothing is cut.
    source = Image.new("RGB", (400, 400), (250, 250, 250))
    source.paste((0, 0, 0), (0, 0, 400, 40))
    img = opened(_render(encode(source, "PNG"), LANDSCAPE, "png").data).convert("RGB")
    assert close(mean(img, (320, 18, 880, 70)), (0, 0, 0), 3)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_render_share_image_output_has_no_exif_or_profile(fmt: str) -> None:
    profile = rgb_profile(srgb_primaries(), 2.2)
    source = encode(detailed((1600, 1000)), "JPEG", exif=gps_exif(1), icc_profile=profile, comment=b"maker")
    img = opened(_render(source, LANDSCAPE, fmt).data)
    assert not img.getexif()
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(img.info)


def test_render_share_image_jpeg_is_progressive(master: bytes) -> None:
    img = opened(_render(master).data)
    assert img.format == "JPEG"
    assert img.info.get("progressive") or img.info.get("progression")


def _corner(img: Image.Image, position: str) -> tuple[int, int, int, int]:
    """A box inside where a logo at position goes with the default margin and scale."""
    width, height = img.size
    margin, size = round(width * 0.03), round(width * 0.18)
    x = {"left": margin, "right": width - margin - size}
    y = {"top": margin, "bottom": height - margin}
    if position == "center":
        return width // 2 - 20, height // 2 - 10, width // 2 + 20, height // 2 + 10
    vertical, horizontal = position.split("-")
    top = y[vertical] if vertical == "top" else y[vertical] - size // 3
    return x[horizontal] + size // 4, top + size // 12, x[horizontal] + 3 * size // 4, top + size // 4


@pytest.mark.parametrize("position", WATERMARK_POSITIONS)
def test_render_share_image_logo_appears_where_configured(white: bytes, position: str) -> None:
    look = Look(watermark_position=position, watermark_opacity=1.0)
    with_logo = opened(_render(white, look=look, logo=make_logo(colour=GREEN)).data)
    without = opened(_render(white, look=look).data)
    box = _corner(with_logo, position)
    assert close(mean(with_logo, box), GREEN, 20)
    assert close(mean(without, box), (255, 255, 255), 3)


def test_render_share_image_logo_opacity_lets_the_picture_through(white: bytes) -> None:
    faint = opened(_render(white, look=Look(watermark_opacity=0.5), logo=make_logo(colour=(0, 0, 0))).data)
    box = _corner(faint, "bottom-right")
    assert close(mean(faint, box), (128, 128, 128), 12)


def test_render_share_image_without_logo_leaves_corners_alone(white: bytes) -> None:
    img = opened(_render(white, logo=None).data)
    for position in WATERMARK_POSITIONS:
        assert close(mean(img, _corner(img, position)), (255, 255, 255), 3)


def test_render_share_image_headline_draws_brand_band(white: bytes) -> None:
    look = Look(brand_colour=(0, 82, 147))
    img = opened(_render(white, headline="Join us at the summit", look=look).data)
    width, height = img.size
    # Left edge of the band, clear of the text, and the very bottom rows.
    band_edge = (0, height - round(height * 0.17), round(width * 0.04), height)
    assert close(mean(img, band_edge), look.brand_colour, 6)
    assert close(mean(img, (0, 0, width, round(height * 0.7))), (255, 255, 255), 3)
    band = [row for row in range(height) if close(pixel(img, (2, row)), look.brand_colour, 12)]
    assert 0.18 * height - 2 <= len(band) <= 0.28 * height + 2
    # Text in text_colour inside the band.
    text_area = img.crop((round(width * 0.05), height - len(band), width, height)).convert("L")
    assert brightest(text_area) > 200


def test_render_share_image_long_headline_stays_inside_band(white: bytes) -> None:
    headline = " ".join(["Ambassadors share what they are proud of, in their own words"] * 6)
    for preset in PRESETS.values():
        img = opened(_render(white, preset, headline=headline).data)
        top_rows = img.crop((0, 0, img.width, round(img.height * 0.7)))
        assert close(mean(top_rows), (255, 255, 255), 3), preset.name


def test_render_share_image_headline_with_custom_font(white: bytes) -> None:
    font = ImageFont.load_default(size=20)
    assert isinstance(font, ImageFont.FreeTypeFont)
    font_data = getattr(font, "font_bytes", None)
    assert isinstance(font_data, bytes)
    look = Look(font=font_data, text_colour=(255, 200, 0))
    img = opened(_render(white, headline="Custom type", look=look).data)
    band = img.crop((0, round(img.height * 0.8), img.width, img.height))
    assert brightest(band.getchannel("R")) > 230


def test_render_share_image_headline_replaces_characters_the_font_lacks(white: bytes) -> None:
    # Pillow's built-in font has no accents, dashes or euro sign: plain stand-ins, not empty boxes.
    fancy = opened(_render(white, headline="Café — €5 for Straße 😀").data)
    plain = opened(_render(white, headline="Cafe - EUR5 for Strasse").data)
    band = (0, round(fancy.height * 0.7), fancy.width, fancy.height)
    assert mean(fancy, band) == mean(plain, band)


def test_render_share_image_unusable_font_is_invalid(white: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        _render(white, headline="Hello", look=Look(font=b"not a font"))
    assert caught.value.status == 422


def test_render_share_image_logo_sits_above_headline_band(white: bytes) -> None:
    look = Look(watermark_opacity=1.0)
    img = opened(_render(white, look=look, logo=make_logo(colour=GREEN), headline="Hello").data)
    width, height = img.size
    column = width - round(width * 0.03) - round(width * 0.18) // 2
    greens = [row for row in range(height) if close(pixel(img, (column, row)), GREEN, 25)]
    assert greens
    assert max(greens) < height - round(height * 0.18)


def test_render_share_image_jpeg_flattens_transparency_onto_background() -> None:
    source = encode(Image.new("RGBA", (1200, 627), (0, 0, 0, 0)), "PNG")
    look = Look(background=(200, 30, 30))
    img = opened(_render(source, look=look).data)
    assert img.mode == "RGB"
    assert close(mean(img), look.background, 4)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_render_share_image_png_and_webp_keep_transparency(fmt: str) -> None:
    source = encode(Image.new("RGBA", (1200, 627), (0, 0, 0, 0)), "PNG")
    img = opened(_render(source, fmt=fmt).data)
    assert img.mode == "RGBA"
    assert img.getchannel("A").getextrema() == (0, 0)


def test_render_share_image_from_transparent_upload_master(tmp_path: Path) -> None:
    upload = Image.new("RGBA", (800, 600), (0, 0, 0, 0))
    upload.paste((0, 90, 200, 255), (0, 0, 400, 600))
    made = make_master(write(tmp_path, "cutout.png", encode(upload, "PNG")))
    img = opened(_render(made.data, fmt="jpeg", look=Look(background=(255, 255, 255))).data)
    assert close(mean(img, (1000, 100, 1200, 500)), (255, 255, 255), 4)


def test_render_share_image_description_is_jpeg_comment(master: bytes) -> None:
    text = "Our team at the Zoë Café — smiling"
    img = opened(_render(master, description=text).data)
    assert img.info["comment"] == text.encode("utf-8")


def test_render_share_image_description_is_png_text(master: bytes) -> None:
    text = "Our team at the Zoë Café — smiling"
    img = opened(_render(master, fmt="png", description=text).data)
    assert isinstance(img, PngImagePlugin.PngImageFile)
    assert img.text["Description"] == text


def test_render_share_image_description_is_webp_xmp(master: bytes) -> None:
    img = opened(_render(master, fmt="webp", description="Fish & chips <3").data)
    assert "Fish &amp; chips &lt;3" in img.info["xmp"].decode("utf-8")


def test_render_share_image_unknown_format_is_invalid(master: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        _render(master, fmt="gif")
    assert caught.value.status == 422
    assert "jpeg" in caught.value.text()


def test_render_share_image_unknown_position_is_invalid(master: bytes) -> None:
    with pytest.raises(Invalid):
        _render(master, look=Look(watermark_position="middle"))


def test_render_share_image_damaged_logo_is_invalid(master: bytes) -> None:
    with pytest.raises(Invalid):
        _render(master, logo=b"\x89PNG\r\n\x1a\nnot really")
