"""Posts over HTTP: the API, the feed, the composer, downloads and kits."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from starlette.testclient import TestClient

from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser


def _post_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Hiring engineers",
        "campaign": "Employer brand",
        "link": "https://example.com/jobs?ref=x",
        "variants": [
            {
                "language": "en",
                "tone": "casual",
                "text": "I'm {first_name}, {job_title}. We are hiring! <b>bold</b>",
            },
            {"language": "nl", "tone": "formal", "text": "Ik ben {name} en wij zoeken collega's."},
        ],
        "extra_hashtags": ["hiring", "#engineering"],
    }
    body.update(overrides)
    return body


def _live_post(site: Site, **overrides: Any) -> dict[str, Any]:
    marketing = site.token_for("marketing")
    made = site.browser().post("/api/v1/posts", json=_post_body(**overrides), headers=marketing)
    assert made.status_code == 201, made.text
    approved = site.browser().post(f"/api/v1/posts/{made.json()['id']}/approve", headers=marketing)
    assert approved.status_code == 200
    body: dict[str, Any] = approved.json()
    return body


def test_marketing_creates_and_employees_only_see_live_posts(site: Site) -> None:
    marketing = site.token_for("marketing")
    employee = site.token_for("employee")
    draft = site.browser().post("/api/v1/posts", json=_post_body(), headers=marketing).json()
    assert site.browser().get(f"/api/v1/posts/{draft['id']}", headers=employee).status_code == 404
    assert site.browser().get("/api/v1/posts", headers=employee).json()["items"] == []
    assert site.browser().post("/api/v1/posts", json=_post_body(), headers=employee).status_code == 403
    site.browser().post(f"/api/v1/posts/{draft['id']}/approve", headers=marketing)
    feed = site.browser().get("/api/v1/posts", headers=employee).json()["items"]
    assert [p["id"] for p in feed] == [draft["id"]]
    assert feed[0]["hashtags"] == ["#hiring", "#engineering"]


def test_patch_honours_if_match_and_returns_new_etag(site: Site) -> None:
    marketing = site.token_for("marketing")
    made = site.browser().post("/api/v1/posts", json=_post_body(), headers=marketing)
    etag = made.headers["etag"]
    ok = site.browser().patch(
        f"/api/v1/posts/{made.json()['id']}",
        json={"title": "New title"},
        headers={**marketing, "if-match": etag},
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = site.browser().patch(
        f"/api/v1/posts/{made.json()['id']}",
        json={"title": "Lost update"},
        headers={**marketing, "if-match": etag},
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    assert (
        site.browser().get(f"/api/v1/posts/{made.json()['id']}", headers=marketing).json()["title"]
        == "New title"
    )


def test_invalid_post_gets_422_with_a_message(site: Site) -> None:
    response = site.browser().post(
        "/api/v1/posts", json=_post_body(variants=[]), headers=site.token_for("marketing")
    )
    assert response.status_code == 422 and "variant" in response.json()["error"]["message"]


def test_copy_endpoint_composes_for_the_caller_and_counts_a_use(site: Site) -> None:
    post = _live_post(site)
    site.person("employee", first_name="Daan", job_title="Engineer")
    response = site.browser().get(
        f"/api/v1/posts/{post['id']}/copy?lang=en", headers=site.token_for("employee")
    )
    body = response.json()
    assert body["text"] == (
        "I'm Daan, Engineer. We are hiring! <b>bold</b>\n\nhttps://example.com/jobs?ref=x\n\n"
        "#hiring #engineering"
    )
    assert body["length"] == len(body["text"]) and body["fold_at"] <= len(body["text"])
    assert body["linkedin_url"].startswith("https://www.linkedin.com/feed/?shareActive=true&text=")
    assert isinstance(body["warnings"], list)
    site.portal.counters.flush()
    totals = site.portal.counters.totals(*_today())
    assert sum(v for k, v in totals.items() if k.metric == "copy" and k.post_id == post["id"]) == 1


def _today() -> tuple[Any, Any]:
    from datetime import UTC, datetime

    today = datetime.now(UTC).date()
    return today, today


def test_compose_applies_edits_and_lint(site: Site) -> None:
    post = _live_post(site)
    headers = site.token_for("employee")
    body = (
        site.browser()
        .post(
            f"/api/v1/posts/{post['id']}/compose",
            headers=headers,
            json={
                "text": "My own words " + "x" * 3000,
                "hashtags": ["#hiring", "#hiring"],
            },
        )
        .json()
    )
    codes = {w["code"] for w in body["warnings"]}
    assert "over_limit" in codes and body["hashtags"] == ["#hiring"]
    assert body["text"].startswith("My own words")


def test_feed_page_escapes_markup_and_composer_shows_preview(site: Site) -> None:
    post = _live_post(site)
    browser = session_browser(site, "employee")
    feed = browser.get("/")
    assert feed.status_code == 200 and "Hiring engineers" in feed.text
    assert "<b>bold</b>" not in feed.text and "&lt;b&gt;bold&lt;/b&gt;" in feed.text
    page = browser.get(f"/posts/{post['id']}?lang=en")
    assert page.status_code == 200 and "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold" not in page.text
    nl = browser.get(f"/posts/{post['id']}?variant={post['variants'][1]['id']}")
    assert "wij zoeken" in nl.text


def test_composer_without_javascript_removes_hashtags_via_form(site: Site) -> None:
    post = _live_post(site)
    browser = session_browser(site, "employee")
    variant = post["variants"][0]["id"]
    page = browser.get(
        f"/posts/{post['id']}",
        params={"variant": variant, "edited": "1", "text": "Edited text", "hashtag": ["#engineering"]},
    )
    assert "Edited text" in page.text
    assert 'value="#hiring" checked' not in page.text and 'value="#engineering" checked' in page.text


def test_kit_zip_holds_text_and_alt_text(site: Site) -> None:
    post = _live_post(site)
    browser = session_browser(site, "employee")
    response = browser.post(
        f"/posts/{post['id']}/kit",
        data={
            "variant": post["variants"][0]["id"],
            "edited": "1",
            "text": "Héllo wörld 👋",
            "hashtag": ["#hiring"],
            "csrf_token": csrf_of(browser),
        },
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert 'filename="hiring-engineers-kit.zip"' in response.headers["content-disposition"]
    kit = zipfile.ZipFile(io.BytesIO(response.content))
    assert (
        kit.read("post.txt").decode("utf-8") == "Héllo wörld 👋\n\nhttps://example.com/jobs?ref=x\n\n#hiring"
    )
    assert "alt-text.txt" in kit.namelist()
    api = site.browser().get(
        f"/api/v1/posts/{post['id']}/kit.zip?lang=nl", headers=site.token_for("employee")
    )
    assert api.status_code == 200
    assert "wij zoeken" in zipfile.ZipFile(io.BytesIO(api.content)).read("post.txt").decode()


def test_marketing_form_creates_post_with_variants(site: Site) -> None:
    browser = session_browser(site, "marketing")
    sets = browser.post(
        "/manage/hashtags",
        data={"name": "Brand", "hashtags": "brand, #Proud", "csrf_token": csrf_of(browser)},
    )
    assert sets.status_code == 200 and "#Proud" in sets.text
    set_id = site.portal.hashtag_sets.all()[0].id
    made = browser.post(
        "/manage/posts/new",
        data={
            "title": "Launch",
            "campaign": "Q1",
            "variant_id": ["", "", ""],
            "variant_language": ["en", "nl", "en"],
            "variant_tone": ["casual", "formal", ""],
            "variant_text": ["We launched!", "We zijn live!", ""],
            "hashtag_set_ids": [set_id],
            "extra_hashtags": "",
            "preset": "linkedin-square",
            "link": "",
            "csrf_token": csrf_of(browser),
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    post = site.portal.posts.all()[0]
    assert [v.text for v in post.variants] == ["We launched!", "We zijn live!"] and post.hashtag_set_ids == (
        set_id,
    )
    status = browser.post(
        f"/manage/posts/{post.id}/status", data={"action": "approve", "csrf_token": csrf_of(browser)}
    )
    assert status.status_code == 200 and site.portal.posts.require(post.id).status == "approved"
    preview = browser.post(
        "/api/v1/posts/preview",
        json={"title": "x", "variants": [{"language": "en", "text": "Hi {team}"}]},
        headers={"x-csrf-token": csrf_of(browser)},
    )
    assert preview.status_code == 200 and preview.json()["items"][0]["text"].startswith("Hi ")


def test_employee_cannot_reach_marketing_pages(site: Site) -> None:
    browser: TestClient = session_browser(site, "employee")
    assert browser.get("/manage/posts").status_code == 403
    assert browser.get("/api/v1/hashtag-sets").status_code == 403


def test_new_and_edit_post_forms_render(site: Site) -> None:
    browser = session_browser(site, "marketing")
    assert browser.get("/manage/posts/new").status_code == 200
    post = _live_post(site)
    page = browser.get(f"/manage/posts/{post['id']}")
    assert page.status_code == 200 and "Hiring engineers" in page.text
    assert browser.get("/manage/posts").status_code == 200


def test_composer_preview_image_is_the_downloaded_image_and_not_a_use(site: Site, tmp_path: Any) -> None:
    from tests.web.test_share_links import make_image

    asset = make_image(site, tmp_path)
    post = _live_post(site, asset_id=asset.id, headline="Join us")
    employee = site.token_for("employee")
    preview = site.browser().get(f"/api/v1/posts/{post['id']}/preview.jpg", headers=employee)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    again = site.browser().get(f"/api/v1/posts/{post['id']}/preview.jpg",
                               headers={**employee, "if-none-match": preview.headers["etag"]})
    assert again.status_code == 304
    download = site.browser().get(f"/api/v1/posts/{post['id']}/image", headers=employee)
    assert download.content == preview.content
    site.portal.counters.flush()
    uses = site.portal.counters.totals(*_today())
    assert sum(v for k, v in uses.items() if k.metric == "download") == 1


def test_feed_cards_speak_in_the_viewers_words(site: Site) -> None:
    _live_post(site)
    site.person("employee", first_name="Daan", job_title="Engineer")
    page = session_browser(site, "employee").get("/")
    assert "I&#39;m Daan, Engineer." in page.text and "{first_name}" not in page.text
