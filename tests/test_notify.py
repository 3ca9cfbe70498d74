"""The approval webhook against a real local HTTP server: background delivery, retries, backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from tests.webhook_server import Hook, serve_hook
from toolkit.notify import DEFAULT_DELAYS, Notifier
from toolkit.settings import Settings

FAST = (0.01, 0.02, 0.04, 0.08)


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    with serve_hook() as served:
        yield served


def notifier_for(url: str) -> Notifier:
    settings = Settings.from_env({}, webhook_url=url)
    return Notifier(lambda: settings, delays=FAST)


def test_webhook_retries_a_failing_endpoint_until_delivered(hook: tuple[Hook, str]) -> None:
    state, base = hook
    notifier = notifier_for(f"{base}/flaky")
    delivery = notifier.post_approved("Summer campaign", "https://toolkit.example.com/posts/abc")
    assert delivery is not None and delivery.result(timeout=10) is True
    attempts = state.received["/flaky"]
    assert len(attempts) == 3  # two 500s, then delivered
    assert attempts[0] == attempts[2]
    assert set(attempts[0]) == {"text"}  # the body Slack and Teams both accept
    assert "Summer campaign" in attempts[0]["text"]
    assert "https://toolkit.example.com/posts/abc" in attempts[0]["text"]
    assert all(t.startswith("application/json") for t in state.content_types)
    notifier.close()


def test_webhook_approval_returns_before_delivery(hook: tuple[Hook, str]) -> None:
    state, base = hook
    notifier = notifier_for(f"{base}/slow")
    delivery = notifier.post_approved("Launch", "https://toolkit.example.com/posts/1")
    # The receiver holds every request until the gate opens, so nothing can have been delivered yet.
    assert delivery is not None and not delivery.done()
    state.gate.set()
    assert delivery.result(timeout=10) is True
    assert notifier.wait(timeout=5)
    assert len(state.received["/slow"]) == 1
    notifier.close()


def test_webhook_gives_up_after_five_attempts_and_logs_it(
    hook: tuple[Hook, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, base = hook
    notifier = notifier_for(f"{base}/down")
    with caplog.at_level(logging.WARNING, logger="toolkit.notify"):
        delivery = notifier.post_approved("Launch", "https://toolkit.example.com/posts/1")
        assert delivery is not None and delivery.result(timeout=10) is False
    assert len(state.received["/down"]) == 5
    assert any("not delivered after 5 attempt(s)" in r.getMessage() for r in caplog.records)
    notifier.close()


def test_webhook_does_not_retry_a_request_the_receiver_refuses(hook: tuple[Hook, str]) -> None:
    state, base = hook
    notifier = notifier_for(f"{base}/wrong")
    delivery = notifier.post_approved("Launch", "https://toolkit.example.com/posts/1")
    assert delivery is not None and delivery.result(timeout=10) is False
    assert len(state.received["/wrong"]) == 1
    notifier.close()


def test_webhook_unreachable_is_retried_and_never_raises() -> None:
    from tests.s3server import free_port

    notifier = notifier_for(f"http://127.0.0.1:{free_port()}/hook")
    delivery = notifier.post_approved("Launch", "https://toolkit.example.com/posts/1")
    assert delivery is not None and delivery.result(timeout=10) is False
    notifier.close()


def test_webhook_off_without_url_and_backoff_doubles() -> None:
    settings = Settings.from_env({})
    assert Notifier(lambda: settings).post_approved("Launch", "https://x.example/p") is None
    assert len(DEFAULT_DELAYS) + 1 == 5
    assert all(b == 2 * a for a, b in zip(DEFAULT_DELAYS, DEFAULT_DELAYS[1:], strict=False))


def test_webhook_close_stops_retrying(hook: tuple[Hook, str]) -> None:
    state, base = hook
    settings = Settings.from_env({}, webhook_url=f"{base}/down")
    notifier = Notifier(lambda: settings, delays=(5.0, 5.0, 5.0, 5.0))
    delivery = notifier.post_approved("Launch", "https://toolkit.example.com/posts/1")
    assert delivery is not None
    deadline = threading.Event()
    while not state.received.get("/down"):
        deadline.wait(0.01)
    notifier.close()  # at shutdown: no waiting out a long backoff
    assert delivery.result(timeout=2) is False
    assert notifier.post_approved("Later", "https://x.example/p") is None
