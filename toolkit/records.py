"""JSON records on the store, versioned by ETag, with an in-memory index per instance.

One object per record (records/<kind>/<id>.json). Writes are conditional on the version they
were made from, so a stale write is refused, never merged. The index serves every read; it sees
this instance's writes at once and other instances' writes after the next refresh.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from toolkit.errors import N_, Conflict, NotFound, PreconditionFailed
from toolkit.store import ObjectMissing, Store, VersionMismatch

log = logging.getLogger(__name__)

PREFIX = "records/"
_FETCHERS = 16


def new_id() -> str:
    """A short random id: 96 bits, URL-safe, says nothing about what it names."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Record:
    kind: str
    id: str
    version: str
    data: dict[str, Any]


def record_key(kind: str, record_id: str) -> str:
    return f"{PREFIX}{kind}/{record_id}.json"


def _parse_key(key: str) -> tuple[str, str] | None:
    if not key.startswith(PREFIX) or not key.endswith(".json"):
        return None
    kind, _, name = key[len(PREFIX) : -len(".json")].partition("/")
    if not kind or not name or "/" in name:
        return None
    return kind, name


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Entry:
    record: Record
    # Refresh generation in which this instance last wrote the entry; a listing that started
    # earlier cannot know about that write and must not undo it.
    written_in: int = -1


ChangeListener = Callable[[str, Record | None, Record | None], None]


