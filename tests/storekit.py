"""Store helpers for tests: what a store holds, and which requests reach it."""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from toolkit.journal import PREFIX as JOURNAL
from toolkit.store import ObjectInfo, Store


def everything(store: Store) -> dict[str, str]:
    """Every object in the store with its version, except the change journal.

    A write is announced in the journal before it is tried, so a refused one leaves an entry that
    says "look at this record", which readers do and find unchanged: an attempt, not a change.
    """
    return {info.key: info.etag for info in store.list("") if not info.key.startswith(JOURNAL)}


class CountingStore(Store):
    """A store that passes every request to a real one and notes it ("get records/posts/p.json")."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: builtins.list[str] = []

    @property
    def by_operation(self) -> Counter[str]:
        return Counter(call.split(" ", 1)[0] for call in self.calls)

    @property
    def endpoint(self) -> str:
        return self.inner.endpoint

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        self.calls.append(f"get {key}")
        return self.inner.open(key)

    def put(self, key: str, body: bytes | BinaryIO, **kwargs: Any) -> str:
        self.calls.append(f"put {key}")
        return self.inner.put(key, body, **kwargs)

    def head(self, key: str) -> ObjectInfo | None:
        self.calls.append(f"head {key}")
        return self.inner.head(key)

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        self.calls.append(f"list {prefix}")
        return self.inner.list(prefix, start_after=start_after)

    def folders(self, prefix: str) -> builtins.list[str]:
        self.calls.append(f"list {prefix}")
        return self.inner.folders(prefix)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.calls.append(f"delete {key}")
        self.inner.delete(key, if_match=if_match)
