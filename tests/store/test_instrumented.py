"""InstrumentedStore: the same answers as the store it wraps, with every request counted and timed."""

from __future__ import annotations

import builtins
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from toolkit.metrics import Metrics
from toolkit.store import ObjectInfo, ObjectMissing, Store, StoreUnavailable, VersionMismatch
from toolkit.store.instrumented import InstrumentedStore
from toolkit.store.local import LocalStore


def requests(metrics: Metrics, operation: str) -> float:
    value = metrics.registry.get_sample_value("toolkit_store_requests_total", {"operation": operation})
    return value or 0.0


def seconds(metrics: Metrics, operation: str) -> float:
    labels = {"operation": operation}
    value = metrics.registry.get_sample_value("toolkit_store_request_seconds_sum", labels)
    return value or 0.0


def errors(metrics: Metrics, operation: str, error: str) -> float:
    labels = {"operation": operation, "error": error}
    return metrics.registry.get_sample_value("toolkit_store_errors_total", labels) or 0.0


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_answers_like_the_inner_store_and_counts_each_operation(store: Store, metrics: Metrics) -> None:
    wrapped = InstrumentedStore(store, metrics)
    assert wrapped.inner is store and wrapped.endpoint == store.endpoint
    etag = wrapped.put("records/things/a.json", b'{"a":1}', content_type="application/json")
    wrapped.put("records/things/b.json", io.BytesIO(b"b"))
    assert wrapped.read("records/things/a.json") == (b'{"a":1}', etag)
    stream, info = wrapped.open("records/things/a.json")
    with stream:
        assert stream.read() == b'{"a":1}' and info.etag == etag
    assert wrapped.checksum("records/things/b.json")[0] == 1
    head = wrapped.head("records/things/a.json")
    assert head is not None and head.etag == etag
    assert wrapped.head("records/things/none.json") is None
    wrapped.ping()
    assert [i.key for i in wrapped.list("records/things/")] == [
        "records/things/a.json",
        "records/things/b.json",
    ]
    assert [i.key for i in wrapped.list("records/", start_after="records/things/a.json")] == [
        "records/things/b.json"
    ]
    assert wrapped.folders("records/") == ["things"]
    wrapped.delete("records/things/a.json", if_match=etag)
    wrapped.delete_many(["records/things/b.json"])
    assert list(store.list("records/")) == []

    counted = {op: requests(metrics, op) for op in ("get", "put", "head", "list", "delete")}
    assert counted == {"get": 3, "put": 2, "head": 3, "list": 3, "delete": 2}
    assert all(seconds(metrics, op) > 0 for op in counted)
    assert not any(errors(metrics, op, kind) for op in counted for kind in ("missing", "mismatch"))


def test_failures_are_raised_unchanged_and_counted_by_kind(store: Store, metrics: Metrics) -> None:
    wrapped = InstrumentedStore(store, metrics)
    with pytest.raises(ObjectMissing):
        wrapped.read("k/none")
    with pytest.raises(ObjectMissing):
        wrapped.open("k/none")
    wrapped.put("k/x", b"one", if_none_match=True)
    with pytest.raises(VersionMismatch):
        wrapped.put("k/x", b"two", if_none_match=True)
    with pytest.raises(VersionMismatch):
        wrapped.delete("k/x", if_match="not-the-version")
    with pytest.raises(ValueError):  # a bad key is no store error: counted as a request only
        wrapped.put("../escape", b"x")
    assert errors(metrics, "get", "missing") == 2
    assert errors(metrics, "put", "mismatch") == 1
    assert errors(metrics, "delete", "mismatch") == 1
    assert requests(metrics, "get") == 2 and requests(metrics, "put") == 3


