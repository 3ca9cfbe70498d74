"""Two instances on one store, the second not yet refreshed: a client's If-Match is judged by the store.

Behind a load balancer a client reads from one instance and writes through another. The version it
sends may be newer than the second instance's index; that is the current version, not a stale one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadkit import photo
from toolkit.accounts import User
from toolkit.assets import UploadedFile
from toolkit.errors import PreconditionFailed
from toolkit.portal import Portal
from toolkit.settings import Settings


@pytest.fixture
def pair(store_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Portal, Portal]]:
    endpoint = request.getfixturevalue("s3_server").url if store_url.startswith("s3://") else ""
    portals = []
    for name in ("a", "b"):
        settings = Settings.from_env(
            {}, store=store_url, s3_endpoint_url=endpoint, instance_id=f"stale-{name}"
        )
        portal = Portal(settings)
        portal.start()
        portals.append(portal)
    yield portals[0], portals[1]
    for portal in portals:
        portal.close()


def marketer(portal: Portal) -> User:
    return portal.accounts.add("marketing@example.com", role="marketing", name="Mia Marketing")


def test_post_update_stale_instance_accepts_current_version(pair: tuple[Portal, Portal]) -> None:
    a, b = pair
    actor = marketer(a)
    post = a.posts.create({"title": "First", "variants": [{"language": "en", "text": "Hello"}]}, actor)
    b.refresh()
    newer = a.posts.update(post.id, {"title": "Second"}, actor, version=post.version)

    saved = b.posts.update(post.id, {"campaign": "Spring"}, actor, version=newer.version)

    assert (saved.title, saved.campaign) == ("Second", "Spring")


def test_post_update_stale_version_refused_everywhere(pair: tuple[Portal, Portal]) -> None:
    a, b = pair
    actor = marketer(a)
    post = a.posts.create({"title": "First", "variants": [{"language": "en", "text": "Hello"}]}, actor)
    b.refresh()
    a.posts.update(post.id, {"title": "Second"}, actor, version=post.version)

    with pytest.raises(PreconditionFailed):
        b.posts.update(post.id, {"title": "Mine"}, actor, version=post.version)

    assert a.posts.require(post.id).title == "Second"


def test_hashtag_set_update_stale_instance_keeps_newer_write(pair: tuple[Portal, Portal]) -> None:
    a, b = pair
    actor = marketer(a)
    made = a.hashtag_sets.create({"name": "Company", "hashtags": ["#One"]}, actor)
    b.refresh()
    newer = a.hashtag_sets.update(made.id, {"hashtags": ["#Two"]}, actor, version=made.version)

    renamed = b.hashtag_sets.update(made.id, {"name": "Brand"}, actor, version=newer.version)

    # Merged onto the version the client saw, not onto the instance's older copy.
    assert (renamed.name, list(renamed.hashtags)) == ("Brand", ["#Two"])


def test_asset_update_stale_instance_accepts_current_version(
    pair: tuple[Portal, Portal], tmp_path: Path
) -> None:
    a, b = pair
    actor = marketer(a)
    data = photo(1, (64, 48))
    (tmp_path / "photo.jpg").write_bytes(data)
    upload = UploadedFile(tmp_path / "photo.jpg", len(data), hashlib.sha256(data).hexdigest(), "photo.jpg")
    asset, _ = a.assets.add_upload(upload, actor=actor, title="Photo")
    b.refresh()
    newer = a.assets.update(asset.id, {"title": "Renamed"}, actor=actor, version=asset.version)

    saved = b.assets.update(
        asset.id, {"alt_text": "A photo"}, actor=actor, version=newer.version, client_version=True
    )

    assert (saved.title, saved.alt_text) == ("Renamed", "A photo")
