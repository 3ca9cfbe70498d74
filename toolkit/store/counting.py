"""A store that passes everything to another and counts what it is asked and what is written:
for bulk fills (demo-company) that report objects per kind and bytes, and their benchmarks."""

from __future__ import annotations

import builtins
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import BinaryIO

from toolkit.records import PREFIX
from toolkit.store import ObjectInfo, Store

Progress = Callable[[str], None]


# Kinds written once and never rewritten by a fill: their sizes are summed, not remembered per key.
_WRITE_ONCE = frozenset({"share-links", "share-link-owners", "policy-acks", "one-time-links", "journal"})


def _group(key: str) -> str:
    """records/<kind>/... -> kind; anything else -> its top-level folder (counters, audit, ...)."""
    if key.startswith(PREFIX):
        return key[len(PREFIX) :].split("/", 1)[0]
    return key.split("/", 1)[0]


class CountingStore(Store):
    """Another store, with every request counted by operation and what was written summed.

    `requests` counts calls by operation (a LIST is one call however many pages it takes),
    `listed` the keys the LISTs returned, `created` the objects written per group (record kind, or
    top-level folder) and `written_bytes` their size as last written. Thread-safe.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.requests: Counter[str] = Counter()
        self.listed = 0
        self.created: Counter[str] = Counter()
        self.written_bytes = 0
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, operation: str, n: int = 1) -> None:
        with self._lock:
            self.requests[operation] += n

    def reset(self) -> None:
        """Zero the request counts (not what was written)."""
        with self._lock:
            self.requests.clear()
            self.listed = 0

    def written(self) -> dict[str, int]:
        """Objects written so far per group (record kind or top-level folder)."""
        with self._lock:
            return {group: n for group, n in self.created.items() if n}

    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    @property
    def endpoint(self) -> str:
        return self.inner.endpoint

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        self._count("get")
        return self.inner.open(key)

    def read(self, key: str) -> tuple[bytes, str]:
        self._count("get")
        return self.inner.read(key)

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        self._count("put")
        etag = self.inner.put(
            key, body, content_type=content_type, if_match=if_match, if_none_match=if_none_match
        )
        if isinstance(body, bytes | bytearray):
            size = len(body)
        else:
            info = self.inner.head(key)
            size = info.size if info else 0
        group = _group(key)
        with self._lock:
            before = self._sizes.get(key)
            if before is not None:
                self.written_bytes += size - before
                self._sizes[key] = size
            elif if_none_match or if_match is None:
                # A create, or an unconditional write of a key this run has not written yet.
                self.created[group] += 1
                self.written_bytes += size
                if group not in _WRITE_ONCE:
                    self._sizes[key] = size
        return etag

    def head(self, key: str) -> ObjectInfo | None:
        self._count("head")
        return self.inner.head(key)

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        self._count("list")
        for info in self.inner.list(prefix, start_after=start_after):
            with self._lock:
                self.listed += 1
            yield info

    def folders(self, prefix: str) -> builtins.list[str]:
        self._count("list")
        return self.inner.folders(prefix)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._count("delete")
        self.inner.delete(key, if_match=if_match)
        self._forget(key)

    def delete_many(self, keys: builtins.list[str]) -> None:
        self._count("delete", max(1, math.ceil(len(keys) / 1000)))
        self.inner.delete_many(keys)
        for key in keys:
            self._forget(key)

    def _forget(self, key: str) -> None:
        with self._lock:
            size = self._sizes.pop(key, None)
            if size is not None:
                self.written_bytes -= size
                self.created[_group(key)] -= 1

    def ping(self) -> None:
        self._count("head")
        self.inner.ping()
