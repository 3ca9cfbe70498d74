"""The library over the API and in the browser: listing and search, edits with If-Match, archive and
purge, who sees what (incl. image files), bulk actions and the detail page."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import asset_samples as samples
from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.assets import Asset, UploadedFile


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def make_asset(
    site: Site, tmp_path: Path, n: int, *, title: str = "", tags: str = "", **changes: object
) -> Asset:
    """An asset added through the domain (as marketing), then curated with changes."""
    data = samples.distinct_jpeg(n)
    path = tmp_path / f"asset-{n}.jpg"
    path.write_bytes(data)
    marketing = site.person("marketing")
    upload = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), path.name)
    asset, _ = site.portal.assets.add_upload(upload, actor=marketing, title=title or f"Image {n}", tags=tags)
    if changes:
        asset = site.portal.assets.update(asset.id, changes, actor=marketing)
    return asset


# API


def test_api_lists_with_search_tags_status_and_paging(site: Site, tmp_path: Path) -> None:
    make_asset(site, tmp_path, 1, title="Harbour sunrise", tags="sea, summer", status="approved")
    make_asset(site, tmp_path, 2, title="Dunes", tags="summer, team", status="approved")
    make_asset(site, tmp_path, 3, title="Team draft", tags="team")
    marketing = site.token_for("marketing")
    employee = site.token_for("employee")
    client = site.client

    def titles(query: str, headers: dict[str, str]) -> list[str]:
        response = client.get(f"/api/v1/assets{query}", headers=headers)
        assert response.status_code == 200, response.text
        return sorted(item["title"] for item in response.json()["items"])

    everything = client.get("/api/v1/assets", headers=marketing).json()
    assert set(everything) == {"items", "total", "page", "per_page"} and everything["total"] == 3
    assert titles("?q=harb", marketing) == ["Harbour sunrise"]
    assert titles("?tag=summer", marketing) == ["Dunes", "Harbour sunrise"]
    assert titles("?tag=summer&tag=team", marketing) == ["Dunes"]
    assert titles("?status=draft", marketing) == ["Team draft"]
    assert titles("?q=team", employee) == ["Dunes"]  # the draft does not exist for employees
    assert titles("?status=draft", employee) == ["Dunes", "Harbour sunrise"]
    paged = client.get("/api/v1/assets?per_page=2&page=2", headers=marketing).json()
    assert (paged["page"], paged["per_page"], paged["total"], len(paged["items"])) == (2, 2, 3, 1)
    for bad in ("?per_page=0", "?per_page=500", "?page=x", "?status=gone"):
        response = client.get(f"/api/v1/assets{bad}", headers=marketing)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid", bad


def test_api_patch_honours_if_match_and_returns_the_new_etag(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1)
    headers = site.token_for("marketing")
    url = f"/api/v1/assets/{asset.id}"
    got = site.client.get(url, headers=headers)
    etag = got.headers["etag"]
    assert etag == f'"{asset.version}"' and got.json()["version"] == asset.version
    changed = site.client.patch(
        url,
        json={"title": "Harbour", "focal": [0.3, 0.6], "status": "approved", "rights_expires": day(90)},
        headers=headers | {"if-match": etag},
    )
    assert changed.status_code == 200, changed.text
    new_etag = changed.headers["etag"]
    assert new_etag != etag and changed.json()["focal"] == [0.3, 0.6] and changed.json()["usable"] is True
    stale = site.client.patch(url, json={"title": "Lost update"}, headers=headers | {"if-match": etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    weak = site.client.patch(url, json={"title": "x"}, headers=headers | {"if-match": f"W/{new_etag}"})
    assert weak.status_code == 412
    assert site.client.patch(url, json={"width": 1}, headers=headers).status_code == 422
    assert site.client.patch(url, json={"focal": [2, 0]}, headers=headers).status_code == 422
    assert site.portal.assets.require(asset.id).title == "Harbour"
    fresh = site.client.patch(url, json={"alt_text": "Boats"}, headers=headers | {"if-match": new_etag})
    assert fresh.status_code == 200 and fresh.json()["title"] == "Harbour"
    employee = site.client.patch(url, json={"title": "x"}, headers=site.token_for("employee"))
    assert employee.status_code == 403


def test_api_delete_archives_and_purge_removes_every_derived_object(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1, status="approved")
    other = make_asset(site, tmp_path, 2)
    store = site.portal.store
    store.put(f"renditions/{asset.id}/1200x627-abc.jpeg", b"rendition")
    headers = site.token_for("marketing")
    url = f"/api/v1/assets/{asset.id}"
    assert site.client.delete(f"{url}?purge=1", headers=headers).status_code == 409  # archive first
    archived = site.client.delete(url, headers=headers)
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert site.client.delete(url, headers=headers).json()["status"] == "archived"  # idempotent
    assert [k for k in (i.key for i in store.list("")) if asset.id in k]  # still all there
    purged = site.client.delete(f"{url}?purge=1", headers=headers)
    assert purged.status_code == 204
    assert [i.key for i in store.list("") if asset.id in i.key or asset.sha256 in i.key] == []
    assert site.client.get(url, headers=headers).status_code == 404
    assert site.client.get(f"/api/v1/assets/{other.id}", headers=headers).status_code == 200
    actions = [e.action for e in site.portal.audit.entries(object_id=asset.id)]
    assert actions[:2] == ["asset.purge", "asset.archive"]


def test_employees_get_404_for_anything_they_may_not_use(site: Site, tmp_path: Path) -> None:
    draft = make_asset(site, tmp_path, 1)
    usable = make_asset(site, tmp_path, 2, status="approved", rights_expires=day(1))
    expired = make_asset(site, tmp_path, 3, status="approved", rights_expires=day(0))
    no_consent = make_asset(site, tmp_path, 4, status="approved", shows_people=True, consent_expires=day(-1))
    archived = make_asset(site, tmp_path, 5, status="archived")
    employee = session_browser(site, "employee")
    marketing = session_browser(site, "marketing")
    for asset in (draft, expired, no_consent, archived):
        for path in (
            f"/api/v1/assets/{asset.id}",
            f"/api/v1/assets/{asset.id}/thumb?w=320",
            f"/api/v1/assets/{asset.id}/master",
            f"/library/{asset.id}",
        ):
            assert employee.get(path).status_code == 404, path
            assert marketing.get(path).status_code == 200, path
    for path in (
        f"/api/v1/assets/{usable.id}",
        f"/api/v1/assets/{usable.id}/thumb?w=640",
        f"/api/v1/assets/{usable.id}/master",
        f"/library/{usable.id}",
    ):
        assert employee.get(path).status_code == 200, path
    listed = employee.get("/api/v1/assets").json()["items"]
    assert [item["id"] for item in listed] == [usable.id]
    page = employee.get("/library")
    assert page.status_code == 200 and usable.title in page.text
    assert all(a.title not in page.text for a in (draft, expired, no_consent, archived))
    assert employee.get(f"/api/v1/assets/{draft.id}/original").status_code == 403


def test_image_files_have_strong_etags_private_caching_and_304(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1, status="approved")
    browser = session_browser(site, "employee")
    thumb = browser.get(f"/api/v1/assets/{asset.id}/thumb?w=320")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content == site.portal.assets.thumb_bytes(asset, 320)
    etag = thumb.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert thumb.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = browser.get(f"/api/v1/assets/{asset.id}/thumb?w=320", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    other_width = browser.get(f"/api/v1/assets/{asset.id}/thumb?w=640")
    assert other_width.headers["etag"] != etag
    assert browser.get(f"/api/v1/assets/{asset.id}/thumb?w=100").status_code == 422
    master = browser.get(f"/api/v1/assets/{asset.id}/master?download=1")
    assert master.status_code == 200 and master.content == site.portal.assets.master_bytes(asset)
    assert master.headers["content-disposition"] == 'attachment; filename="image-1.jpg"'


def test_marketing_downloads_the_original_unchanged(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 7, title="Sea view")
    response = session_browser(site, "marketing").get(f"/api/v1/assets/{asset.id}/original")
    assert response.status_code == 200 and response.content == samples.distinct_jpeg(7)
    assert response.headers["content-disposition"] == 'attachment; filename="sea-view.jpg"'


# Pages


def test_marketing_library_page_has_grid_facets_filters_upload_and_expiring_list(
    site: Site, tmp_path: Path
) -> None:
    make_asset(site, tmp_path, 1, title="Harbour", tags="sea, summer", status="approved")
    make_asset(site, tmp_path, 2, title="Dunes", tags="summer", status="approved", rights_expires=day(12))
    make_asset(site, tmp_path, 3, title="Draft shot", tags="team")
    browser = session_browser(site, "marketing")
    page = browser.get("/library")
    assert page.status_code == 200
    for text in (
        "Harbour",
        "Dunes",
        "Draft shot",
        'id="upload-form"',
        'id="bulk-form"',
        "/static/js/library.js",
    ):
        assert text in page.text
    assert re.search(r"summer <span class=\"count\">2</span>", page.text)
    assert "Expiring within 30 days" in page.text and f"expire on {day(12)}" in page.text
    assert 'href="/library"' in page.text and ">Library<" in page.text  # nav link
    filtered = browser.get("/library?tag=summer&q=dun")
    assert "Dunes" in filtered.text and "Harbour" not in filtered.text
    assert "Draft shot" in browser.get("/library?status=draft").text
    assert "Harbour" not in browser.get("/library?status=draft").text
    assert "Dunes" in browser.get("/library?expiring=1").text
    assert "Harbour" not in browser.get("/library?expiring=1").text
    assert browser.get("/library?status=bogus&page=abc").status_code == 200


def test_employee_library_page_is_read_only(site: Site, tmp_path: Path) -> None:
    make_asset(site, tmp_path, 1, title="Harbour", tags="sea", status="approved")
    make_asset(site, tmp_path, 2, title="Secret draft", tags="sea")
    page = session_browser(site, "employee").get("/library")
    assert page.status_code == 200 and "Harbour" in page.text and "Secret draft" not in page.text
    assert 'id="upload-form"' not in page.text and 'id="bulk-form"' not in page.text
    assert re.search(r"sea <span class=\"count\">1</span>", page.text)  # counts only what they see


def test_bulk_form_tags_approves_and_archives_selected_images(site: Site, tmp_path: Path) -> None:
    a = make_asset(site, tmp_path, 1, tags="sea")
    b = make_asset(site, tmp_path, 2)
    c = make_asset(site, tmp_path, 3)
    browser = session_browser(site, "marketing")
    token = csrf_of(browser)

    def bulk(action: str, ids: list[str], tags: str = "") -> tuple[int, str]:
        response = browser.post(
            "/library/bulk",
            data={
                "ids": ids,
                "action": action,
                "tags": tags,
                "next": "/library?q=image&page=2",
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        return response.status_code, response.headers.get("location", response.text)

    assert bulk("approve", [a.id, b.id]) == (303, "/library?q=image&changed=2")
    assert bulk("tag", [a.id, b.id, c.id], "Summer") == (303, "/library?q=image&changed=3")
    assert bulk("archive", [c.id]) == (303, "/library?q=image&changed=1")
    assets = site.portal.assets
    assert [assets.require(i).status for i in (a.id, b.id, c.id)] == ["approved", "approved", "archived"]
    assert assets.require(a.id).tags == ("sea", "summer") and assets.require(c.id).tags == ("summer",)
    status, text = bulk("approve", [])
    assert status == 422 and "Select at least one image" in text
    assert bulk("tag", [a.id], "")[0] == 422
    assert "Changed 2 images." in browser.get("/library?changed=2").text
    refused = browser.post("/library/bulk", data={"ids": [a.id], "action": "archive"}, follow_redirects=False)
    assert refused.status_code == 403 and assets.require(a.id).status == "approved"


def test_detail_page_edits_every_field(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1)
    browser = session_browser(site, "marketing")
    page = browser.get(f"/library/{asset.id}")
    assert (
        page.status_code == 200 and 'id="focal-picker"' in page.text and "Hidden from employees" in page.text
    )
    values = {
        "title": "Harbour at dawn",
        "description": "From the office roof.",
        "alt_text": "Sun rising over a harbour",
        "tags": "sea, dawn",
        "status": "approved",
        "focal_x": "0.25",
        "focal_y": "0,75",
        "source": "Jan Fotograaf",
        "licence": "Bought, unlimited",
        "rights_expires": day(20),
        "shows_people": "on",
        "consent_expires": day(40),
        "version": asset.version,
        "csrf_token": csrf_of(browser),
    }
    saved = browser.post(f"/library/{asset.id}", data=values, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/library/{asset.id}?saved=1"
    now = site.portal.assets.require(asset.id)
    assert (now.title, now.description, now.alt_text, now.tags) == (
        "Harbour at dawn",
        "From the office roof.",
        "Sun rising over a harbour",
        ("sea", "dawn"),
    )
    assert (now.status, now.focal, now.source, now.licence) == (
        "approved",
        (0.25, 0.75),
        "Jan Fotograaf",
        "Bought, unlimited",
    )
    assert (now.rights_expires, now.shows_people, now.consent_expires) == (day(20), True, day(40))
    shown = browser.get(f"/library/{asset.id}?saved=1")
    assert "Saved." in shown.text and "Employees can see and share this image." in shown.text
    assert f"The rights expire on {day(20)}." in shown.text

    stale = browser.post(f"/library/{asset.id}", data=values | {"title": "Stale"}, follow_redirects=False)
    assert (
        stale.status_code == 409
        and "Someone else changed this" in stale.text
        and 'value="Stale"' in stale.text
    )
    bad = browser.post(
        f"/library/{asset.id}",
        data=values | {"version": now.version, "focal_x": "left"},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and "focal point" in bad.text
    cleared = browser.post(
        f"/library/{asset.id}",
        data=values | {"version": now.version, "focal_x": "", "focal_y": "", "shows_people": ""},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert site.portal.assets.require(asset.id).focal is None
    assert site.portal.assets.require(asset.id).shows_people is False
    assert site.portal.assets.require(asset.id).title == "Harbour at dawn"


def test_detail_page_shows_where_the_image_is_used(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1, status="approved")
    site.portal.records.create(
        "posts",
        "p-1",
        {"title": "Summer campaign post", "campaign": "", "asset_id": asset.id, "status": "draft"},
    )
    site.portal.records.create(
        "posts", "p-2", {"title": "Unrelated post", "campaign": "", "asset_id": "elsewhere"}
    )
    browser = session_browser(site, "marketing")
    page = browser.get(f"/library/{asset.id}")
    assert "Summer campaign post" in page.text and "Unrelated post" not in page.text
    assert "brand watermark" not in page.text
    site.portal.brand.update({"watermark_asset_id": asset.id}, site.person("marketing"))
    assert "This is the brand watermark" in browser.get(f"/library/{asset.id}").text


def test_purge_from_the_detail_page(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1, status="archived")
    browser = session_browser(site, "marketing")
    page = browser.get(f"/library/{asset.id}")
    assert "Delete this image for good" in page.text
    done = browser.post(
        f"/library/{asset.id}/purge", data={"csrf_token": csrf_of(browser)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/library?purged=1"
    assert site.portal.assets.get(asset.id) is None
    assert [i.key for i in site.portal.store.list("blobs/")] == []


def test_employee_detail_page_offers_a_download(site: Site, tmp_path: Path) -> None:
    asset = make_asset(site, tmp_path, 1, title="Harbour", alt_text="Boats at sunrise", status="approved")
    page = session_browser(site, "employee").get(f"/library/{asset.id}")
    assert page.status_code == 200 and "Boats at sunrise" in page.text
    assert f"/api/v1/assets/{asset.id}/master?download=1" in page.text
    assert 'name="title"' not in page.text  # nothing to edit


@pytest.mark.parametrize("role", ["employee", "marketing"])
def test_library_nav_link_for_signed_in_people(site: Site, role: str) -> None:
    page = session_browser(site, role).get("/library")
    assert re.search(r'<a href="/library" aria-current="page">', page.text)


def test_employee_downloads_pause_in_crisis_mode_but_marketing_keeps_access(
    site: Site, tmp_path: Path
) -> None:
    asset = make_asset(site, tmp_path, 1, status="approved")
    admin = site.person("admin")
    site.portal.crisis.set(True, "We are dealing with an outage.", "Sanne de Vries", actor=admin)
    employee = session_browser(site, "employee")
    paused = employee.get(f"/api/v1/assets/{asset.id}/master?download=1")
    assert paused.status_code == 423 and paused.json()["error"]["code"] == "crisis_mode"
    assert session_browser(site, "marketing").get(f"/api/v1/assets/{asset.id}/master").status_code == 200
    site.portal.crisis.set(False, actor=admin)
    assert employee.get(f"/api/v1/assets/{asset.id}/master").status_code == 200
