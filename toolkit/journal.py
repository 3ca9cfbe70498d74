"""The change journal: how instances learn of each other's writes without listing every record.

Every record write is announced by a small immutable object `journal/<20-digit sequence>.json`
({instance, changes: [{kind, id, op, before}, ...]}; one entry carries the changes of all the
threads of an instance that announced while it was being written). Sequence numbers are
gap-free: a writer claims the next number with a create-only PUT (If-None-Match) and moves one up
on a refusal, so a number exists only once every number below it has existed. Names are never
timestamps: clock skew and late PUTs would make a time-ordered listing skip entries. A reader
LISTs with StartAfter its position and GETs what changed, so a refresh costs O(changes), not
O(records).

The entry is an intent, written before the record. A crash between the two leaves an entry for a
change that never happened, which readers treat as "check the record": they GET it and apply
whatever the store holds. The opposite order (record first) could leave a change that no entry
ever announces, hidden from other instances for ever. Because a reader may look before the
writer's PUT lands, an entry whose effect is not yet visible (the record still at `before`) stays
pending and is checked again on each refresh until it is, or until PENDING_SECONDS have passed
(the write failed: a refused conditional write, or a crash). A writer that stalled for longer than
REANNOUNCE_SECONDS between its entry and its write announces again, so a pending entry is never
given up while its write can still land.

Entries are collected after a checkpoint (toolkit.checkpoints) makes them redundant. A reader
whose position fell behind the oldest retained entry sees a gap in the numbers and reloads from
the checkpoint instead of missing changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from toolkit.store import Store, VersionMismatch

log = logging.getLogger(__name__)

PREFIX = "journal/"
SEQ_DIGITS = 20
PENDING_SECONDS = 300.0
REANNOUNCE_SECONDS = 30.0
# A writer that has not looked at the journal for this long lists it before claiming a number, so
# it never claims one below entries that were collected while it was paused.
HEAD_MAX_AGE_SECONDS = 60.0
# After this many refusals in a row a writer lists the journal to jump to the end instead of
# probing one number at a time.
_PROBES_BEFORE_LISTING = 3
_OWN_REMEMBERED = 10_000

Op = Literal["put", "delete"]


def entry_key(seq: int) -> str:
    return f"{PREFIX}{seq:0{SEQ_DIGITS}d}.json"


def seq_of(key: str) -> int | None:
    name = key[len(PREFIX) :] if key.startswith(PREFIX) else ""
    digits = name.removesuffix(".json")
    if len(digits) != SEQ_DIGITS or not digits.isdigit() or not name.endswith(".json"):
        return None
    return int(digits)


@dataclass(frozen=True)
class Change:
    """One announced write: the record it touches and the version it was made from."""

    seq: int
    kind: str
    id: str
    op: Op
    before: str | None  # the version the writer started from; None when the record did not exist
    instance: str

    @classmethod
    def from_data(cls, seq: int, data: dict[str, Any], instance: str) -> Change:
        op = data.get("op")
        return cls(
            seq=seq,
            kind=str(data["kind"]),
            id=str(data["id"]),
            op="delete" if op == "delete" else "put",
            before=data.get("before"),
            instance=instance,
        )

    def visible_in(self, version: str | None) -> bool:
        """Whether a record found at `version` (None: missing) shows this change has landed.

        A put has landed once the record exists at another version than it started from; a delete
        once the record is gone. Either may also have been overtaken by another writer, whose own
        entry then brings the state; both cases mean this entry has nothing more to tell.
        """
        if self.op == "delete":
            return version is None
        return version is not None and version != self.before


@dataclass
class Intent:
    """A write this instance announced and has not finished yet."""

    change: Change
    announced: float  # monotonic


@dataclass
class _Waiting:
    """A change queued for the next entry, and the number it was written under once it was."""

    kind: str
    id: str
    op: Op
    before: str | None
    seq: int | None = None
    failure: BaseException | None = None


class Journal:
    """One instance's view of the journal: claiming numbers for its writes, listing others'.

    Writes of one instance are group-committed: while one thread claims a number, the changes of
    other threads queue up and go into the next entry together, so a busy instance writes one
    entry per round trip instead of racing its own threads for numbers.
    """

    def __init__(self, store: Store, instance: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.instance = instance
        self.clock = clock
        self._lock = threading.Lock()
        self._claiming = threading.Lock()
        self._queue: list[_Waiting] = []
        self._next = 1
        self._listed_at = float("-inf")
        self._own: set[int] = set()
        self._own_order: deque[int] = deque()
        self._inflight: Counter[int] = Counter()

    # Writing

    def announce(self, kind: str, record_id: str, op: Op, before: str | None) -> Intent:
        """Write an entry announcing this change (with whatever other threads of this instance
        announce meanwhile); the write itself must follow at once."""
        waiting = _Waiting(kind, record_id, op, before)
        with self._lock:
            self._queue.append(waiting)
        with self._claiming:
            if waiting.seq is None and waiting.failure is None:
                with self._lock:
                    batch, self._queue = self._queue, []
                try:
                    seq = self._claim(batch)
                except BaseException as exc:
                    for other in batch:
                        other.failure = exc
                    raise
                for other in batch:
                    other.seq = seq
        if waiting.failure is not None:
            raise waiting.failure
        assert waiting.seq is not None
        with self._lock:
            self._inflight[waiting.seq] += 1
        return Intent(Change(waiting.seq, kind, record_id, op, before, self.instance), self.clock())

    def _claim(self, batch: list[_Waiting]) -> int:
        """Create the next free entry holding batch; its number."""
        if self.clock() - self._listed_at > HEAD_MAX_AGE_SECONDS:
            self.list_after(self._next - 1)
        body = _encode(
            {
                "instance": self.instance,
                "changes": [{"kind": w.kind, "id": w.id, "op": w.op, "before": w.before} for w in batch],
            }
        )
        with self._lock:
            seq = self._next
        refusals = 0
        while True:
            try:
                self.store.put(entry_key(seq), body, content_type="application/json", if_none_match=True)
                break
            except VersionMismatch:
                # Taken by another instance. Numbers stay gap-free because a writer moves past a
                # number only once it exists.
                refusals += 1
                seq += 1
                if refusals % _PROBES_BEFORE_LISTING == 0:
                    listed = self.list_after(seq - 1)
                    if listed:
                        seq = max(seq, listed[-1] + 1)
        with self._lock:
            self._next = max(self._next, seq + 1)
            self._own.add(seq)
            self._own_order.append(seq)
            while len(self._own_order) > _OWN_REMEMBERED:
                self._own.discard(self._own_order.popleft())
        return seq

    def before_write(self, intent: Intent) -> Intent:
        """The intent to write under: a new one when this one waited so long that readers may
        already have given it up (a paused process, a slow lock)."""
        if self.clock() - intent.announced <= REANNOUNCE_SECONDS:
            return intent
        self.done(intent, applied=False)
        change = intent.change
        return self.announce(change.kind, change.id, change.op, change.before)

    def done(self, intent: Intent, *, applied: bool = True) -> None:
        """The write announced by intent is over. applied: its outcome is known and in this
        instance's index; otherwise (a timeout) the entry is read back like another instance's."""
        seq = intent.change.seq
        with self._lock:
            self._inflight[seq] -= 1
            if self._inflight[seq] <= 0:
                del self._inflight[seq]
            if not applied:
                self._own.discard(seq)

    def lowest_inflight(self) -> int | None:
        with self._lock:
            return min(self._inflight) if self._inflight else None

    def is_own(self, seq: int) -> bool:
        with self._lock:
            return seq in self._own

    # Reading

    def list_after(self, position: int) -> list[int]:
        """Sequence numbers after position, in order: one LIST (a page per thousand entries)."""
        start = entry_key(position) if position > 0 else ""
        numbers = [
            n for info in self.store.list(PREFIX, start_after=start) if (n := seq_of(info.key)) is not None
        ]
        with self._lock:
            self._listed_at = self.clock()
            if numbers:
                self._next = max(self._next, numbers[-1] + 1)
        return numbers

    def head(self) -> int:
        """The highest number claimed so far (0 for an empty journal)."""
        numbers = self.list_after(0)
        return numbers[-1] if numbers else 0

    def read(self, seq: int) -> list[Change]:
        """The changes an entry announces; none when it cannot be understood (logged and skipped).
        ObjectMissing when it was collected meanwhile, which tells the reader it fell behind."""
        raw, _ = self.store.read(entry_key(seq))
        try:
            data = json.loads(raw)
            instance = str(data.get("instance", ""))
            return [Change.from_data(seq, item, instance) for item in data["changes"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("journal entry %d is not valid; ignored", seq)
            return []

    def collect(self, upto: int) -> int:
        """Delete the entries numbered upto and below (they are in a checkpoint); returns how many."""
        keys = [
            info.key for info in self.store.list(PREFIX) if (n := seq_of(info.key)) is not None and n <= upto
        ]
        self.store.delete_many(keys)
        return len(keys)


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
