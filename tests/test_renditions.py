"""Renditions and brand settings in the domain: keys, the memory and store caches, single flight,
the watermark and the headline font, and brand validation, on both store backends."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFont

from tests.conftest import started_portal
from tests.imaging.samples import close, encode, halves, make_logo, mean, opened
from tests.storekit import RecordingStore, everything
from toolkit import renditions as renditions_module
from toolkit.accounts import User
from toolkit.assets import Asset, UploadedFile
from toolkit.brand import MAX_FONT_BYTES, Brand
from toolkit.errors import Conflict, Invalid, PreconditionFailed, TooLarge
from toolkit.imaging.presets import PRESETS
from toolkit.imaging.render import Rendition, render_share_image
from toolkit.portal import Portal
from toolkit.renditions import RenditionCache, RenditionResult
from toolkit.store import Store

GREY = (128, 128, 128)
RED = (230, 0, 0)
BLUE = (0, 40, 220)
# The bottom-right corner of a linkedin-landscape (1200x627) image, where the logo goes by default.
CORNER = (1000, 520, 1150, 580)


@pytest.fixture
def marketing(portal: Portal) -> User:
    return portal.accounts.add("marketing@example.com", role="marketing", name="Mia Marketing")


def add_image(
    portal: Portal,
    tmp_path: Path,
    data: bytes,
    *,
    actor: User | None = None,
    approve: bool = True,
    name: str = "photo.jpg",
    **changes: Any,
) -> Asset:
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / f"{digest[:12]}-{name}"
    path.write_bytes(data)
    asset, _ = portal.assets.add_upload(UploadedFile(path, len(data), digest, name), actor=actor, title=name)
    if approve:
        changes["status"] = "approved"
    return portal.assets.update(asset.id, changes, actor=actor) if changes else asset


def grey_photo(size: tuple[int, int] = (1600, 900)) -> bytes:
    return encode(Image.new("RGB", size, GREY), "JPEG", quality=92)


def logo_asset(portal: Portal, tmp_path: Path, actor: User) -> Asset:
    return add_image(portal, tmp_path, make_logo((300, 150), RED), actor=actor, name="logo.png")


def builtin_font() -> bytes:
    """Pillow's own scalable font: a real TrueType file to upload."""
    font = ImageFont.load_default(size=20)
    assert isinstance(font, ImageFont.FreeTypeFont)
    return bytes(font.font_bytes)


