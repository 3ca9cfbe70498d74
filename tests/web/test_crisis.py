"""Crisis mode: one switch pauses every employee action, tells people what to do, and undoes cleanly."""

from __future__ import annotations

from typing import Any

import httpx2
from starlette.testclient import TestClient

from tests.web.conftest import Site, csrf_of
from tests.web.test_accounts import session_browser
from toolkit.crisis import CRISIS_ID, SETTINGS

CRISIS = {
    "active": True,
    "message": "We are aware of the reports about the outage.\nPlease do not post about it.",
    "spokesperson": "Joost Peters, head of communications",
    "channel": "https://newsroom.example.com/updates",
}


def _live_post(site: Site) -> str:
    author = site.person("marketing")
    post = site.portal.posts.create(
        {
            "title": "Hiring engineers",
            "variants": [{"language": "en", "tone": "casual", "text": "We are hiring, {first_name}!"}],
        },
        author,
    )
    site.portal.posts.approve(post.id, author)
    return post.id


def _employee_actions(site: Site, post_id: str) -> list[tuple[str, str, bool]]:
    """(method, path, is_api) for the feed, composer, copy, downloads and kits, in the browser and the API."""
    return [
        ("GET", "/", False),
        ("GET", f"/posts/{post_id}", False),
        ("POST", f"/posts/{post_id}/kit", False),
        ("GET", "/api/v1/posts", True),
        ("GET", f"/api/v1/posts/{post_id}", True),
        ("GET", f"/api/v1/posts/{post_id}/copy", True),
        ("POST", f"/api/v1/posts/{post_id}/compose", True),
        ("GET", f"/api/v1/posts/{post_id}/kit.zip", True),
    ]


def _act(browser: TestClient, token: dict[str, str], method: str, path: str, is_api: bool) -> httpx2.Response:
    if is_api:
        body: dict[str, Any] | None = {} if method == "POST" else None
        return browser.request(method, path, headers=token, json=body)
    data = {"csrf_token": csrf_of(browser)} if method == "POST" else None
    return browser.request(method, path, data=data, follow_redirects=False)


def _snapshot(site: Site) -> tuple[dict[tuple[str, str], Any], dict[str, str]]:
    """Every record and every stored object, except the switch itself and the append-only logs."""
    site.portal.refresh()
    records = {
        (kind, record.id): (record.version, record.data)
        for kind in {key.split("/")[1] for key in _keys(site)}
        for record in site.portal.records.all(kind)
        if (kind, record.id) != (SETTINGS, CRISIS_ID)
    }
    objects = {
        info.key: info.etag
        for info in site.portal.store.list("")
        # The switch itself leaves its trace in the audit log and the change journal.
        if not info.key.startswith(
            ("audit/", "counters/", "journal/", "checkpoints/", f"records/{SETTINGS}/{CRISIS_ID}.")
        )
    }
    return records, objects


def _keys(site: Site) -> list[str]:
    return [info.key for info in site.portal.store.list("records/")]


