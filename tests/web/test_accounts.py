"""Accounts, sessions, tokens, CSRF, throttling, SSO and the default-deny routing walk."""

from __future__ import annotations

import json
import re
import time

import pytest
from starlette.testclient import TestClient

from tests.web.conftest import PASSWORD, Site, csrf_of, sign_in
from toolkit.web.access import GuardedRoute, codec_of, keys_of
from toolkit.web.sessions import SESSION_COOKIE, Signer

ROLES = [None, "employee", "marketing", "admin"]


def session_browser(site: Site, role: str | None) -> TestClient:
    """A browser holding a valid session cookie for a person of that role, without the slow KDF,
    and the CSRF cookie bound to that session (which its first page hands out)."""
    browser = site.browser()
    if role is not None:
        user = site.person(role)
        browser.cookies.set(SESSION_COOKIE, codec_of(site.portal).encode(user.id, user.session_epoch))
    browser.get("/login")
    return browser


def test_login_sets_rotated_httponly_session_and_logout_ends_it(site: Site) -> None:
    site.person("employee")
    browser = site.browser()
    planted = csrf_of(browser)
    response = sign_in(browser, "EMPLOYEE@example.com", next_url="/profile")
    assert response.status_code == 303 and response.headers["location"] == "/profile"
    cookie_header = ",".join(response.headers.get_list("set-cookie"))
    assert (
        "toolkit_session=" in cookie_header
        and "HttpOnly" in cookie_header
        and "SameSite=lax" in cookie_header
    )
    assert browser.cookies["toolkit_csrf"] != planted  # rotated at login
    assert browser.get("/profile").status_code == 200
    browser.post("/logout", data={"csrf_token": csrf_of(browser)})
    assert browser.get("/profile", follow_redirects=False).status_code == 303


