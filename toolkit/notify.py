"""Telling a chat channel about fresh content: an incoming webhook (Slack, Teams, ...) per approved post.

Delivery happens in a worker thread, so an approval never waits for a chat service; failures are
retried with exponential backoff and logged. {"text": ...} is the one body that Slack and Teams
incoming webhooks both accept.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from toolkit.i18n import translations
from toolkit.settings import Settings

log = logging.getLogger(__name__)

# Waits before the 2nd, 3rd, ... attempt: five attempts over about 7.5 seconds.
DEFAULT_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
TIMEOUT = 10.0
# Answers worth another try; any other 4xx means the request itself is wrong and will stay wrong.
_RETRY_STATUSES = frozenset({408, 425, 429})


class Notifier:
    """Service `portal.notifier`: fire-and-forget webhook messages with retries."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        *,
        delays: Sequence[float] = DEFAULT_DELAYS,
        timeout: float = TIMEOUT,
    ) -> None:
        self._settings = settings
        self.delays = tuple(delays)
        self.timeout = timeout
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[bool]] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def enabled(self) -> bool:
        return bool(self._settings().webhook_url)

    def post_approved(self, title: str, url: str) -> Future[bool] | None:
        """Announce a newly approved post; returns at once (None when no webhook is configured)."""
        settings = self._settings()
        _ = translations(settings.default_language).gettext
        text = _("New post to share: %(title)s") % {"title": title}
        return self.send({"text": f"{text}\n{url}"})

    def send(self, payload: dict[str, Any]) -> Future[bool] | None:
        """Deliver the JSON payload in the background; the future tells whether it arrived."""
        url = self._settings().webhook_url
        if not url or self._closing.is_set():
            return None
        body = json.dumps(payload, ensure_ascii=False).encode()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook")
            future = self._pool.submit(self._deliver, url, body)
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every delivery so far has finished; False if some are still going."""
        from concurrent.futures import wait

        with self._lock:
            pending = set(self._pending)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self) -> None:
        """Stop retrying and drop queued deliveries (shutdown); an attempt in flight ends by its timeout."""
        self._closing.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _forget(self, future: Future[bool]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, url: str, body: bytes) -> bool:
        attempts = len(self.delays) + 1
        for attempt in range(1, attempts + 1):
            retry, reason = self._attempt(url, body)
            if reason is None:
                if attempt > 1:
                    log.info("webhook delivered on attempt %d", attempt)
                return True
            if not retry or attempt == attempts:
                log.error("webhook not delivered after %d attempt(s): %s", attempt, reason)
                return False
            log.warning("webhook attempt %d failed (%s); retrying", attempt, reason)
            if self._closing.wait(self.delays[attempt - 1]):
                log.error("webhook not delivered: shutting down (%s)", reason)
                return False
        return False

    def _attempt(self, url: str, body: bytes) -> tuple[bool, str | None]:
        """(worth retrying, failure reason or None when delivered)."""
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "ambassador-toolkit"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
                return False, None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code >= 500 or exc.code in _RETRY_STATUSES, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return True, str(getattr(exc, "reason", exc))
