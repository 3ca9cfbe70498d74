"""The running portal on the bucket: health, errors, several instances, outages, language."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.s3server import S3Server
from tests.web.conftest import Site, csrf_of
from toolkit.app import create_app
from toolkit.portal import Portal
from toolkit.settings import Settings


def test_health_answers_ok_without_login(site: Site) -> None:
    response = site.browser().get("/api/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_health_says_starting_until_the_records_are_loaded(settings: Settings) -> None:
    portal = Portal(settings)
    loading = threading.Event()
    release = threading.Event()
    real_load = portal.records.load

    def slow_load() -> int:
        loading.set()
        release.wait(30)
        return real_load()

    portal.records.load = slow_load  # type: ignore[method-assign]
    with TestClient(create_app(settings, portal=portal, serve_while_starting=True)) as client:
        assert loading.wait(30)
        starting = client.get("/api/v1/health")
        assert starting.status_code == 503 and starting.json()["error"]["code"] == "starting"
        assert starting.headers["retry-after"]
        assert client.get("/api/v1/posts").json()["error"]["code"] == "starting"
        release.set()
        deadline = time.monotonic() + 30
        while client.get("/api/v1/health").status_code != 200:
            assert time.monotonic() < deadline, "the portal never finished starting"
            time.sleep(0.05)


def test_api_errors_share_one_json_shape(site: Site) -> None:
    anonymous = site.browser()
    for response, status in [
        (anonymous.get("/api/v1/nothing-here"), 404),
        (anonymous.get("/api/v1/me"), 401),
        (site.client_for("employee").get("/api/v1/users"), 403),
        (anonymous.delete("/api/v1/health"), 405),
    ]:
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) >= {"code", "message"}
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_pages_answer_errors_as_html(site: Site) -> None:
    response = site.client_for("employee").get("/no-such-page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text


def test_two_instances_on_one_store_see_each_others_writes(settings: Settings) -> None:
    first_portal, second_portal = (
        Portal(settings),
        Portal(settings.__class__(**{**settings.__dict__, "instance_id": "test-b"})),
    )
    with (
        TestClient(create_app(settings, portal=first_portal)) as first,
        TestClient(create_app(settings, portal=second_portal)) as second,
    ):
        new = first_portal.accounts.add("new@example.com", role="admin", password="a long password")
        token = first_portal.accounts.create_token(new).secret
        headers = {"authorization": f"Bearer {token}"}
        assert first.get("/api/v1/me", headers=headers).status_code == 200
        deadline = time.monotonic() + 5
        while second.get("/api/v1/me", headers=headers).status_code != 200:
            assert time.monotonic() < deadline, "second instance never saw the new account"
            time.sleep(0.05)
        assert second.get("/api/v1/me", headers=headers).json()["email"] == "new@example.com"


def test_restart_keeps_everything(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        portal: Portal = client.app_state["portal"]
        portal.accounts.add("kept@example.com", role="marketing", password="a long password")
    with TestClient(create_app(settings)) as client:
        portal = client.app_state["portal"]
        kept = portal.accounts.by_email("kept@example.com")
        assert kept is not None and kept.role == "marketing"


def test_store_outage_gives_503_and_portal_recovers(s3_server: S3Server, bucket: str) -> None:
    settings = Settings.from_env(
        {}, store=f"s3://{bucket}/p", s3_endpoint_url=s3_server.url, refresh_seconds=0.2
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        portal: Portal = client.app_state["portal"]
        admin = portal.accounts.add("admin@example.com", role="admin", password="a long password")
        headers = {"authorization": "Bearer " + portal.accounts.create_token(admin).secret}
        s3_server.stop()
        try:
            down = client.get("/api/v1/health")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "store_unavailable"
            invited = client.post("/api/v1/users", json={"email": "x@example.com"}, headers=headers)
            assert invited.status_code == 503 and "storage" in invited.json()["error"]["message"]
            page = client.get("/admin/users", headers=headers)
            assert page.status_code in (200, 503)  # served from memory while the store is away
            time.sleep(0.5)  # let the background refresh fail at least once
        finally:
            s3_server.start()
        assert client.get("/api/v1/health").status_code == 200
        assert (
            client.post("/api/v1/users", json={"email": "y@example.com"}, headers=headers).status_code == 201
        )


def test_store_unreachable_at_start_exits_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "user", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "TOOLKIT_STORE": "s3://nowhere-bucket/x",
            "TOOLKIT_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "http://127.0.0.1:9" in lines[0] and lines[0].startswith("error: cannot reach")


def test_security_headers_on_every_response(site: Site) -> None:
    for response in [
        site.browser().get("/login"),
        site.browser().get("/api/v1/health"),
        site.browser().get("/static/css/portal.css"),
        site.browser().get("/api/v1/me"),
    ]:
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"]


def test_language_follows_browser_and_switch_sticks(site: Site) -> None:
    browser = site.browser()
    assert "Wachtwoord" in browser.get("/login", headers={"accept-language": "nl-NL,nl;q=0.9,en;q=0.5"}).text
    assert "Password" in browser.get("/login", headers={"accept-language": "en"}).text
    switched = browser.post(
        "/language",
        data={"language": "nl", "next": "/login", "csrf_token": csrf_of(browser)},
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    assert "Wachtwoord" in browser.get("/login", headers={"accept-language": "en"}).text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_language_switch_never_redirects_off_site(site: Site, target: str) -> None:
    browser = site.browser()
    response = browser.post(
        "/language",
        data={"language": "en", "next": target, "csrf_token": csrf_of(browser)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