class Records:
    """The record index of one instance, backed by the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: dict[str, dict[str, _Entry]] = {}
        self._lock = threading.RLock()
        self._generation = 0
        self._listeners: list[ChangeListener] = []
        self._pool = ThreadPoolExecutor(max_workers=_FETCHERS, thread_name_prefix="records")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def subscribe(self, listener: ChangeListener) -> None:
        """Call listener(kind, before, after) on every change the index sees, local or remote."""
        self._listeners.append(listener)

    # Reads: always from memory.

    def get(self, kind: str, record_id: str) -> Record | None:
        with self._lock:
            entry = self._index.get(kind, {}).get(record_id)
            return entry.record if entry else None

    def require(self, kind: str, record_id: str) -> Record:
        record = self.get(kind, record_id)
        if record is None:
            raise NotFound()
        return record

    def all(self, kind: str) -> list[Record]:
        with self._lock:
            return [entry.record for entry in self._index.get(kind, {}).values()]

    def count(self, kind: str) -> int:
        with self._lock:
            return len(self._index.get(kind, {}))

    # Writes: conditional on the store, then applied to the index.

    def create(self, kind: str, record_id: str, data: dict[str, Any]) -> Record:
        """Store a new record; Conflict when that id exists already (here or on another instance)."""
        try:
            etag = self.store.put(
                record_key(kind, record_id),
                _encode(data),
                content_type="application/json",
                if_none_match=True,
            )
        except VersionMismatch:
            self._reload(kind, record_id)
            raise Conflict(N_("That already exists.")) from None
        return self._apply(Record(kind, record_id, etag, data))

    def update(
        self, kind: str, record_id: str, data: dict[str, Any], *, version: str, client_version: bool = False
    ) -> Record:
        """Replace the record if it is still at version.

        A stale version raises Conflict (409), or PreconditionFailed (412) when the version came
        from the client's If-Match header.
        """
        try:
            etag = self.store.put(
                record_key(kind, record_id), _encode(data), content_type="application/json", if_match=version
            )
        except VersionMismatch:
            self._reload(kind, record_id)
            raise (PreconditionFailed() if client_version else Conflict()) from None
        return self._apply(Record(kind, record_id, etag, data))

    def modify(
        self,
        kind: str,
        record_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        attempts: int = 5,
    ) -> Record:
        """Read-modify-write with retries, for changes that commute (e.g. adding a tag)."""
        for _ in range(attempts):
            current = self.require(kind, record_id)
            try:
                return self.update(kind, record_id, change(dict(current.data)), version=current.version)
            except Conflict:
                continue
        raise Conflict()

    def at_version(
        self, kind: str, record_id: str, version: str | None, *, client_version: bool = True
    ) -> Record:
        """The record a change made from `version` applies to (the current one when version is None).

        A version this instance does not know may be another instance's write that the next refresh
        would bring, so the store decides and a current version is never refused. A stale one raises
        PreconditionFailed when it came from the client's If-Match, Conflict otherwise.
        Store I/O when the versions differ: call from a worker thread.
        """
        current = self.get(kind, record_id)
        if current is not None and (version is None or version == current.version):
            return current
        self._reload(kind, record_id)
        current = self.require(kind, record_id)
        if version is not None and version != current.version:
            raise PreconditionFailed() if client_version else Conflict()
        return current

    def delete(self, kind: str, record_id: str, *, version: str | None = None) -> None:
        try:
            self.store.delete(record_key(kind, record_id), if_match=version)
        except VersionMismatch:
            self._reload(kind, record_id)
            raise Conflict() from None
        self._remove(kind, record_id)

    # Keeping the index in step with the store.

    def load(self) -> int:
        """Read every record; the first refresh of a starting instance."""
        return self.refresh()

    def refresh(self) -> int:
        """Fetch what changed since the last refresh; returns how many records changed."""
        with self._lock:
            self._generation += 1
            started = self._generation
        listed: dict[tuple[str, str], str] = {}
        for info in self.store.list(PREFIX):
            parsed = _parse_key(info.key)
            if parsed:
                listed[parsed] = info.etag
        with self._lock:
            stale = [
                key
                for key, etag in listed.items()
                if (e := self._entry(*key)) is None or e.record.version != etag
            ]
            gone = [
                (kind, rid)
                for kind, entries in self._index.items()
                for rid, entry in entries.items()
                if (kind, rid) not in listed and entry.written_in < started
            ]
        fetched = list(self._pool.map(lambda key: self._fetch(*key), stale))
        changed = 0
        with self._lock:
            for record in fetched:
                if record is None:
                    continue
                entry = self._entry(record.kind, record.id)
                if entry is not None and entry.written_in >= started:
                    continue
                if entry is None or entry.record.version != record.version:
                    self._apply(record, local=False)
                    changed += 1
            for kind, rid in gone:
                entry = self._entry(kind, rid)
                if entry is not None and entry.written_in < started:
                    self._remove(kind, rid)
                    changed += 1
        return changed

    def _entry(self, kind: str, record_id: str) -> _Entry | None:
        return self._index.get(kind, {}).get(record_id)

    def _fetch(self, kind: str, record_id: str) -> Record | None:
        try:
            raw, etag = self.store.read(record_key(kind, record_id))
        except ObjectMissing:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            log.error("record %s/%s is not valid JSON; ignored", kind, record_id)
            return None
        return Record(kind, record_id, etag, data)

    def _reload(self, kind: str, record_id: str) -> None:
        """After a refused write, learn the current version so the next read is fresh."""
        record = self._fetch(kind, record_id)
        if record is None:
            self._remove(kind, record_id)
        else:
            self._apply(record, local=False)

    def _apply(self, record: Record, *, local: bool = True) -> Record:
        with self._lock:
            before = self._entry(record.kind, record.id)
            self._index.setdefault(record.kind, {})[record.id] = _Entry(
                record, self._generation if local else -1
            )
        self._notify(record.kind, before.record if before else None, record)
        return record

    def _remove(self, kind: str, record_id: str) -> None:
        with self._lock:
            entry = self._index.get(kind, {}).pop(record_id, None)
        if entry is not None:
            self._notify(kind, entry.record, None)

    def _notify(self, kind: str, before: Record | None, after: Record | None) -> None:
        for listener in self._listeners:
            try:
                listener(kind, before, after)
            except Exception:
                log.exception("record listener failed for %s", kind)
