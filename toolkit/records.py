"""JSON records on the store, versioned by ETag, with an in-memory index per instance.

One object per record (records/<kind>/<id>.json). Writes are conditional on the version they were
made from, so a stale write is refused, never merged. Every write is announced in the change
journal (toolkit.journal) before it is made, so other instances learn of it from one LIST after
their position instead of listing every record; a starting instance loads the latest checkpoint
(toolkit.checkpoints) and replays the journal after it.

Two kinds of kind:
- held kinds (users, posts, assets, settings, ...) live in every instance's memory and serve every
  read from it; this instance's writes show at once, other instances' after the next refresh.
- on-demand kinds, whose number grows with employees x posts (share links and their owner
  claims, policy acknowledgements, one-time links), are read from the store through a bounded
  cache that also remembers what does not exist, so a random /s/<token> costs one read at most.
  The journal keeps cached copies current; reading one that is not cached is store I/O.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from toolkit import checkpoints
from toolkit.errors import N_, Conflict, NotFound, PreconditionFailed
from toolkit.journal import PENDING_SECONDS, Change, Journal, Op
from toolkit.metrics import Metrics
from toolkit.record_cache import RecordCache
from toolkit.store import ObjectMissing, Store, VersionMismatch

log = logging.getLogger(__name__)

PREFIX = "records/"
ON_DEMAND_KINDS = frozenset(
    {"share-links", "share-link-owners", "policy-acks", "one-time-links", "idempotency"}
)
CACHE_ENTRIES = 50_000
CHECKPOINT_EVERY_ENTRIES = 2_000
CHECKPOINT_EVERY_SECONDS = 600.0
_FETCHERS = 16
_RELOADS = 3


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


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Entry:
    record: Record
    # Refresh generation in which this instance last wrote the entry; a fetch that started
    # earlier cannot know about that write and must not undo it.
    written_in: int = -1


ChangeListener = Callable[[str, Record | None, Record | None], None]
Key = tuple[str, str]


class Records:
    """The record index of one instance, backed by the store and kept current by the journal."""

    def __init__(
        self,
        store: Store,
        *,
        instance: str = "",
        on_demand: Iterable[str] = ON_DEMAND_KINDS,
        cache_entries: int = CACHE_ENTRIES,
        checkpoint_every_entries: int = CHECKPOINT_EVERY_ENTRIES,
        checkpoint_every_seconds: float = CHECKPOINT_EVERY_SECONDS,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.instance = instance or new_id()
        self.on_demand = frozenset(on_demand)
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.journal = Journal(store, self.instance, clock=clock)
        # False during a bulk fill of a store nobody serves yet (demo-company): new on-demand
        # records need no announcement when no instance can have them cached.
        self.announce_on_demand = True
        self.checkpoint_every_entries = checkpoint_every_entries
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self._index: dict[str, dict[str, _Entry]] = {}
        self._cache = RecordCache(cache_entries)
        self._lock = threading.RLock()
        self._refresh_lock = threading.RLock()
        self._generation = 0
        self._position = 0
        # Announced changes whose effect this instance has not seen yet: (seq, index in the entry).
        self._pending: dict[tuple[int, int], tuple[Change, float]] = {}
        self._checkpoint_seq = 0
        self._pointer_checked_at = clock()
        self._refreshed_at: float | None = None
        self._listeners: list[ChangeListener] = []
        self._pool = ThreadPoolExecutor(max_workers=_FETCHERS, thread_name_prefix="records")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def subscribe(self, listener: ChangeListener) -> None:
        """Call listener(kind, before, after) on every change of a held record, local or remote."""
        self._listeners.append(listener)

    @property
    def position(self) -> int:
        """The journal position this index reflects."""
        return self._position

    @property
    def checkpoint_position(self) -> int:
        return self._checkpoint_seq

    def counts(self) -> dict[str, int]:
        """Records held in memory, per kind."""
        with self._lock:
            return {kind: len(entries) for kind, entries in self._index.items()}

    # Reads: held kinds from memory, on-demand kinds through the cache.

    def get(self, kind: str, record_id: str) -> Record | None:
        """The record or None. For an on-demand kind this may read the store: use a worker thread."""
        if kind in self.on_demand:
            return self._get_on_demand(kind, record_id)
        with self._lock:
            entry = self._index.get(kind, {}).get(record_id)
            return entry.record if entry else None

    def require(self, kind: str, record_id: str) -> Record:
        record = self.get(kind, record_id)
        if record is None:
            raise NotFound()
        return record

    def _known(self, kind: str, record_id: str) -> bool:
        """Whether this instance holds (or has cached) the record: a read without store I/O."""
        if kind in self.on_demand:
            found, cached = self._cache.lookup((kind, record_id))
            return found and cached is not None
        return self.get(kind, record_id) is not None

    def get_many(self, kind: str, record_ids: list[str]) -> list[Record | None]:
        """get() for many ids, the store reads in parallel."""
        return list(self._pool.map(lambda record_id: self.get(kind, record_id), record_ids))

    def all(self, kind: str) -> list[Record]:
        """Every record of a kind; for an on-demand kind that is a store listing (scan)."""
        if kind in self.on_demand:
            return self.scan(kind)
        with self._lock:
            return [entry.record for entry in self._index.get(kind, {}).values()]

    def count(self, kind: str) -> int:
        if kind in self.on_demand:
            return sum(1 for _ in self.store.list(f"{PREFIX}{kind}/"))
        with self._lock:
            return len(self._index.get(kind, {}))

    def scan(self, kind: str, id_prefix: str = "") -> list[Record]:
        """The records of a kind whose id starts with id_prefix, from the store (one LIST, and a GET
        for each one the cache does not hold at the listed version), in id order."""
        listed = [
            (info.key[len(PREFIX) + len(kind) + 1 : -len(".json")], info.etag)
            for info in self.store.list(f"{PREFIX}{kind}/{id_prefix}")
            if info.key.endswith(".json")
        ]

        def one(item: tuple[str, str]) -> Record | None:
            record_id, etag = item
            found, cached = self._cache.lookup((kind, record_id))
            if found and cached is not None and cached.version == etag:
                return cached
            record = self._fetch(kind, record_id)
            self._cache.refresh((kind, record_id), record)
            return record

        return [record for record in self._pool.map(one, listed) if record is not None]

    def _get_on_demand(self, kind: str, record_id: str) -> Record | None:
        found, cached = self._cache.lookup((kind, record_id))
        if found:
            self.metrics.cache_lookups.labels(cache="records", result="hit" if cached else "negative").inc()
            return cached
        self.metrics.cache_lookups.labels(cache="records", result="miss").inc()
        record = self._fetch(kind, record_id)
        self._cache.keep((kind, record_id), record)
        return record

    # Writes: announced in the journal, conditional on the store, then applied here.

    def create(self, kind: str, record_id: str, data: dict[str, Any]) -> Record:
        """Store a new record; Conflict when that id exists already (here or on another instance)."""
        if self._known(kind, record_id) and self.reread(kind, record_id) is not None:
            # Certain to be refused: do not announce a write that cannot happen.
            raise Conflict(N_("That already exists."))

        def write() -> str:
            return self.store.put(
                record_key(kind, record_id),
                _encode(data),
                content_type="application/json",
                if_none_match=True,
            )

        try:
            etag = self._announced(kind, record_id, "put", None, write)
        except VersionMismatch:
            self._reload(kind, record_id)
            raise Conflict(N_("That already exists.")) from None
        return self._apply(Record(kind, record_id, etag, data))

    def update(
        self, kind: str, record_id: str, data: dict[str, Any], *, version: str, client_version: bool = False
    ) -> Record:
        """Replace the record if it is still at version.

        A stale version raises Conflict (409), or PreconditionFailed (412) when the version came
        from the client's If-Match header. Writing the data the record already holds changes nothing.
        """
        current = self.get(kind, record_id) if self._known(kind, record_id) else None
        if current is not None and current.version == version and current.data == data:
            # S3 would answer with the same ETag, and an entry whose "before" never changes would
            # keep every other instance checking it for minutes.
            return current
        if current is not None and current.version != version:
            fresh = self.reread(kind, record_id)
            if fresh is None or fresh.version != version:
                raise PreconditionFailed() if client_version else Conflict()

        def write() -> str:
            return self.store.put(
                record_key(kind, record_id), _encode(data), content_type="application/json", if_match=version
            )

        try:
            etag = self._announced(kind, record_id, "put", version, write)
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
        if version is None:
            known = self.get(kind, record_id)
            before = known.version if known else None
        else:
            before = version

        def write() -> str:
            self.store.delete(record_key(kind, record_id), if_match=version)
            return ""

        try:
            self._announced(kind, record_id, "delete", before, write)
        except VersionMismatch:
            self._reload(kind, record_id)
            raise Conflict() from None
        self._remove(kind, record_id)

    def _announced(
        self, kind: str, record_id: str, op: Op, before: str | None, write: Callable[[], str]
    ) -> str:
        """Run a store write under a journal entry announced just before it."""
        if kind in self.on_demand and not self.announce_on_demand:
            return write()
        intent = self.journal.before_write(self.journal.announce(kind, record_id, op, before))
        landed = False
        try:
            result = write()
            landed = True
            return result
        except VersionMismatch:
            landed = True  # refused: certainly nothing changed, and _reload learns the truth
            raise
        finally:
            # A write whose outcome is unknown (a timeout) is left to the next refresh, as if
            # another instance had made it.
            self.journal.done(intent, applied=landed)

    # Keeping the index in step with the store.

    def load(self) -> int:
        """Start: the latest checkpoint (or, on a store without one, a listing of the held kinds)
        and the journal after it. Returns how many records are held."""
        with self._refresh_lock:
            fresh_store = self._reload_from_checkpoint()
            self._replay()
        if fresh_store:
            # The first start on a store without a checkpoint writes one, so no later start lists.
            self.checkpoint_now()
        self._refreshed_at = self.clock()
        self._report()
        with self._lock:
            return sum(len(entries) for entries in self._index.values())

    def refresh(self) -> int:
        """Apply what other instances changed since the last refresh; returns how many records changed."""
        started = time.perf_counter()
        with self._refresh_lock:
            changed = self._replay()
        self._refreshed_at = self.clock()
        self.metrics.refresh_seconds.observe(time.perf_counter() - started)
        self.metrics.refresh_changes.inc(changed)
        self._report()
        return changed

    def refreshed_seconds_ago(self) -> float | None:
        return None if self._refreshed_at is None else self.clock() - self._refreshed_at

    def _report(self) -> None:
        self.metrics.journal_position.set(self._position)
        self.metrics.checkpoint_position.set(self._checkpoint_seq)
        for kind, count in self.counts().items():
            self.metrics.records_held.labels(kind=kind).set(count)

    def _replay(self) -> int:
        """One LIST of the journal after the position, then the entries and records that changed."""
        for _ in range(_RELOADS):
            with self._lock:
                self._generation += 1
                started = self._generation
            numbers = self.journal.list_after(self._position)
            if numbers and numbers[0] > self._position + 1:
                log.warning(
                    "journal entries after %d were collected; reloading the checkpoint", self._position
                )
                self._reload_from_checkpoint()
                continue
            foreign = [n for n in numbers if not self.journal.is_own(n)]
            try:
                entries = list(self._pool.map(self.journal.read, foreign))
            except ObjectMissing:
                # Listed a moment ago and gone now: collected under us, so we are behind.
                self._reload_from_checkpoint()
                continue
            moment = self.clock()
            for changes in entries:
                for index, change in enumerate(changes):
                    self._pending[(change.seq, index)] = (change, moment)
            if numbers:
                self._position = numbers[-1]
            return self._settle(started, moment)
        raise RuntimeError("the journal was collected faster than this instance could reload")

    def _settle(self, started: int, moment: float) -> int:
        """Fetch each record a pending entry names, apply it, and drop the entries that landed."""
        targets = sorted({(change.kind, change.id) for change, _ in self._pending.values()})
        states = dict(zip(targets, self._pool.map(lambda key: self._fetch(*key), targets), strict=True))
        changed = sum(self._apply_remote(kind, rid, states[(kind, rid)], started) for kind, rid in targets)
        for key, (change, seen) in list(self._pending.items()):
            state = states[(change.kind, change.id)]
            if change.visible_in(state.version if state else None) or moment - seen > PENDING_SECONDS:
                del self._pending[key]
        return changed

    def _apply_remote(self, kind: str, record_id: str, record: Record | None, started: int) -> bool:
        """Bring the index (or the cache) to what the store held; whether anything changed."""
        if kind in self.on_demand:
            return self._cache.refresh((kind, record_id), record)
        with self._lock:
            entry = self._entry(kind, record_id)
            if entry is not None and entry.written_in >= started:
                return False  # written here while the fetch ran: ours is newer
            if record is None:
                if entry is None:
                    return False
                self._remove(kind, record_id)
                return True
            if entry is not None and entry.record.version == record.version:
                return False
            self._apply(record, local=False)
            return True

    def _reload_from_checkpoint(self) -> bool:
        """Replace the held index with the latest checkpoint; whether the store had none yet."""
        pointer = checkpoints.Pointer.read(self.store)
        if pointer is None:
            loaded = self._list_held_kinds()
            position = 0  # replay every entry: the listing may have missed writes in flight
        else:
            loaded = {
                (s.kind, s.id): Record(s.kind, s.id, s.version, s.data)
                for s in checkpoints.load(self.store, pointer, self._pool)
                if s.kind not in self.on_demand
            }
            position = pointer.seq
            self._checkpoint_seq = pointer.seq
        with self._lock:
            held = {(kind, rid) for kind, entries in self._index.items() for rid in entries}
            for kind, rid in held - loaded.keys():
                self._remove(kind, rid)
            for key, record in loaded.items():
                entry = self._entry(*key)
                if entry is None or entry.record.version != record.version:
                    self._apply(record, local=False)
            self._position = position
            self._pending.clear()
        self._cache.clear()
        self._pointer_checked_at = self.clock()
        return pointer is None

    def _list_held_kinds(self) -> dict[Key, Record]:
        """Every held record, by listing each held kind's folder (never the on-demand ones)."""
        kinds = [kind for kind in self.store.folders(PREFIX) if kind not in self.on_demand]
        keys = [
            (kind, info.key[len(PREFIX) + len(kind) + 1 : -len(".json")])
            for kind in kinds
            for info in self.store.list(f"{PREFIX}{kind}/")
            if info.key.endswith(".json") and "/" not in info.key[len(PREFIX) + len(kind) + 1 :]
        ]
        fetched = self._pool.map(lambda key: self._fetch(*key), keys)
        return {(r.kind, r.id): r for r in fetched if r is not None}

    # Checkpoints

    def checkpoint_due(self) -> bool:
        """Whether enough changed (entries or time) since the last checkpoint this instance knows of."""
        if self._position <= self._checkpoint_seq:
            return False
        return (
            self._position - self._checkpoint_seq >= self.checkpoint_every_entries
            or self.clock() - self._pointer_checked_at >= self.checkpoint_every_seconds
        )

    def maybe_checkpoint(self) -> int | None:
        """Write a checkpoint when one is due and no other instance is writing it."""
        return self.checkpoint_now(when_due=True) if self.checkpoint_due() else None

    def checkpoint_now(self, *, when_due: bool = False) -> int | None:
        """Write a checkpoint of the held records at a safe position, if this instance wins the
        claim; collect what the previous one made redundant. Returns the position, or None."""
        with self._refresh_lock:
            pointer = checkpoints.Pointer.read(self.store)
            self._pointer_checked_at = self.clock()
            after = pointer.seq if pointer else 0
            self._checkpoint_seq = max(self._checkpoint_seq, after)
            if (
                when_due
                and pointer is not None
                and time.time() - pointer.written_at < self.checkpoint_every_seconds
            ):
                if self._position - pointer.seq < self.checkpoint_every_entries:
                    return None  # another instance wrote one recently
            self._replay()  # this instance's own latest writes count only once it has listed past them
            safe = self._safe_position()
            if pointer is not None and safe <= pointer.seq:
                return None
            if not checkpoints.claim(self.store, pointer.seq if pointer else None, self.instance):
                return None
            with self._lock:
                snapshot = [
                    checkpoints.Snapshot(kind, rid, e.record.version, e.record.data)
                    for kind, entries in self._index.items()
                    for rid, e in entries.items()
                ]
            written = checkpoints.write(self.store, safe, snapshot, pointer, self._pool)
            if written is None:
                return None
            self._checkpoint_seq = safe
            log.info("checkpoint at %d: %d records", safe, written.records)
            if pointer is not None:
                collected = self.journal.collect(pointer.seq)
                collected += checkpoints.collect(self.store, keep=(pointer.seq, safe))
                log.info("collected %d journal entries and old checkpoint objects", collected)
            self._report()
            return safe

    def _safe_position(self) -> int:
        """The highest position every change at or below which is in this index."""
        waiting = [seq for seq, _ in self._pending] + [
            seq for seq in [self.journal.lowest_inflight()] if seq is not None
        ]
        return min([self._position, *[seq - 1 for seq in waiting]])

    # The index itself

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

    def reread(self, kind: str, record_id: str) -> Record | None:
        """The record as the store holds it now, applied here; one GET, for the rare moments an
        instance cannot wait for its next refresh (another instance won a race)."""
        self._reload(kind, record_id)
        return self.get(kind, record_id)

    def _reload(self, kind: str, record_id: str) -> None:
        """After a refused write, learn the current version so the next read is fresh."""
        record = self._fetch(kind, record_id)
        if kind in self.on_demand:
            self._cache.keep((kind, record_id), record)
        elif record is None:
            self._remove(kind, record_id)
        else:
            self._apply(record, local=False)

    def _apply(self, record: Record, *, local: bool = True) -> Record:
        if record.kind in self.on_demand:
            self._cache.keep((record.kind, record.id), record)
            return record
        with self._lock:
            before = self._entry(record.kind, record.id)
            self._index.setdefault(record.kind, {})[record.id] = _Entry(
                record, self._generation if local else -1
            )
        self._notify(record.kind, before.record if before else None, record)
        return record

    def _remove(self, kind: str, record_id: str) -> None:
        if kind in self.on_demand:
            self._cache.keep((kind, record_id), None)
            return
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
