"""Store helpers for tests: what a store holds, and which requests reach it."""

from __future__ import annotations

import builtins
import threading
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from toolkit.journal import PREFIX as JOURNAL
from toolkit.store import ObjectInfo, Store, StoreUnavailable


def everything(store: Store) -> dict[str, str]:
    """Every object in the store with its version, except the change journal.

    A write is announced in the journal before it is tried, so a refused one leaves an entry that
    says "look at this record", which readers do and find unchanged: an attempt, not a change.
    """
    return {info.key: info.etag for info in store.list("") if not info.key.startswith(JOURNAL)}


class RecordingStore(Store):
    """Passes everything to a real store and notes each request as (operation, key or prefix)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: builtins.list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _note(self, operation: str, key: str) -> None:
        with self._lock:
            self.calls.append((operation, key))

    @property
    def by_operation(self) -> Counter[str]:
        """How many requests of each operation ("create" is a create-only put)."""
        with self._lock:
            return Counter(operation for operation, _ in self.calls)

    def of(self, operation: str) -> builtins.list[str]:
        with self._lock:
            return [key for op, key in self.calls if op == operation]

    @property
    def endpoint(self) -> str:
        return self.inner.endpoint

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        self._note("get", key)
        return self.inner.open(key)

    def read(self, key: str) -> tuple[bytes, str]:
        self._note("get", key)
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
        etag = self.inner.put(
            key, body, content_type=content_type, if_match=if_match, if_none_match=if_none_match
        )
        self._note("create" if if_none_match else "put", key)
        return etag

    def head(self, key: str) -> ObjectInfo | None:
        self._note("head", key)
        return self.inner.head(key)

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        self._note("list", prefix)
        return self.inner.list(prefix, start_after=start_after)

    def folders(self, prefix: str) -> builtins.list[str]:
        self._note("folders", prefix)
        return self.inner.folders(prefix)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._note("delete", key)
        self.inner.delete(key, if_match=if_match)

    def delete_many(self, keys: builtins.list[str]) -> None:
        for key in keys:
            self._note("delete", key)
        self.inner.delete_many(keys)


class RefusingStore(RecordingStore):
    """Refuses writes of keys under `prefix` (every key by default) while `down`, as a store that
    stopped answering would; everything else passes."""

    def __init__(self, inner: Store, prefix: str = "") -> None:
        super().__init__(inner)
        self.prefix = prefix
        self.down = True

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        if self.down and key.startswith(self.prefix):
            self._note("put", key)
            raise StoreUnavailable(self.endpoint, "test: down")
        return super().put(
            key, body, content_type=content_type, if_match=if_match, if_none_match=if_none_match
        )
