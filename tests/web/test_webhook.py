"""Approving a post tells the chat webhook, in the background: the approval never waits for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.web.conftest import Site
from tests.webhook_server import Hook, serve_hook

FAST = (0.01, 0.02, 0.04, 0.08)


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    with serve_hook() as served:
        yield served


def _draft(site: Site, title: str) -> str:
    body = {"title": title, "variants": [{"language": "en", "tone": "casual", "text": "Fresh news!"}]}
    made = site.browser().post("/api/v1/posts", json=body, headers=site.token_for("marketing"))
    assert made.status_code == 201, made.text
    post_id: str = made.json()["id"]
    return post_id


def _use_webhook(site: Site, url: str) -> None:
    site.portal.settings = replace(
        site.portal.settings, webhook_url=url, base_url="https://toolkit.example.com"
    )
    site.portal.notifier.delays = FAST


def test_approval_returns_before_the_webhook_is_delivered(site: Site, hook: tuple[Hook, str]) -> None:
    state, base = hook
    _use_webhook(site, f"{base}/slow")
    post_id = _draft(site, "Open day")
    approved = site.browser().post(f"/api/v1/posts/{post_id}/approve", headers=site.token_for("marketing"))
    # The receiver holds the request until the gate opens: the approval did not wait for it.
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert not site.portal.notifier.wait(timeout=0.2)
    state.gate.set()
    assert site.portal.notifier.wait(timeout=10)
    [delivered] = state.received["/slow"]
    assert "Open day" in delivered["text"]
    assert f"https://toolkit.example.com/posts/{post_id}" in delivered["text"]


def test_approval_webhook_failing_twice_is_delivered_on_the_third_attempt(
    site: Site, hook: tuple[Hook, str]
) -> None:
    state, base = hook
    _use_webhook(site, f"{base}/flaky")
    post_id = _draft(site, "Hackathon")
    started = time.monotonic()
    approved = site.browser().post(f"/api/v1/posts/{post_id}/approve", headers=site.token_for("marketing"))
    assert approved.status_code == 200
    assert site.portal.notifier.wait(timeout=10), f"not delivered {time.monotonic() - started:.1f}s later"
    attempts = state.received["/flaky"]
    assert len(attempts) == 3 and all("Hackathon" in a["text"] for a in attempts)
