"""The social media policy in the portal: sanitised Markdown, versions, the gate, CSV, contact point."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from html.parser import HTMLParser

import httpx2
from starlette.testclient import TestClient

from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.policy import ACKS, CSV_HEADER, VERSIONS

HOSTILE = """## Rules

<script>alert("script tag")</script>

[click me](javascript:alert('link'))

<a href="https://example.com" onclick="alert('handler')">raw link</a>

<img src="x" onerror="alert('image')">

[a safe link](https://example.com/guide) and **bold** text.
"""


class Elements(HTMLParser):
    """Every element with its attributes, so tests look at markup rather than at text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def with_tag(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def rendered_policy(html: str) -> str:
    """Only the policy text of a page: the layout around it has its own (trusted) scripts."""
    match = re.search(r'<div class="markdown"[^>]*>(.*?)</div>\s*</article>', html, re.S)
    assert match, "no policy text on the page"
    return match.group(1)


def assert_sanitised(fragment: str) -> None:
    elements = Elements(fragment)
    tags = [tag for tag, _ in elements.elements]
    assert "script" not in tags and "img" not in tags
    attributes = {name for _, attrs in elements.elements for name in attrs}
    assert not any(name.startswith("on") for name in attributes)
    hrefs = [attrs.get("href") or "" for attrs in elements.with_tag("a")]
    assert hrefs == ["https://example.com/guide"]  # the javascript: link is not a link any more
    assert "noopener" in (elements.with_tag("a")[0].get("rel") or "")
    assert "<strong>bold</strong>" in fragment


def publish(site: Site, texts: dict[str, str], **fields: str) -> httpx2.Response:
    browser = session_browser(site, "marketing")
    current = site.portal.policy.current()
    data = {
        "text_en": texts.get("en", ""),
        "text_nl": texts.get("nl", ""),
        "based_on": str(current.number if current else 0),
        "action": "publish",
        "csrf_token": csrf_of(browser),
        **fields,
    }
    return browser.post("/policy/edit", data=data, follow_redirects=False)


def test_policy_markdown_is_sanitised_on_the_page_and_in_the_preview(site: Site) -> None:
    marketing = session_browser(site, "marketing")
    preview = marketing.post(
        "/policy/edit",
        data={"text_en": HOSTILE, "based_on": "0", "action": "preview", "csrf_token": csrf_of(marketing)},
    )
    assert preview.status_code == 200
    assert site.portal.records.count(VERSIONS) == 0  # a preview publishes nothing
    assert_sanitised(rendered_policy(preview.text))

    assert publish(site, {"en": HOSTILE}).status_code == 303
    page = session_browser(site, "employee").get("/policy")
    assert page.status_code == 200
    assert_sanitised(rendered_policy(page.text))


def test_policy_versions_are_kept_and_old_ones_readable_with_their_date(site: Site) -> None:
    author = site.person("marketing")
    first = site.portal.policy.publish({"en": "First rules.", "nl": "Eerste regels."}, author, based_on=0)
    second = site.portal.policy.publish({"en": "Second rules."}, author, based_on=1)
    assert (first.number, second.number) == (1, 2)
    browser = session_browser(site, "employee")

    current = browser.get("/policy")
    assert "Second rules." in current.text and "Version 2" in current.text
    assert 'href="/policy/versions/1"' in current.text

    old = browser.get("/policy/versions/1")
    assert old.status_code == 200 and "First rules." in old.text
    assert first.published_at[:10] in old.text and "This is an older version." in old.text
    assert "Eerste regels." in browser.get("/policy/versions/1", headers={"accept-language": "nl"}).text

    # Version 2 has no Dutch text: Dutch readers get the English one, and are told so.
    dutch = browser.get("/policy", headers={"accept-language": "nl"})
    assert "Second rules." in dutch.text
    assert browser.get("/policy/versions/7").status_code == 404
    assert browser.get("/policy/versions/abc").status_code == 404


def test_policy_publish_refuses_stale_or_unchanged_edits_and_leaves_the_store_alone(site: Site) -> None:
    author = site.person("marketing")
    site.portal.policy.publish({"en": "Rules."}, author, based_on=0)
    before = sorted(r.id for r in site.portal.records.all(VERSIONS))
    stale = publish(site, {"en": "My edit."}, based_on="0")
    assert stale.status_code == 409
    assert "My edit." in stale.text  # the edit is not lost from the form
    assert publish(site, {"en": "Rules."}).status_code == 422
    assert publish(site, {}).status_code == 422
    assert sorted(r.id for r in site.portal.records.all(VERSIONS)) == before
    entries = site.portal.audit.entries(actor=author.email)
    assert [e.action for e in entries if e.kind == VERSIONS] == ["policy.publish"]


def test_policy_edit_is_for_marketing_only(site: Site) -> None:
    employee = session_browser(site, "employee")
    assert employee.get("/policy/edit").status_code == 403
    refused = employee.post(
        "/policy/edit", data={"text_en": "Mine", "action": "publish", "csrf_token": csrf_of(employee)}
    )
    assert refused.status_code == 403 and site.portal.policy.current() is None


def test_acknowledgement_gate_holds_employees_before_the_feed(site: Site) -> None:
    employee = session_browser(site, "employee")
    assert employee.get("/", follow_redirects=False).status_code == 200  # no policy yet: no gate

    author = site.person("marketing")
    site.portal.policy.publish(
        {"en": "## Be kind\n\nFull text."}, author, summaries={"en": "Short version."}, based_on=0
    )
    gated = employee.get("/?campaign=x", follow_redirects=False)
    assert gated.status_code == 303
    assert gated.headers["location"] == "/policy/acknowledge?next=%2F%3Fcampaign%3Dx"
    page = employee.get(gated.headers["location"])
    assert "Short version." in page.text and "I have read this" in page.text
    assert "Full text." not in page.text

    for _ in range(2):  # a double click counts once
        done = employee.post(
            "/policy/acknowledge",
            data={"version": "1", "next": "/?campaign=x", "csrf_token": csrf_of(employee)},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/?campaign=x"
    assert site.portal.records.count(ACKS) == 1
    assert employee.get("/", follow_redirects=False).status_code == 200

    # Marketing and admins write the policy; they are never held back by it.
    assert session_browser(site, "marketing").get("/", follow_redirects=False).status_code == 200

    # A new version asks again; an acknowledgement posted for the old one is not taken as the new one.
    site.portal.policy.publish({"en": "## Be kinder"}, author, based_on=1)
    assert employee.get("/", follow_redirects=False).status_code == 303
    stale = employee.post(
        "/policy/acknowledge",
        data={"version": "1", "next": "/", "csrf_token": csrf_of(employee)},
        follow_redirects=False,
    )
    assert stale.headers["location"].startswith("/policy/acknowledge")
    assert employee.get("/", follow_redirects=False).status_code == 303

    # The setting turns the gate off.
    site.portal.settings = replace(site.portal.settings, require_policy_ack=False)
    assert employee.get("/", follow_redirects=False).status_code == 200


def test_acknowledge_page_never_redirects_off_site(site: Site) -> None:
    author = site.person("marketing")
    site.portal.policy.publish({"en": "Rules."}, author, based_on=0)
    employee = session_browser(site, "employee")
    done = employee.post(
        "/policy/acknowledge",
        data={"version": "1", "next": "https://evil.example/", "csrf_token": csrf_of(employee)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_acknowledgements_listed_per_version_and_exported_as_csv(site: Site) -> None:
    author = site.person("marketing")
    policy = site.portal.policy
    policy.publish({"en": "Rules."}, author, based_on=0)
    anna = site.person("employee", "anna@example.com", name="Anna Bakker", team="Sales")
    mallory = site.person("employee", "mallory@example.com", name='=HYPERLINK("http://x")')
    site.person("employee", "late@example.com", name="Lars Late")
    policy.acknowledge(anna)
    policy.acknowledge(mallory)
    policy.publish({"en": "New rules."}, author, based_on=1)
    policy.acknowledge(anna)

    marketing = session_browser(site, "marketing")
    listing = marketing.get("/policy/acknowledgements?version=1")
    assert listing.status_code == 200
    assert "Anna Bakker" in listing.text and "Lars Late" in listing.text  # the second one as 'not yet'

    response = marketing.get("/policy/acknowledgements.csv?version=1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="policy-v1-acknowledgements.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_HEADER
    by_email = {row[2]: row for row in rows[1:]}
    assert set(by_email) == {"anna@example.com", "mallory@example.com"}
    assert by_email["anna@example.com"][:5] == ["1", "Anna Bakker", "anna@example.com", "Sales", "employee"]
    assert by_email["anna@example.com"][5]  # when
    assert by_email["mallory@example.com"][1].startswith("'=")  # no formula in a spreadsheet

    latest = marketing.get("/policy/acknowledgements.csv")  # the current version by default
    assert [r[2] for r in csv.reader(io.StringIO(latest.content.decode("utf-8-sig")))][1:] == [
        "anna@example.com"
    ]
    assert marketing.get("/policy/acknowledgements.csv?version=9").status_code == 404
    assert session_browser(site, "employee").get("/policy/acknowledgements.csv").status_code == 403


def _contact_form(browser: TestClient, **values: str) -> httpx2.Response:
    data = {"name": "", "email": "", "chat_url": "", "csrf_token": csrf_of(browser), **values}
    return browser.post("/admin/contact", data=data, follow_redirects=False)


def test_contact_set_by_admin_shows_on_every_employee_page(site: Site) -> None:
    admin = session_browser(site, "admin")
    refused = _contact_form(admin, name="Eva", email="eva@example.com", chat_url="javascript:alert(1)")
    assert refused.status_code == 422
    assert site.portal.policy.contact() is None

    saved = _contact_form(
        admin, name="Eva de Wit", email="Eva@Example.com", chat_url="https://chat.example.com/c/social"
    )
    assert saved.status_code == 303
    employee = session_browser(site, "employee")
    for path in ("/", "/profile", "/policy"):
        page = employee.get(path)
        assert page.status_code == 200, path
        footer = page.text[page.text.index("<footer") :]
        assert "Questions?" in footer and "Eva de Wit" in footer
        assert 'href="mailto:eva@example.com"' in footer
        assert 'href="https://chat.example.com/c/social"' in footer

    assert [e.action for e in site.portal.audit.entries(object_id="contact")] == ["policy.contact"]
    assert session_browser(site, "marketing").get("/admin/contact").status_code == 403


def test_demo_seed_publishes_a_bilingual_policy_and_a_contact(site: Site) -> None:
    from toolkit.demo import DEMO_PEOPLE
    from toolkit.policy import seed

    for person in DEMO_PEOPLE:
        details = dict(person)
        site.portal.accounts.add(str(details.pop("email")), **details)  # type: ignore[arg-type]
    seed(site.portal)
    seed(site.portal)  # a second run changes nothing
    version = site.portal.policy.current()
    assert version is not None and version.number == 1
    assert "GDPR" in version.texts["en"] and "AVG" in version.texts["nl"]
    for language in ("en", "nl"):
        assert version.summaries[language]
        assert version.html(language).count("<h2>") >= 6
    assert site.portal.policy.contact() is not None
