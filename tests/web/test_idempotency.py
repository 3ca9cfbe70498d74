"""Idempotency-Key on creating POSTs, and creates whose audit entry the store could not take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import asset_samples as samples
from tests.storekit import RefusingStore
from tests.web.conftest import Site
from toolkit.web import idempotency
from toolkit.web.idempotency import KIND, purge_expired, record_id

SET = {"name": "Launch", "hashtags": ["launch"]}
POST = {"title": "Launch", "variants": [{"text": "We launched."}]}


def _token(site: Site, email: str) -> dict[str, str]:
    user = site.person("marketing", email=email)
    return {"authorization": f"Bearer {site.portal.accounts.create_token(user).secret}"}


def test_a_retried_create_returns_the_first_answer_and_makes_one(site: Site) -> None:
    headers = site.token_for("marketing") | {"idempotency-key": "k-1"}
    first = site.client.post("/api/v1/posts", json=POST, headers=headers)
    again = site.client.post("/api/v1/posts", json=POST, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(site.portal.posts.all()) == 1

    made = site.client.post("/api/v1/hashtag-sets", json=SET, headers=headers)
    assert made.status_code == 422  # the same key for another endpoint
    assert made.json()["error"]["code"] == "idempotency_key_reused"
    without = site.client.post("/api/v1/posts", json=POST, headers=site.token_for("marketing"))
    assert without.status_code == 201 and len(site.portal.posts.all()) == 2


def test_the_same_key_with_another_body_is_refused(site: Site) -> None:
    headers = site.token_for("marketing") | {"idempotency-key": "k-2"}
    assert site.client.post("/api/v1/hashtag-sets", json=SET, headers=headers).status_code == 201
    other = site.client.post("/api/v1/hashtag-sets", json=SET | {"name": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert [s.name for s in site.portal.hashtag_sets.all()] == ["Launch"]


def test_keys_are_per_person(site: Site) -> None:
    ann = _token(site, "ann@example.com") | {"idempotency-key": "same"}
    bob = _token(site, "bob@example.com") | {"idempotency-key": "same"}
    assert site.client.post("/api/v1/hashtag-sets", json=SET, headers=ann).status_code == 201
    other = site.client.post("/api/v1/hashtag-sets", json=SET | {"name": "Bob's"}, headers=bob)
    assert other.status_code == 201, other.text
    assert sorted(s.name for s in site.portal.hashtag_sets.all()) == ["Bob's", "Launch"]


def test_a_key_still_running_is_409_and_errors_are_not_kept(site: Site) -> None:
    user = site.person("marketing")
    headers = site.token_for("marketing") | {"idempotency-key": "busy"}
    now = datetime.now(UTC).isoformat()
    site.portal.records.create(
        KIND, record_id(user.id, "busy"), {"body_hash": "x", "state": "running", "created_at": now}
    )
    busy = site.client.post("/api/v1/hashtag-sets", json=SET, headers=headers)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"

    headers["idempotency-key"] = "fails-first"
    refused = site.client.post("/api/v1/hashtag-sets", json={"name": ""}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid"
    assert site.portal.records.get(KIND, record_id(user.id, "fails-first")) is None
    long_key = headers | {"idempotency-key": "x" * 256}
    assert site.client.post("/api/v1/hashtag-sets", json=SET, headers=long_key).status_code == 422


def test_after_24_hours_the_key_is_fresh(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = site.token_for("marketing") | {"idempotency-key": "daily"}
    assert site.client.post("/api/v1/hashtag-sets", json=SET, headers=headers).status_code == 201
    later = datetime.now(UTC) + timedelta(hours=25)
    monkeypatch.setattr(idempotency, "clock", lambda: later)
    other = site.client.post("/api/v1/hashtag-sets", json=SET | {"name": "Next day"}, headers=headers)
    assert other.status_code == 201, other.text
    assert len(site.portal.hashtag_sets.all()) == 2
    assert purge_expired(site.portal.records, later) == 0  # rewritten at `later`: fresh
    assert purge_expired(site.portal.records, later + timedelta(hours=25)) == 1
    assert site.portal.records.scan(KIND) == []


def test_a_retried_upload_returns_the_first_answer(site: Site) -> None:
    headers = site.token_for("marketing") | {"idempotency-key": "upload-1"}
    image = {"file": ("a.jpg", samples.jpeg((64, 48)), "image/jpeg")}
    first = site.client.post("/api/v1/assets", files=image, data={"title": "A"}, headers=headers)
    again = site.client.post("/api/v1/assets", files=image, data={"title": "A"}, headers=headers)
    assert first.status_code == again.status_code == 201, first.text  # not 200 duplicate
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    other = {"file": ("b.png", samples.png(), "image/png")}
    reused = site.client.post("/api/v1/assets", files=other, headers=headers)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert len(site.portal.assets.all()) == 1


def test_a_create_whose_audit_entry_fails_is_reported_done(site: Site) -> None:
    token = site.token_for("marketing")
    audit = site.portal.audit
    store = RefusingStore(audit.store, "audit/")
    audit.store = store
    made = site.client.post("/api/v1/hashtag-sets", json=SET, headers=token)
    assert made.status_code == 201, made.text
    assert len(site.portal.hashtag_sets.all()) == 1
    assert audit.pending() == 1
    assert audit.flush_pending() == 0  # still down: kept
    assert audit.pending() == 1
    store.down = False
    assert audit.flush_pending() == 1
    assert audit.pending() == 0
    entries = [e for e in audit.entries() if e.object_id == made.json()["id"]]
    assert len(entries) == 1
