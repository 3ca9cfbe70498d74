"""Prometheus metrics of one running instance, served as text at GET /metrics.

Each Metrics holds its own CollectorRegistry (never prometheus_client's global one), so several
instances in one process (tests, benchmarks) keep separate counts. Everything here is plain
counters, gauges and histograms updated in place: an update costs about a microsecond, and the
text is only made when a scraper asks for it.

Label values are bounded by construction: store operations and error kinds are fixed lists,
request routes are the routing table's path templates (never a raw path), methods outside the
usual few become "other", and statuses are counted by class (2xx, 4xx, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

import toolkit

# Without this every counter and histogram child gets a second series (*_created) that the text
# format's scrapers do not use; prometheus_client only offers a process-wide switch for it.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = CONTENT_TYPE_LATEST
STORE_OPERATIONS = ("get", "put", "head", "list", "delete")
STORE_ERRORS = ("missing", "mismatch", "unavailable")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
_STATUS_CLASSES = tuple(f"{n}xx" for n in range(10))

# A local folder answers in well under a millisecond, S3 in milliseconds to a few hundred.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REFRESH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The instruments of one instance (`portal.metrics`); attribute names are what callers use."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.store_requests = Counter(
            "toolkit_store_requests",
            "Requests made to the object store, by operation (a listing counts once, however many pages).",
            ["operation"],
            registry=registry,
        )
        self.store_request_seconds = Histogram(
            "toolkit_store_request_seconds",
            "Duration of object store requests, by operation.",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "toolkit_store_errors",
            "Store requests that failed, by operation and error "
            "(missing: no such object, mismatch: conditional write refused, unavailable: no answer).",
            ["operation", "error"],
            registry=registry,
        )
        self.refresh_seconds = Histogram(
            "toolkit_refresh_seconds",
            "Duration of one refresh of the in-memory records from the change journal.",
            buckets=REFRESH_BUCKETS,
            registry=registry,
        )
        self.refresh_lag_seconds = Gauge(
            "toolkit_refresh_lag_seconds",
            "Seconds since the last successful refresh (how stale this instance may be).",
            registry=registry,
        )
        self.refresh_changes = Counter(
            "toolkit_refresh_changes",
            "Records changed by other instances and picked up by refreshes.",
            registry=registry,
        )
        self.records_held = Gauge(
            "toolkit_records_held", "Records held in memory, by kind.", ["kind"], registry=registry
        )
        self.journal_position = Gauge(
            "toolkit_journal_position",
            "Sequence number of the last change-journal entry applied.",
            registry=registry,
        )
        self.checkpoint_position = Gauge(
            "toolkit_checkpoint_position",
            "Journal position of the latest checkpoint known to this instance.",
            registry=registry,
        )
        self.cache_lookups = Counter(
            "toolkit_cache_lookups",
            "Lookups in the in-memory caches, by cache and result (hit, miss, negative: known absent).",
            ["cache", "result"],
            registry=registry,
        )
        self.render_seconds = Histogram(
            "toolkit_render_seconds",
            "Duration of making a share-ready image that was in no cache (reading its source, rendering).",
            buckets=RENDER_BUCKETS,
            registry=registry,
        )
        self.request_seconds = Histogram(
            "toolkit_request_seconds",
            "Duration of HTTP requests, by method, route template and status class.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.build = Info("toolkit_build", "Version of the running portal.", registry=registry)
        self.build.info({"version": toolkit.__version__})
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)

        # Label children resolved once: .labels() takes a lock and builds a key on every call.
        self._store_requests = {op: self.store_requests.labels(operation=op) for op in STORE_OPERATIONS}
        self._store_seconds = {op: self.store_request_seconds.labels(operation=op) for op in STORE_OPERATIONS}
        self._store_errors = {
            (op, error): self.store_errors.labels(operation=op, error=error)
            for op in STORE_OPERATIONS
            for error in STORE_ERRORS
        }
        self._requests: dict[tuple[str, str, int], Histogram] = {}
        # Until watch_refresh_lag() is told the records' clock: seconds since this instance began.
        self.watch_refresh_lag(lambda: None)

    def store_request(self, operation: str, seconds: float, error: str | None = None) -> None:
        """One store request: counted, timed, and its failure counted by kind (see STORE_ERRORS)."""
        self._store_requests[operation].inc()
        self._store_seconds[operation].observe(seconds)
        if error is not None:
            self._store_errors[operation, error].inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request; route is the path template of the route that answered, or "other"."""
        key = (method, route, status // 100)
        child = self._requests.get(key)
        if child is None:
            child = self.request_seconds.labels(
                method=method if method in HTTP_METHODS else OTHER,
                route=route,
                status=_STATUS_CLASSES[key[2]] if 0 <= key[2] < 10 else OTHER,
            )
            if method in HTTP_METHODS:  # unusual methods share one child and are not remembered
                self._requests[key] = child
        child.observe(seconds)

    def watch_refresh_lag(self, seconds_ago: Callable[[], float | None]) -> None:
        """Report refresh lag from the records' own clock; None (never refreshed) counts from now."""
        started = time.monotonic()

        def lag() -> float:
            value = seconds_ago()
            return time.monotonic() - started if value is None else value

        self.refresh_lag_seconds.set_function(lag)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything in this instance's registry."""
        return generate_latest(self.registry)
