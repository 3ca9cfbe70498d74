"""The library in a real browser: several files uploaded at once with a progress bar each, a refusal
shown next to its file, drag-and-drop, and the focal point set by clicking on the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import asset_samples as samples
from tests.browser.conftest import ARTIFACTS, LiveServer

pytestmark = pytest.mark.browser


def sign_in_as_marketing(live_server: LiveServer, page: Any) -> None:
    accounts = live_server.portal.accounts
    user = accounts.add("marketing@example.com", role="marketing", name="Mia")
    link = accounts.issue_link(user, "login")
    page.goto(f"{live_server.url}/link/{link.secret}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_several_files_upload_with_progress_and_per_file_results(
    live_server: LiveServer, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in_as_marketing(live_server, page)
    files = {
        "harbour.jpg": samples.distinct_jpeg(1, (400, 300)),
        "dunes.png": samples.png((300, 200)),
        "notes.jpg": samples.TEXT,
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    page.goto(f"{live_server.url}/library")
    page.fill("#upload-tags", "beach, summer")
    page.set_input_files("#upload-file", paths)
    rows = page.locator("#upload-list li")
    expect(page.locator("#upload-list .state.ok, #upload-list .state.failed")).to_have_count(3)
    assert rows.count() == 3
    texts = {
        rows.nth(i).locator(".name").inner_text(): rows.nth(i).locator(".state").inner_text()
        for i in range(3)
    }
    assert texts["harbour.jpg"].startswith("Added") and texts["dunes.png"].startswith("Added")
    assert "not supported" in texts["notes.jpg"]
    assert page.locator("#upload-list progress").first.get_attribute("max") == "100"
    page.screenshot(path=str(ARTIFACTS / "library-upload.png"), full_page=True)
    assets = live_server.portal.assets.all()
    assert sorted(a.title for a in assets) == ["dunes", "harbour"]
    assert all(a.tags == ("beach", "summer") for a in assets)

    # The same file dropped onto the drop zone is recognised as already there.
    page.evaluate(
        """async (bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "again.jpg", {type: "image/jpeg"}));
            const drop = new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true});
            document.getElementById("dropzone").dispatchEvent(drop);
        }""",
        list(files["harbour.jpg"]),
    )
    expect(page.locator("#upload-list .state.dup")).to_have_count(1)
    page.locator("#upload-done a").click()
    assert page.locator(".asset-card").count() == 2


def test_clicking_the_preview_sets_the_focal_point(live_server: LiveServer, browser_page: Any) -> None:
    page = browser_page
    sign_in_as_marketing(live_server, page)
    (Path(live_server.settings.store) / ".." / "focal.jpg").resolve().write_bytes(samples.jpeg((400, 200)))
    page.goto(f"{live_server.url}/library")
    page.set_input_files(
        "#upload-file", str((Path(live_server.settings.store) / ".." / "focal.jpg").resolve())
    )
    expect(page.locator("#upload-list .state.ok")).to_have_count(1)
    page.locator("#upload-list .state.ok a").click()
    image = page.locator("#focal-picker img")
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    assert abs(float(page.input_value("#focal-x")) - 0.25) < 0.02
    assert abs(float(page.input_value("#focal-y")) - 0.75) < 0.02
    assert page.locator(".focal-marker").is_visible()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**saved=1")
    asset = live_server.portal.assets.all()[0]
    assert asset.focal is not None and abs(asset.focal[0] - 0.25) < 0.02 and abs(asset.focal[1] - 0.75) < 0.02
    page.screenshot(path=str(ARTIFACTS / "library-detail.png"), full_page=True)
