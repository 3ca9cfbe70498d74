"""Who changed what, when: one immutable object per entry under audit/<day>/.

Entries are written once and never rewritten, so instances never contend; their keys sort by
time, so the newest are found by listing one day at a time.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from toolkit.store import ObjectMissing, Store

PREFIX = "audit/"
_CACHE_ENTRIES = 20_000


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
        self.store.put(
            key, json.dumps(entry.__dict__, ensure_ascii=False).encode(), content_type="application/json"
        )
        return entry

    def days(self) -> list[str]:
        """Days that have entries, newest first."""
        found = {info.key[len(PREFIX) :].split("/", 1)[0] for info in self.store.list(PREFIX)}
        return sorted(found, reverse=True)

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
