"""Attacks from issue 14 on sessions, sign-in and CSRF, each replayed and now refused.

Forged sessions from the published default key (1), the first-admin setup link working while an
SSO-only admin exists (2), locking anyone out and spraying e-mails unthrottled (5), a copy of the
cookie surviving logout (10), and a planted CSRF cookie accepted with the same value in the form (11).
Every test runs on the local folder and on a real S3 server (moto) where the `site` fixture does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.web.conftest import PASSWORD, Site, csrf_of, form_csrf, sign_in
from tests.web.test_accounts import session_browser
from toolkit.accounts import MAX_ENDED_SESSIONS
from toolkit.app import create_app
from toolkit.errors import TooManyRequests
from toolkit.keys import KEY_OBJECT, Keys
from toolkit.portal import Portal
from toolkit.settings import DEFAULT_SECRET, Settings
from toolkit.sign_in_throttle import THROTTLE_PREFIX, LoginThrottle, ThrottleRules
from toolkit.store import Store
from toolkit.web.access import codec_of, keys_of
from toolkit.web.sessions import SESSION_COOKIE, Signer

ME = "/api/v1/me"
EXPIRED = "This link has expired or was already used."


@contextmanager
def instance(settings: Settings, **overrides: Any) -> Iterator[Site]:
    """Another running instance (own app, own memory) with these settings changed."""
    changed = replace(settings, **overrides)
    portal = Portal(changed)
    with TestClient(create_app(changed, portal=portal), base_url="http://testserver") as client:
        yield Site(portal, client)


def cookie_client(site: Site, address: str = "testclient", **cookies: str) -> TestClient:
    """A browser that sends exactly these cookies (an attacker's hand-made request)."""
    client = site.browser(address)
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    client.headers["cookie"] = header
    return client


def alert(page: str) -> str:
    match = re.search(r'role="alert">([^<]+)<', page)
    assert match, "no error message on the page"
    return match.group(1)


# 1. No published key: a key made at the first start, kept in the store; staff ids kept from employees


def forged_session(secret: str | bytes, user_id: str, epoch: int = 0) -> str:
    payload = {"u": user_id, "e": epoch, "t": int(time.time()), "s": "forged-session"}
    return Signer(secret, "session").sign(json.dumps(payload).encode())


def test_a_cookie_signed_with_the_old_published_key_is_refused(settings: Settings) -> None:
    # Started as `serve` and the Docker image start: without TOOLKIT_SECRET_KEY.
    with instance(settings, secret_key=Settings().secret_key) as site:
        marketing = site.person("marketing")
        # The attack: sign {"u": <marketing id>} with the key printed in the source.
        forged = cookie_client(site, toolkit_session=forged_session(DEFAULT_SECRET, marketing.id))
        assert forged.get(ME).status_code == 401
        assert forged.get("/api/v1/posts").status_code == 401
        assert keys_of(site.portal).secret != DEFAULT_SECRET.encode()
        # The same cookie signed with the store's key is a session: the refusal is the key's doing.
        genuine = cookie_client(site, toolkit_session=codec_of(site.portal).encode(marketing.id, 0))
        assert genuine.get(ME).json()["role"] == "marketing"


def test_two_fresh_portals_on_two_stores_never_accept_each_others_cookies(settings: Settings) -> None:
    with (
        instance(settings, secret_key="") as one,
        instance(settings, secret_key="", store=settings.store + "-other", instance_id="other") as two,
    ):
        assert keys_of(one.portal).secret != keys_of(two.portal).secret
        assert len(keys_of(one.portal).secret) == 32
        for site in (one, two):
            assert site.portal.store.head(KEY_OBJECT) is not None  # kept where every instance finds it
            site.person("admin", "boss@example.com")
        signed_in = {}
        for site in (one, two):
            browser = site.browser()
            assert sign_in(browser, "boss@example.com").status_code == 303
            assert browser.get(ME).status_code == 200
            signed_in[id(site)] = browser.cookies[SESSION_COOKIE]
        for site, other in ((one, two), (two, one)):
            foreign = signed_in[id(other)]
            assert cookie_client(site, toolkit_session=foreign).get(ME).status_code == 401
            boss = site.portal.accounts.by_email("boss@example.com")
            assert boss is not None
            # Even for this store's own admin id, signed with the other portal's key.
            forged = forged_session(keys_of(other.portal).secret, boss.id)
            assert cookie_client(site, toolkit_session=forged).get(ME).status_code == 401


def test_instances_on_one_store_share_the_key_even_when_they_start_together(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="toolkit.keys")
    starting = [Keys(store) for _ in range(6)]
    barrier = threading.Barrier(len(starting))

    def start(keys: Keys) -> None:
        barrier.wait()
        keys.load()

    threads = [threading.Thread(target=start, args=(keys,)) for keys in starting]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({keys.secret for keys in starting}) == 1
    assert [keys.source for keys in starting].count("made") == 1  # exactly one wrote it
    assert "made a random secret key and kept it in the store" in caplog.text
    later = Keys(store)
    later.load()
    assert later.secret == starting[0].secret and later.source == "store"
    # A configured key wins, and the published one is refused outright.
    configured = Keys(store, "a configured secret key of some length")
    configured.load()
    assert configured.secret == b"a configured secret key of some length"
    with pytest.raises(ValueError, match="published default"):
        Keys(store, DEFAULT_SECRET).load()


def test_a_session_from_one_instance_works_on_another_of_the_same_store(settings: Settings) -> None:
    with instance(settings, secret_key="") as one, instance(settings, secret_key="", instance_id="b") as two:
        person = one.person("employee")
        two.portal.refresh()
        cookie = codec_of(one.portal).encode(person.id, person.session_epoch)
        assert cookie_client(two, toolkit_session=cookie).get(ME).status_code == 200


def test_employees_do_not_get_the_ids_of_the_staff_who_wrote_posts(site: Site) -> None:
    marketing = site.person("marketing")
    made = site.browser().post(
        "/api/v1/posts",
        json={"title": "Hiring", "variants": [{"language": "en", "text": "We are hiring."}]},
        headers=site.token_for("marketing"),
    )
    assert made.status_code == 201 and made.json()["created_by"] == marketing.id  # staff see it
    post_id = made.json()["id"]
    approved = site.browser().post(f"/api/v1/posts/{post_id}/approve", headers=site.token_for("marketing"))
    assert approved.status_code == 200
    employee = session_browser(site, "employee")
    listed = employee.get("/api/v1/posts")
    one = employee.get(f"/api/v1/posts/{post_id}")
    assert listed.status_code == one.status_code == 200
    assert listed.json()["items"][0]["created_by"] == "" and one.json()["created_by"] == ""
    assert marketing.id not in listed.text and marketing.id not in one.text
    as_feed = site.browser().get("/api/v1/posts?view=feed", headers=site.token_for("marketing"))
    assert as_feed.json()["items"][0]["created_by"] == marketing.id


# 2. The setup link exists only while there is no admin account at all


def _use_setup_link(site: Site, secret: str, email: str) -> int:
    browser = site.browser()
    page = browser.get(f"/link/{secret}")
    token = form_csrf(page.text) if page.status_code == 200 else csrf_of(browser)
    response = browser.post(
        f"/link/{secret}",
        data={"email": email, "name": "Mallory", "password": "long enough pw", "csrf_token": token},
        follow_redirects=False,
    )
    return response.status_code


def test_the_setup_link_is_dead_once_an_sso_only_admin_exists(site: Site) -> None:
    leaked = site.portal.accounts.issue_link(None, "setup")  # printed by `serve` before any admin
    # An SSO-only deployment: the admin has no password (signs in through the proxy).
    site.portal.accounts.add("sso.admin@example.com", role="admin")
    page = site.browser().get(f"/link/{leaked.secret}")
    assert page.status_code == 404 and EXPIRED in page.text
    assert _use_setup_link(site, leaked.secret, "mallory@example.com") == 404
    assert site.portal.accounts.by_email("mallory@example.com") is None
    assert site.portal.accounts.has_admin()
    with pytest.raises(ValueError):
        site.portal.accounts.issue_link(None, "setup")  # and `serve` can print no new one


def test_a_second_setup_link_dies_the_moment_the_first_admin_exists_even_on_another_instance(
    site: Site, settings: Settings
) -> None:
    first = site.portal.accounts.issue_link(None, "setup")
    with instance(settings, instance_id="test-b") as other:
        second = other.portal.accounts.issue_link(None, "setup")  # another instance's start
        assert _use_setup_link(site, first.secret, "boss@example.com") == 303
        # The other instance has not refreshed yet, so it does not know that an admin exists:
        # the create-only claim on the first admin still refuses the second link.
        assert not other.portal.accounts.has_admin()
        assert _use_setup_link(other, second.secret, "mallory@example.com") == 404
        other.portal.refresh()
        assert other.portal.accounts.by_email("mallory@example.com") is None
        assert [u.email for u in other.portal.accounts.all() if u.role == "admin"] == ["boss@example.com"]


# 5. The throttle: per (account, client address) and per client address, shared through the store


def test_wrong_passwords_from_elsewhere_never_lock_the_owner_out(site: Site) -> None:
    site.person("admin")
    attacker = "203.0.113.5"
    answers = [
        sign_in(site.browser(attacker), "admin@example.com", "wrong guess").status_code for _ in range(7)
    ]
    assert answers[:5] == [422] * 5 and answers[5:] == [429, 429]
    # The attacker's address waits, even with the right password...
    assert sign_in(site.browser(attacker), "admin@example.com").status_code == 429
    # ...but the owner, from an address that has not failed, signs in at once.
    assert sign_in(site.browser("198.51.100.7"), "admin@example.com").status_code == 303


def test_spraying_many_e_mails_from_one_address_is_throttled(site: Site) -> None:
    site.portal.accounts.throttle.rules = ThrottleRules(per_address=6)  # 20 by default; fewer KDFs
    site.person("employee")
    sprayer = "203.0.113.9"
    answers = [
        sign_in(site.browser(sprayer), f"person{n}@example.com", "Summer2024!").status_code for n in range(8)
    ]
    assert answers[:6] == [422] * 6 and answers[6:] == [429, 429]
    assert sign_in(site.browser(sprayer), "employee@example.com").status_code == 429
    assert sign_in(site.browser("198.51.100.7"), "employee@example.com").status_code == 303


def test_the_refusal_says_nothing_about_the_account(site: Site) -> None:
    site.person("employee")
    site.portal.accounts.throttle.rules = ThrottleRules(per_account=2, per_address=3)
    for _ in range(2):
        sign_in(site.browser("203.0.113.1"), "employee@example.com", "wrong guess")
        sign_in(site.browser("203.0.113.2"), "nobody@example.com", "wrong guess")
    real = sign_in(site.browser("203.0.113.1"), "employee@example.com", "wrong guess")
    ghost = sign_in(site.browser("203.0.113.2"), "nobody@example.com", "wrong guess")
    sign_in(site.browser("203.0.113.3"), "a@example.com", "x")
    sign_in(site.browser("203.0.113.3"), "b@example.com", "x")
    sign_in(site.browser("203.0.113.3"), "c@example.com", "x")
    sprayed = sign_in(site.browser("203.0.113.3"), "employee@example.com", "x")
    assert real.status_code == ghost.status_code == sprayed.status_code == 429
    assert alert(real.text) == alert(ghost.text) == alert(sprayed.text)
    assert "employee@example.com" not in alert(real.text)


def test_the_throttle_is_shared_by_every_instance(site: Site, settings: Settings) -> None:
    site.person("employee")
    attacker = "203.0.113.7"
    for _ in range(5):
        assert sign_in(site.browser(attacker), "employee@example.com", "wrong guess").status_code == 422
    with instance(settings, instance_id="test-b") as other:
        assert sign_in(other.browser(attacker), "employee@example.com").status_code == 429
        assert sign_in(other.browser("198.51.100.7"), "employee@example.com").status_code == 303


def test_the_store_holds_one_small_pseudonymous_object_per_address_and_day(site: Site) -> None:
    site.portal.accounts.throttle.rules = ThrottleRules(per_account=50, per_address=50)
    for n in range(3):
        sign_in(site.browser("203.0.113.44"), f"guess{n}@example.com", "wrong")
    sign_in(site.browser("203.0.113.45"), "guess0@example.com", "wrong")
    objects = list(site.portal.store.list(THROTTLE_PREFIX))
    assert len(objects) == 2 and all(info.size < 1000 for info in objects)
    raw = b"".join(site.portal.store.read(info.key)[0] for info in objects)
    assert b"203.0.113" not in raw and b"guess" not in raw and b"example.com" not in raw


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


def _throttle(store: Store, clock: Clock, **rules: Any) -> LoginThrottle:
    return LoginThrottle(store, lambda: b"k" * 32, rules=ThrottleRules(**rules), clock=clock)


def test_the_default_rules_stop_a_spray_of_twenty_e_mails(store: Store) -> None:
    clock = Clock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    throttle = _throttle(store, clock)
    for n in range(20):
        throttle.check(f"person{n}@example.com", "203.0.113.9")
        throttle.failed(f"person{n}@example.com", "203.0.113.9")
    with pytest.raises(TooManyRequests):
        throttle.check("person20@example.com", "203.0.113.9")
    throttle.check("person20@example.com", "198.51.100.7")  # another address is not held up


def test_the_wait_doubles_and_ends(store: Store) -> None:
    clock = Clock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    throttle = _throttle(store, clock)
    account, address = "admin@example.com", "203.0.113.5"
    for _ in range(5):
        throttle.check(account, address)
        throttle.failed(account, address)
    for wait in (30, 60, 120):
        clock.now += wait - 1
        with pytest.raises(TooManyRequests):
            throttle.check(account, address)
        clock.now += 1
        throttle.check(account, address)
        throttle.failed(account, address)
    assert ThrottleRules().wait(50, 5) == 15 * 60  # never longer than 15 minutes
    clock.now += 240
    throttle.check(account, address)
    throttle.succeeded(account, address)  # the right password: this pair starts again
    throttle.failed(account, address)
    throttle.check(account, address)


def test_a_wait_carries_over_midnight_and_old_days_are_deleted(store: Store) -> None:
    clock = Clock(datetime(2025, 3, 1, 23, 59, 50, tzinfo=UTC))
    throttle = _throttle(store, clock)
    for _ in range(5):
        throttle.failed("admin@example.com", "203.0.113.5")
    clock.now += 15  # 00:00:05 the next day
    with pytest.raises(TooManyRequests):
        throttle.check("admin@example.com", "203.0.113.5")
    clock.now += 3 * 86400
    throttle.failed("someone@example.com", "198.51.100.1")  # the first write of a new day sweeps
    days = {info.key[len(THROTTLE_PREFIX) :].split("/")[0] for info in store.list(THROTTLE_PREFIX)}
    assert days == {"2025-03-05"}


# 10. Logout ends the session everywhere; "sign out everywhere" on the profile page


def test_a_copy_of_the_cookie_taken_before_logout_is_refused_after_it(site: Site, settings: Settings) -> None:
    site.person("employee")
    browser = site.browser()
    assert sign_in(browser, "employee@example.com").status_code == 303
    stolen = browser.cookies[SESSION_COOKIE]
    with instance(settings, instance_id="test-b") as other:
        assert cookie_client(other, toolkit_session=stolen).get(ME).status_code == 200
        other_browser = site.browser()  # the same person signed in elsewhere
        assert sign_in(other_browser, "employee@example.com").status_code == 303
        logout = browser.post("/logout", data={"csrf_token": csrf_of(browser)}, follow_redirects=False)
        assert logout.status_code == 303
        assert cookie_client(site, toolkit_session=stolen).get(ME).status_code == 401
        other.portal.refresh()  # what every instance does each TOOLKIT_REFRESH_SECONDS
        assert cookie_client(other, toolkit_session=stolen).get(ME).status_code == 401
        assert other_browser.get(ME).status_code == 200  # only that session ended


def test_sign_out_everywhere_ends_every_session_of_the_person(site: Site) -> None:
    laptop = session_browser(site, "employee")
    phone = session_browser(site, "employee")
    page = laptop.get("/profile")
    assert "/profile/sign-out-everywhere" in page.text and "Sign out everywhere" in page.text
    refused = laptop.post("/profile/sign-out-everywhere", data={"csrf_token": "forged"})
    assert refused.status_code == 403 and phone.get(ME).status_code == 200
    done = laptop.post(
        "/profile/sign-out-everywhere", data={"csrf_token": form_csrf(page.text)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert laptop.get(ME).status_code == 401 and phone.get(ME).status_code == 401
    assert sign_in(site.browser(), "employee@example.com").status_code == 303  # signing in again works


def test_signed_out_sessions_are_remembered_in_a_bounded_list(site: Site) -> None:
    person = site.person("employee")
    accounts = site.portal.accounts
    now = time.time()
    accounts.end_session(person.id, "long-gone", now - 10)  # already expired: dropped at next write
    for n in range(MAX_ENDED_SESSIONS):
        accounts.end_session(person.id, f"s{n}", now + 3600)
    kept = accounts.require(person.id)
    assert len(kept.ended_sessions) == MAX_ENDED_SESSIONS and "long-gone" not in kept.ended_sessions
    assert not kept.live_session(kept.session_epoch, "s0") and kept.live_session(kept.session_epoch, "new")
    assert "ended_sessions" not in kept.public()
    accounts.end_session(person.id, "one-too-many", now + 3600)
    bumped = accounts.require(person.id)
    # Past the bound every session of the person ends (the safe side) and the list starts empty.
    assert bumped.session_epoch == person.session_epoch + 1 and bumped.ended_sessions == {}


# 11. The CSRF token is bound to the session; __Host- cookies on https


def test_a_planted_csrf_cookie_with_the_same_value_in_the_form_is_refused(site: Site) -> None:
    victim = session_browser(site, "employee")
    session = victim.cookies[SESSION_COOKIE]
    anonymous = site.browser()
    anonymous.get("/login")
    own_session = session_browser(site, "marketing")
    planted_values = {
        "made up": "planted-value",
        "the portal's token for a visitor": anonymous.cookies["toolkit_csrf"],
        "the attacker's own session's token": own_session.cookies["toolkit_csrf"],
    }
    for what, planted in planted_values.items():
        attack = cookie_client(site, toolkit_session=session, toolkit_csrf=planted)
        form = attack.post("/profile", data={"name": "Mallory", "csrf_token": planted})
        api = attack.patch(ME, json={"name": "Mallory"}, headers={"x-csrf-token": planted})
        assert form.status_code == api.status_code == 403, what
    assert site.portal.accounts.by_email("employee@example.com").name != "Mallory"  # type: ignore[union-attr]
    page = victim.get("/profile")
    ok = victim.post("/profile", data={"name": "Eve", "csrf_token": form_csrf(page.text)})
    assert ok.status_code == 200 and victim.get(ME).json()["name"] == "Eve"
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert meta and victim.patch(ME, json={"team": "Ops"}, headers={"x-csrf-token": meta.group(1)}).is_success


def test_a_planted_csrf_cookie_does_not_pass_the_streaming_upload_either(site: Site) -> None:
    victim = session_browser(site, "marketing")
    attack = cookie_client(site, toolkit_session=victim.cookies[SESSION_COOKIE], toolkit_csrf="planted")
    response = attack.post(
        "/library/upload",
        files={"file": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")},
        data={"csrf_token": "planted"},
    )
    assert response.status_code == 403
    assert site.portal.assets.search(site.person("marketing")).total == 0


def test_the_token_changes_with_the_session(site: Site) -> None:
    site.person("employee")
    browser = site.browser()
    before = csrf_of(browser)
    assert sign_in(browser, "employee@example.com").status_code == 303
    signed_in = browser.cookies["toolkit_csrf"]
    assert signed_in != before
    browser.post("/logout", data={"csrf_token": signed_in}, follow_redirects=False)
    after = browser.cookies["toolkit_csrf"]
    assert after not in (before, signed_in)
    # The signed-out browser can sign in again with the token it was given.
    assert sign_in(browser, "employee@example.com").status_code == 303


def test_a_token_made_for_a_visitor_does_not_pass_for_a_single_sign_on_person(site: Site) -> None:
    site.portal.settings = replace(
        site.portal.settings, trusted_email_header="X-Forwarded-Email", trusted_proxies=("10.0.0.0/8",)
    )
    site.person("employee", "sso.person@example.com")
    proxy = {"x-forwarded-email": "sso.person@example.com"}
    visitor = site.browser("10.1.2.3")
    visitor.get("/login")  # what an attacker could get (and plant) without being that person
    anonymous_token = visitor.cookies["toolkit_csrf"]
    attack = cookie_client(site, "10.1.2.3", toolkit_csrf=anonymous_token)
    refused = attack.patch(ME, json={"name": "Mallory"}, headers={**proxy, "x-csrf-token": anonymous_token})
    assert refused.status_code == 403
    person = site.browser("10.1.2.3")
    page = person.get("/profile", headers=proxy)
    ok = person.post("/profile", data={"name": "Sam", "csrf_token": form_csrf(page.text)}, headers=proxy)
    assert ok.status_code == 200


def test_cookies_carry_the_host_prefix_when_the_base_url_is_https(settings: Settings) -> None:
    with instance(settings, base_url="https://toolkit.example.com") as site:
        site.person("employee")
        browser = TestClient(site.client.app, base_url="https://testserver")
        browser.app_state.update(site.client.app_state)
        first = browser.get("/login")
        assert "__Host-toolkit_csrf=" in first.headers["set-cookie"]
        token = browser.cookies["__Host-toolkit_csrf"]
        response = browser.post(
            "/login",
            data={"email": "employee@example.com", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        for name in ("__Host-toolkit_session=", "__Host-toolkit_csrf="):
            (cookie,) = [c for c in cookies if c.startswith(name)]
            assert "; Secure" in cookie and "; Path=/" in cookie and "domain" not in cookie.lower()
        assert browser.get(ME).status_code == 200
        session = browser.cookies["__Host-toolkit_session"]
        # Cookies without the prefix, as a sibling subdomain or plain http could plant them, count
        # for nothing: not as a session, and not as the CSRF half of a write.
        plain = TestClient(site.client.app, base_url="https://testserver")
        plain.app_state.update(site.client.app_state)
        plain.headers["cookie"] = f"toolkit_session={session}"
        assert plain.get(ME).status_code == 401
        planted = browser.cookies["__Host-toolkit_csrf"]
        plain.headers["cookie"] = f"__Host-toolkit_session={session}; toolkit_csrf=planted"
        assert plain.patch(ME, json={"name": "X"}, headers={"x-csrf-token": "planted"}).status_code == 403
        plain.headers["cookie"] = f"__Host-toolkit_session={session}; __Host-toolkit_csrf={planted}"
        assert plain.patch(ME, json={"name": "Y"}, headers={"x-csrf-token": planted}).status_code == 200
