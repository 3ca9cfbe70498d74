"""Uploading images over HTTP: the API, the browser (CSRF header) and the plain form, every refusal,
size limits with and without Content-Length, and duplicates."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from tests import asset_samples as samples
from tests.storekit import everything
from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.web.uploads import ENVELOPE_BYTES


def post_file(
    client: TestClient,
    data: bytes,
    name: str = "photo.jpg",
    *,
    url: str = "/api/v1/assets",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx2.Response:
    return client.post(
        url, files={"file": (name, data, "image/jpeg")}, data=fields, headers=headers, follow_redirects=False
    )


def test_api_upload_answers_201_with_the_asset(site: Site) -> None:
    headers = site.token_for("marketing")
    data = samples.jpeg((64, 48))
    response = post_file(site.client, data, "Harbour_at-dawn.jpg", headers=headers, tags="sea, Dawn")
    assert response.status_code == 201, response.text
    body = response.json()
    for key in (
        "id",
        "title",
        "tags",
        "status",
        "width",
        "height",
        "content_type",
        "bytes",
        "sha256",
        "version",
    ):
        assert key in body
    assert (
        body["title"] == "Harbour at-dawn" and body["tags"] == ["sea", "dawn"] and body["status"] == "draft"
    )
    assert (body["width"], body["height"], body["bytes"]) == (64, 48, len(data))
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["duplicate"] is False
    assert body["created_by"] == site.person("marketing").id and body["created_at"]
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert response.headers["location"] == f"/api/v1/assets/{body['id']}"
    titled = post_file(site.client, samples.png(), "x.png", headers=headers, title="My title")
    assert titled.status_code == 201 and titled.json()["title"] == "My title"
    assert titled.json()["content_type"] == "image/png"


REFUSALS: dict[str, tuple[Callable[[], bytes], int]] = {
    "empty file": (lambda: b"", 422),
    "text named .jpg": (lambda: samples.TEXT, 415),
    "html": (lambda: samples.HTML, 415),
    "zip": (samples.zip_file, 415),
    "svg": (lambda: samples.SVG, 415),
    "png with huge dimensions, tiny body": (samples.huge_png_tiny_body, 422),
    "truncated jpeg": (samples.truncated_jpeg, 422),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_api_refuses_bad_files_with_json_error_and_stores_nothing(site: Site, case: str) -> None:
    make, status = REFUSALS[case]
    headers = site.token_for("marketing")
    before = everything(site.portal.store)
    response = post_file(site.client, make(), "holiday.jpg", headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid", "unsupported_media_type") and error["message"]
    assert everything(site.portal.store) == before


def test_api_refuses_images_with_more_pixels_than_allowed(site: Site) -> None:
    headers = site.token_for("marketing")
    site.portal.assets.max_pixels = 1000
    before = everything(site.portal.store)
    response = post_file(site.client, samples.jpeg((40, 30)), headers=headers)
    assert response.status_code == 422 and "1000" in response.json()["error"]["message"].replace(",", "")
    frames = post_file(
        site.client,
        samples.gif_frames([(9, 9, 9), (90, 9, 9), (9, 90, 9)], (20, 20)),
        "a.gif",
        headers=headers,
    )
    assert frames.status_code == 422
    assert everything(site.portal.store) == before


def test_api_refuses_an_upload_over_the_size_limit_with_413(site: Site) -> None:
    site.portal.settings = replace(site.portal.settings, max_upload_mb=1)
    headers = site.token_for("marketing")
    before = everything(site.portal.store)
    big = samples.jpeg() + b"\0" * (1024 * 1024 + ENVELOPE_BYTES)
    response = post_file(site.client, big, headers=headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert "1 MB" in response.json()["error"]["message"]
    # Just over the file limit but within the envelope: refused while streaming, not by Content-Length.
    barely = samples.jpeg() + b"\0" * (1024 * 1024)
    assert post_file(site.client, barely, headers=headers).status_code == 413
    assert everything(site.portal.store) == before
    fits = samples.jpeg() + b"\0" * 1000  # trailing bytes after the image are harmless
    assert post_file(site.client, fits, headers=headers).status_code == 201


def test_upload_without_content_length_stops_reading_at_the_limit(site: Site) -> None:
    """A chunked body that never ends is cut off just past the limit, not read to the end."""
    site.portal.settings = replace(site.portal.settings, max_upload_mb=1)
    token = site.token_for("marketing")["authorization"]
    before = everything(site.portal.store)
    boundary = "limit-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + samples.jpeg()
    chunk = b"\x00" * 65536
    sent = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        body = head if sent == 0 else chunk
        sent += len(body)
        # A guard for a broken implementation: stop the test's endless body at 50 MB.
        return {"type": "http.request", "body": body, "more_body": sent < 50 * 1024 * 1024}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/assets",
        "raw_path": b"/api/v1/assets",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", token.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {"portal": site.portal},
    }
    asyncio.run(site.client.app(scope, receive, send))  # type: ignore[arg-type]
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 413
    assert sent <= 1024 * 1024 + len(head) + 2 * len(chunk)
    assert everything(site.portal.store) == before


def test_same_file_twice_answers_200_with_the_existing_asset(site: Site) -> None:
    headers = site.token_for("marketing")
    first = post_file(site.client, samples.jpeg(), "a.jpg", headers=headers)
    before = everything(site.portal.store)
    again = post_file(site.client, samples.jpeg(), "b.jpg", headers=headers, title="Another name")
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert again.json()["title"] == first.json()["title"]
    assert everything(site.portal.store) == before


def test_browser_upload_with_csrf_header_works_and_without_it_is_refused(site: Site) -> None:
    browser = session_browser(site, "marketing")
    before = everything(site.portal.store)
    forged = post_file(browser, samples.jpeg())
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
    assert post_file(browser, samples.jpeg(), headers={"x-csrf-token": "wrong"}).status_code == 403
    assert everything(site.portal.store) == before
    ok = post_file(browser, samples.jpeg(), headers={"x-csrf-token": csrf_of(browser)})
    assert ok.status_code == 201 and ok.json()["created_by"] == site.person("marketing").id


def test_plain_form_upload_works_without_javascript(site: Site) -> None:
    browser = session_browser(site, "marketing")
    token = csrf_of(browser)
    done = post_file(
        browser, samples.jpeg(), url="/library/upload", csrf_token=token, title="From a form", tags="a, b"
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?added=1")
    asset_id = done.headers["location"].split("/")[2].split("?")[0]
    asset = site.portal.assets.require(asset_id)
    assert (asset.title, asset.tags) == ("From a form", ("a", "b"))
    page = browser.get(done.headers["location"])
    assert page.status_code == 200 and "was added as a draft" in page.text
    again = post_file(browser, samples.jpeg(), url="/library/upload", csrf_token=token)
    assert again.status_code == 303 and again.headers["location"] == f"/library/{asset_id}?duplicate=1"

    refused = post_file(browser, samples.HTML, "page.jpg", url="/library/upload", csrf_token=token)
    assert (
        refused.status_code == 415 and "not supported" in refused.text and 'id="upload-form"' in refused.text
    )
    before = everything(site.portal.store)
    forged = post_file(browser, samples.png(), url="/library/upload", csrf_token="forged")
    missing = post_file(browser, samples.png(), url="/library/upload")
    assert forged.status_code == missing.status_code == 403
    assert everything(site.portal.store) == before
    empty = browser.post(
        "/library/upload", files={"file": ("", b"", "application/octet-stream")}, data={"csrf_token": token}
    )
    assert empty.status_code == 422 and "Choose a file" in empty.text


def test_only_marketing_may_upload(site: Site) -> None:
    employee = session_browser(site, "employee")
    refused = post_file(employee, samples.jpeg(), headers={"x-csrf-token": csrf_of(employee)})
    assert refused.status_code == 403
    assert post_file(site.browser(), samples.jpeg()).status_code == 401
    assert site.portal.assets.all() == []


def test_upload_that_is_not_multipart_is_a_bad_request(site: Site) -> None:
    headers = site.token_for("marketing")
    assert site.client.post("/api/v1/assets", content=samples.jpeg(), headers=headers).status_code == 400
    no_file = site.client.post("/api/v1/assets", files={"title": (None, "x")}, headers=headers)
    assert no_file.status_code == 422
    two = site.client.post(
        "/api/v1/assets",
        files=[
            ("file", ("a.jpg", samples.jpeg(), "image/jpeg")),
            ("file", ("b.jpg", samples.png(), "image/png")),
        ],
        headers=headers,
    )
    assert two.status_code == 422
    assert site.portal.assets.all() == []
