"""Share links over HTTP: the API, LinkedIn's preview page and image, counting people and not crawlers,
UTM parameters, 410s, two instances on one bucket, and nothing stored about the people who click."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.imaging.samples import detailed, encode
from tests.s3server import S3Server
from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.app import create_app
from toolkit.assets import Asset, UploadedFile
from toolkit.portal import Portal
from toolkit.posts import Post
from toolkit.settings import Settings

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"
CRAWLERS = [
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Applebot/0.1",
    "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "redditbot/1.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    "LINKEDINBOT/1.0",
]
TARGET = "https://example.com/jobs?ref=newsletter&utm_source=old&q=a%20b#apply"


def make_image(site: Site, tmp_path: Path, *, n: int = 1) -> Asset:
    """An approved brand picture, added and curated through portal.assets as marketing."""
    data = encode(detailed((1600 + n, 900)), "JPEG", quality=90)
    path = tmp_path / f"share-{n}.jpg"
    path.write_bytes(data)
    marketing = site.person("marketing")
    upload = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), path.name)
    asset, _ = site.portal.assets.add_upload(upload, actor=marketing, title="Harbour")
    return site.portal.assets.update(
        asset.id, {"status": "approved", "alt_text": "The harbour at dawn"}, actor=marketing
    )


def live_post(site: Site, *, asset: Asset | None = None, **values: Any) -> Post:
    author = site.person("marketing")
    body: dict[str, Any] = {
        "title": "Hiring engineers",
        "campaign": "Employer Brand 2025",
        "link": TARGET,
        "headline": "Come build with us",
        "variants": [
            {
                "language": "en",
                "tone": "casual",
                "text": "I'm {first_name}, {job_title} here. We are hiring engineers who like hard "
                "problems & good coffee. " + "Lots more to say about the team. " * 10,
            }
        ],
    }
    if asset is not None:
        body["asset_id"] = asset.id
    body.update(values)
    post = site.portal.posts.create(body, author)
    return site.portal.posts.approve(post.id, author)


def sharer(site: Site) -> dict[str, str]:
    site.person("employee", first_name="Daan", job_title="Software engineer", name="Daan Jansen")
    return site.token_for("employee")


def share_url(site: Site, post: Post, token: dict[str, str] | None = None) -> str:
    response = site.browser().post(f"/api/v1/posts/{post.id}/share-link", headers=token or sharer(site))
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def path_of(url: str) -> str:
    return urlsplit(url).path


def clicks(site: Site, post: Post) -> int:
    today = datetime.now(UTC).date()
    totals = site.portal.counters.totals(today, today)
    return sum(v for k, v in totals.items() if k.metric == "click" and k.post_id == post.id)


def meta(html: str) -> dict[str, str]:
    found = {}
    for match in re.finditer(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', html):
        found[match.group(1)] = unescape(match.group(2))
    return found


_PEOPLE = itertools.count(1)


def human(site: Site) -> TestClient:
    """A browser of another person each call (its own address): one person counts once a day."""
    n = next(_PEOPLE)
    return site.browser(f"198.18.{n // 250}.{n % 250 + 1}", headers={"user-agent": BROWSER_UA})


# The API


def test_share_link_api_gives_one_stable_unguessable_link_per_post_and_person(site: Site) -> None:
    post = live_post(site)
    other_post = live_post(site, title="Second")
    employee = sharer(site)
    first = share_url(site, post, employee)
    assert first.startswith(site.portal.settings.base_url + "/s/")
    assert share_url(site, post, employee) == first
    token = first.rsplit("/", 1)[1]
    assert len(token) * 6 >= 96 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    employee_id = site.person("employee").id
    assert post.id not in token and employee_id not in token
    colleague = site.token_for("marketing")
    assert share_url(site, post, colleague) != first
    assert share_url(site, other_post, employee) != first
    records = [r for r in site.portal.records.all("share-links") if r.data["user_id"] == employee_id]
    assert len(records) == 2


def test_share_link_api_refuses_drafts_and_anonymous_and_is_blocked_in_crisis(site: Site) -> None:
    author = site.person("marketing")
    draft = site.portal.posts.create(
        {"title": "Draft", "variants": [{"language": "en", "text": "Not yet"}]}, author
    )
    employee = sharer(site)
    assert site.browser().post(f"/api/v1/posts/{draft.id}/share-link", headers=employee).status_code == 404
    assert site.browser().post(f"/api/v1/posts/{draft.id}/share-link").status_code == 401
    post = live_post(site)
    site.portal.crisis.set(True, "We are reviewing.", "Press office", actor=site.person("admin"))
    blocked = site.browser().post(f"/api/v1/posts/{post.id}/share-link", headers=employee)
    assert blocked.status_code == 423 and blocked.json()["error"]["code"] == "crisis_mode"
    assert site.portal.records.all("share-links") == []


def test_revoke_by_owner_or_marketing_only_then_a_new_link_is_made(site: Site) -> None:
    post = live_post(site)
    employee = sharer(site)
    url = share_url(site, post, employee)
    token = url.rsplit("/", 1)[1]
    colleague = site.person("employee", "colleague@example.com")
    other = {"authorization": f"Bearer {site.portal.accounts.create_token(colleague).secret}"}
    assert site.browser().delete(f"/api/v1/share-links/{token}", headers=other).status_code == 404
    assert site.browser().delete(f"/api/v1/share-links/{token}", headers=employee).status_code == 204
    assert human(site).get(path_of(url), follow_redirects=False).status_code == 410
    fresh = share_url(site, post, employee)
    assert fresh != url
    marketing = site.token_for("marketing")
    fresh_token = fresh.rsplit("/", 1)[1]
    assert site.browser().delete(f"/api/v1/share-links/{fresh_token}", headers=marketing).status_code == 204
    actions = [e.action for e in site.portal.audit.entries(object_id=fresh_token)]
    assert actions == ["share_link.revoke"]


# The public page


def test_preview_page_has_absolute_open_graph_tags_and_nothing_internal(site: Site, tmp_path: Path) -> None:
    post = live_post(site, asset=make_image(site, tmp_path))
    url = share_url(site, post)
    page = site.browser(headers={"user-agent": CRAWLERS[0]}).get(path_of(url))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    tags = meta(page.text)
    base = site.portal.settings.base_url
    assert tags["og:url"] == url
    assert tags["og:image"] == f"{url}/image.jpg" and tags["og:image"].startswith(base + "/s/")
    assert tags["og:image:width"] == "1200" and tags["og:image:height"] == "627"
    assert tags["og:type"] == "article"
    assert tags["og:title"] == "Come build with us"
    description = tags["og:description"]
    assert description.startswith("I'm Daan, Software engineer here. We are hiring engineers")
    assert 150 <= len(description) <= 201 and "\n" not in description
    assert tags["twitter:card"] == "summary_large_image" and tags["twitter:image"] == tags["og:image"]
    for internal in ('class="mainnav"', "/logout", "csrf", "/manage/", "/library", "Sign out"):
        assert internal not in page.text, internal


def test_preview_image_is_a_public_1200x627_jpeg_with_strong_etag(site: Site, tmp_path: Path) -> None:
    post = live_post(site, asset=make_image(site, tmp_path))
    url = share_url(site, post)
    anonymous = site.browser(headers={"user-agent": "Slack-ImgProxy (+https://api.slack.com/robots)"})
    image = anonymous.get(path_of(url) + "/image.jpg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(image.content)) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (1200, 627)
    etag = image.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "public" in image.headers["cache-control"] and "max-age=86400" in image.headers["cache-control"]
    again = anonymous.get(path_of(url) + "/image.jpg", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert clicks(site, post) == 0


def test_crawlers_get_the_page_and_are_not_counted(site: Site) -> None:
    post = live_post(site)
    url = share_url(site, post)
    for agent in [*CRAWLERS, ""]:
        page = site.browser(headers={"user-agent": agent}).get(path_of(url), follow_redirects=False)
        assert page.status_code == 200, agent
        assert meta(page.text)["og:url"] == url
    site.portal.counters.flush()
    assert clicks(site, post) == 0


def test_a_person_is_counted_and_sent_on_with_utm_and_their_parameters_kept(site: Site) -> None:
    post = live_post(site)
    url = share_url(site, post)
    response = human(site).get(path_of(url), follow_redirects=False)
    assert response.status_code == 303 and response.headers["cache-control"] == "no-store"
    target = urlsplit(response.headers["location"])
    assert (target.scheme, target.netloc, target.path, target.fragment) == (
        "https",
        "example.com",
        "/jobs",
        "apply",
    )
    assert "ref=newsletter" in target.query and "q=a%20b" in target.query
    assert parse_qsl(target.query) == [
        ("ref", "newsletter"),
        ("q", "a b"),
        ("utm_source", "linkedin"),
        ("utm_medium", "employee_advocacy"),
        ("utm_campaign", "employer-brand-2025"),
        ("utm_content", post.id),
    ]
    assert clicks(site, post) == 1


def test_one_browser_is_counted_once_a_day_with_a_cookie_that_holds_nothing_else(site: Site) -> None:
    post = live_post(site)
    second_post = live_post(site, title="Second", campaign="")
    url = share_url(site, post)
    second_url = share_url(site, second_post)
    browser = human(site)
    first = browser.get(path_of(url), follow_redirects=False)
    cookies = first.headers.get_list("set-cookie")
    clicked = [c for c in cookies if c.startswith("toolkit_clicked=")]
    assert len(clicked) == 1 and len(cookies) == 1  # the share domain sets nothing else
    assert "Path=/s/" in clicked[0] and "HttpOnly" in clicked[0]
    value = clicked[0].split(";", 1)[0].split("=", 1)[1]
    token = url.rsplit("/", 1)[1]
    assert token not in value and post.id not in value
    assert re.fullmatch(r"\d{8}\.[0-9a-f]{12}", value)
    browser.get(path_of(url), follow_redirects=False)
    assert clicks(site, post) == 1
    second = browser.get(path_of(second_url), follow_redirects=False)
    assert dict(parse_qsl(urlsplit(second.headers["location"]).query))["utm_campaign"] == "toolkit"
    assert clicks(site, second_post) == 1
    # Another person (another address) counts; the same person without the cookie would not.
    site.browser("198.51.100.1", headers={"user-agent": BROWSER_UA}).get(path_of(url), follow_redirects=False)
    assert clicks(site, post) == 2
    stale = site.browser("198.51.100.2", headers={"user-agent": BROWSER_UA})
    stale.cookies.set("toolkit_clicked", "20000101." + value.split(".")[1], path="/s/")
    stale.get(path_of(url), follow_redirects=False)
    assert clicks(site, post) == 3


def test_post_without_link_shows_a_clean_page_in_the_sharers_words(site: Site, tmp_path: Path) -> None:
    post = live_post(site, asset=make_image(site, tmp_path), link="")
    url = share_url(site, post)
    page = human(site).get(path_of(url), follow_redirects=False)
    assert page.status_code == 200
    assert "I&#39;m Daan, Software engineer here." in page.text
    assert f'<img class="share-image" src="{url}/image.jpg"' in page.text
    assert 'class="mainnav"' not in page.text and "csrf" not in page.text
    assert clicks(site, post) == 1


def _gone(site: Site, url: str) -> None:
    for client in (human(site), site.browser(headers={"user-agent": CRAWLERS[0]})):
        for path in (path_of(url), path_of(url) + "/image.jpg"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 410, path
            assert "This content is no longer available." in response.text
            assert "<img" not in response.text and "og:image" not in response.text
            assert "hiring" not in response.text.lower()


def test_archived_expired_revoked_and_crisis_links_are_gone(site: Site, tmp_path: Path) -> None:
    asset = make_image(site, tmp_path)
    marketing = site.person("marketing")
    archived, expired, revoked, paused = (live_post(site, asset=asset, title=f"P{n}") for n in range(4))
    urls = {p.id: share_url(site, p) for p in (archived, expired, revoked, paused)}
    site.portal.posts.archive(archived.id, marketing)
    _gone(site, urls[archived.id])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    site.portal.posts.update(expired.id, {"valid_until": past}, marketing)
    _gone(site, urls[expired.id])
    site.portal.sharing.revoke(urls[revoked.id].rsplit("/", 1)[1], marketing)
    _gone(site, urls[revoked.id])
    assert human(site).get(path_of(urls[paused.id]), follow_redirects=False).status_code == 303
    site.portal.crisis.set(True, "We are reviewing.", "Press office", actor=site.person("admin"))
    _gone(site, urls[paused.id])
    _gone(site, site.portal.settings.base_url + "/s/" + "A" * 22)
    assert clicks(site, paused) == 1


def test_composer_gets_a_share_link_in_one_click_without_javascript(site: Site) -> None:
    post = live_post(site)
    browser = session_browser(site, "employee")
    page = browser.get(f"/posts/{post.id}")
    assert "Get share link" in page.text and 'id="share-link" class="share-link" hidden' in page.text
    made = browser.post(
        f"/posts/{post.id}/share-link", data={"csrf_token": csrf_of(browser)}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"] == f"/posts/{post.id}#share-link"
    shown = browser.get(f"/posts/{post.id}").text
    link = site.portal.records.all("share-links")[0].id
    assert f'value="{site.portal.settings.base_url}/s/{link}"' in shown
    assert 'id="share-link" class="share-link" hidden' not in shown


# Privacy and scale


def _every_object(portal: Portal) -> Iterator[tuple[str, bytes]]:
    for info in portal.store.list(""):
        yield info.key, portal.store.read(info.key)[0]


def test_nothing_about_the_people_who_click_is_stored(site: Site, tmp_path: Path) -> None:
    post = live_post(site, asset=make_image(site, tmp_path))
    no_link = live_post(site, asset=make_image(site, tmp_path, n=2), link="", title="No link")
    urls = [share_url(site, post), share_url(site, no_link)]
    agent = "Mozilla/5.0 (PrivacyProbe; Zz9-ClickerAgent-4471) Gecko/20100101 Firefox/128.0"
    address = "203.0.113.77"
    clicker = TestClient(site.client.app, base_url="http://testserver", client=(address, 1234))
    clicker.app_state.update(site.client.app_state)
    clicker.headers["user-agent"] = agent
    for url in urls:
        assert clicker.get(path_of(url), follow_redirects=False).status_code in (200, 303)
        assert clicker.get(path_of(url) + "/image.jpg").status_code == 200
    site.portal.counters.flush()
    assert clicks(site, post) == 1 and clicks(site, no_link) == 1
    seen = 0
    for key, data in _every_object(site.portal):
        seen += 1
        for secret in (address, agent, "Zz9-ClickerAgent-4471", "PrivacyProbe"):
            assert secret.encode() not in data, (key, secret)
            assert secret not in key
    assert seen > 10


def _instance(settings: Settings, name: str) -> tuple[Portal, TestClient]:
    portal = Portal(replace(settings, instance_id=name))
    return portal, TestClient(create_app(portal.settings, portal=portal), base_url="http://testserver")


def test_clicks_on_two_instances_on_one_bucket_add_up_exactly(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {},
        store=f"s3://{bucket}/portal",
        s3_endpoint_url=s3_server.url,
        secret_key="test-secret-" + "x" * 20,
        refresh_seconds=30,
        counter_flush_seconds=3600,
    )
    first, first_client = _instance(settings, "web-1")
    second, second_client = _instance(settings, "web-2")
    with first_client, second_client:
        site = Site(first, first_client)
        employee = sharer(site)
        post = live_post(site)
        second.refresh()  # the post and its sharer are known everywhere; the link is brand new
        url = share_url(site, post, employee)
        # The second instance has not refreshed since: it must still know the link at the first click.
        per_thread, threads_per_instance = 40, 2
        barrier = threading.Barrier(threads_per_instance * 2)
        failures: list[int] = []

        def click(client: TestClient) -> None:
            browser = TestClient(client.app, base_url="http://testserver", headers={"user-agent": BROWSER_UA})
            browser.app_state.update(client.app_state)
            barrier.wait()
            for n in range(per_thread):
                browser.cookies.clear()
                # A different person each time: one person is counted once a day.
                person = {"user-agent": f"{BROWSER_UA} person/{threading.get_ident()}-{n}"}
                status = browser.get(path_of(url), headers=person, follow_redirects=False).status_code
                if status != 303:
                    failures.append(status)

        threads = [
            threading.Thread(target=click, args=(client,))
            for client in (first_client, second_client)
            for _ in range(threads_per_instance)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        first.counters.flush()
        second.counters.flush()
        reader = Portal(replace(settings, instance_id="reader"))
        reader.start()
        try:
            today = datetime.now(UTC).date()
            totals = reader.counters.totals(today, today)
            counted = {k.user_id: v for k, v in totals.items() if k.metric == "click"}
            assert counted == {site.person("employee").id: per_thread * threads_per_instance * 2}
            stats = reader.stats.report(reader.stats.default_period())
            assert stats.totals.clicks == per_thread * threads_per_instance * 2
            keys = sorted(i.key for i in reader.store.list("counters/"))
            pid = os.getpid()
            # One object per instance (per hour: a run across the hour makes two each).
            assert sorted({k.rsplit("/", 1)[1] for k in keys}) == [f"web-1-{pid}.json", f"web-2-{pid}.json"]
        finally:
            reader.close()


@pytest.mark.parametrize("agent", [BROWSER_UA, PHONE_UA])
def test_head_requests_are_not_counted(site: Site, agent: str) -> None:
    post = live_post(site)
    url = share_url(site, post)
    browser = site.browser(headers={"user-agent": agent})
    assert browser.head(path_of(url), follow_redirects=False).status_code == 303
    assert clicks(site, post) == 0


def test_post_without_image_has_no_og_image_and_a_bare_404_for_the_image(site: Site) -> None:
    post = live_post(site)
    url = share_url(site, post)
    tags = meta(site.browser(headers={"user-agent": CRAWLERS[0]}).get(path_of(url)).text)
    assert "og:image" not in tags and tags["twitter:card"] == "summary"
    missing = site.browser().get(path_of(url) + "/image.jpg")
    assert missing.status_code == 404 and missing.content == b""