class FakeStore(Store):
    """A store whose listing comes in pages and can fail part way, with a method of its own."""

    def __init__(self, pages: builtins.list[builtins.list[str]], fail_after: int | None = None) -> None:
        self.pages = pages
        self.fail_after = fail_after
        self.batches: builtins.list[builtins.list[str]] = []
        self.closed = False

    @property
    def endpoint(self) -> str:
        return "fake://"

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        raise StoreUnavailable(self.endpoint, "down")

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        raise StoreUnavailable(self.endpoint, "down")

    def head(self, key: str) -> ObjectInfo | None:
        raise StoreUnavailable(self.endpoint, "down")

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        served = 0
        try:
            for page in self.pages:
                time.sleep(0.01)  # fetching and parsing one page
                for key in page:
                    if self.fail_after is not None and served == self.fail_after:
                        raise StoreUnavailable(self.endpoint, "connection reset")
                    served += 1
                    yield ObjectInfo(key, "e", 1)
        finally:
            self.closed = True

    def folders(self, prefix: str) -> builtins.list[str]:
        return ["a", "b"]

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        raise AssertionError("delete_many of the inner store must be used, not one delete per key")

    def delete_many(self, keys: builtins.list[str]) -> None:
        self.batches.append(keys)

    def compact(self, level: int) -> str:
        return f"compacted to {level}"


def test_a_listing_counts_once_whatever_its_pages_and_times_only_the_store(metrics: Metrics) -> None:
    fake = FakeStore([["a", "b"], ["c"], ["d"]])
    wrapped = InstrumentedStore(fake, metrics)
    listing = wrapped.list("")
    assert requests(metrics, "list") == 0  # recorded when the listing ends
    keys = []
    for info in listing:
        keys.append(info.key)
        time.sleep(0.1)  # the caller's own work between items is not the store's time
    assert keys == ["a", "b", "c", "d"]
    assert requests(metrics, "list") == 1
    assert 0.03 <= seconds(metrics, "list") < 0.3


def test_an_abandoned_listing_is_counted_once_and_closes_the_inner_one(metrics: Metrics) -> None:
    fake = FakeStore([["a", "b"], ["c"]])
    listing = InstrumentedStore(fake, metrics).list("")
    assert next(listing).key == "a"
    listing.close()  # type: ignore[attr-defined]
    assert fake.closed and requests(metrics, "list") == 1


def test_a_listing_that_fails_part_way_counts_the_error(metrics: Metrics) -> None:
    wrapped = InstrumentedStore(FakeStore([["a", "b"], ["c"]], fail_after=2), metrics)
    seen = []
    with pytest.raises(StoreUnavailable):
        for info in wrapped.list(""):
            seen.append(info.key)
    assert seen == ["a", "b"]
    assert requests(metrics, "list") == 1 and errors(metrics, "list", "unavailable") == 1


def test_unavailable_is_counted_for_every_operation(metrics: Metrics) -> None:
    wrapped = InstrumentedStore(FakeStore([]), metrics)
    for call in (
        lambda: wrapped.read("k"),
        lambda: wrapped.open("k"),
        lambda: wrapped.put("k", b""),
        lambda: wrapped.head("k"),
        wrapped.ping,
    ):
        with pytest.raises(StoreUnavailable):
            call()
    assert errors(metrics, "get", "unavailable") == 2
    assert errors(metrics, "put", "unavailable") == 1
    assert errors(metrics, "head", "unavailable") == 2


def test_what_is_not_instrumented_reaches_the_inner_store(metrics: Metrics) -> None:
    fake = FakeStore([])
    wrapped = InstrumentedStore(fake, metrics)
    wrapped.delete_many(["a", "b", "c"])
    assert fake.batches == [["a", "b", "c"]]  # the backend's batch delete, counted as one request
    assert requests(metrics, "delete") == 1
    wrapped.delete_many([])
    assert requests(metrics, "delete") == 1
    assert wrapped.compact(2) == "compacted to 2"  # a backend's own method
    assert wrapped.folders("") == ["a", "b"]
    with pytest.raises(AttributeError):
        wrapped.no_such_method()
    assert isinstance(wrapped, Store)


def test_backend_attributes_and_methods_added_to_store_later_are_passed_on(
    metrics: Metrics, tmp_path: Path
) -> None:
    local = LocalStore(tmp_path / "data")
    wrapped = InstrumentedStore(local, metrics)
    assert wrapped.root == local.root
    # Every public method of Store is either measured here or passed to the inner store's own.
    for name, member in vars(Store).items():
        if not name.startswith("_") and callable(member):
            assert name in vars(InstrumentedStore), name
    assert not getattr(InstrumentedStore, "__abstractmethods__", None)
