"""The change journal: how instances learn of each other's writes without listing every record.

Every record write is announced by a small immutable object `journal/<20-digit sequence>.json`
({kind, id, op, before, instance}). Sequence numbers are gap-free: a writer claims the next number
with a create-only PUT (If-None-Match) and moves one up on a refusal, so a number exists only
once every number below it has existed. Names are never timestamps: clock skew and late PUTs
would make a time-ordered listing skip entries. A reader LISTs with StartAfter its position and
GETs what changed, so a refresh costs O(changes), not O(records).

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
from collections import deque
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

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "op": self.op,
            "before": self.before,
            "instance": self.instance,
        }

    @classmethod
    def from_data(cls, seq: int, data: dict[str, Any]) -> Change:
        op = data.get("op")
        return cls(
            seq=seq,
            kind=str(data["kind"]),
            id=str(data["id"]),
            op="delete" if op == "delete" else "put",
            before=data.get("before"),
            instance=str(data.get("instance", "")),
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


class Journal:
    """One instance's view of the journal: claiming numbers for its writes, listing others'."""

    def __init__(self, store: Store, instance: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.instance = instance
        self.clock = clock
        self._lock = threading.Lock()
        self._next = 1
        self._listed_at = float("-inf")
        self._own: set[int] = set()
        self._own_order: deque[int] = deque()
        self._inflight: dict[int, Intent] = {}

    # Writing

    def announce(self, kind: str, record_id: str, op: Op, before: str | None) -> Intent:
        """Claim the next number for a write about to be made; the write must follow at once."""
        if self.clock() - self._listed_at > HEAD_MAX_AGE_SECONDS:
            self.list_after(self._next - 1)
        with self._lock:
            seq = self._next
        refusals = 0
        while True:
            change = Change(seq, kind, record_id, op, before, self.instance)
            try:
                self.store.put(
                    entry_key(seq),
                    _encode(change.to_data()),
                    content_type="application/json",
                    if_none_match=True,
                )
            except VersionMismatch:
                refusals += 1
                seq += 1
                if refusals % _PROBES_BEFORE_LISTING == 0:
                    listed = self.list_after(seq - 1)
                    if listed:
                        seq = max(seq, listed[-1] + 1)
                continue
            break
        intent = Intent(change, self.clock())
        with self._lock:
            self._next = max(self._next, seq + 1)
            self._own.add(seq)
            self._own_order.append(seq)
            while len(self._own_order) > _OWN_REMEMBERED:
                self._own.discard(self._own_order.popleft())
            self._inflight[seq] = intent
        return intent

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
        with self._lock:
            self._inflight.pop(intent.change.seq, None)
            if not applied:
                self._own.discard(intent.change.seq)

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

    def read(self, seq: int) -> Change | None:
        """The entry; None when it cannot be understood (logged and skipped). ObjectMissing when
        it was collected meanwhile, which tells the reader it fell behind."""
        raw, _ = self.store.read(entry_key(seq))
        try:
            return Change.from_data(seq, json.loads(raw))
        except (ValueError, KeyError, TypeError):
            log.error("journal entry %d is not valid; ignored", seq)
            return None

    def collect(self, upto: int) -> int:
        """Delete the entries numbered upto and below (they are in a checkpoint); returns how many."""
        keys = [
            info.key for info in self.store.list(PREFIX) if (n := seq_of(info.key)) is not None and n <= upto
        ]
        self.store.delete_many(keys)
        return len(keys)


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
