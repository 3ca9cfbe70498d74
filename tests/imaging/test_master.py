from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from toolkit.errors import Invalid
from toolkit.imaging.master import MASTER_MAX_EDGE, THUMB_WIDTHS, make_master, make_thumbnail

from .samples import (
    ADOBE_RGB_GAMMA,
    ADOBE_RGB_PRIMARIES,
    RED,
    WHITE,
    animated_gif,
    close,
    cmyk_profile,
    detailed,
    encode,
    gps_exif,
    grey_profile,
    mean,
    opened,
    quadrant,
    rgb_profile,
    srgb_primaries,
    write,
)

# What a camera does to the upright picture before tagging it with each orientation.
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_make_master_exif_orientation_comes_out_upright(tmp_path: Path, orientation: int) -> None:
    upright = quadrant((200, 120))
    stored = upright.transpose(STORED_AS[orientation])
    path = write(tmp_path, "rotated.jpg", encode(stored, "JPEG", quality=95, exif=gps_exif(orientation)))

    master = make_master(path)

    img = opened(master.data)
    assert img.size == (master.width, master.height) == (200, 120)
    assert close(mean(img, (0, 0, 100, 60)), RED, 12)
    for box in ((100, 0, 200, 60), (0, 60, 100, 120), (100, 60, 200, 120)):
        assert close(mean(img, box), WHITE, 12)


def test_make_master_has_no_exif_gps_or_profile(tmp_path: Path) -> None:
    profile = rgb_profile(srgb_primaries(), 2.2)
    data = encode(detailed((300, 200)), "JPEG", exif=gps_exif(1), icc_profile=profile)
    master = make_master(write(tmp_path, "gps.jpg", data))

    img = opened(master.data)
    assert master.content_type == "image/jpeg"
    assert img.format == "JPEG"
    assert not img.getexif()
    assert "exif" not in img.info
    assert "icc_profile" not in img.info


def test_make_master_jpeg_is_baseline(tmp_path: Path) -> None:
    data = encode(detailed((300, 200)), "JPEG", progressive=True)
    img = opened(make_master(write(tmp_path, "progressive.jpg", data)).data)
    assert not img.info.get("progressive") and not img.info.get("progression")


def test_make_master_cmyk_without_profile_keeps_colour(tmp_path: Path) -> None:
    data = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    master = make_master(write(tmp_path, "cmyk.jpg", data))
    assert close(mean(opened(master.data)), (255, 0, 0), 12)


def test_make_master_cmyk_with_profile_goes_through_it(tmp_path: Path) -> None:
    # A press profile whose cyan is a real ink colour, not the naive (0, 255, 255).
    profile = cmyk_profile({(1, 0, 0, 0): (0, 174 / 255, 239 / 255)})
    img = Image.new("CMYK", (64, 64), (255, 0, 0, 0))
    img.paste((0, 255, 255, 0), (0, 32, 64, 64))
    master = make_master(write(tmp_path, "cmyk.jpg", encode(img, "JPEG", quality=95, icc_profile=profile)))

    result = opened(master.data)
    assert close(mean(result, (0, 0, 64, 28)), (0, 174, 239), 12)
    assert close(mean(result, (0, 36, 64, 64)), (255, 0, 0), 12)


def test_make_master_rgb_profile_is_applied(tmp_path: Path) -> None:
    # Red and green primaries swapped: what the file calls red is sRGB green.
    red, green, blue = srgb_primaries()
    profile = rgb_profile((green, red, blue), 2.2)
    data = encode(Image.new("RGB", (64, 64), (255, 0, 0)), "PNG", icc_profile=profile)
    assert close(mean(opened(make_master(write(tmp_path, "swapped.png", data)).data)), (0, 255, 0), 12)


def test_make_master_adobe_rgb_becomes_more_saturated_srgb(tmp_path: Path) -> None:
    source = (90, 160, 70)
    profile = rgb_profile(ADOBE_RGB_PRIMARIES, ADOBE_RGB_GAMMA)
    data = encode(Image.new("RGB", (64, 64), source), "PNG", icc_profile=profile)
    red, green, _ = mean(opened(make_master(write(tmp_path, "adobe.png", data)).data))
    # Adobe RGB's green primary lies outside sRGB, so the same numbers mean a stronger green.
    assert green - red > (source[1] - source[0]) + 15


def test_make_master_greyscale_profile_is_applied(tmp_path: Path) -> None:
    linear_grey = encode(Image.new("L", (64, 64), 128), "PNG", icc_profile=grey_profile(1.0))
    plain_grey = encode(Image.new("L", (64, 64), 128), "PNG")
    # Half of linear light is sRGB 188.
    assert close(mean(opened(make_master(write(tmp_path, "linear.png", linear_grey)).data)), (188,) * 3, 4)
    assert close(mean(opened(make_master(write(tmp_path, "plain.png", plain_grey)).data)), (128,) * 3, 4)


def test_make_master_16_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    data = encode(Image.new("I;16", (64, 64), 32768), "PNG")
    master = make_master(write(tmp_path, "deep.png", data))
    assert master.content_type == "image/jpeg"
    assert close(mean(opened(master.data)), (128, 128, 128), 4)


