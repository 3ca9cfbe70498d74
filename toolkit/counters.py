"""Usage and click counts without a shared hot object.

Each instance adds counts in memory and periodically writes its own totals per day to
counters/<day>/<instance>.json; nobody else ever writes that object, so there is no contention
and no lost update. Readers sum every instance's object for the days they want, plus what this
instance has not flushed yet. A hard kill loses at most one flush interval.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from toolkit.store import ObjectMissing, Store

log = logging.getLogger(__name__)

PREFIX = "counters/"
METRICS = ("copy", "download", "kit", "share_link", "click")
USE_METRICS = ("copy", "download", "kit")


class CounterKey(NamedTuple):
    day: str
    metric: str
    post_id: str
    user_id: str
    variant: str = ""

    def encode(self) -> str:
        return "|".join(self[1:])


def _decode(day: str, key: str) -> CounterKey:
    metric, post_id, user_id, variant = (key.split("|") + ["", "", "", ""])[:4]
    return CounterKey(day, metric, post_id, user_id, variant)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def days_between(first: date, last: date) -> Iterator[str]:
    day = first
    while day <= last:
        yield day.isoformat()
        if day == last:
            break  # date.max has no next day
        day += timedelta(days=1)


class Counters:
    def __init__(self, store: Store, instance: str) -> None:
        self.store = store
        self.instance = instance
        self._lock = threading.Lock()
        # This instance's running totals per day, as last written plus what came since.
        self._mine: dict[str, Counter[str]] = {}
        self._dirty: set[str] = set()
        self._loaded_days: set[str] = set()
        # Other instances' objects, cached by ETag so a re-read only fetches what changed.
        self._seen: dict[str, tuple[str, dict[str, int]]] = {}
        self._flush_lock = threading.Lock()

    def _key(self, day: str, instance: str | None = None) -> str:
        return f"{PREFIX}{day}/{instance or self.instance}.json"

    def add(self, metric: str, post_id: str, user_id: str, variant: str = "", *, amount: int = 1) -> None:
        """Count one event now; cheap, no I/O."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        day = today()
        with self._lock:
            self._mine.setdefault(day, Counter())[
                CounterKey(day, metric, post_id, user_id, variant).encode()
            ] += amount
            self._dirty.add(day)

    def flush(self) -> int:
        """Write this instance's totals for every day that changed; returns objects written."""
        with self._flush_lock:
            with self._lock:
                dirty = sorted(self._dirty)
            written = 0
            for day in dirty:
                self._load_own(day)
                with self._lock:
                    snapshot = dict(self._mine.get(day, Counter()))
                    self._dirty.discard(day)
                try:
                    body = json.dumps({"instance": self.instance, "day": day, "counts": snapshot}).encode()
                    self.store.put(self._key(day), body, content_type="application/json")
                    written += 1
                except Exception:
                    with self._lock:
                        self._dirty.add(day)
                    raise
            return written

    def _load_own(self, day: str) -> None:
        """An instance restarted under the same name continues its totals instead of overwriting them."""
        if day in self._loaded_days:
            return
        try:
            raw, _ = self.store.read(self._key(day))
            stored = Counter({k: int(v) for k, v in json.loads(raw).get("counts", {}).items()})
        except ObjectMissing:
            stored = Counter()
        with self._lock:
            if day not in self._loaded_days:
                self._mine[day] = stored + self._mine.get(day, Counter())
                self._loaded_days.add(day)

    def totals(self, first: date, last: date) -> dict[CounterKey, int]:
        """Every count from first to last (inclusive), summed over all instances."""
        wanted = set(days_between(first, last))
        summed: Counter[CounterKey] = Counter()
        listed = [info for info in self.store.list(PREFIX) if info.key[len(PREFIX) :].split("/")[0] in wanted]
        own_keys = {self._key(day): day for day in wanted}
        for info in listed:
            day = info.key[len(PREFIX) :].split("/")[0]
            if info.key in own_keys:
                # Our own totals come from memory, which is never behind the store once loaded.
                self._load_own(day)
                continue
            for key, value in self._read(info.key, info.etag).items():
                summed[_decode(day, key)] += value
        for day in wanted:
            with self._lock:
                for key, value in self._mine.get(day, Counter()).items():
                    summed[_decode(day, key)] += value
        return dict(summed)

    def _read(self, key: str, etag: str) -> dict[str, int]:
        cached = self._seen.get(key)
        if cached and cached[0] == etag:
            return cached[1]
        try:
            raw, current = self.store.read(key)
        except ObjectMissing:
            return {}
        counts = {k: int(v) for k, v in json.loads(raw).get("counts", {}).items()}
        self._seen[key] = (current, counts)
        return counts
