"""Who changed what, when: one immutable object per entry under audit/<day>/.

Entries are written once and never rewritten, so instances never contend; their keys sort by
time, so the newest are found by listing one day at a time. Nothing lists the whole audit/ prefix:
entries() lists day prefixes only, days() the day folders.

An entry is written after the change it describes is stored, so a store that fails just then must
not turn that change into an error answer (a client retrying it would make it twice): the entry
waits in a bounded in-memory queue, with its key and timestamp fixed, and flush_pending() (called
by the app's background loop) writes it once the store is back, with If-None-Match so a write that
did land before failing is never doubled.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from toolkit.store import ObjectMissing, Store, StoreUnavailable, VersionMismatch

log = logging.getLogger(__name__)

PREFIX = "audit/"
_CACHE_ENTRIES = 20_000
# Entries kept for a later write while the store is unavailable; past this the oldest are dropped
# (and logged), so an outage cannot grow an instance's memory without bound.
PENDING_ENTRIES = 10_000


def _is_day(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10


class Actor(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True)
class Entry:
    at: str
    actor_id: str
    actor_email: str
    action: str
    kind: str
    object_id: str
    before: str | None
    after: str | None
    details: dict[str, Any]


class AuditLog:
    def __init__(self, store: Store, instance: str) -> None:
        self.store = store
        self.instance = instance
        self._seq = itertools.count()
        self._cache: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: deque[tuple[str, bytes]] = deque()
        self._pending_lock = threading.Lock()

    def record(
        self,
        actor: Actor | None,
        action: str,
        kind: str,
        object_id: str,
        before: str | None,
        after: str | None,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        moment = datetime.now(UTC)
        entry = Entry(
            at=moment.isoformat(timespec="milliseconds"),
            actor_id=actor.id if actor else "",
            actor_email=actor.email if actor else "system",
            action=action,
            kind=kind,
            object_id=object_id,
            before=before,
            after=after,
            details=details or {},
        )
        key = f"{PREFIX}{moment:%Y-%m-%d}/{moment:%H%M%S%f}-{self.instance}-{next(self._seq):08d}.json"
        body = json.dumps(entry.__dict__, ensure_ascii=False).encode()
        try:
            self._write(key, body)
        except StoreUnavailable as exc:
            # The change this entry describes is stored already: report it as done, write this later.
            log.warning("audit entry %s kept for a later write: store unavailable (%s)", key, exc.reason)
            self._keep(key, body)
        return entry

    def _write(self, key: str, body: bytes) -> None:
        try:
            self.store.put(key, body, content_type="application/json", if_none_match=True)
        except VersionMismatch:
            pass  # written already: an earlier attempt landed before its answer was lost

    def _keep(self, key: str, body: bytes) -> None:
        with self._pending_lock:
            self._pending.append((key, body))
            while len(self._pending) > PENDING_ENTRIES:
                dropped, _ = self._pending.popleft()
                log.error("audit entry %s dropped: too many entries wait for the store", dropped)

    def pending(self) -> int:
        """How many entries wait for the store."""
        with self._pending_lock:
            return len(self._pending)

    def flush_pending(self) -> int:
        """Write the entries that waited for the store, oldest first; stops at the first failure
        (the store is still unavailable) and keeps the rest. Store I/O: call from a worker thread.
        Returns how many were written."""
        written = 0
        while True:
            with self._pending_lock:
                if not self._pending:
                    return written
                key, body = self._pending[0]
            try:
                self._write(key, body)
            except StoreUnavailable:
                return written
            with self._pending_lock:
                if self._pending and self._pending[0][0] == key:
                    self._pending.popleft()
            written += 1

    def days(self) -> list[str]:
        """Days that have entries, newest first.

        One delimiter listing of the day folders (a name per day, however many entries each
        holds), never a listing of every entry ever written.
        """
        return sorted((name for name in self.store.folders(PREFIX) if _is_day(name)), reverse=True)

    def entries(
        self,
        *,
        day: str | None = None,
        actor: str = "",
        object_id: str = "",
        limit: int = 100,
        lookback_days: int = 31,
        before: str | None = None,
    ) -> list[Entry]:
        """Newest first, filtered by person (id or e-mail) and object id, from one day or recent days.

        before: only entries older than this moment (an Entry.at), to page back through the log.
        """
        if day is not None:
            days = [day]
        else:
            start = datetime.fromisoformat(before).date() if before else datetime.now(UTC).date()
            days = [(start - timedelta(days=n)).isoformat() for n in range(lookback_days)]
            # One listing of the day folders spares a request per empty day of the lookback.
            present = set(self.days())
            days = [one_day for one_day in days if one_day in present]
        found: list[Entry] = []
        for one_day in days:
            date.fromisoformat(one_day)
            keys = sorted((info.key for info in self.store.list(f"{PREFIX}{one_day}/")), reverse=True)
            for key in keys:
                entry = self._load(key)
                if entry is None or (before and entry.at >= before):
                    continue
                if actor and actor not in (entry.actor_id, entry.actor_email):
                    continue
                if object_id and entry.object_id != object_id:
                    continue
                found.append(entry)
                if len(found) >= limit:
                    return found
        return found

    def _load(self, key: str) -> Entry | None:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            raw, _ = self.store.read(key)
        except ObjectMissing:
            return None
        entry = Entry(**json.loads(raw))
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return entry
