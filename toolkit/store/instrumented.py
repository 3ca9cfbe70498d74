"""A Store that counts, times and classifies the requests it passes on to another store.

`InstrumentedStore(inner, metrics)` behaves exactly like `inner`: every method returns what the
inner store returns and raises what it raises. On the way it adds to portal.metrics:
store_requests and store_request_seconds by operation (get, put, head, list, delete), and
store_errors by operation and error (missing, mismatch, unavailable).

- open, read and checksum are a "get"; ping is a "head"; folders is a "list"; delete_many is one
  "delete" per call, however many keys (S3 batches them).
- A listing is counted once per call, however many pages the backend fetches, and its time is the
  time spent inside the inner store's iterator (fetching and parsing pages), not the caller's time
  between items. It is recorded when the iteration ends (exhausted, failed, or abandoned).
- open's time is until the stream is handed over, not the reading of the body.

Anything else (a backend's own attributes such as a LocalStore's root, or a method added to a
backend or to Store later) is passed to the inner store unmeasured, so wrapping never hides a
capability.
"""

from __future__ import annotations

import abc
import builtins
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from toolkit.metrics import Metrics
from toolkit.store.base import (
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreUnavailable,
    VersionMismatch,
)

_clock = time.perf_counter


def error_kind(exc: BaseException) -> str | None:
    """The store_errors label of a store failure, or None for anything else."""
    if isinstance(exc, ObjectMissing):
        return "missing"
    if isinstance(exc, VersionMismatch):
        return "mismatch"
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    return None


class InstrumentedStore(Store):
    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __repr__(self) -> str:
        return f"InstrumentedStore({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        # Only called for names this class and Store do not define.
        if name in ("inner", "metrics"):  # not set yet (copying, unpickling): do not recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def endpoint(self) -> str:
        return self.inner.endpoint

    def _failed(self, operation: str, started: float, exc: BaseException) -> None:
        self.metrics.store_request(operation, _clock() - started, error_kind(exc))

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        started = _clock()
        try:
            opened = self.inner.open(key)
        except BaseException as exc:
            self._failed("get", started, exc)
            raise
        self.metrics.store_request("get", _clock() - started)
        return opened

    def read(self, key: str) -> tuple[bytes, str]:
        started = _clock()
        try:
            found = self.inner.read(key)
        except BaseException as exc:
            self._failed("get", started, exc)
            raise
        self.metrics.store_request("get", _clock() - started)
        return found

    def checksum(self, key: str) -> tuple[int, str]:
        started = _clock()
        try:
            summed = self.inner.checksum(key)
        except BaseException as exc:
            self._failed("get", started, exc)
            raise
        self.metrics.store_request("get", _clock() - started)
        return summed

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        started = _clock()
        try:
            etag = self.inner.put(
                key, body, content_type=content_type, if_match=if_match, if_none_match=if_none_match
            )
        except BaseException as exc:
            self._failed("put", started, exc)
            raise
        self.metrics.store_request("put", _clock() - started)
        return etag

    def head(self, key: str) -> ObjectInfo | None:
        started = _clock()
        try:
            info = self.inner.head(key)
        except BaseException as exc:
            self._failed("head", started, exc)
            raise
        self.metrics.store_request("head", _clock() - started)
        return info

    def ping(self) -> None:
        started = _clock()
        try:
            self.inner.ping()
        except BaseException as exc:
            self._failed("head", started, exc)
            raise
        self.metrics.store_request("head", _clock() - started)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        started = _clock()
        try:
            self.inner.delete(key, if_match=if_match)
        except BaseException as exc:
            self._failed("delete", started, exc)
            raise
        self.metrics.store_request("delete", _clock() - started)

    def delete_many(self, keys: builtins.list[str]) -> None:
        if not keys:
            self.inner.delete_many(keys)
            return
        started = _clock()
        try:
            self.inner.delete_many(keys)
        except BaseException as exc:
            self._failed("delete", started, exc)
            raise
        self.metrics.store_request("delete", _clock() - started)

    def folders(self, prefix: str) -> builtins.list[str]:
        started = _clock()
        try:
            names = self.inner.folders(prefix)
        except BaseException as exc:
            self._failed("list", started, exc)
            raise
        self.metrics.store_request("list", _clock() - started)
        return names

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        started = _clock()
        try:
            items = iter(self.inner.list(prefix, start_after=start_after))
        except BaseException as exc:
            self._failed("list", started, exc)
            raise
        return self._listing(items, _clock() - started)

    def _listing(self, items: Iterator[ObjectInfo], spent: float) -> Iterator[ObjectInfo]:
        error: str | None = None
        try:
            while True:
                started = _clock()
                try:
                    item = next(items)
                except StopIteration:
                    spent += _clock() - started
                    return
                except BaseException as exc:
                    spent += _clock() - started
                    error = error_kind(exc)
                    raise
                spent += _clock() - started
                yield item
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # abandoned early: let the inner listing end now, as it would unwrapped
                close()
            self.metrics.store_request("list", spent, error)


def _forwarder(name: str) -> Callable[..., Any]:
    def forward(self: InstrumentedStore, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, name)(*args, **kwargs)

    forward.__name__ = name
    forward.__doc__ = f"Passed on to the inner store unmeasured ({name} is not instrumented)."
    return forward


# Methods Store gains later (with a default body, or abstract) are found on the class before
# __getattr__ is consulted, so they are passed on explicitly: the inner store's own version runs.
for _name, _member in vars(Store).items():
    if not _name.startswith("_") and callable(_member) and _name not in vars(InstrumentedStore):
        setattr(InstrumentedStore, _name, _forwarder(_name))
abc.update_abstractmethods(InstrumentedStore)
