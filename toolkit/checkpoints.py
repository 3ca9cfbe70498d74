"""Checkpoints: a compacted snapshot of the records every instance holds, at a journal position.

A starting instance loads the latest checkpoint and replays the journal after its position, so a
cold start costs O(checkpoint + tail) instead of one GET per record. Layout:

    checkpoints/<20-digit seq>/part-<nnnn>.jsonl.gz   records as JSON lines, gzip, sharded
    checkpoints/latest.json                             {"seq", "parts", "records", "written_at"}
    checkpoints/claims/<20-digit seq>.json              who writes the checkpoint after that one

One instance at a time writes: the successor of checkpoint N is claimed by creating
claims/N with If-None-Match (a claim older than CLAIM_SECONDS is taken over, so a crashed writer
does not stop checkpoints for ever). The pointer is replaced conditionally on the version read
before writing, so it never moves backwards. The writer then collects the journal entries and
checkpoints that the previous checkpoint made redundant: a reader that fell behind the retained
journal reloads from the newest checkpoint.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from toolkit.journal import SEQ_DIGITS
from toolkit.store import ObjectMissing, Store, VersionMismatch

log = logging.getLogger(__name__)

PREFIX = "checkpoints/"
POINTER = f"{PREFIX}latest.json"
CLAIMS = f"{PREFIX}claims/"
RECORDS_PER_PART = 50_000
CLAIM_SECONDS = 600.0


@dataclass(frozen=True)
class Snapshot:
    """One record as a checkpoint keeps it."""

    kind: str
    id: str
    version: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Pointer:
    seq: int
    parts: tuple[str, ...]
    records: int
    written_at: float
    version: str  # the pointer object's own version, for the conditional replace

    @classmethod
    def read(cls, store: Store) -> Pointer | None:
        try:
            raw, etag = store.read(POINTER)
        except ObjectMissing:
            return None
        data = json.loads(raw)
        return cls(
            seq=int(data["seq"]),
            parts=tuple(str(p) for p in data["parts"]),
            records=int(data.get("records", 0)),
            written_at=float(data.get("written_at", 0)),
            version=etag,
        )


def folder(seq: int) -> str:
    return f"{PREFIX}{seq:0{SEQ_DIGITS}d}/"


def claim_key(after: int | None) -> str:
    """The claim on the checkpoint following the one at `after` (None: the store's first)."""
    return f"{CLAIMS}{'first' if after is None else format(after, f'0{SEQ_DIGITS}d')}.json"


def load(store: Store, pointer: Pointer, pool: ThreadPoolExecutor) -> Iterator[Snapshot]:
    """Every record of the checkpoint; parts are fetched in parallel."""
    for lines in pool.map(lambda key: _read_part(store, key), pointer.parts):
        yield from lines


def _read_part(store: Store, key: str) -> list[Snapshot]:
    raw, _ = store.read(key)
    found = []
    for line in gzip.decompress(raw).splitlines():
        if line:
            item = json.loads(line)
            found.append(Snapshot(item["k"], item["i"], item["v"], item["d"]))
    return found


def claim(store: Store, after: int | None, instance: str, *, wall: float | None = None) -> bool:
    """Whether this instance may write the checkpoint that follows checkpoint `after`."""
    moment = time.time() if wall is None else wall
    body = json.dumps({"instance": instance, "at": moment}).encode()
    for _ in range(2):
        try:
            store.put(claim_key(after), body, content_type="application/json", if_none_match=True)
            return True
        except VersionMismatch:
            pass
        try:
            raw, etag = store.read(claim_key(after))
        except ObjectMissing:
            continue
        if moment - float(json.loads(raw).get("at", 0)) < CLAIM_SECONDS:
            return False
        log.warning("taking over the stale checkpoint claim after %d", after)
        try:
            store.delete(claim_key(after), if_match=etag)
        except VersionMismatch:
            return False
    return False


def write(
    store: Store,
    seq: int,
    records: Iterable[Snapshot],
    previous: Pointer | None,
    pool: ThreadPoolExecutor,
    *,
    per_part: int = RECORDS_PER_PART,
) -> Pointer | None:
    """Write a checkpoint at seq and point to it; None when another writer's pointer won."""
    base = folder(seq)
    parts: list[tuple[str, bytes]] = []
    batch: list[bytes] = []
    count = 0
    for record in records:
        batch.append(_line(record))
        count += 1
        if len(batch) >= per_part:
            parts.append((f"{base}part-{len(parts):04d}.jsonl.gz", _pack(batch)))
            batch = []
    if batch or not parts:
        parts.append((f"{base}part-{len(parts):04d}.jsonl.gz", _pack(batch)))
    list(pool.map(lambda item: store.put(item[0], item[1], content_type="application/gzip"), parts))
    written_at = time.time()
    body = json.dumps(
        {"seq": seq, "parts": [key for key, _ in parts], "records": count, "written_at": written_at}
    ).encode()
    try:
        if previous is None:
            etag = store.put(POINTER, body, content_type="application/json", if_none_match=True)
        else:
            etag = store.put(POINTER, body, content_type="application/json", if_match=previous.version)
    except VersionMismatch:
        store.delete_many([key for key, _ in parts])
        return None
    return Pointer(seq, tuple(key for key, _ in parts), count, written_at, etag)


def collect(store: Store, keep: Iterable[int]) -> int:
    """Delete every checkpoint folder and claim except those of the positions in keep."""
    kept = {f"{n:0{SEQ_DIGITS}d}" for n in keep}
    doomed = [
        info.key
        for name in store.folders(PREFIX)
        if name.isdigit() and name not in kept
        for info in store.list(f"{PREFIX}{name}/")
    ]
    doomed += [
        info.key for info in store.list(CLAIMS) if info.key[len(CLAIMS) :].removesuffix(".json") not in kept
    ]
    store.delete_many(doomed)
    return len(doomed)


def _line(record: Snapshot) -> bytes:
    return json.dumps(
        {"k": record.kind, "i": record.id, "v": record.version, "d": record.data},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _pack(lines: list[bytes]) -> bytes:
    # Level 6 is gzip's default; checkpoints are written rarely and read at every start.
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6)
