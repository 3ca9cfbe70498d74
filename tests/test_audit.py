"""The audit log is read by day: its readers never list every entry ever written."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta

from tests.storekit import RecordingStore, RefusingStore
from toolkit.audit import AuditLog, Entry
from toolkit.store import Store


class _Actor:
    id = "user-1"
    email = "ann@example.com"


def _entry_on(store: Store, moment: datetime, action: str, n: int) -> Entry:
    """An entry as AuditLog.record writes it, on a day in the past."""
    entry = Entry(
        moment.isoformat(timespec="milliseconds"),
        "user-1",
        "ann@example.com",
        action,
        "posts",
        "p",
        None,
        "1",
        {},
    )
    key = f"audit/{moment:%Y-%m-%d}/{moment:%H%M%S%f}-web-0-{n:08d}.json"
    store.put(key, json.dumps(asdict(entry)).encode(), content_type="application/json")
    return entry


def test_days_and_entries_never_list_the_whole_audit_prefix(store: Store) -> None:
    now = datetime.now(UTC)
    noon = datetime.combine(now.date(), time(12), UTC)
    old = [_entry_on(store, noon - timedelta(days=d), f"post.old-{d}", d) for d in (400, 40, 3)]
    recording = RecordingStore(store)
    log = AuditLog(recording, "web-1")
    newest = log.record(_Actor(), "post.approve", "posts", "p", "1", "2")

    days = log.days()
    assert days == [(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in (0, 3, 40, 400)]
    assert recording.of("list") == [] and recording.of("folders") == ["audit/"]

    recording.calls.clear()
    assert [e.action for e in log.entries()] == [newest.action, old[2].action]  # the last 31 days
    assert [e.action for e in log.entries(lookback_days=60)] == [newest.action, old[2].action, old[1].action]
    assert [e.action for e in log.entries(day=days[3])] == [old[0].action]
    assert [e.action for e in log.entries(before=newest.at, limit=1)] == [old[2].action]
    listed = recording.of("list")
    # Only the folders of days that have entries, one at a time.
    assert listed and all(re.fullmatch(r"audit/\d{4}-\d{2}-\d{2}/", prefix) for prefix in listed)
    assert set(listed) <= {f"audit/{day}/" for day in days}


def test_an_entry_the_store_refused_is_written_later_once(store: Store) -> None:
    down = RefusingStore(store)
    log = AuditLog(down, "web-1")
    entry = log.record(_Actor(), "post.create", "posts", "p", None, "1")  # no error: kept
    assert log.pending() == 1 and log.entries() == []
    assert log.flush_pending() == 0 and log.pending() == 1
    down.down = False
    assert log.flush_pending() == 1 and log.pending() == 0
    assert log.entries() == [entry]  # its own moment, not the moment it was written
    # A write that landed although its answer was lost is not doubled by the retry.
    key = down.of("put")[-1]
    log._pending.append((key, b"{}"))
    assert log.flush_pending() == 1
    assert [info.key for info in store.list("audit/")] == [key]
    assert log.entries() == [entry]
