"""End to end in headless Chromium: marketing prepares a post, an employee shares it in three clicks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, LiveServer

PASSWORD = "a long browser password"


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button")
    page.wait_for_url(f"{server.url}/")


def _sign_out(page: Any) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_url("**/login")


def test_marketing_prepares_and_employee_shares_a_post(live_server: LiveServer, browser_page: Any,
                                                       tmp_path: Path) -> None:
    page = browser_page
    accounts = live_server.portal.accounts
    accounts.add("maya@example.com", role="marketing", name="Maya Marketing", password=PASSWORD)
    accounts.add("erik@example.com", role="employee", name="Erik Employee", first_name="Erik",
                 job_title="Data engineer", team="Analytics", password=PASSWORD)
    photo = tmp_path / "team-day.jpg"
    Image.new("RGB", (1600, 1000), (30, 120, 200)).save(photo, quality=90)

    # Marketing: upload, approve, a hashtag set, a post with two variants, approve.
    _sign_in(page, live_server, "maya@example.com")
    page.goto(f"{live_server.url}/library")
    page.set_input_files("#upload-file", str(photo))
    page.wait_for_selector("#upload-done:not([hidden])")
    page.goto(f"{live_server.url}/library")
    page.check(".asset-card input[name=ids]")
    page.select_option("#bulk-form select[name=action]", "approve")
    page.click("#bulk-form button")
    page.wait_for_selector(".asset-card .status-approved")

    page.goto(f"{live_server.url}/manage/hashtags")
    page.fill("form[action='/manage/hashtags'] input[name=name]", "Employer brand")
    page.fill("form[action='/manage/hashtags'] textarea[name=hashtags]", "WorkingHere, #TeamDay")
    page.click("form[action='/manage/hashtags'] button.primary")
    page.wait_for_selector("text=#TeamDay")

    page.goto(f"{live_server.url}/manage/posts/new")
    page.fill("input[name=title]", "Team day")
    page.fill("input[name=campaign]", "Employer brand")
    texts = page.locator("textarea[name=variant_text]")
    texts.nth(0).fill("Great team day with {team}! I'm {first_name}, proud to work here.")
    page.locator("select[name=variant_language]").nth(1).select_option("nl")
    texts.nth(1).fill("Mooie teamdag met {team}! Ik ben {first_name}.")
    page.check("input[name=hashtag_set_ids]")
    page.select_option("select[name=asset_id]", index=1)
    page.wait_for_selector("#variant-previews .preview-block")  # the live preview rendered both variants
    assert page.locator("#variant-previews .preview-block").count() == 2
    page.click("#post-form button.primary")
    page.wait_for_url("**/manage/posts/*?saved=1")
    page.click("button[value=approve]")
    page.wait_for_selector(".status-approved")
    _sign_out(page)

    # Employee: open the post, switch variant, remove a hashtag, copy, download image and kit.
    _sign_in(page, live_server, "erik@example.com")
    page.wait_for_selector(".post-card")
    page.screenshot(path=str(ARTIFACTS / "feed.png"), full_page=True)
    page.click(".post-card a")
    page.wait_for_selector("#composer")
    page.click(".variant-choice >> text=NL")
    page.wait_for_selector("#compose-text >> text=Mooie teamdag met Analytics")
    page.click("label.chip:has-text('#WorkingHere')")
    expect(page.locator("#preview-text")).not_to_contain_text("#WorkingHere")
    page.click("#copy-text")
    page.wait_for_selector("#copy-status:has-text('Copied')")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    more = page.locator("#preview-text .li-more")
    if more.count():
        more.click()
    shown = page.locator("#preview-text").text_content()
    assert clipboard == shown
    assert clipboard == "Mooie teamdag met Analytics! Ik ben Erik.\n\n#TeamDay"
    page.screenshot(path=str(ARTIFACTS / "composer.png"), full_page=True)

    with page.expect_download() as image_download:
        page.click("#download-image")
    with Image.open(image_download.value.path()) as image:
        assert image.format == "JPEG" and image.size == (1200, 627)
    assert image_download.value.suggested_filename == "team-day.jpg"

    with page.expect_download() as kit_download:
        page.click("#kit-form button")
    kit = zipfile.ZipFile(io.BytesIO(Path(kit_download.value.path()).read_bytes()))
    assert kit.read("post.txt").decode("utf-8") == clipboard
    assert {"post.txt", "alt-text.txt", "team-day.jpg"} <= set(kit.namelist())