def test_make_master_32_bit_integer_tiff_is_scaled(tmp_path: Path) -> None:
    img = Image.new("I", (64, 64), 16384)
    img.paste(65535, (0, 0, 32, 64))
    result = opened(make_master(write(tmp_path, "deep.tif", encode(img, "TIFF"))).data)
    assert close(mean(result, (0, 0, 28, 64)), (255,) * 3, 4)
    assert close(mean(result, (36, 0, 64, 64)), (64,) * 3, 4)


def test_make_master_palette_with_transparency_keeps_alpha(tmp_path: Path) -> None:
    img = Image.new("P", (64, 64), 1)
    img.putpalette([0, 0, 0, 0, 90, 200] + [0] * 762)
    img.paste(0, (0, 0, 32, 64))
    master = make_master(write(tmp_path, "palette.png", encode(img, "PNG", transparency=0)))

    result = opened(master.data)
    assert master.content_type == "image/png"
    assert result.mode == "RGBA"
    assert result.getchannel("A").getpixel((5, 5)) == 0
    assert result.getpixel((50, 5)) == (0, 90, 200, 255)


def test_make_master_grey_with_alpha_becomes_rgba(tmp_path: Path) -> None:
    img = Image.new("LA", (64, 64), (100, 255))
    img.paste((100, 0), (0, 0, 32, 64))
    master = make_master(write(tmp_path, "la.png", encode(img, "PNG")))
    result = opened(master.data)
    assert (master.content_type, result.mode) == ("image/png", "RGBA")
    assert result.getpixel((50, 5)) == (100, 100, 100, 255)
    assert result.getchannel("A").getpixel((5, 5)) == 0


def test_make_master_opaque_alpha_channel_gives_jpeg(tmp_path: Path) -> None:
    data = encode(detailed((64, 64)).convert("RGBA"), "PNG")
    assert make_master(write(tmp_path, "opaque.png", data)).content_type == "image/jpeg"


def test_make_master_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    path = write(tmp_path, "anim.gif", animated_gif((80, 60), [(200, 0, 0), (0, 0, 200), (0, 200, 0)]))
    master = make_master(path)
    assert (master.width, master.height) == (80, 60)
    assert close(mean(opened(master.data)), (200, 0, 0), 12)


def test_make_master_animated_webp_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (80, 60), colour) for colour in ((0, 0, 200), (200, 0, 0))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert close(mean(opened(make_master(write(tmp_path, "anim.webp", data)).data)), (0, 0, 200), 12)


def test_make_master_multi_page_tiff_uses_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (80, 60), colour) for colour in ((0, 150, 0), (200, 0, 0))]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert close(mean(opened(make_master(write(tmp_path, "pages.tif", data)).data)), (0, 150, 0), 12)


@pytest.mark.parametrize(
    ("size", "fmt", "expected"),
    [
        ((4000, 1000), "JPEG", (2560, 640)),
        ((1000, 3000), "PNG", (853, 2560)),
        ((2560, 100), "JPEG", (2560, 100)),
    ],
)
def test_make_master_long_edge_is_capped(
    tmp_path: Path, size: tuple[int, int], fmt: str, expected: tuple[int, int]
) -> None:
    master = make_master(write(tmp_path, "big", encode(quadrant(size), fmt)))
    assert (master.width, master.height) == expected == opened(master.data).size
    assert max(expected) <= MASTER_MAX_EDGE


def test_make_master_large_jpeg_keeps_its_picture(tmp_path: Path) -> None:
    # Decoded at reduced scale: the picture must still be the whole picture, not a corner of it.
    source = quadrant((6000, 4000))
    master = make_master(write(tmp_path, "big.jpg", encode(source, "JPEG")), max_edge=1000)
    img = opened(master.data)
    assert img.size == (1000, 667)
    assert close(mean(img, (0, 0, 490, 323)), RED, 8)
    assert close(mean(img, (510, 343, 1000, 667)), WHITE, 8)


def test_make_master_truncated_file_is_damaged(tmp_path: Path) -> None:
    data = encode(detailed((400, 300)), "JPEG")
    with pytest.raises(Invalid) as caught:
        make_master(write(tmp_path, "cut.jpg", data[: len(data) // 2]))
    assert caught.value.status == 422


@pytest.mark.parametrize("width", THUMB_WIDTHS)
def test_make_thumbnail_has_requested_width(width: int) -> None:
    master = encode(detailed((2560, 1440)), "JPEG")
    thumb = opened(make_thumbnail(master, width))
    assert thumb.format == "JPEG"
    assert thumb.size == (width, round(1440 * width / 2560))


def test_make_thumbnail_never_upscales() -> None:
    thumb = opened(make_thumbnail(encode(detailed((200, 100)), "JPEG"), 640))
    assert thumb.size == (200, 100)


def test_make_thumbnail_flattens_transparency_on_white() -> None:
    img = Image.new("RGBA", (800, 400), (0, 0, 0, 0))
    img.paste((0, 0, 200, 255), (400, 0, 800, 400))
    thumb = opened(make_thumbnail(encode(img, "PNG"), 320))
    assert thumb.mode == "RGB"
    assert close(mean(thumb, (0, 0, 150, 160)), WHITE, 6)
    assert close(mean(thumb, (170, 0, 320, 160)), (0, 0, 200), 8)
