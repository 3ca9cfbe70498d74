"""The change journal and checkpoints: refresh in O(changes), start from a checkpoint, never miss a change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import S3Server
from tests.storekit import RecordingStore
from toolkit import checkpoints
from toolkit.journal import PENDING_SECONDS, PREFIX, Journal, entry_key, seq_of
from toolkit.records import Records, record_key
from toolkit.store import Store
from toolkit.store.local import LocalStore
from toolkit.store.s3 import S3Store


def _started(store: Store, name: str, **kwargs: Any) -> Records:
    records = Records(store, instance=name, **kwargs)
    records.load()
    return records


def test_refresh_with_nothing_changed_is_one_listing(store: Store) -> None:
    writer = _started(store, "a")
    for n in range(20):
        writer.create("posts", f"p{n}", {"n": n})
    counting = RecordingStore(store)
    reader = _started(counting, "b")
    counting.calls.clear()
    assert reader.refresh() == 0
    assert counting.by_operation == Counter({"list": 1})


def test_refresh_reads_only_what_changed(store: Store) -> None:
    writer = _started(store, "a")
    for n in range(50):
        writer.create("posts", f"p{n}", {"n": n})
    counting = RecordingStore(store)
    reader = _started(counting, "b")
    for n in range(3):
        writer.update("posts", f"p{n}", {"n": -n - 1}, version=writer.require("posts", f"p{n}").version)
    counting.calls.clear()
    assert reader.refresh() == 3
    # One listing, then per change its entry and its record: never the 47 others.
    assert counting.by_operation == Counter({"list": 1, "get": 6})
    assert [reader.require("posts", f"p{n}").data["n"] for n in range(3)] == [-1, -2, -3]


def test_sequence_numbers_are_gap_free_under_concurrent_writers(store: Store) -> None:
    first, second = _started(store, "a"), _started(store, "b")
    barrier = threading.Barrier(2)

    def write(records: Records, name: str) -> None:
        barrier.wait()
        for n in range(15):
            records.create("posts", f"{name}{n}", {"n": n})

    threads = [threading.Thread(target=write, args=(r, name)) for r, name in [(first, "a"), (second, "b")]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [seq_of(info.key) for info in store.list(PREFIX)]
    assert numbers == list(range(1, 31))
    first.refresh()
    second.refresh()
    assert first.count("posts") == second.count("posts") == 30


def test_a_change_is_visible_on_the_other_instance_after_one_refresh(store: Store) -> None:
    a, b = _started(store, "a"), _started(store, "b")
    made = a.create("users", "u1", {"email": "x@example.com"})
    a.update("users", "u1", {"email": "y@example.com"}, version=made.version)
    a.create("users", "u2", {"email": "z@example.com"})
    a.delete("users", "u2")
    b.refresh()
    assert b.require("users", "u1").data == {"email": "y@example.com"}
    assert b.get("users", "u2") is None


def test_an_entry_whose_write_has_not_landed_stays_pending_until_it_does(store: Store) -> None:
    writer, reader = _started(store, "a"), _started(store, "b")
    made = writer.create("posts", "p", {"n": 1})
    reader.refresh()
    # The writer announced, then stalled before its PUT reached the store.
    writer.journal.announce("posts", "p", "put", made.version)
    reader.refresh()
    assert reader.require("posts", "p").data == {"n": 1}
    store.put(record_key("posts", "p"), b'{"n":2}', if_match=made.version)
    reader.refresh()
    assert reader.require("posts", "p").data == {"n": 2}


def test_an_intent_whose_write_never_came_is_given_up_after_a_while(store: Store) -> None:
    now = [0.0]
    writer = _started(store, "a")
    reader = _started(store, "b", clock=lambda: now[0])
    made = writer.create("posts", "p", {"n": 1})
    writer.journal.announce("posts", "p", "put", made.version)  # and then the writer died
    reader.refresh()
    assert reader._safe_position() < reader.position
    now[0] += PENDING_SECONDS + 1
    reader.refresh()
    assert reader._safe_position() == reader.position


def test_a_writer_killed_between_intent_and_record_leaves_a_store_that_converges(
    store_url: str, store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A real kill -9 in the window between the journal entry and the record's PUT."""
    reader = _started(store, "reader")
    reader.create("posts", "p", {"n": 1})
    env = dict(os.environ)
    if store_url.startswith("s3://"):
        server: S3Server = request.getfixturevalue("s3_server")
        env["TOOLKIT_S3_ENDPOINT_URL"] = server.url
    script = textwrap.dedent(
        f"""
        import os, signal
        from toolkit.records import Records
        from toolkit.settings import Settings
        from toolkit.store import open_store
        settings = Settings.from_env()
        store = open_store({store_url!r}, s3_endpoint_url=settings.s3_endpoint_url)
        records = Records(store, instance="doomed")
        records.load()
        current = records.require("posts", "p")
        real_put = store.put
        def put(key, body, **kwargs):
            if key.startswith("records/posts/"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_put(key, body, **kwargs)
        store.put = put
        records.update("posts", "p", {{"n": 2}}, version=current.version)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).parent.parent)
    assert done.returncode == -9
    # The entry is there, the record unchanged: every instance keeps the old version and agrees.
    assert reader.refresh() == 0
    fresh = _started(store, "fresh")
    assert fresh.require("posts", "p").data == reader.require("posts", "p").data == {"n": 1}
    update = reader.update("posts", "p", {"n": 3}, version=reader.require("posts", "p").version)
    fresh.refresh()
    assert fresh.require("posts", "p") == update


def test_a_starting_instance_loads_the_checkpoint_and_replays_the_tail(store: Store) -> None:
    writer = _started(store, "a")
    for n in range(30):
        writer.create("posts", f"p{n}", {"n": n})
    at = writer.checkpoint_now()
    assert at == writer.position
    writer.create("posts", "late", {"n": 99})
    writer.delete("posts", "p0")
    counting = RecordingStore(store)
    fresh = _started(counting, "b")
    assert fresh.count("posts") == 30 and fresh.get("posts", "late") is not None
    assert fresh.get("posts", "p0") is None
    # The pointer, one part, one listing of the journal, and the two entries with their records.
    assert counting.by_operation["get"] == 1 + 1 + 2 * 2
    assert counting.by_operation["list"] == 1


def test_a_checkpoint_is_written_by_exactly_one_of_two_instances(store: Store) -> None:
    first, second = _started(store, "a"), _started(store, "b")
    for n in range(10):
        first.create("posts", f"p{n}", {"n": n})
    first.refresh()
    second.refresh()
    barrier = threading.Barrier(2)
    results: list[int | None] = []

    def write(records: Records) -> None:
        barrier.wait()
        results.append(records.checkpoint_now())

    threads = [threading.Thread(target=write, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1
    assert [r for r in results if r is not None] == [first.position]


def test_a_reader_behind_the_collected_journal_reloads_from_the_checkpoint(store: Store) -> None:
    writer = _started(store, "a", checkpoint_every_entries=5)
    behind = _started(store, "b")
    for n in range(6):
        writer.create("posts", f"p{n}", {"n": n})
    writer.checkpoint_now()
    for n in range(6):
        writer.update("posts", f"p{n}", {"n": -n - 1}, version=writer.require("posts", f"p{n}").version)
    writer.delete("posts", "p5")
    writer.checkpoint_now()  # collects the entries up to the first checkpoint
    assert seq_of(next(iter(store.list(PREFIX))).key) == 7
    writer.create("posts", "new", {"n": 100})
    behind.refresh()
    assert {r.id: r.data["n"] for r in behind.all("posts")} == {
        **{f"p{n}": -n - 1 for n in range(5)},
        "new": 100,
    }


def test_checkpoints_collect_old_journal_and_old_checkpoints(store: Store) -> None:
    records = _started(store, "a")
    for round_ in range(4):
        for n in range(3):
            records.create("posts", f"r{round_}-{n}", {})
        records.checkpoint_now()
    folders = [name for name in store.folders(checkpoints.PREFIX) if name.isdigit()]
    assert len(folders) == 2  # the newest and the one before it
    first = seq_of(next(iter(store.list(PREFIX))).key)
    assert first is not None and first > int(folders[0])


def test_a_store_from_before_the_journal_is_listed_once_then_starts_from_a_checkpoint(store: Store) -> None:
    """A store made by the previous release: records, no journal, no checkpoint."""
    for n in range(12):
        store.put(record_key("posts", f"p{n}"), json.dumps({"n": n}).encode(), if_none_match=True)
    store.put(record_key("share-links", "tok"), b'{"post_id":"p1","user_id":"u"}', if_none_match=True)
    first = _started(store, "a")
    assert first.count("posts") == 12
    assert checkpoints.Pointer.read(store) is not None
    counting = RecordingStore(store)
    second = _started(counting, "b")
    assert second.count("posts") == 12
    assert counting.by_operation["list"] == 1  # the journal only: no listing of records
    assert second.require("share-links", "tok").data["post_id"] == "p1"


def test_on_demand_records_are_not_held_and_unknown_ones_are_remembered(store: Store) -> None:
    writer = _started(store, "a")
    counting = RecordingStore(store)
    reader = _started(counting, "b")
    writer.create("share-links", "tokenAAAAAAAAAAAAAAAA", {"user_id": "u"})
    assert "share-links" not in reader.counts()
    counting.calls.clear()
    assert reader.get("share-links", "unknownAAAAAAAAAAAAAA") is None
    assert reader.get("share-links", "unknownAAAAAAAAAAAAAA") is None
    assert counting.by_operation["get"] == 1
    # Made a moment ago on the other instance, before any refresh here: still found.
    assert reader.get("share-links", "tokenAAAAAAAAAAAAAAAA") is not None


def test_a_cached_on_demand_record_follows_changes_on_other_instances(store: Store) -> None:
    a, b = _started(store, "a"), _started(store, "b")
    made = a.create("share-links", "tok", {"revoked": False})
    assert b.require("share-links", "tok").data == {"revoked": False}
    a.update("share-links", "tok", {"revoked": True}, version=made.version)
    assert b.require("share-links", "tok").data == {"revoked": False}  # cached until the refresh
    b.refresh()
    assert b.require("share-links", "tok").data == {"revoked": True}
    assert b.get("share-links", "never") is None
    a.create("share-links", "never", {"revoked": False})
    b.refresh()
    assert b.get("share-links", "never") is not None


def test_the_on_demand_cache_is_bounded(store: Store) -> None:
    records = _started(store, "a", cache_entries=10)
    for n in range(30):
        records.create("policy-acks", f"1-u{n}", {"n": n})
    for n in range(30):
        records.get("policy-acks", f"1-x{n}")
    assert len(records._cache) == 10


def test_scan_lists_one_prefix_of_an_on_demand_kind(store: Store) -> None:
    records = _started(store, "a")
    for n in range(4):
        records.create("policy-acks", f"1-u{n}", {"n": n})
        records.create("policy-acks", f"12-u{n}", {"n": n})
    assert [r.id for r in records.scan("policy-acks", "1-")] == [f"1-u{n}" for n in range(4)]


def test_a_writer_that_lost_track_of_the_head_claims_after_it(store: Store) -> None:
    ahead = Journal(store, "a")
    for n in range(7):
        ahead.announce("posts", f"p{n}", "put", None)
    late = Journal(store, "b")
    intent = late.announce("posts", "x", "put", None)
    assert intent.change.seq == 8
    assert store.head(entry_key(8)) is not None


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_instances_converge_while_checkpoints_and_collection_run(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Writes on both sides, checkpoints and journal collection in between: both end up equal."""
    store: Store
    if backend == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("bucket")
        store = S3Store(bucket, "p", endpoint_url=server.url)
    else:
        store = LocalStore(tmp_path / "data")
    a = _started(store, "a", checkpoint_every_entries=7)
    b = _started(store, "b", checkpoint_every_entries=7)
    expected: dict[str, int] = {}
    for n in range(40):
        side = a if n % 3 else b
        key = f"p{n % 11}"
        current = side.at_version("posts", key, None) if side.get("posts", key) else None
        if current is None:
            try:
                side.create("posts", key, {"n": n})
            except Exception:
                side.refresh()
                continue
        else:
            side.update("posts", key, {"n": n}, version=current.version)
        expected[key] = n
        if n % 5 == 0:
            (a if n % 2 else b).refresh()
            a.maybe_checkpoint()
            b.maybe_checkpoint()
    a.refresh()
    b.refresh()
    assert {r.id: r.data["n"] for r in a.all("posts")} == expected
    assert {r.id: r.data["n"] for r in b.all("posts")} == expected
    fresh = _started(store, "c")
    assert {r.id: r.data["n"] for r in fresh.all("posts")} == expected


def test_an_unreadable_entry_is_skipped_and_the_rest_applied(store: Store) -> None:
    writer, reader = _started(store, "a"), _started(store, "b")
    writer.create("posts", "p1", {"n": 1})
    store.put(entry_key(writer.journal.head() + 1), b"not json", if_none_match=True)
    writer.create("posts", "p2", {"n": 2})
    assert reader.refresh() == 2
    assert reader.refresh() == 0


def test_threads_of_one_instance_share_entries_and_every_change_arrives(store: Store) -> None:
    writer, reader = _started(store, "a"), _started(store, "b")
    counting = RecordingStore(store)
    writer.store = writer.journal.store = counting
    barrier = threading.Barrier(8)

    def write(thread: int) -> None:
        barrier.wait()
        for n in range(5):
            writer.create("posts", f"t{thread}-{n}", {"n": n})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = [info.key for info in store.list(PREFIX)]
    # Group commit: no number was fought over by the instance's own threads.
    assert counting.by_operation["create"] == 40 + len(entries)
    assert len(entries) <= 40
    reader.refresh()
    assert reader.count("posts") == 40
