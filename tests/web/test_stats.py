"""Statistics over HTTP: the marketing API, CSV and page, 'My sharing', and the opt-in leaderboard."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from tests.web.test_share_links import human, live_post, path_of, share_url
from toolkit.posts import Post


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _token_of(site: Site, email: str, name: str) -> dict[str, str]:
    person = site.person("employee", email, name=name)
    return {"authorization": f"Bearer {site.portal.accounts.create_token(person).secret}"}


def _activity(site: Site) -> tuple[Post, Post, Post]:
    """Two employees use posts through the API and one link gets clicks; a third post is unused."""
    hiring = live_post(site)
    culture = live_post(site, title="Culture", campaign="Culture")
    unused = live_post(site, title="Nobody wants me", campaign="Culture")
    ann = site.token_for("employee")
    bob = _token_of(site, "bob@example.com", "Bob")
    site.person("employee", "cas@example.com", name="Cas")
    assert site.browser().get(f"/api/v1/posts/{hiring.id}/copy", headers=ann).status_code == 200
    assert site.browser().get(f"/api/v1/posts/{hiring.id}/copy", headers=ann).status_code == 200
    assert site.browser().get(f"/api/v1/posts/{culture.id}/kit.zip", headers=bob).status_code == 200
    url = share_url(site, hiring, bob)
    for _ in range(3):
        human(site).get(path_of(url), follow_redirects=False)
    return hiring, culture, unused


def test_stats_api_gives_marketing_the_numbers_and_csv_the_same_table(site: Site) -> None:
    hiring, culture, unused = _activity(site)
    marketing = site.token_for("marketing")
    response = site.browser().get("/api/v1/stats/posts", headers=marketing)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    data = response.json()
    first = (datetime.now(UTC).date() - timedelta(days=29)).isoformat()
    assert (data["from"], data["to"]) == (first, _today())
    rows = {row["id"]: row for row in data["posts"]}
    assert rows[hiring.id] == {
        "id": hiring.id,
        "title": "Hiring engineers",
        "campaign": "Employer Brand 2025",
        "status": "approved",
        "live": True,
        "uses": {"copy": 2, "download": 0, "kit": 0, "total": 2},
        "share_links": 1,
        "clicks": 3,
        "unique_sharers": 2,
    }
    assert rows[culture.id]["uses"] == {"copy": 0, "download": 0, "kit": 1, "total": 1}
    assert data["totals"]["uses"]["total"] == 3 and data["totals"]["clicks"] == 3
    assert data["totals"]["posts_used"] == 2
    assert data["participation"] == {"active_employees": 3, "participants": 2, "rate": 0.6667}
    assert [p["id"] for p in data["top_posts"]] == [hiring.id, culture.id]
    assert [p["id"] for p in data["unused_posts"]] == [unused.id]
    campaigns = {c["campaign"]: c for c in data["campaigns"]}
    assert campaigns["Culture"]["posts"] == 2 and campaigns["Culture"]["uses"]["total"] == 1
    assert len(data["days"]) == 30 and data["days"][-1] == {
        "day": _today(),
        "uses": 3,
        "share_links": 1,
        "clicks": 3,
    }

    exported = site.browser().get(f"/api/v1/stats/posts.csv?from={first}&to={_today()}", headers=marketing)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert f'filename="post-stats-{first}-{_today()}.csv"' in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["post_id"] for r in table] == [r["id"] for r in data["posts"]]
    hiring_csv = next(r for r in table if r["post_id"] == hiring.id)
    assert (hiring_csv["copies"], hiring_csv["uses"], hiring_csv["share_links"], hiring_csv["clicks"]) == (
        "2",
        "2",
        "1",
        "3",
    )


def test_stats_api_checks_dates_and_who_asks(site: Site) -> None:
    marketing = site.token_for("marketing")
    too_long, backwards = "from=2024-01-01&to=2025-06-01", "from=2025-06-02&to=2025-06-01"
    for query in ("from=2025-02-30", "to=soon", too_long, backwards):
        for path in ("/api/v1/stats/posts", "/api/v1/stats/posts.csv"):
            response = site.browser().get(f"{path}?{query}", headers=marketing)
            assert response.status_code == 422, (path, query)
            assert response.json()["error"]["code"] == "invalid"
    ok = site.browser().get("/api/v1/stats/posts?from=2024-06-01&to=2025-06-01", headers=marketing)
    assert ok.status_code == 200 and len(ok.json()["days"]) == 366
    employee = site.token_for("employee")
    for path in ("/api/v1/stats/posts", "/api/v1/stats/posts.csv", "/api/v1/stats/leaderboard"):
        assert site.browser().get(path, headers=employee).status_code == 403
        assert site.browser().get(path).status_code == 401
    assert session_browser(site, "employee").get("/stats").status_code == 403


def test_stats_page_shows_tables_an_svg_chart_and_links_without_inline_styles(site: Site) -> None:
    hiring, _, unused = _activity(site)
    page = session_browser(site, "marketing").get("/stats")
    assert page.status_code == 200
    html = page.text
    assert '<svg class="chart-svg"' in html and "<rect " in html and "<polyline" in html
    assert " style=" not in html and "<style" not in html and "<script>" not in html
    loaded = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)
    assert loaded and all(url.startswith("/static/") for url in loaded), loaded  # no CDN
    assert 'href="/api/v1/stats/posts.csv?from=' in html
    assert "Hiring engineers" in html and "Nobody wants me" in html
    assert 'href="/stats" aria-current="page"' in html  # the nav link
    assert "67%" in html  # participation, 2 of 3 employees
    bad = session_browser(site, "marketing").get("/stats?from=nonsense")
    assert bad.status_code == 422 and "must be a date" in bad.text
    employee_page = session_browser(site, "employee").get("/me/stats").text
    assert 'href="/stats"' not in employee_page and 'href="/me/stats"' in employee_page


def test_my_sharing_shows_only_my_numbers_and_my_links(site: Site) -> None:
    hiring, _, _ = _activity(site)
    ann = site.token_for("employee")
    mine = site.browser().get("/api/v1/me/stats", headers=ann).json()
    assert mine["uses"]["total"] == 2 and mine["clicks"] == 0 and mine["share_links"] == 0
    assert mine["links"] == [] and mine["leaderboard"] is None
    theirs = site.browser().get("/api/v1/me/stats", headers=_token_of(site, "bob@example.com", "Bob")).json()
    assert theirs["clicks"] == 3 and theirs["share_links"] == 1 and theirs["uses"]["total"] == 1
    assert [link["post_id"] for link in theirs["links"]] == [hiring.id]
    page = session_browser(site, "employee").get("/me/stats")
    assert page.status_code == 200 and "Bob" not in page.text and "Leaderboard" not in page.text


def test_employee_revokes_their_own_link_from_my_sharing(site: Site) -> None:
    post = live_post(site)
    browser = session_browser(site, "employee")
    made = browser.post(f"/api/v1/posts/{post.id}/share-link", headers={"x-csrf-token": csrf_of(browser)})
    token = made.json()["token"]
    assert f"/me/share-links/{token}/revoke" in browser.get("/me/stats").text
    revoked = browser.post(
        f"/me/share-links/{token}/revoke", data={"csrf_token": csrf_of(browser)}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert human(site).get(f"/s/{token}", follow_redirects=False).status_code == 410
    assert f"/me/share-links/{token}/revoke" not in browser.get("/me/stats").text


def test_marketing_revokes_a_pasted_link_on_the_stats_page(site: Site) -> None:
    post = live_post(site)
    url = share_url(site, post)
    browser = session_browser(site, "marketing")
    done = browser.post(
        "/stats/revoke-link", data={"csrf_token": csrf_of(browser), "link": url + "/"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert human(site).get(path_of(url), follow_redirects=False).status_code == 410
    unknown = browser.post("/stats/revoke-link", data={"csrf_token": csrf_of(browser), "link": "nonsense"})
    assert unknown.status_code == 404 and "No such share link." in unknown.text


def test_leaderboard_is_off_by_default_opt_in_by_marketing_and_honours_opt_out(site: Site) -> None:
    post = live_post(site)
    people = {}
    for name, clicks in (("Ann Top", 5), ("Bob Middle", 3), ("Cas Hidden", 9)):
        email = name.split()[0].lower() + "@example.com"
        token = _token_of(site, email, name)
        people[name] = token
        url = share_url(site, post, token)
        for _ in range(clicks):
            human(site).get(path_of(url), follow_redirects=False)
    hidden = site.person("employee", "cas@example.com")
    site.portal.accounts.update_profile(hidden, {"leaderboard_opt_out": True})
    ann = people["Ann Top"]
    assert site.browser().get("/api/v1/me/stats", headers=ann).json()["leaderboard"] is None
    marketing = site.token_for("marketing")
    assert site.browser().get("/api/v1/stats/leaderboard", headers=marketing).json()["items"] == []
    refused = site.browser().put("/api/v1/stats/leaderboard", json={"enabled": True}, headers=ann)
    assert refused.status_code == 403
    bad = site.browser().put("/api/v1/stats/leaderboard", json={"enabled": "yes"}, headers=marketing)
    assert bad.status_code == 422

    browser = session_browser(site, "marketing")
    switched = browser.post(
        "/stats/leaderboard", data={"csrf_token": csrf_of(browser), "enabled": "1"}, follow_redirects=False
    )
    assert switched.status_code == 303
    board = site.browser().get("/api/v1/me/stats", headers=ann).json()["leaderboard"]
    assert board == {
        "opted_out": False,
        "items": [
            {"rank": 1, "name": "Ann Top", "clicks": 5, "me": True},
            {"rank": 2, "name": "Bob Middle", "clicks": 3, "me": False},
        ],
    }
    cas_view = site.browser().get("/api/v1/me/stats", headers=people["Cas Hidden"]).json()
    assert cas_view["leaderboard"]["opted_out"] is True and cas_view["clicks"] == 9
    page = browser.get("/stats").text
    assert "Ann Top" in page and "Cas Hidden" not in page and "Switch the leaderboard off" in page
    employee_page = session_browser(site, "employee").get("/me/stats").text
    assert "Leaderboard" in employee_page and "Bob Middle" in employee_page
    assert "Cas Hidden" not in employee_page
    audit = [e.action for e in site.portal.audit.entries(object_id="leaderboard")]
    assert audit == ["leaderboard.on"]
    off = site.browser().put("/api/v1/stats/leaderboard", json={"enabled": False}, headers=marketing)
    assert off.json() == {"enabled": False}
    assert site.browser().get("/api/v1/me/stats", headers=ann).json()["leaderboard"] is None
