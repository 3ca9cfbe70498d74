"""Share-ready images over HTTP: presets, the render endpoint's sizes, caching headers and access,
and the brand settings page with its previews, on both store backends."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PIL import Image

from tests.imaging.samples import close, encode, halves, make_logo, mean, opened
from tests.test_renditions import BLUE, CORNER, GREY, RED, builtin_font
from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.imaging.presets import PRESETS
from toolkit.web.api.renditions import rendition_url

IMMUTABLE = "private, max-age=31536000, immutable"


def upload(site: Site, data: bytes, name: str = "photo.jpg", *, approve: bool = True, **changes: Any) -> str:
    """An image added through the API as marketing; its id."""
    marketing = site.token_for("marketing")
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    made = site.client.post(
        "/api/v1/assets", files={"file": (name, data, kind)}, data={"title": name}, headers=marketing
    )
    assert made.status_code == 201, made.text
    asset_id: str = made.json()["id"]
    if approve:
        changes["status"] = "approved"
    if changes:
        changed = site.client.patch(f"/api/v1/assets/{asset_id}", json=changes, headers=marketing)
        assert changed.status_code == 200, changed.text
    return asset_id


def grey_photo(size: tuple[int, int] = (1600, 900)) -> bytes:
    return encode(Image.new("RGB", size, GREY), "JPEG", quality=92)


def render_url(asset_id: str, preset: str = "linkedin-landscape", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"preset": preset, **params}.items())
    return f"/api/v1/assets/{asset_id}/render?{query}"


def set_logo(site: Site, **settings: Any) -> None:
    logo = upload(site, make_logo((300, 150), RED), "logo.png")
    body = {"watermark_asset_id": logo, "watermark_opacity": 1.0, **settings}
    saved = site.client.patch("/api/v1/brand", json=body, headers=site.token_for("marketing"))
    assert saved.status_code == 200, saved.text


def test_presets_are_listed_for_employees(site: Site) -> None:
    response = site.client.get("/api/v1/presets", headers=site.token_for("employee"))
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert set(items) == set(PRESETS)
    assert items["linkedin-banner"] == {
        "name": "linkedin-banner",
        "width": 1584,
        "height": 396,
        "network": "LinkedIn",
        "label": "LinkedIn banner (1584×396)",
    }
    assert site.browser().get("/api/v1/presets").status_code == 401


def test_render_gives_every_preset_in_its_size(site: Site) -> None:
    asset_id = upload(site, grey_photo((2000, 2000)))  # big enough for every preset
    employee = site.token_for("employee")
    for name, preset in PRESETS.items():
        response = site.client.get(render_url(asset_id, name), headers=employee)
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"] == "image/jpeg"
        image = opened(response.content)
        assert (image.format, image.size) == ("JPEG", (preset.width, preset.height)), name
        assert "x-low-resolution" not in response.headers
        disposition = response.headers["content-disposition"]
        assert disposition == f'inline; filename="photo-jpg-{name}.jpg"'
    for fmt, pillow in (("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")):
        response = site.client.get(render_url(asset_id, "x-landscape", format=fmt), headers=employee)
        assert response.status_code == 200 and opened(response.content).format == pillow


def test_render_refuses_unknown_preset_format_and_watermark_flag(site: Site) -> None:
    asset_id = upload(site, grey_photo((400, 300)))
    employee = site.token_for("employee")
    for params in ({"preset": "myspace"}, {"format": "gif"}, {"watermark": "maybe"}):
        response = site.client.get(render_url(asset_id, **params), headers=employee)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid", params


def test_focal_point_of_the_asset_moves_the_crop(site: Site) -> None:
    asset_id = upload(site, encode(halves((1600, 800), RED, BLUE), "JPEG", quality=92), focal=[0.1, 0.5])
    employee = site.token_for("employee")
    left = site.client.get(render_url(asset_id, "instagram-square", format="png"), headers=employee)
    site.client.patch(
        f"/api/v1/assets/{asset_id}", json={"focal": [0.9, 0.5]}, headers=site.token_for("marketing")
    )
    right = site.client.get(render_url(asset_id, "instagram-square", format="png"), headers=employee)
    assert left.headers["etag"] != right.headers["etag"]
    assert close(mean(opened(left.content)), RED, 40)
    assert close(mean(opened(right.content)), BLUE, 40)


def test_brand_change_makes_a_new_etag_and_puts_the_logo_in_the_corner(site: Site) -> None:
    asset_id = upload(site, grey_photo())
    employee = site.token_for("employee")
    before = site.client.get(render_url(asset_id, format="png"), headers=employee)
    set_logo(site)
    marked = site.client.get(render_url(asset_id, format="png"), headers=employee)
    plain = site.client.get(render_url(asset_id, format="png", watermark="0"), headers=employee)
    assert before.headers["etag"] != marked.headers["etag"] != plain.headers["etag"]
    assert before.content != marked.content
    assert close(mean(opened(before.content), CORNER), GREY, 6)
    assert close(mean(opened(marked.content), CORNER), RED, 30)
    assert close(mean(opened(plain.content), CORNER), GREY, 6)


def test_if_none_match_gets_304(site: Site) -> None:
    asset_id = upload(site, grey_photo((800, 500)))
    employee = site.token_for("employee")
    first = site.client.get(render_url(asset_id), headers=employee)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = site.client.get(render_url(asset_id), headers={**employee, "if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = site.client.get(render_url(asset_id), headers={**employee, "if-none-match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content


def test_versioned_url_is_immutable_and_any_other_is_revalidated(site: Site) -> None:
    asset_id = upload(site, grey_photo((800, 500)))
    employee = site.token_for("employee")
    portal = site.portal
    versioned = rendition_url(portal, asset_id, "linkedin-square", "jpeg", True)
    assert versioned.startswith(f"/api/v1/assets/{asset_id}/render?preset=linkedin-square&format=jpeg")
    response = site.client.get(versioned, headers=employee)
    assert response.headers["cache-control"] == IMMUTABLE
    assert f"v={response.headers['etag'].strip(chr(34))}" in versioned
    plain = site.client.get(render_url(asset_id, "linkedin-square"), headers=employee)
    assert plain.headers["cache-control"] == "private, no-cache"
    set_logo(site)
    stale = site.client.get(versioned, headers=employee)
    assert stale.headers["cache-control"] == "private, no-cache"
    assert stale.headers["etag"] != response.headers["etag"]
    assert rendition_url(portal, asset_id, "linkedin-square", "jpeg", True) != versioned


def test_employees_get_404_for_drafts_and_expired_images(site: Site) -> None:
    draft = upload(site, grey_photo((600, 400)), approve=False)
    expired = upload(site, grey_photo((601, 400)), rights_expires="2000-01-01")
    employee = site.token_for("employee")
    marketing = site.token_for("marketing")
    for asset_id in (draft, expired, "no-such-asset"):
        response = site.client.get(render_url(asset_id), headers=employee)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert site.client.get(render_url(draft), headers=marketing).status_code == 200
    assert site.browser().get(render_url(draft)).status_code == 401


def test_small_source_is_marked_low_resolution(site: Site) -> None:
    small = upload(site, grey_photo((300, 200)))
    response = site.client.get(render_url(small), headers=site.token_for("employee"))
    assert response.status_code == 200 and response.headers["x-low-resolution"] == "1"
    assert opened(response.content).size == (1200, 627)


def test_crisis_mode_stops_employee_downloads_but_not_marketing(site: Site) -> None:
    asset_id = upload(site, grey_photo((600, 400)))
    admin = site.person("admin")
    site.portal.crisis.set(True, "We are handling an incident.", "Anna Admin", actor=admin)
    employee = site.client.get(render_url(asset_id), headers=site.token_for("employee"))
    assert employee.status_code == 423 and employee.json()["error"]["code"] == "crisis_mode"
    assert site.client.get(render_url(asset_id), headers=site.token_for("marketing")).status_code == 200
    site.portal.crisis.set(False, actor=admin)
    assert site.client.get(render_url(asset_id), headers=site.token_for("employee")).status_code == 200


# The brand settings page


def test_brand_page_previews_every_preset_with_versioned_urls(site: Site) -> None:
    asset_id = upload(site, grey_photo((800, 500)))
    set_logo(site)
    browser = session_browser(site, "marketing")
    page = browser.get("/brand")
    assert page.status_code == 200
    for name in PRESETS:
        url = rendition_url(site.portal, asset_id, name, "jpeg", True).replace("&", "&amp;")
        assert f'src="{url}"' in page.text, name
    assert f"/api/v1/brand/preview?asset={asset_id}" in page.text
    assert 'href="/brand"' in page.text and 'name="watermark_asset_id"' in page.text
    assert session_browser(site, "employee").get("/brand").status_code == 403
    # Images seen once as low resolution are marked on the page without JavaScript.
    small = upload(site, grey_photo((300, 200)), "small.jpg")
    site.client.get(render_url(small, format="jpeg"), headers=site.token_for("marketing"))
    marked = browser.get(f"/brand?asset={small}")
    assert marked.text.count('class="status status-draft low-res" hidden') == len(PRESETS) - 1


def test_brand_form_saves_settings_and_a_font(site: Site) -> None:
    asset_id = upload(site, grey_photo((800, 500)))
    logo = upload(site, make_logo((300, 150), RED), "logo.png")
    browser = session_browser(site, "marketing")
    old_url = rendition_url(site.portal, asset_id, "linkedin-landscape", "jpeg", True)
    fields = {
        "csrf_token": csrf_of(browser),
        "version": "default",
        "asset": asset_id,
        "background": "#102030",
        "brand_colour": "#AA0000",
        "text_colour": "#ffffff",
        "watermark_asset_id": logo,
        "watermark_position": "top-left",
        "watermark_scale": "25",
        "watermark_margin": "2",
        "watermark_opacity": "90",
    }
    font = ("brand.ttf", builtin_font(), "font/ttf")
    saved = browser.post("/brand", data=fields, files={"file": font}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/brand?saved=1&asset={asset_id}"
    brand = site.portal.brand.current()
    assert (brand.background, brand.brand_colour, brand.watermark_asset_id) == ("#102030", "#aa0000", logo)
    assert (brand.watermark_scale, brand.watermark_margin, brand.watermark_opacity) == (0.25, 0.02, 0.9)
    assert brand.font_name == "Aileron" and brand.font_key.startswith("blobs/brand/font-")
    page = browser.get(saved.headers["location"])
    assert "Aileron" in page.text and 'value="25"' in page.text
    assert rendition_url(site.portal, asset_id, "linkedin-landscape", "jpeg", True) != old_url
    # The form without a new file keeps the font; the version it was made from must be current.
    stale = browser.post("/brand", data=fields, files={"file": ("", b"", "application/octet-stream")})
    assert stale.status_code == 409 and site.portal.brand.current() == brand
    fresh = {**fields, "version": brand.version, "background": "#ffffff"}
    kept = browser.post("/brand", data=fresh, files={"file": ("", b"", "application/octet-stream")})
    assert kept.status_code == 200 and site.portal.brand.current().font_key == brand.font_key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("background", "blue"),
        ("watermark_opacity", "0"),
        ("watermark_scale", "big"),
        ("watermark_asset_id", "x"),
    ],
)
def test_brand_form_errors_show_the_form_and_store_nothing(site: Site, field: str, value: str) -> None:
    browser = session_browser(site, "marketing")
    before = {info.key for info in site.portal.store.list("") if not info.key.startswith("audit/")}
    fields = {"csrf_token": csrf_of(browser), "version": "default", field: value}
    response = browser.post("/brand", data=fields, files={"file": ("", b"", "application/octet-stream")})
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    after = {info.key for info in site.portal.store.list("") if not info.key.startswith("audit/")}
    assert after == before and site.portal.brand.current().version == "default"


def test_brand_form_refuses_a_file_that_is_not_a_font(site: Site) -> None:
    browser = session_browser(site, "marketing")
    fields = {"csrf_token": csrf_of(browser), "version": "default"}
    bad = ("font.ttf", b"GIF89a not a font", "font/ttf")
    response = browser.post("/brand", data=fields, files={"file": bad})
    assert response.status_code == 422 and "font" in response.text
    assert list(site.portal.store.list("blobs/brand/")) == []
    forged = browser.post("/brand", data={"version": "default"}, files={"file": bad})
    assert forged.status_code == 403


def test_brand_preview_renders_unsaved_settings_without_storing(site: Site) -> None:
    asset_id = upload(site, grey_photo())
    logo = upload(site, make_logo((300, 150), RED), "logo.png")
    marketing = site.token_for("marketing")
    before = {info.key for info in site.portal.store.list("renditions/")}
    query = (
        f"asset={asset_id}&preset=linkedin-landscape&format=png&watermark_asset_id={logo}"
        "&watermark_opacity=100&watermark_scale=18&watermark_margin=3&watermark_position=bottom-right"
    )
    response = site.client.get(f"/api/v1/brand/preview?{query}", headers=marketing)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store" and "etag" not in response.headers
    assert close(mean(opened(response.content), CORNER), RED, 30)
    assert {info.key for info in site.portal.store.list("renditions/")} == before
    assert site.portal.brand.current().version == "default"
    sample = site.client.get(
        f"/api/v1/brand/preview?asset={asset_id}&preset=linkedin-landscape&sample=1", headers=marketing
    )
    assert close(mean(opened(sample.content), (0, 620, 1200, 627)), (0, 82, 147), 10)
    invalid = site.client.get(f"/api/v1/brand/preview?{query}&background=nope", headers=marketing)
    assert invalid.status_code == 422 and "colour" in invalid.json()["error"]["message"]
    employee = site.client.get(f"/api/v1/brand/preview?{query}", headers=site.token_for("employee"))
    assert employee.status_code == 403


def test_brand_api_patch_honours_if_match(site: Site) -> None:
    marketing = site.token_for("marketing")
    current = site.client.get("/api/v1/brand", headers=marketing)
    assert current.json()["version"] == "default" and current.headers["etag"] == '"default"'
    changed = site.client.patch(
        "/api/v1/brand", json={"text_colour": "#000000"}, headers={**marketing, "if-match": '"default"'}
    )
    assert changed.status_code == 200 and changed.json()["text_colour"] == "#000000"
    stale = site.client.patch(
        "/api/v1/brand", json={"text_colour": "#ffffff"}, headers={**marketing, "if-match": '"default"'}
    )
    assert stale.status_code == 412
    assert site.client.get("/api/v1/brand", headers=site.token_for("employee")).status_code == 403
