"""Issue 14, item 16 (input hygiene) and a live post switched to a draft image, each as the attack
that worked, now refused with 422 naming the field (or the image), storing nothing.

- NUL and other control characters were accepted in titles and text: refused in every text field
  (a line break or tab only in long text such as captions and descriptions); an upload named
  "../../x\\x00evil.png" now gets the title "xevil" (a file name is cleaned, not refused).
- A caption (or title) of only zero-width spaces was accepted: it is empty after normalisation.
- POST/PATCH /api/v1/posts silently dropped unknown fields ({"hashtag_sets": [...]}): refused.
- PATCH could switch a live post to a draft image (or one whose rights ended), leaking its alt
  text to employees like item 12: refused as approval refuses it.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests import asset_samples as samples
from tests.storekit import everything
from tests.web.conftest import Site
from tests.web.test_accounts import session_browser
from tests.web.test_hardening_content import CONFIDENTIAL, _approve, _asset, _post
from toolkit.assets import UploadedFile
from toolkit.errors import Invalid
from toolkit.fields import clean_text, strip_invisible, text_field

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def _body(**values: Any) -> dict[str, Any]:
    return {
        "title": "Launch day",
        "variants": [{"id": "en1", "language": "en", "tone": "casual", "text": "We launched!"}],
        **values,
    }


def _create(site: Site, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return site.browser().post("/api/v1/posts", json=body, headers=site.token_for("marketing") | headers)


def _message(response: httpx2.Response) -> str:
    assert response.status_code == 422, response.text
    message: str = response.json()["error"]["message"]
    return message


# The shared rules


def test_text_field_rules() -> None:
    assert text_field({"t": f" {ZERO_WIDTH} Hi {ZERO_WIDTH}\n"}, "t") == "Hi"
    # A zero-width joiner inside text stays: emoji sequences need it.
    assert text_field({"t": "👩\u200d💻"}, "t") == "👩\u200d💻"
    assert text_field({"t": "a\r\nb\tc"}, "t", multiline=True) == "a\nb\tc"
    assert text_field({"description": "a\nb"}, "description") == "a\nb"
    assert strip_invisible(ZERO_WIDTH + " ") == ""
    for bad in ("a\x00b", "a\nb", "a\tb", "a\x1bb", "a\x7fb", "a\x85b", "a\rb"):
        with pytest.raises(Invalid) as caught:
            text_field({"title": bad}, "title")
        assert "'title'" in caught.value.text()
    for bad in ("a\x00b", "a\rb", "a\x07b"):
        with pytest.raises(Invalid) as caught:
            clean_text(bad, "description", multiline=True)
        assert "'description'" in caught.value.text()


# Control characters


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "x\x00evil"}, "'title'"),
        ({"title": "Launch\nday"}, "'title'"),
        ({"campaign": "spring\x1b[31m"}, "'campaign'"),
        ({"headline": "Big\x07news"}, "'headline'"),
        ({"link": "https://example.com/\x00"}, "'link'"),
        (
            {"variants": [{"language": "en", "text": "fine"}, {"language": "en", "text": "We\x00 launched"}]},
            "'variants[1].text'",
        ),
        ({"variants": [{"language": "en", "tone": "ca\x00sual", "text": "fine"}]}, "'variants[0].tone'"),
    ],
)
def test_control_characters_in_a_post_are_refused_naming_the_field(
    site: Site, values: dict[str, Any], field: str
) -> None:
    headers = site.token_for("marketing")
    before = everything(site.portal.store)
    assert field in _message(site.browser().post("/api/v1/posts", json=_body(**values), headers=headers))
    assert site.portal.records.all("posts") == []
    assert everything(site.portal.store) == before


def test_line_breaks_and_tabs_stay_allowed_in_captions(site: Site) -> None:
    text = "We launched!\r\n\n\tThanks, team."
    made = _create(site, _body(variants=[{"language": "en", "text": text}]))
    assert made.status_code == 201, made.text
    assert made.json()["variants"][0]["text"] == "We launched!\n\n\tThanks, team."


def test_control_character_message_is_dutch_in_dutch(site: Site) -> None:
    message = _message(_create(site, _body(title="a\x00b"), **{"accept-language": "nl"}))
    assert "'title'" in message and "stuurtekens" in message


def test_control_characters_are_refused_on_update_too(site: Site) -> None:
    post_id = _post(site)
    before = site.portal.posts.require(post_id)
    patched = site.browser().patch(
        f"/api/v1/posts/{post_id}", json={"title": "x\x00y"}, headers=site.token_for("marketing")
    )
    assert "'title'" in _message(patched)
    assert site.portal.posts.require(post_id) == before


def test_hashtag_set_names_and_descriptions_follow_the_same_rules(site: Site) -> None:
    marketing = site.token_for("marketing")
    for body, field in (
        ({"name": "Brand\x00", "hashtags": ["brand"]}, "'name'"),
        ({"name": "Brand\nset", "hashtags": ["brand"]}, "'name'"),
        ({"name": "Brand", "description": "one\x00two", "hashtags": ["brand"]}, "'description'"),
    ):
        answer = site.client.post("/api/v1/hashtag-sets", json=body, headers=marketing)
        assert field in _message(answer)
    invisible = {"name": ZERO_WIDTH, "hashtags": ["b"]}
    assert "name" in _message(site.client.post("/api/v1/hashtag-sets", json=invisible, headers=marketing))
    assert site.portal.records.all("hashtag-sets") == []
    made = site.client.post(
        "/api/v1/hashtag-sets",
        json={"name": f"{ZERO_WIDTH}Brand ", "description": "line one\nline two", "hashtags": ["b"]},
        headers=marketing,
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Brand" and made.json()["description"] == "line one\nline two"


# Empty after normalisation


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"variants": [{"language": "en", "text": ZERO_WIDTH * 3}]}, "caption"),
        ({"variants": [{"language": "en", "text": "\u200b \n\u200b\ufeff"}]}, "caption"),
        ({"title": ZERO_WIDTH}, "title"),
        ({"title": " \u200b "}, "title"),
    ],
)
def test_text_of_only_invisible_characters_is_empty(site: Site, values: dict[str, Any], words: str) -> None:
    assert words in _message(_create(site, _body(**values)))
    assert site.portal.records.all("posts") == []


# Unknown fields


def test_unknown_fields_are_refused_on_create_naming_them(site: Site) -> None:
    headers = site.token_for("marketing")
    before = everything(site.portal.store)
    message = _message(site.browser().post("/api/v1/posts", json=_body(hashtag_sets=["b"]), headers=headers))
    assert "'hashtag_sets'" in message
    assert site.portal.records.all("posts") == []
    assert everything(site.portal.store) == before


def test_unknown_fields_are_refused_on_update_naming_them(site: Site) -> None:
    post_id = _post(site)
    before = site.portal.posts.require(post_id)
    token = site.token_for("marketing")
    patched = site.browser().patch(
        f"/api/v1/posts/{post_id}", json={"title": "New", "hashtag_sets": ["x"]}, headers=token
    )
    assert "'hashtag_sets'" in _message(patched)
    assert site.portal.posts.require(post_id) == before
    # A post sent back as it was read is fine: its read-only fields are known.
    read = site.browser().get(f"/api/v1/posts/{post_id}", headers=token).json()
    again = site.browser().patch(f"/api/v1/posts/{post_id}", json=read | {"title": "New"}, headers=token)
    assert again.status_code == 200, again.text
    assert again.json()["title"] == "New" and again.json()["status"] == "draft"


# A file name that becomes a title


def test_upload_file_name_with_a_nul_becomes_a_clean_title(site: Site, tmp_path: Path) -> None:
    data = samples.distinct_jpeg(1, (160, 120))
    path = tmp_path / "upload.jpg"
    path.write_bytes(data)
    upload = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), "../../x\x00evil\x1b.png")
    asset, _ = site.portal.assets.add_upload(upload, actor=site.person("marketing"))
    assert asset.title == "xevil"
    only_controls = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), "\x00\u200b.png")
    other, _ = site.portal.assets.add_upload(only_controls, actor=site.person("marketing"), tags=["x"])
    assert other.title in ("xevil", "Untitled image")


def test_upload_through_the_api_with_a_nul_in_its_name(site: Site) -> None:
    data = samples.distinct_jpeg(2, (160, 120))
    answer = site.client.post(
        "/api/v1/assets",
        files={"file": ("../../x\x00evil.jpg", data, "image/jpeg")},
        headers=site.token_for("marketing"),
    )
    assert answer.status_code == 201, answer.text
    title = answer.json()["title"]
    assert "\x00" not in title and not any(ord(c) < 32 for c in title)


# A live post switched to an image employees may not see


def test_a_live_post_cannot_switch_to_a_draft_image(site: Site, tmp_path: Path) -> None:
    shown = _asset(site, tmp_path, 1, status="approved", alt_text="A team photo")
    draft = _asset(site, tmp_path, 2, title="Product X", alt_text=CONFIDENTIAL)
    post_id = _post(site, asset_id=shown.id)
    assert _approve(site, post_id).status_code == 200
    before = site.portal.posts.require(post_id)

    patched = site.browser().patch(
        f"/api/v1/posts/{post_id}", json={"asset_id": draft.id}, headers=site.token_for("marketing")
    )
    assert "“Product X”" in _message(patched)
    assert site.portal.posts.require(post_id) == before
    employee = session_browser(site, "employee")
    page = employee.get(f"/posts/{post_id}")
    assert page.status_code == 200 and CONFIDENTIAL not in page.text

    # Other edits of the live post still work, and so does switching to an approved image.
    other = _asset(site, tmp_path, 3, status="approved")
    token = site.token_for("marketing")
    edited = site.browser().patch(f"/api/v1/posts/{post_id}", json={"title": "Still live"}, headers=token)
    assert edited.status_code == 200, edited.text
    switched = site.browser().patch(f"/api/v1/posts/{post_id}", json={"asset_id": other.id}, headers=token)
    assert switched.status_code == 200 and switched.json()["asset_id"] == other.id


def test_a_live_post_cannot_switch_to_an_image_whose_rights_ended(site: Site, tmp_path: Path) -> None:
    ended = (date.today() - timedelta(days=1)).isoformat()
    post_id = _post(site)
    assert _approve(site, post_id).status_code == 200
    expired = _asset(site, tmp_path, 1, status="approved", rights_expires=ended)
    patched = site.browser().patch(
        f"/api/v1/posts/{post_id}", json={"asset_id": expired.id}, headers=site.token_for("marketing")
    )
    assert ended in _message(patched)
    assert site.portal.posts.require(post_id).asset_id is None


def test_a_draft_post_may_still_take_a_draft_image(site: Site, tmp_path: Path) -> None:
    draft = _asset(site, tmp_path, 1)
    post_id = _post(site)
    patched = site.browser().patch(
        f"/api/v1/posts/{post_id}", json={"asset_id": draft.id}, headers=site.token_for("marketing")
    )
    assert patched.status_code == 200 and patched.json()["asset_id"] == draft.id


@pytest.mark.parametrize("field", ["title", "alt_text", "description"])
def test_control_characters_in_an_image_edit_are_refused_naming_the_field(
    site: Site, tmp_path: Path, field: str
) -> None:
    asset = _asset(site, tmp_path, 71)
    headers = site.token_for("marketing")
    before = everything(site.portal.store)
    answer = site.browser().patch(f"/api/v1/assets/{asset.id}", json={field: "a\x00b"}, headers=headers)
    assert field in _message(answer)
    assert everything(site.portal.store) == before


def test_control_characters_in_a_profile_are_refused_and_nothing_is_cut_short(site: Site) -> None:
    headers = site.token_for("employee")
    assert "job_title" in _message(
        site.browser().patch("/api/v1/me", json={"job_title": "x\x07y"}, headers=headers)
    )
    long = site.browser().patch("/api/v1/me", json={"name": "n" * 201}, headers=headers)
    assert "name" in _message(long)
    fine = site.browser().patch("/api/v1/me", json={"name": " Daan de Vries\u200b "}, headers=headers)
    assert fine.status_code == 200 and fine.json()["name"] == "Daan de Vries"
