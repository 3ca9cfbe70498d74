"""The daily expiry check: once per deployment per day, its digest, e-mail and the background loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from starlette.testclient import TestClient

from tests.s3server import S3Server, free_port
from tests.web.conftest import Site
from tests.web.test_accounts import session_browser
from toolkit import notices as notices_module
from toolkit.app import create_app
from toolkit.notices import RUNS, run_daily_checks
from toolkit.portal import Portal
from toolkit.settings import Settings

NOON = datetime(2031, 5, 10, 12, 0, tzinfo=UTC)
TODAY = NOON.date()


def _day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def _moment(hours: float) -> str:
    return (NOON + timedelta(hours=hours)).isoformat()


def _fill(portal: Portal) -> None:
    """Imagery and posts around the thresholds, written as the assets and posts features store them."""
    assets: dict[str, dict[str, Any]] = {
        "soon": {"title": "Team day", "status": "approved", "rights_expires": _day(10)},
        "expired": {"title": "Old fair", "status": "approved", "consent_expires": _day(-3)},
        "both": {
            "title": "Office",
            "status": "approved",
            "rights_expires": _day(30),
            "consent_expires": _day(0),
        },
        "draft-soon": {"title": "New draft", "status": "draft", "consent_expires": _day(5)},
        "draft-expired": {"title": "Dead draft", "status": "draft", "rights_expires": _day(-1)},
        "archived": {"title": "Archived", "status": "archived", "rights_expires": _day(2)},
        "later": {"title": "Later", "status": "approved", "rights_expires": _day(31)},
        "forever": {"title": "Forever", "status": "approved", "rights_expires": None},
    }
    for asset_id, data in assets.items():
        portal.records.create("assets", asset_id, data)
    posts: dict[str, dict[str, Any]] = {
        "ending": {"title": "Summer campaign", "status": "approved", "valid_until": _moment(24 * 3)},
        "ending-later": {"title": "Autumn", "status": "approved", "valid_until": _moment(24 * 8)},
        "ended": {"title": "Spring", "status": "approved", "valid_until": _moment(-2)},
        "draft": {"title": "Draft", "status": "draft", "valid_until": _moment(24)},
        "open-ended": {"title": "Evergreen", "status": "approved", "valid_until": None},
    }
    for post_id, data in posts.items():
        variant = {"id": "v1", "language": "en", "tone": "", "text": data["title"]}
        portal.records.create("posts", post_id, {"campaign": "", "variants": [variant], **data})


def _other_instance(settings: Settings, name: str = "test-b", **changes: Any) -> Portal:
    portal = Portal(replace(settings, instance_id=name, **changes))
    portal.start()
    return portal


def test_daily_check_lists_what_expires(settings: Settings) -> None:
    portal = _other_instance(settings, "test-a")
    _fill(portal)
    digest = portal.notices.run_daily(NOON)
    assert digest is not None and digest.day == TODAY.isoformat()
    found = [(a.id, a.reason, a.days_left) for a in digest.assets]
    assert found == [
        ("expired", "consent", -3),
        ("both", "consent", 0),
        ("draft-soon", "consent", 5),
        ("soon", "rights", 10),
        ("both", "rights", 30),
    ]
    assert [(p.id, p.days_left) for p in digest.posts] == [("ending", 3)]
    assert digest.emailed == 0 and not digest.mail_error  # no mail server configured


def _race(portals: list[Portal], moment: datetime) -> dict[str, Any]:
    """Every portal runs the day's check in its own thread, released at the same instant."""
    barrier = threading.Barrier(len(portals))
    results: dict[str, Any] = {}

    def run(portal: Portal) -> None:
        barrier.wait()
        results[portal.instance] = portal.notices.run_daily(moment)

    threads = [threading.Thread(target=run, args=(p,)) for p in portals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_daily_check_runs_once_across_two_instances(settings: Settings) -> None:
    first = _other_instance(settings, "test-a")
    _fill(first)
    second = _other_instance(settings, "test-b")
    for offset in range(3):  # three days, each raced by both instances at the same moment
        moment = NOON + timedelta(days=offset)
        results = _race([first, second], moment)
        winners = [name for name, digest in results.items() if digest is not None]
        assert len(results) == 2 and len(winners) == 1, results
        assert first.notices.run_daily(moment) is None and second.notices.run_daily(moment) is None

    first.refresh()
    second.refresh()
    days = sorted(r.id for r in first.records.all(RUNS))
    assert days == [(TODAY + timedelta(days=n)).isoformat() for n in range(3)]
    # Whichever instance ran it, both show the same digest.
    assert first.notices.latest() == second.notices.latest()
    latest = second.notices.latest()
    assert latest is not None and latest.day == (TODAY + timedelta(days=2)).isoformat()


def test_notices_page_shows_the_digest_to_marketing(site: Site) -> None:
    _fill(site.portal)
    site.portal.notices.run_daily(NOON)
    marketing = session_browser(site, "marketing")
    page = marketing.get("/notices")
    assert page.status_code == 200
    for title in ("Team day", "Old fair", "Office", "Summer campaign"):
        assert title in page.text
    assert "Dead draft" not in page.text and "Autumn" not in page.text
    assert 'href="/library/soon"' in page.text and 'href="/manage/posts/ending"' in page.text
    assert 'href="/notices"' in page.text  # in marketing's navigation
    assert session_browser(site, "employee").get("/notices").status_code == 403


class Inbox:
    """What a real SMTP server (aiosmtpd) received, and the one login it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"digest@example.com",
            b"s3:cret",
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def test_daily_digest_is_emailed_to_marketing(settings: Settings, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    portal = _other_instance(
        settings,
        "test-a",
        smtp_url=f"smtp://digest%40example.com:s3%3Acret@127.0.0.1:{port}",
        mail_from="toolkit@example.com",
        base_url="https://toolkit.example.com",
    )
    portal.accounts.add("sanne@example.com", role="marketing", name="Sanne", language="nl")
    boss = portal.accounts.add("boss@example.com", role="admin", name="Boss")
    portal.accounts.add("daan@example.com", role="employee", name="Daan")
    gone = portal.accounts.add("gone@example.com", role="marketing", name="Gone")
    portal.accounts.set_active(gone, False, actor=boss)
    _fill(portal)

    digest = portal.notices.run_daily(NOON)
    assert digest is not None and digest.emailed == 2 and not digest.mail_error
    assert inbox.logins == ["digest@example.com"]
    received = {tuple(to): message for to, message in inbox.messages}
    assert set(received) == {("sanne@example.com",), ("boss@example.com",)}
    message = received[("boss@example.com",)]
    assert message["From"] == "toolkit@example.com" and message["To"] == "boss@example.com"
    assert "Expiring soon" in message["Subject"]
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    for expected in ("Team day", "Old fair", "Summer campaign", "https://toolkit.example.com/notices"):
        assert expected in text
    assert "Dead draft" not in text
    portal.refresh()
    stored = portal.notices.latest()
    assert stored is not None and stored.emailed == 2


def test_daily_digest_mail_failure_is_noted_and_never_raised(settings: Settings) -> None:
    portal = _other_instance(settings, "test-a", smtp_url=f"smtp://127.0.0.1:{free_port()}")
    portal.accounts.add("sanne@example.com", role="marketing", name="Sanne")
    _fill(portal)
    digest = portal.notices.run_daily(NOON)
    assert digest is not None and digest.emailed == 0 and digest.mail_error
    stored = portal.notices.latest()
    assert stored is not None and stored.mail_error == digest.mail_error


def test_daily_check_loop_survives_a_store_outage(tmp_path: Any) -> None:
    server = S3Server()
    server.start()
    try:
        import boto3

        boto3.client("s3", endpoint_url=server.url).create_bucket(Bucket="outage")
        settings = Settings.from_env({}, store="s3://outage/p", s3_endpoint_url=server.url, instance_id="x")
        portal = Portal(settings)
        portal.start()
        server.stop()

        async def scenario() -> None:
            loop_task = asyncio.create_task(run_daily_checks(portal, first_delay=0, interval=0.05))
            await asyncio.sleep(0.5)  # several failed attempts against a store that is down
            assert not loop_task.done()
            await asyncio.to_thread(server.start)
            deadline = time.monotonic() + 20
            while portal.notices.latest() is None:
                assert time.monotonic() < deadline, "the check never ran after the store came back"
                await asyncio.sleep(0.05)
            loop_task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await loop_task

        asyncio.run(scenario())
        assert portal.notices.latest() is not None
        portal.close()
    finally:
        server.stop()


def test_app_runs_the_daily_check_in_the_background_and_stops_cleanly(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices_module, "FIRST_CHECK_SECONDS", 0.0)
    portal = Portal(settings)
    with TestClient(create_app(settings, portal=portal)):
        deadline = time.monotonic() + 10
        while not portal.records.all(RUNS):
            assert time.monotonic() < deadline, "no daily check ran"
            time.sleep(0.05)
    assert len(portal.records.all(RUNS)) == 1