def test_secure_cookie_when_base_url_is_https(site: Site) -> None:
    from dataclasses import replace

    site.portal.settings = replace(site.portal.settings, base_url="https://toolkit.example.com")
    site.person("employee")
    browser = TestClient(site.client.app, base_url="https://testserver")  # Secure cookies need https
    browser.app_state.update(site.client.app_state)
    browser.get("/login")
    response = browser.post(
        "/login",
        data={
            "email": "employee@example.com",
            "password": PASSWORD,
            "csrf_token": browser.cookies["__Host-toolkit_csrf"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "Secure" in ",".join(response.headers.get_list("set-cookie"))


def test_wrong_password_is_refused_without_saying_whether_the_account_exists(site: Site) -> None:
    site.person("employee")
    wrong = sign_in(site.browser(), "employee@example.com", "not the password")
    unknown = sign_in(site.browser(), "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    message = re.search(r'role="alert">([^<]+)<', wrong.text)
    assert message and message.group(1) in unknown.text
    assert "toolkit_session" not in wrong.headers.get("set-cookie", "")


def test_expired_session_is_not_accepted(site: Site) -> None:
    user = site.person("employee")
    settings = site.portal.settings
    old = time.time() - settings.session_days * 86400 - 60
    payload = json.dumps({"u": user.id, "e": user.session_epoch, "t": int(old), "s": "x"}).encode()
    browser = site.browser()
    browser.cookies.set(SESSION_COOKIE, Signer(keys_of(site.portal).secret, "session").sign(payload))
    assert browser.get("/api/v1/me").status_code == 401
    assert browser.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"


def test_tampered_session_cookie_is_ignored(site: Site) -> None:
    browser = session_browser(site, "employee")
    value = browser.cookies[SESSION_COOKIE]
    browser.cookies.set(SESSION_COOKIE, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert browser.get("/api/v1/me").status_code == 401


def test_deactivation_ends_sessions_and_tokens_at_once(site: Site) -> None:
    admin = site.person("admin")
    employee = site.person("employee")
    browser = session_browser(site, "employee")
    token = site.token_for("employee")
    assert browser.get("/api/v1/me").status_code == 200
    site.portal.accounts.set_active(employee, False, actor=admin)
    assert browser.get("/api/v1/me").status_code == 401
    assert site.browser().get("/api/v1/me", headers=token).status_code == 401
    assert sign_in(site.browser(), "employee@example.com").status_code == 422


def test_state_changing_request_without_csrf_token_is_refused(site: Site) -> None:
    browser = session_browser(site, "employee")
    refused = browser.post("/profile", data={"name": "Mallory"})
    assert refused.status_code == 403
    assert browser.post("/profile", data={"name": "Mallory", "csrf_token": "forged"}).status_code == 403
    assert browser.patch("/api/v1/me", json={"name": "Mallory"}).status_code == 403
    assert site.portal.accounts.by_email("employee@example.com").name != "Mallory"  # type: ignore[union-attr]
    ok = browser.patch("/api/v1/me", json={"name": "Eve"}, headers={"x-csrf-token": csrf_of(browser)})
    assert ok.status_code == 200 and ok.json()["name"] == "Eve"


def test_login_form_needs_csrf_too(site: Site) -> None:
    site.person("employee")
    browser = site.browser()
    response = browser.post("/login", data={"email": "employee@example.com", "password": PASSWORD})
    assert response.status_code == 403


def test_bearer_requests_need_no_csrf(site: Site) -> None:
    response = site.browser().patch("/api/v1/me", json={"team": "Sales"}, headers=site.token_for("employee"))
    assert response.status_code == 200 and response.json()["team"] == "Sales"


def test_login_is_throttled_after_five_failures_for_one_email(site: Site) -> None:
    site.person("employee")
    for _ in range(5):
        assert sign_in(site.browser(), "employee@example.com", "wrong password").status_code == 422
    throttled = sign_in(site.browser(), "employee@example.com")  # even the right password
    assert throttled.status_code == 429
    for_unknown = [sign_in(site.browser(), "ghost@example.com", "wrong").status_code for _ in range(6)]
    assert for_unknown[-1] == 429  # same answer whether or not the address exists
    assert sign_in(site.browser(), "other@example.com", "x").status_code == 422  # others unaffected


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
def test_login_next_never_leaves_the_portal(site: Site, target: str) -> None:
    site.person("employee")
    response = sign_in(site.browser(), "employee@example.com", next_url=target)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_token_auth_acts_with_owners_role_and_revocation_stops_it(site: Site) -> None:
    marketing = site.person("marketing")
    issued = site.portal.accounts.create_token(marketing)
    headers = {"authorization": f"Bearer {issued.secret}"}
    assert site.browser().get("/api/v1/me", headers=headers).json()["role"] == "marketing"
    assert site.browser().get("/api/v1/users", headers=headers).status_code == 403
    stored = json.dumps([r.data for r in site.portal.records.all("tokens")])
    assert issued.secret not in stored  # only the hash is kept
    site.portal.accounts.revoke_token(issued.secret)
    revoked = site.browser().get("/api/v1/me", headers=headers)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"
    assert site.browser().get("/api/v1/me", headers={"authorization": "Bearer nonsense"}).status_code == 401


def test_passwords_are_never_returned_or_stored_in_clear(site: Site) -> None:
    site.person("admin")
    users = site.browser().get("/api/v1/users", headers=site.token_for("admin")).json()["items"]
    assert users and all("password_hash" not in u for u in users)
    raw = json.dumps([r.data for r in site.portal.records.all("users")])
    assert PASSWORD not in raw and "scrypt$" in raw


def test_invite_link_sets_password_once(site: Site) -> None:
    admin_headers = site.token_for("admin")
    created = site.browser().post(
        "/api/v1/users",
        json={"email": "New@Example.com", "name": "Nina New", "role": "marketing"},
        headers=admin_headers,
    )
    assert created.status_code == 201 and created.json()["email"] == "new@example.com"
    path = created.json()["invite_url"].replace("http://127.0.0.1:8000", "")
    browser = site.browser()
    page = browser.get(path)
    assert page.status_code == 200 and "Nina New" in page.text
    done = browser.post(
        path,
        data={"password": "a brand new password", "csrf_token": csrf_of(browser)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert browser.get("/api/v1/me").json()["role"] == "marketing"
    assert site.browser().get(path).status_code == 404  # used up
    assert sign_in(site.browser(), "new@example.com", "a brand new password").status_code == 303


def test_first_admin_setup_link(site: Site) -> None:
    assert not site.portal.accounts.has_admin()
    link = site.portal.accounts.issue_link(None, "setup")
    browser = site.browser()
    path = f"/link/{link.secret}"
    weak = browser.post(
        path,
        data={
            "email": "boss@example.com",
            "name": "Boss",
            "password": "short",
            "csrf_token": csrf_of(browser),
        },
    )
    assert weak.status_code == 422 and not site.portal.accounts.has_admin()
    made = browser.post(
        path,
        data={
            "email": "boss@example.com",
            "name": "Boss",
            "password": "long enough pw",
            "csrf_token": csrf_of(browser),
        },
        follow_redirects=False,
    )
    assert made.status_code == 303 and site.portal.accounts.has_admin()
    assert browser.get("/admin/users").status_code == 200
    assert site.browser().get(path).status_code == 404


def test_admin_pages_invite_change_role_and_deactivate(site: Site) -> None:
    browser = session_browser(site, "admin")
    token = csrf_of(browser)
    invited = browser.post(
        "/admin/users",
        data={"email": "pat@example.com", "name": "Pat", "role": "employee", "csrf_token": token},
    )
    assert invited.status_code == 201 and "/link/" in invited.text
    pat = site.portal.accounts.by_email("pat@example.com")
    assert pat is not None
    browser.post(f"/admin/users/{pat.id}", data={"action": "role", "role": "marketing", "csrf_token": token})
    assert site.portal.accounts.require(pat.id).role == "marketing"
    browser.post(f"/admin/users/{pat.id}", data={"action": "deactivate", "csrf_token": token})
    assert not site.portal.accounts.require(pat.id).active
    reset = browser.post(f"/admin/users/{pat.id}", data={"action": "activate", "csrf_token": token})
    assert reset.status_code == 200 and site.portal.accounts.require(pat.id).active
    audit = browser.get("/admin/audit?actor=admin@example.com")
    assert "user.role" in audit.text and "user.deactivate" in audit.text
    assert "user.role" in browser.get(f"/admin/audit?object={pat.id}").text


def test_employee_edits_own_profile(site: Site) -> None:
    browser = session_browser(site, "employee")
    saved = browser.post(
        "/profile",
        data={
            "name": "Daan Jansen",
            "first_name": "Daan",
            "job_title": "Engineer",
            "team": "Platform",
            "language": "nl",
            "csrf_token": csrf_of(browser),
        },
    )
    assert saved.status_code == 200
    me = browser.get("/api/v1/me").json()
    assert (me["first_name"], me["job_title"], me["team"], me["language"]) == (
        "Daan",
        "Engineer",
        "Platform",
        "nl",
    )


def test_trusted_proxy_header_signs_in_and_other_addresses_are_ignored(site: Site) -> None:
    from dataclasses import replace

    site.portal.settings = replace(
        site.portal.settings,
        trusted_email_header="X-Forwarded-Email",
        trusted_proxies=("10.0.0.0/8",),
        sso_auto_create=True,
    )
    header = {"x-forwarded-email": "sso.person@example.com"}
    assert site.browser("192.168.1.9").get("/api/v1/me", headers=header).status_code == 401
    assert site.portal.accounts.by_email("sso.person@example.com") is None
    me = site.browser("10.1.2.3").get("/api/v1/me", headers=header)
    assert me.status_code == 200 and me.json()["role"] == "employee"
    site.portal.settings = replace(site.portal.settings, sso_auto_create=False)
    assert (
        site.browser("10.1.2.3")
        .get("/api/v1/me", headers={"x-forwarded-email": "else@example.com"})
        .status_code
        == 401
    )


def _expected(route: GuardedRoute, role: str | None) -> str:
    level = {None: 0, "employee": 1, "marketing": 2, "admin": 3}[role]
    if route.allow <= level:
        return "allowed"
    if role is None and route.hidden:
        return "hidden"
    return "anonymous" if role is None else "forbidden"


def test_every_route_enforces_its_declared_access(site: Site) -> None:
    """Walks the whole routing table, so a new route cannot slip through unprotected."""
    routes = [r for r in site.client.app.routes if isinstance(r, GuardedRoute)]  # type: ignore[attr-defined]
    assert len(routes) >= 10
    browsers = {role: session_browser(site, role) for role in ROLES}
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "no-such-id", route.path)
        for method in sorted(route.methods or {"GET"}):
            # These end the browser's session (or switch its language), which the walk goes on using.
            if method == "HEAD" or route.path in ("/logout", "/language", "/profile/sign-out-everywhere"):
                continue
            for role in ROLES:
                browser = browsers[role]
                response = browser.request(
                    method,
                    path,
                    headers={"x-csrf-token": browser.cookies["toolkit_csrf"]},
                    follow_redirects=False,
                )
                outcome = _expected(route, role)
                where = f"{method} {route.path} as {role}"
                if outcome == "allowed":
                    assert response.status_code not in (401, 403), where
                    assert not response.headers.get("location", "").startswith("/login"), where
                elif outcome == "hidden":
                    assert response.status_code == 404, where
                elif outcome == "anonymous":
                    if path.startswith("/api/"):
                        assert response.status_code == 401, where
                    elif method == "GET":
                        assert response.status_code == 303 and response.headers["location"].startswith(
                            "/login"
                        ), where
                    else:
                        assert response.status_code == 401, where
                else:
                    assert response.status_code == 403, where


def test_a_route_without_declaration_stops_the_app_from_starting(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from toolkit import app as app_module

    async def sneaky(request: object) -> PlainTextResponse:
        return PlainTextResponse("secret")

    monkeypatch.setattr(app_module, "all_routes", lambda: [Route("/sneaky", sneaky)])
    with pytest.raises(RuntimeError, match="/sneaky"):
        app_module.create_app(site.portal.settings)


def test_audit_log_pages_back_through_older_entries(site: Site) -> None:
    from toolkit.web.admin import AUDIT_PAGE

    admin = site.person("admin")
    for n in range(AUDIT_PAGE + 5):
        site.portal.audit.record(admin, "test.action", "things", f"thing-{n}", None, None, {})
    browser = session_browser(site, "admin")
    first = browser.get("/admin/audit?actor=admin@example.com")
    assert first.text.count("test.action") == AUDIT_PAGE and "thing-104" in first.text
    older = re.search(r'href="\?([^"]*before=[^"]*)"', first.text)
    assert older, "no link to older entries"
    second = browser.get("/admin/audit?" + older.group(1).replace("&amp;", "&"))
    assert "thing-0<" in second.text.replace("</a>", "<") and "thing-104" not in second.text