def counting_pipeline(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[int]:
    """Replace the imaging pipeline with one that counts its calls (and takes its time)."""
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Rendition:
        calls.append(1)
        time.sleep(delay)
        return render_share_image(*args, **kwargs)

    monkeypatch.setattr(renditions_module, "render_share_image", counted)
    return calls


def test_rendition_is_stored_under_the_asset_and_reused_by_a_fresh_instance(
    portal: Portal, store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = add_image(portal, tmp_path, grey_photo())
    made = portal.renditions.render(asset, "linkedin-landscape", "jpeg")
    assert f"renditions/{asset.id}/{made.etag}.jpg" in everything(store)
    calls = counting_pipeline(monkeypatch)
    other = started_portal(store, store_url, instance="test-b")
    try:
        again = other.renditions.render(other.assets.require(asset.id), "linkedin-landscape", "jpeg")
    finally:
        other.close()
    assert calls == []
    assert again == made


def test_low_resolution_survives_a_store_round_trip(
    portal: Portal, store: Store, store_url: str, tmp_path: Path
) -> None:
    small = add_image(portal, tmp_path, grey_photo((300, 200)))
    made = portal.renditions.render(small, "linkedin-landscape", "png")
    assert made.low_resolution and (made.width, made.height) == (1200, 627)
    assert f"renditions/{small.id}/{made.etag}.low.png" in everything(store)
    other = started_portal(store, store_url, instance="test-b")
    try:
        again = other.renditions.render(other.assets.require(small.id), "linkedin-landscape", "png")
    finally:
        other.close()
    assert again.low_resolution and again.data == made.data
    big = add_image(portal, tmp_path, grey_photo())
    assert not portal.renditions.render(big, "linkedin-landscape", "png").low_resolution


def test_same_rendition_asked_by_many_threads_at_once_is_rendered_once(
    portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = add_image(portal, tmp_path, grey_photo())
    calls = counting_pipeline(monkeypatch, delay=0.3)
    start = threading.Barrier(8)
    results: list[RenditionResult] = []

    def ask() -> None:
        start.wait()
        results.append(portal.renditions.render(asset, "instagram-square", "webp"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and len({r.data for r in results}) == 1


def test_failed_render_reaches_every_waiting_request_and_is_not_kept(
    portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = add_image(portal, tmp_path, grey_photo())

    def broken(*args: Any, **kwargs: Any) -> Rendition:
        raise Invalid("broken on purpose")

    monkeypatch.setattr(renditions_module, "render_share_image", broken)
    with pytest.raises(Invalid):
        portal.renditions.render(asset, "linkedin-square", "jpeg")
    monkeypatch.undo()
    assert portal.renditions.render(asset, "linkedin-square", "jpeg").width == 1200


def test_memory_cache_answers_without_touching_the_store(portal: Portal, tmp_path: Path) -> None:
    asset = add_image(portal, tmp_path, grey_photo())
    first = portal.renditions.render(asset, "x-landscape", "jpeg")
    counting = RecordingStore(portal.store)
    portal.renditions.store = counting
    portal.assets.store = counting
    portal.brand.store = counting
    second = portal.renditions.render(asset, "x-landscape", "jpeg")
    assert second is first
    assert counting.calls == []
    assert portal.renditions.peek(first.etag) is first


def test_store_is_asked_once_and_the_master_read_only_when_rendering(
    portal: Portal, store: Store, store_url: str, tmp_path: Path
) -> None:
    asset = add_image(portal, tmp_path, grey_photo())
    portal.renditions.render(asset, "x-landscape", "jpeg")
    other = started_portal(store, store_url, instance="test-b")
    try:
        counting = RecordingStore(store)
        other.renditions.store = counting
        other.assets.store = counting
        other.renditions.render(other.assets.require(asset.id), "x-landscape", "jpeg")
        other.renditions.render(other.assets.require(asset.id), "x-landscape", "jpeg")
    finally:
        other.close()
    # One listing finds the stored rendition, one read fetches it; the master is never read.
    assert [operation for operation, _ in counting.calls] == ["list", "get"]


def test_memory_cache_drops_least_recently_used_past_its_budget() -> None:
    cache = RenditionCache(budget=1000)

    def item(key: str, size: int) -> RenditionResult:
        return RenditionResult(b"x" * size, "image/jpeg", 1, 1, False, key)

    for key in "abc":
        cache.put(item(key, 100))
    assert cache.get("a") is not None  # now the most recently used
    for key in "defghijk":
        cache.put(item(key, 100))
    assert cache.size <= 1000
    assert cache.get("a") is not None and cache.get("b") is None
    cache.put(item("huge", 900))  # more than its share of the budget: not kept
    assert cache.get("huge") is None


def test_key_changes_with_everything_that_shapes_the_image(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    asset = add_image(portal, tmp_path, grey_photo(), actor=marketing)
    renditions = portal.renditions
    base = renditions.key(asset, "linkedin-landscape", "jpeg")
    assert renditions.key(asset, PRESETS["linkedin-landscape"], "jpeg") == base
    # Without a logo configured, watermark=0 is the same image: one key.
    assert renditions.key(asset, "linkedin-landscape", "jpeg", watermark=False) == base
    logo = logo_asset(portal, tmp_path, marketing)
    portal.brand.update({"watermark_asset_id": logo.id}, marketing)
    branded = renditions.key(asset, "linkedin-landscape", "jpeg")
    keys = {
        base,
        branded,
        renditions.key(asset, "linkedin-landscape", "jpeg", watermark=False),
        renditions.key(asset, "linkedin-square", "jpeg"),
        renditions.key(asset, "linkedin-landscape", "png"),
        renditions.key(asset, "linkedin-landscape", "jpeg", headline="Hello"),
    }
    moved = portal.assets.update(asset.id, {"focal": [0.2, 0.3]}, actor=marketing)
    keys.add(renditions.key(moved, "linkedin-landscape", "jpeg"))
    portal.brand.update({"background": "#000000"}, marketing)
    keys.add(renditions.key(moved, "linkedin-landscape", "jpeg"))
    portal.settings = replace(portal.settings, jpeg_quality=70)
    keys.add(renditions.key(moved, "linkedin-landscape", "jpeg"))
    assert len(keys) == 9
    assert renditions.key(asset, "linkedin-landscape", "jpeg", headline="  Hello ") == renditions.key(
        asset, "linkedin-landscape", "jpeg", headline="Hello"
    )
    with pytest.raises(Invalid):
        renditions.key(asset, "myspace", "jpeg")
    with pytest.raises(Invalid):
        renditions.key(asset, "linkedin-landscape", "gif")


def test_focal_point_moves_the_crop(portal: Portal, tmp_path: Path) -> None:
    # Left half red, right half blue; a square crop shows mostly one side, chosen by the focal point.
    data = encode(halves((1600, 800), RED, BLUE), "JPEG", quality=92)
    left = add_image(portal, tmp_path, data, focal=[0.1, 0.5])
    on_left = opened(portal.renditions.render(left, "instagram-square", "png").data)
    right = portal.assets.update(left.id, {"focal": [0.9, 0.5]}, actor=None)
    on_right = opened(portal.renditions.render(right, "instagram-square", "png").data)
    assert close(mean(on_left, (0, 0, 1080, 1080)), (230, 0, 0), 40)
    assert close(mean(on_right, (0, 0, 1080, 1080)), (0, 40, 220), 40)


def test_watermark_is_drawn_in_the_corner_and_left_out_on_request(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    asset = add_image(portal, tmp_path, grey_photo(), actor=marketing)
    logo = logo_asset(portal, tmp_path, marketing)
    portal.brand.update({"watermark_asset_id": logo.id, "watermark_opacity": 1.0}, marketing)
    marked = opened(portal.renditions.render(asset, "linkedin-landscape", "png").data)
    plain = opened(portal.renditions.render(asset, "linkedin-landscape", "png", watermark=False).data)
    assert close(mean(marked, CORNER), RED, 30)
    assert close(mean(plain, CORNER), GREY, 6)
    assert close(mean(marked, (0, 0, 300, 200)), GREY, 6)  # the opposite corner is untouched
    portal.brand.update({"watermark_position": "top-left"}, marketing)
    moved = opened(portal.renditions.render(asset, "linkedin-landscape", "png").data)
    assert close(mean(moved, CORNER), GREY, 6) and close(mean(moved, (60, 60, 200, 120)), RED, 30)


def test_watermark_left_out_when_its_asset_is_gone(portal: Portal, marketing: User, tmp_path: Path) -> None:
    asset = add_image(portal, tmp_path, grey_photo(), actor=marketing)
    logo = logo_asset(portal, tmp_path, marketing)
    portal.brand.update({"watermark_asset_id": logo.id, "watermark_opacity": 1.0}, marketing)
    with_logo = portal.renditions.key(asset, "linkedin-landscape", "png")
    portal.assets.archive(logo.id, actor=marketing)
    portal.assets.purge(logo.id, actor=marketing)
    made = portal.renditions.render(asset, "linkedin-landscape", "png")
    assert made.etag != with_logo
    assert close(mean(opened(made.data), CORNER), GREY, 6)


def test_purging_an_asset_removes_its_renditions(
    portal: Portal, store: Store, marketing: User, tmp_path: Path
) -> None:
    asset = add_image(portal, tmp_path, grey_photo(), actor=marketing)
    portal.renditions.render(asset, "linkedin-landscape", "jpeg")
    portal.renditions.render(asset, "instagram-story", "webp")
    assert len(list(store.list(f"renditions/{asset.id}/"))) == 2
    portal.assets.archive(asset.id, actor=marketing)
    portal.assets.purge(asset.id, actor=marketing)
    assert list(store.list(f"renditions/{asset.id}/")) == []


def test_headline_uses_the_uploaded_font(portal: Portal, marketing: User, tmp_path: Path) -> None:
    font = builtin_font()
    asset = add_image(portal, tmp_path, grey_photo(), actor=marketing)
    before = portal.renditions.key(asset, "linkedin-landscape", "jpeg", headline="Hello")
    brand = portal.brand.update({}, marketing, font=font)
    digest = hashlib.sha256(font).hexdigest()
    assert brand.font_key == f"blobs/brand/font-{digest}.ttf" and brand.font_name == "Aileron"
    assert portal.store.read(brand.font_key)[0] == font
    assert portal.brand.look(portal.settings).font == font
    made = portal.renditions.render(asset, "linkedin-landscape", "jpeg", headline="Hello")
    assert made.etag != before
    band = mean(opened(made.data), (0, 620, 1200, 627))
    assert close(band, (0, 82, 147), 10)  # the headline band in the default brand colour
    reset = portal.brand.update({"font_reset": True}, marketing)
    assert reset.font_key == "" and portal.brand.font_bytes() is None


@pytest.mark.parametrize(
    ("values", "font"),
    [
        ({"background": "red"}, None),
        ({"brand_colour": "#12345"}, None),
        ({"text_colour": "#gggggg"}, None),
        ({"watermark_position": "middle"}, None),
        ({"watermark_margin": 0.5}, None),
        ({"watermark_scale": 0.01}, None),
        ({"watermark_opacity": "lots"}, None),
        ({"watermark_asset_id": "no-such-asset"}, None),
        ({"colour": "#ffffff"}, None),
        ({"background": "#000000"}, b"this is not a font file at all"),
        ({"background": "#000000"}, b"OTTO" + b"\x00" * 200),
    ],
)
def test_brand_validation_errors_leave_the_store_unchanged(
    portal: Portal, marketing: User, values: dict[str, Any], font: bytes | None
) -> None:
    before = everything(portal.store)
    with pytest.raises(Invalid):
        portal.brand.update(values, marketing, font=font)
    assert everything(portal.store) == before
    assert portal.brand.current() == Brand() and portal.brand.current().version == "default"


def test_brand_refuses_a_draft_logo_and_an_oversized_font(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    draft = add_image(portal, tmp_path, make_logo(), actor=marketing, approve=False, name="draft.png")
    before = everything(portal.store)
    with pytest.raises(Invalid):
        portal.brand.update({"watermark_asset_id": draft.id}, marketing)
    with pytest.raises(TooLarge):
        portal.brand.update({}, marketing, font=b"\x00\x01\x00\x00" + b"\x00" * MAX_FONT_BYTES)
    assert everything(portal.store) == before


def test_brand_update_is_audited_and_refuses_stale_versions(portal: Portal, marketing: User) -> None:
    first = portal.brand.update({"brand_colour": "#AA0000"}, marketing, "default")
    assert first.brand_colour == "#aa0000" and first.version != "default"
    second = portal.brand.update({"watermark_scale": "0.25"}, marketing, first.version)
    assert second.watermark_scale == 0.25
    with pytest.raises(PreconditionFailed):
        portal.brand.update({"brand_colour": "#00aa00"}, marketing, first.version, client_version=True)
    with pytest.raises(Conflict):
        portal.brand.update({"brand_colour": "#00aa00"}, marketing, first.version)
    assert portal.brand.current().brand_colour == "#aa0000"
    unchanged = portal.brand.update({"brand_colour": "#aa0000"}, marketing)
    assert unchanged.version == second.version
    entries = portal.audit.entries(object_id="brand")
    assert [e.action for e in entries] == ["brand.update", "brand.update"]
    assert entries[0].details["fields"] == ["watermark_scale"] and entries[0].before == first.version