def test_crisis_mode_blocks_every_employee_action_and_off_restores_everything(site: Site) -> None:
    post_id = _live_post(site)
    employee = session_browser(site, "employee")
    token = site.token_for("employee")
    admin = site.token_for("admin")
    actions = _employee_actions(site, post_id)
    before = {(m, p): _act(employee, token, m, p, api) for m, p, api in actions}
    assert all(r.status_code == 200 for r in before.values()), {k: r.status_code for k, r in before.items()}
    stored_before = _snapshot(site)

    switched = site.browser().put("/api/v1/settings/crisis", json=CRISIS, headers=admin)
    assert switched.status_code == 200 and switched.json()["active"] is True
    assert (
        site.browser().get("/api/v1/settings/crisis", headers=token).json()["spokesperson"]
        == (CRISIS["spokesperson"])
    )

    for method, path, is_api in actions:
        response = _act(employee, token, method, path, is_api)
        where = f"{method} {path}"
        assert response.status_code == 423, where
        if is_api:
            error = response.json()["error"]
            assert error["code"] == "crisis_mode", where
            assert CRISIS["message"] in error["message"], where
            assert error["crisis"] == {k: CRISIS[k] for k in ("message", "spokesperson", "channel")}, where
        else:
            assert response.headers["content-type"].startswith("text/html"), where
            assert "Sharing is paused" in response.text and "Joost Peters" in response.text, where
            assert 'href="https://newsroom.example.com/updates"' in response.text, where
            assert "Hiring engineers" not in response.text, where

    # Reading the policy and one's profile stay possible; marketing works on, under a banner.
    assert employee.get("/profile").status_code == 200
    marketing_page = session_browser(site, "marketing").get("/policy")
    assert marketing_page.status_code == 200 and 'class="banner crisis"' in marketing_page.text

    off = site.browser().put("/api/v1/settings/crisis", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    assert off.json()["message"] == CRISIS["message"]  # kept for the next time, not deleted

    assert _snapshot(site) == stored_before
    for method, path, is_api in actions:
        after = _act(employee, token, method, path, is_api)
        assert after.status_code == before[(method, path)].status_code, f"{method} {path}"
        if is_api and after.headers["content-type"].startswith("application/json"):
            assert after.json() == before[(method, path)].json(), f"{method} {path}"
    assert "Hiring engineers" in employee.get("/").text
    assert 'class="banner crisis"' not in session_browser(site, "marketing").get("/policy").text

    actions_logged = [e.action for e in site.portal.audit.entries(object_id=CRISIS_ID)]
    assert actions_logged == ["crisis.off", "crisis.on"]  # newest first
    entry = site.portal.audit.entries(object_id=CRISIS_ID)[-1]
    assert (
        entry.actor_email == "admin@example.com" and entry.details["spokesperson"] == CRISIS["spokesperson"]
    )


def test_crisis_switch_is_for_admins_and_refuses_incomplete_or_stale_input(site: Site) -> None:
    admin = site.token_for("admin")
    for role in ("employee", "marketing"):
        refused = site.browser().put("/api/v1/settings/crisis", json=CRISIS, headers=site.token_for(role))
        assert refused.status_code == 403
    for body in (
        {"active": True, "message": "", "spokesperson": "X"},
        {"active": True, "message": "Quiet please", "spokesperson": ""},
        {"active": "yes", "message": "Quiet please", "spokesperson": "X"},
        {**CRISIS, "colour": "red"},
    ):
        response = site.browser().put("/api/v1/settings/crisis", json=body, headers=admin)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid"
    assert site.portal.records.get(SETTINGS, CRISIS_ID) is None  # bad input stored nothing

    first = site.browser().put("/api/v1/settings/crisis", json=CRISIS, headers=admin)
    etag = first.headers["etag"]
    changed = site.browser().put(
        "/api/v1/settings/crisis", json={**CRISIS, "message": "Update"}, headers={**admin, "if-match": etag}
    )
    assert changed.status_code == 200
    stale = site.browser().put(
        "/api/v1/settings/crisis", json={"active": False}, headers={**admin, "if-match": etag}
    )
    assert stale.status_code == 412 and site.portal.crisis.state().active


def test_crisis_admin_page_turns_it_on_and_off(site: Site) -> None:
    admin = session_browser(site, "admin")
    page = admin.get("/admin/crisis")
    assert page.status_code == 200 and "Turn crisis mode on" in page.text
    form = {"message": "Stay calm.", "spokesperson": "Joost", "channel": "Our LinkedIn page"}
    on = admin.post(
        "/admin/crisis", data={**form, "action": "on", "csrf_token": csrf_of(admin)}, follow_redirects=False
    )
    assert on.status_code == 303 and site.portal.crisis.state().active
    employee = session_browser(site, "employee")
    blocked = employee.get("/")
    assert blocked.status_code == 423 and "Our LinkedIn page" in blocked.text and "Stay calm." in blocked.text
    assert "Sharing is paused." in employee.get("/profile").text  # the banner on the pages that stay open
    assert session_browser(site, "marketing").get("/admin/crisis").status_code == 403

    off = admin.post(
        "/admin/crisis", data={**form, "action": "off", "csrf_token": csrf_of(admin)}, follow_redirects=False
    )
    assert off.status_code == 303 and not site.portal.crisis.state().active
    assert employee.get("/").status_code == 200


def test_ensure_calm_gives_any_guarded_action_a_423_with_the_crisis_notice(site: Site) -> None:
    """The mechanism itself, on a route of its own: JSON under /api/, the crisis page elsewhere."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    from toolkit.web.access import Allow, portal_of, route

    async def share(request: Request) -> Response:
        portal_of(request).crisis.ensure_calm()
        return PlainTextResponse("shared")

    app_routes = site.client.app.routes  # type: ignore[attr-defined]
    app_routes.insert(0, route("/api/v1/test-share", share, allow=Allow.employee))
    app_routes.insert(0, route("/test-share", share, allow=Allow.employee))
    token = site.token_for("employee")
    browser = session_browser(site, "employee")
    assert site.browser().get("/api/v1/test-share", headers=token).text == "shared"

    admin = site.person("admin")
    site.portal.crisis.set(True, "Quiet, please. 100% sure.", "Joost", "", actor=admin)
    api = site.browser().get("/api/v1/test-share", headers=token)
    assert api.status_code == 423
    assert api.json() == {
        "error": {
            "code": "crisis_mode",
            "message": "Sharing is paused. Quiet, please. 100% sure.",
            "crisis": {"message": "Quiet, please. 100% sure.", "spokesperson": "Joost", "channel": ""},
        }
    }
    page = browser.get("/test-share")
    assert page.status_code == 423 and "Quiet, please. 100% sure." in page.text and "Joost" in page.text
    dutch = browser.get("/test-share", headers={"accept-language": "nl"})
    assert dutch.status_code == 423 and "Quiet, please." in dutch.text

    site.portal.crisis.set(False, actor=admin)
    assert browser.get("/test-share").text == "shared"
    assert site.browser().get("/api/v1/test-share", headers=token).text == "shared"
