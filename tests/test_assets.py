"""The image library's domain: accepting and refusing uploads, masters, duplicates, visibility,
search, curation and purging, on both store backends."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from tests import asset_samples as samples
from tests.conftest import started_portal
from tests.imaging.samples import close, encode, mean
from tests.storekit import everything
from toolkit.accounts import User
from toolkit.asset_fields import normalise_tags
from toolkit.assets import ASSETS, HASHES, TILES_NAME, Asset, UploadedFile
from toolkit.errors import Conflict, Invalid, NotFound, PreconditionFailed, ToolkitError, UnsupportedMedia
from toolkit.imaging.tiles import Tiled
from toolkit.portal import Portal
from toolkit.store import Store
from toolkit.store.local import LocalStore


@pytest.fixture
def local_portal(tmp_path: Path) -> Iterator[Portal]:
    """A started instance on a local folder, for tests about pixels rather than storage."""
    folder = tmp_path / "data"
    instance = started_portal(LocalStore(folder), str(folder))
    yield instance
    instance.close()


@pytest.fixture
def marketing(portal: Portal) -> User:
    return portal.accounts.add("marketing@example.com", role="marketing", name="Mia Marketing")


def upload_file(tmp_path: Path, data: bytes, name: str = "photo.jpg") -> UploadedFile:
    path = tmp_path / f"upload-{hashlib.sha256(data).hexdigest()[:12]}-{name}"
    path.write_bytes(data)
    return UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), name)


def add(
    portal: Portal, tmp_path: Path, data: bytes, name: str = "photo.jpg", actor: User | None = None, **kw: str
) -> tuple[Asset, bool]:
    return portal.assets.add_upload(upload_file(tmp_path, data, name), actor=actor, **kw)


def master_image(portal: Portal, asset: Asset) -> Image.Image:
    img = Image.open(io.BytesIO(portal.assets.master_bytes(asset)))
    img.load()
    return img


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


# Accepting uploads


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("TIFF", "image/tiff"),
    ],
)
def test_upload_of_each_supported_type_stores_original_master_and_thumbnails(
    portal: Portal, marketing: User, tmp_path: Path, fmt: str, content_type: str
) -> None:
    data = encode(Image.new("RGB", (90, 60), (40, 140, 90)), fmt)
    asset, duplicate = add(
        portal, tmp_path, data, "team.bin", marketing, title="", tags="Team, outdoors ,team"
    )
    assert not duplicate
    assert (asset.content_type, asset.width, asset.height, asset.size) == (content_type, 90, 60, len(data))
    assert asset.status == "draft" and asset.title == "team" and asset.tags == ("team", "outdoors")
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.created_by == marketing.id
    assert portal.store.read(asset.original_key)[0] == data  # unchanged
    assert asset.master_type == "image/jpeg" and master_image(portal, asset).size == (90, 60)
    assert set(asset.thumbs) == {"320", "640"}
    for width in (320, 640):
        thumb = Image.open(io.BytesIO(portal.assets.thumb_bytes(asset, width)))
        assert thumb.format == "JPEG" and thumb.width == 90  # never wider than the master
    record = portal.records.require(ASSETS, asset.id)
    assert record.data["bytes"] == len(data) and record.data["thumbs"] == asset.thumbs
    assert portal.records.require(HASHES, asset.sha256).data["asset_id"] == asset.id


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_is_applied_to_the_master(
    local_portal: Portal, tmp_path: Path, orientation: int
) -> None:
    asset, _ = add(local_portal, tmp_path, samples.oriented_jpeg(orientation))
    master = master_image(local_portal, asset).convert("RGB")
    assert master.size == (80, 48)
    assert close(mean(master, (4, 4, 36, 20)), samples.RED, 30), orientation  # red stays top-left
    assert close(mean(master, (44, 28, 76, 44)), (255, 255, 255), 30), orientation
    assert "exif" not in master.info


@pytest.mark.parametrize("with_profile", [True, False])
def test_cmyk_jpeg_comes_out_red_not_inverted(
    local_portal: Portal, tmp_path: Path, with_profile: bool
) -> None:
    asset, _ = add(local_portal, tmp_path, samples.cmyk_jpeg(with_profile=with_profile))
    assert asset.content_type == "image/jpeg"
    red, green, blue = mean(master_image(local_portal, asset).convert("RGB"))
    assert red > 180 and green < 90 and blue < 90


def test_16_bit_pngs_keep_their_tones(local_portal: Portal, tmp_path: Path) -> None:
    grey, _ = add(local_portal, tmp_path, samples.grey16_png(32768), "grey.png")
    assert close(mean(master_image(local_portal, grey).convert("L")), (128,), 4)
    rgb, _ = add(local_portal, tmp_path, samples.rgb16_png((65535, 32768, 0)), "rgb.png")
    assert close(mean(master_image(local_portal, rgb).convert("RGB")), (255, 128, 0), 4)


def test_palette_png_with_transparency_keeps_it_in_a_png_master(local_portal: Portal, tmp_path: Path) -> None:
    asset, _ = add(local_portal, tmp_path, samples.palette_png_with_transparency(), "logo.png")
    assert asset.master_type == "image/png" and asset.master_key.endswith("master.png")
    master = master_image(local_portal, asset)
    assert master.mode == "RGBA"
    assert master.getpixel((2, 2))[3] == 0  # type: ignore[index]
    assert master.getpixel((35, 10)) == (*samples.RED, 255)


def test_animated_gif_is_accepted_and_rendered_from_its_first_frame(
    local_portal: Portal, tmp_path: Path
) -> None:
    data = samples.gif_frames([(200, 0, 0), (0, 200, 0), (0, 0, 200)])
    asset, _ = add(local_portal, tmp_path, data, "anim.gif")
    assert asset.content_type == "image/gif"
    red, green, blue = mean(master_image(local_portal, asset).convert("RGB"))
    assert red > 150 and green < 50 and blue < 50


# Refusing uploads


REFUSALS: dict[str, tuple[Callable[[], bytes], type[ToolkitError]]] = {
    "empty": (lambda: b"", Invalid),
    "text named .jpg": (lambda: samples.TEXT, UnsupportedMedia),
    "html": (lambda: samples.HTML, UnsupportedMedia),
    "zip": (samples.zip_file, UnsupportedMedia),
    "svg": (lambda: samples.SVG, UnsupportedMedia),
    "png with huge dimensions": (samples.huge_png_tiny_body, Invalid),
    "truncated jpeg": (samples.truncated_jpeg, Invalid),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_upload_leaves_the_store_as_it_was(
    portal: Portal, marketing: User, tmp_path: Path, case: str
) -> None:
    make, error = REFUSALS[case]
    before = everything(portal.store)
    with pytest.raises(error):
        add(portal, tmp_path, make(), "holiday.jpg", marketing)
    assert everything(portal.store) == before
    assert portal.assets.all() == []


def test_pixel_limit_counts_every_frame(local_portal: Portal, tmp_path: Path) -> None:
    local_portal.assets.max_pixels = 1000
    with pytest.raises(Invalid, match="pixels"):
        add(local_portal, tmp_path, samples.jpeg((40, 30)))  # 1,200 pixels
    # Three frames of 20x20: each frame is under the limit, together they are not.
    with pytest.raises(Invalid, match="pixels"):
        add(local_portal, tmp_path, samples.gif_frames([(1, 2, 3), (4, 5, 6), (7, 8, 9)], (20, 20)), "a.gif")
    assert add(local_portal, tmp_path, samples.jpeg((30, 30)))[0].width == 30


# Duplicates


def test_same_bytes_twice_give_the_existing_asset_and_store_nothing(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    first, duplicate = add(portal, tmp_path, samples.jpeg(), "a.jpg", marketing)
    assert not duplicate
    before = everything(portal.store)
    again, duplicate = add(portal, tmp_path, samples.jpeg(), "b.jpg", marketing, title="Other title")
    assert duplicate and again.id == first.id and again.title == first.title
    assert everything(portal.store) == before


def test_duplicate_is_found_across_instances_before_they_refresh(
    portal: Portal, store: Store, store_url: str, marketing: User, tmp_path: Path
) -> None:
    other = started_portal(store, store_url, "test-b")
    try:
        first, _ = add(portal, tmp_path, samples.jpeg(), "a.jpg", marketing)
        assert other.records.get(ASSETS, first.id) is None  # b has not seen it yet
        blobs_before = sorted(i.key for i in store.list("blobs/"))
        again, duplicate = add(other, tmp_path, samples.jpeg(), "a.jpg")
        assert duplicate and again.id == first.id
        assert sorted(i.key for i in store.list("blobs/")) == blobs_before  # b's copies were removed
        assert len(other.assets.all()) == 1
    finally:
        other.close()


def test_claim_left_by_a_crash_is_taken_over(portal: Portal, tmp_path: Path) -> None:
    data = samples.jpeg()
    sha = hashlib.sha256(data).hexdigest()
    long_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    portal.records.create(HASHES, sha, {"asset_id": "never-written", "claimed_at": long_ago})
    asset, duplicate = add(portal, tmp_path, data)
    assert not duplicate and portal.records.require(HASHES, sha).data["asset_id"] == asset.id


def test_fresh_claim_without_asset_means_an_upload_in_progress(portal: Portal, tmp_path: Path) -> None:
    data = samples.jpeg()
    sha = hashlib.sha256(data).hexdigest()
    portal.records.create(
        HASHES, sha, {"asset_id": "being-written", "claimed_at": datetime.now(UTC).isoformat()}
    )
    before = everything(portal.store)
    with pytest.raises(Conflict):
        add(portal, tmp_path, data)
    assert everything(portal.store) == before


# Who sees what


def test_employees_only_see_approved_images_within_rights_and_consent(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    employee = portal.accounts.add("employee@example.com")
    asset, _ = add(portal, tmp_path, samples.jpeg(), actor=marketing)
    assets = portal.assets
    assert assets.visible(marketing, asset.id).id == asset.id
    with pytest.raises(NotFound):
        assets.visible(employee, asset.id)  # draft
    with pytest.raises(NotFound):
        assets.visible(None, asset.id)
    assets.update(asset.id, {"status": "approved"}, actor=marketing)
    assert assets.visible(employee, asset.id).status == "approved"

    cases: list[tuple[dict[str, object], bool]] = [
        ({"rights_expires": day(1)}, True),
        ({"rights_expires": day(0)}, False),  # drops out on the expiry date itself
        ({"rights_expires": day(-1)}, False),
        ({"rights_expires": None, "shows_people": True, "consent_expires": day(0)}, False),
        ({"shows_people": True, "consent_expires": day(30)}, True),
        ({"shows_people": False, "consent_expires": day(-5)}, True),  # consent only counts for people
        ({"shows_people": True, "consent_expires": None}, True),
    ]
    for changes, visible in cases:
        assets.update(asset.id, changes, actor=marketing)
        if visible:
            assert assets.visible(employee, asset.id), changes
        else:
            with pytest.raises(NotFound):
                assets.visible(employee, asset.id)
            assert assets.visible(marketing, asset.id)  # marketing still sees it
    # Tomorrow the consent date given above has not passed; a month later it has.
    assets.update(asset.id, {"shows_people": True, "consent_expires": day(30)}, actor=marketing)
    assert assets.visible(employee, asset.id, day=date.today() + timedelta(days=29))
    with pytest.raises(NotFound):
        assets.visible(employee, asset.id, day=date.today() + timedelta(days=30))
    assets.archive(asset.id, actor=marketing)
    with pytest.raises(NotFound):
        assets.visible(employee, asset.id)


def test_expiry_report_lists_what_ends_within_30_days(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    soon, _ = add(portal, tmp_path, samples.distinct_jpeg(1), actor=marketing, title="Soon")
    later, _ = add(portal, tmp_path, samples.distinct_jpeg(2), actor=marketing, title="Later")
    gone, _ = add(portal, tmp_path, samples.distinct_jpeg(3), actor=marketing, title="Gone")
    draft, _ = add(portal, tmp_path, samples.distinct_jpeg(4), actor=marketing, title="Draft")
    portal.assets.update(
        soon.id, {"status": "approved", "shows_people": True, "consent_expires": day(10)}, actor=None
    )
    portal.assets.update(later.id, {"status": "approved", "rights_expires": day(31)}, actor=None)
    portal.assets.update(gone.id, {"status": "approved", "rights_expires": day(-1)}, actor=None)
    portal.assets.update(draft.id, {"rights_expires": day(3)}, actor=None)
    report = portal.assets.expiry_report()
    assert [(n.asset.title, n.what, n.expired) for n in report] == [
        ("Gone", "rights", True),
        ("Soon", "consent", False),
    ]
    employee = portal.accounts.add("employee@example.com")
    expiring = portal.assets.search(marketing, expiring=True)
    assert {a.title for a in expiring.items} == {"Soon", "Gone"}
    assert {a.title for a in portal.assets.search(employee).items} == {"Soon", "Later"}


# Search


def test_search_matches_word_starts_tags_and_status_with_paging(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    specs = [
        ("Sunset over the harbour", "team, summer", "approved", "Evening light"),
        ("Product launch", "product, campaign", "approved", "Café opening"),
        ("Team day", "team, outdoors", "draft", ""),
        ("Old logo", "logo", "archived", ""),
    ]
    ids = {}
    for n, (title, tags, status, description) in enumerate(specs):
        asset, _ = add(portal, tmp_path, samples.distinct_jpeg(n), actor=marketing, title=title, tags=tags)
        portal.assets.update(asset.id, {"status": status, "description": description}, actor=marketing)
        ids[title] = asset.id
    search = portal.assets.search

    def titles(**kw: object) -> set[str]:
        return {a.title for a in search(marketing, **kw).items}  # type: ignore[arg-type]

    assert titles(q="sun") == {"Sunset over the harbour"}  # start of a word
    assert titles(q="arbour") == set()  # not the middle of one
    assert titles(q="cafe") == {"Product launch"}  # accents folded, description searched
    assert titles(q="team") == {"Sunset over the harbour", "Team day"}  # tag or title
    assert titles(q="team day") == {"Team day"}  # every word must match
    assert titles(tags=["team"]) == {"Sunset over the harbour", "Team day"}
    assert titles(tags=["team", "summer"]) == {"Sunset over the harbour"}  # all tags must match
    assert titles(tags=["Team "]) == titles(tags=["team"])
    assert titles(status="draft") == {"Team day"}
    assert len(titles()) == 4
    with pytest.raises(Invalid):
        search(marketing, status="deleted")

    employee = portal.accounts.add("employee@example.com")
    assert {a.title for a in search(employee).items} == {"Sunset over the harbour", "Product launch"}
    assert {a.title for a in search(employee, status="draft").items} == {
        "Sunset over the harbour",
        "Product launch",
    }

    first = search(marketing, per_page=3, page=1)
    second = search(marketing, per_page=3, page=2)
    assert first.total == second.total == 4 and first.pages == 2
    assert len(first.items) == 3 and len(second.items) == 1
    assert [a.title for a in first.items][0] == "Old logo"  # newest first
    assert dict(search(marketing).tag_counts)["team"] == 2


def test_search_index_follows_other_instances_after_refresh(
    portal: Portal, store: Store, store_url: str, marketing: User, tmp_path: Path
) -> None:
    other = started_portal(store, store_url, "test-b")
    try:
        asset, _ = add(portal, tmp_path, samples.jpeg(), actor=marketing, title="Harbour")
        assert other.assets.search(marketing, q="harbour").total == 0
        other.refresh()
        assert other.assets.search(marketing, q="harbour").total == 1
        portal.assets.update(asset.id, {"title": "Dunes"}, actor=marketing)
        other.refresh()
        assert other.assets.search(marketing, q="harbour").total == 0
        assert other.assets.require(asset.id).title == "Dunes"
    finally:
        other.close()


# Curation


def test_update_validates_and_refuses_stale_versions(portal: Portal, marketing: User, tmp_path: Path) -> None:
    asset, _ = add(portal, tmp_path, samples.jpeg(), actor=marketing)
    saved = portal.assets.update(
        asset.id,
        {
            "title": "  Harbour  at dawn ",
            "focal": [0.25, 0.75],
            "tags": "Sea, sea, Dawn",
            "alt_text": "Boats",
        },
        actor=marketing,
        version=asset.version,
    )
    assert saved.title == "Harbour at dawn" and saved.focal == (0.25, 0.75) and saved.tags == ("sea", "dawn")
    assert saved.version != asset.version
    with pytest.raises(PreconditionFailed):
        portal.assets.update(
            asset.id, {"title": "Late"}, actor=marketing, version=asset.version, client_version=True
        )
    with pytest.raises(Conflict):
        portal.assets.update(asset.id, {"title": "Late"}, actor=marketing, version=asset.version)
    for bad in (
        {"focal": [1.5, 0.2]},
        {"focal": "middle"},
        {"status": "published"},
        {"rights_expires": "31-12-2025"},
        {"width": 10},
        {"title": ""},
        {"shows_people": "yes"},
        {"tags": ["x" * 41]},
    ):
        with pytest.raises(Invalid):
            portal.assets.update(asset.id, bad, actor=marketing)
    assert portal.assets.require(asset.id).title == "Harbour at dawn"
    actions = [e.action for e in portal.audit.entries(object_id=asset.id)]
    assert actions == ["asset.update", "asset.create"]


def test_bulk_actions_tag_approve_and_archive(portal: Portal, marketing: User, tmp_path: Path) -> None:
    a, _ = add(portal, tmp_path, samples.distinct_jpeg(1), actor=marketing, tags="sea")
    b, _ = add(portal, tmp_path, samples.distinct_jpeg(2), actor=marketing)
    assets = portal.assets
    assert assets.bulk([a.id, b.id], "tag", actor=marketing, tags="Summer, sea") == 2
    assert assets.require(a.id).tags == ("sea", "summer") and assets.require(b.id).tags == ("summer", "sea")
    assert assets.bulk([a.id, b.id], "tag", actor=marketing, tags="summer") == 0  # nothing to add
    assert assets.bulk([a.id, b.id], "approve", actor=marketing) == 2
    assert {assets.require(i).status for i in (a.id, b.id)} == {"approved"}
    assert assets.bulk([a.id], "archive", actor=marketing) == 1
    assert assets.require(a.id).status == "archived" and assets.require(b.id).status == "approved"
    with pytest.raises(Invalid):
        assets.bulk([a.id], "delete", actor=marketing)
    with pytest.raises(Invalid):
        assets.bulk([], "approve", actor=marketing)
    with pytest.raises(NotFound):
        assets.bulk([a.id, "nope"], "approve", actor=marketing)
    assert assets.require(a.id).status == "archived"  # nothing applied when one id is unknown


def test_purge_removes_the_record_and_every_derived_object(
    portal: Portal, marketing: User, tmp_path: Path
) -> None:
    keep, _ = add(portal, tmp_path, samples.distinct_jpeg(1), actor=marketing)
    asset, _ = add(portal, tmp_path, samples.distinct_jpeg(2), actor=marketing)
    portal.store.put(f"renditions/{asset.id}/abc.jpeg", b"rendered")
    portal.store.put(f"renditions/{asset.id}/def.webp", b"rendered")
    with pytest.raises(Conflict):
        portal.assets.purge(asset.id, actor=marketing)  # archive first
    archived = portal.assets.archive(asset.id, actor=marketing)
    portal.records.create("posts", "p1", {"title": "Summer post", "asset_id": asset.id, "status": "approved"})
    with pytest.raises(Conflict, match="Summer post"):
        portal.assets.purge(asset.id, actor=marketing)
    portal.records.delete("posts", "p1")
    assert portal.assets.master_bytes(archived)  # cached before the purge
    portal.assets.purge(asset.id, actor=marketing)
    leftovers = [k for k in everything(portal.store) if asset.id in k or asset.sha256 in k]
    assert leftovers == []
    assert portal.assets.get(asset.id) is None and portal.records.get(HASHES, asset.sha256) is None
    assert portal.assets.require(keep.id) and portal.store.head(keep.original_key) is not None
    # The same bytes can come back as a new asset afterwards.
    again, duplicate = add(portal, tmp_path, samples.distinct_jpeg(2), actor=marketing)
    assert not duplicate and again.id != asset.id


def test_where_used_lists_posts_of_the_asset(portal: Portal, marketing: User, tmp_path: Path) -> None:
    asset, _ = add(portal, tmp_path, samples.jpeg(), actor=marketing)
    portal.records.create("posts", "p1", {"title": "One", "asset_id": asset.id})
    portal.records.create("posts", "p2", {"title": "Two", "asset_id": "other"})
    assert [r.id for r in portal.assets.where_used(asset.id)] == ["p1"]


def test_master_bytes_are_served_from_memory_once_read(
    local_portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, _ = add(local_portal, tmp_path, samples.jpeg())
    reads: list[str] = []
    original_read = local_portal.store.read

    def counting_read(key: str) -> tuple[bytes, str]:
        reads.append(key)
        return original_read(key)

    monkeypatch.setattr(local_portal.store, "read", counting_read)
    first = local_portal.assets.master_bytes(asset)
    assert local_portal.assets.master_bytes(asset) == first
    assert local_portal.assets.thumb_bytes(asset, 320) == local_portal.assets.thumb_bytes(asset, 320)
    assert reads == [asset.thumbs["320"]]  # the master was cached at upload


def test_upload_keeps_tiles_beside_the_master(portal: Portal, tmp_path: Path) -> None:
    asset, _ = add(portal, tmp_path, samples.jpeg())
    stored, _ = portal.store.read(f"blobs/assets/{asset.id}/{TILES_NAME}")
    tiled = Tiled.parse(stored)
    assert tiled.size == (asset.master_width, asset.master_height) and not tiled.alpha
    assert portal.assets.render_source(asset) == stored


def test_asset_from_before_tiles_gets_them_made_and_kept(
    portal: Portal, store_url: str, tmp_path: Path
) -> None:
    asset, _ = add(portal, tmp_path, samples.palette_png_with_transparency(), "logo.png")
    key = f"blobs/assets/{asset.id}/{TILES_NAME}"
    portal.store.delete(key)
    later = started_portal(portal.store, store_url, instance="test-b")  # an instance with nothing in memory
    try:
        source = later.assets.render_source(asset)
    finally:
        later.close()
    assert Tiled.parse(source).alpha
    assert portal.store.read(key)[0] == source


def test_tags_are_normalised() -> None:
    assert normalise_tags(" Summer ,#Team,  trade   show, summer,, ") == ["summer", "team", "trade show"]
    with pytest.raises(Invalid):
        normalise_tags([str(n) for n in range(31)])
