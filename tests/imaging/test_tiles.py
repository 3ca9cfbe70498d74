from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageChops, ImageStat

from toolkit.imaging.presets import get_preset
from toolkit.imaging.render import Look, render_share_image
from toolkit.imaging.tiles import TILE, Tiled, is_tiled, make_tiles, tiles_from_master

from .samples import RED, WHITE, close, detailed, encode, halves, mean

SIZE = (2560, 1707)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return detailed(SIZE)


@pytest.fixture(scope="module")
def tiled(picture: Image.Image) -> Tiled:
    return Tiled.parse(make_tiles(picture))


def _cutout() -> Image.Image:
    """A red left half on a transparent right half."""
    img = Image.new("RGBA", (1300, 700), (0, 0, 0, 0))
    img.paste(RED + (255,), (0, 0, 650, 700))
    return img


def test_tiles_hold_the_whole_picture(picture: Image.Image, tiled: Tiled) -> None:
    region, origin = tiled.region((0, 0, *SIZE), 1, None)
    assert origin == (0, 0)
    assert region.size == SIZE and region.mode == "RGB"
    assert close(mean(region), mean(picture), 1.5)
    assert close(mean(region, (2500, 1650, 2560, 1707)), mean(picture, (2500, 1650, 2560, 1707)), 3)


def test_region_decodes_only_the_tiles_it_covers(picture: Image.Image, tiled: Tiled) -> None:
    region, origin = tiled.region((600, 1100, 700, 1200), 1, None)
    assert origin == (TILE, 1024)
    assert region.size == (TILE, 512)
    box = (600 - origin[0], 1100 - origin[1], 700 - origin[0], 1200 - origin[1])
    assert close(mean(region, box), mean(picture, (600, 1100, 700, 1200)), 3)


def test_region_at_the_far_edge_keeps_partial_tiles(tiled: Tiled) -> None:
    region, origin = tiled.region((2100, 1600, 2560, 1707), 1, None)
    assert origin == (2048, 1536)
    assert region.size == (2560 - 2048, 1707 - 1536)


def test_region_in_threads_equals_region_in_one_thread(tiled: Tiled) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel, _ = tiled.region((0, 0, *SIZE), 1, pool)
    serial, _ = tiled.region((0, 0, *SIZE), 1, None)
    assert parallel.tobytes() == serial.tobytes()


@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_region_decoded_at_reduced_scale(picture: Image.Image, tiled: Tiled, reduce: int) -> None:
    region, _ = tiled.region((0, 0, *SIZE), reduce, None)
    assert region.size == (-(-SIZE[0] // reduce), -(-SIZE[1] // reduce))
    assert close(mean(region), mean(picture), 2)


def test_transparency_is_kept_exactly() -> None:
    tiled = Tiled.parse(make_tiles(_cutout()))
    region, _ = tiled.region((0, 0, 1300, 700), 1, None)
    assert region.mode == "RGBA"
    assert region.getchannel("A").tobytes() == _cutout().getchannel("A").tobytes()
    assert close(mean(region.convert("RGB"), (0, 0, 640, 700)), RED, 2)


def test_transparency_flattens_onto_background_without_a_dark_edge() -> None:
    tiled = Tiled.parse(make_tiles(_cutout()))
    region, _ = tiled.region((0, 0, 1300, 700), 1, None, background=WHITE)
    assert region.mode == "RGB"
    assert close(mean(region, (660, 0, 1300, 700)), WHITE, 1)
    # The colour hidden under the transparent half is the visible red, not black: JPEG blocks on
    # the edge have no dark step to ring on.
    assert close(mean(region, (644, 0, 650, 700)), RED, 6)


def test_tiles_from_a_stored_master_keep_its_look() -> None:
    opaque = encode(halves((1200, 800), RED, WHITE), "JPEG", quality=90)
    transparent = encode(_cutout(), "PNG")
    opaque_tiles = Tiled.parse(tiles_from_master(opaque))
    assert not opaque_tiles.alpha and opaque_tiles.size == (1200, 800)
    assert close(mean(opaque_tiles.region((0, 0, 500, 800), 1, None)[0], (0, 0, 500, 800)), RED, 3)
    assert Tiled.parse(tiles_from_master(transparent)).alpha


@pytest.mark.parametrize("preset", ["x-landscape", "instagram-story"])
def test_rendition_from_tiles_shows_no_joins(preset: str) -> None:
    # A smooth gradient has no grain to hide a tile placed a pixel off or a filter cut short.
    gradient = Image.linear_gradient("L").resize((2000, 1500))
    source = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize((2000, 1500)), gradient)
    )
    whole = _rendered(encode(source, "PNG"), preset)
    tiled = _rendered(make_tiles(source), preset)
    difference = ImageChops.difference(whole, tiled)
    # JPEG's chroma quantisation moves single channels a few levels; a join would move them all.
    assert all(high <= 6 for _, high in ImageStat.Stat(difference).extrema)
    assert ImageStat.Stat(difference.convert("L")).extrema[0][1] <= 3


def _rendered(source: bytes, preset: str) -> Image.Image:
    data = render_share_image(source, get_preset(preset), "png", look=Look()).data
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_only_tiled_blobs_parse() -> None:
    assert not is_tiled(encode(Image.new("RGB", (8, 8)), "PNG"))
    with pytest.raises(ValueError):
        Tiled.parse(b"\xff\xd8\xff\xe0 not tiles")
