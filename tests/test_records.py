"""Records and the in-memory index, on both backends."""

from __future__ import annotations

import threading

import pytest

from toolkit.errors import Conflict, NotFound, PreconditionFailed
from toolkit.records import Records, record_key
from toolkit.store import Store


def test_create_then_get_from_index(store: Store) -> None:
    records = Records(store)
    made = records.create("posts", "p1", {"title": "Hello"})
    assert records.get("posts", "p1") == made
    assert made.version == store.head(record_key("posts", "p1")).etag  # type: ignore[union-attr]


def test_create_existing_id_is_a_conflict(store: Store) -> None:
    records = Records(store)
    records.create("posts", "p1", {"title": "first"})
    with pytest.raises(Conflict):
        records.create("posts", "p1", {"title": "second"})
    assert records.require("posts", "p1").data == {"title": "first"}


def test_update_from_stale_version_is_refused_and_nothing_changes(store: Store) -> None:
    records = Records(store)
    v1 = records.create("posts", "p1", {"n": 1})
    v2 = records.update("posts", "p1", {"n": 2}, version=v1.version)
    with pytest.raises(Conflict):
        records.update("posts", "p1", {"n": 3}, version=v1.version)
    with pytest.raises(PreconditionFailed):
        records.update("posts", "p1", {"n": 3}, version=v1.version, client_version=True)
    assert records.require("posts", "p1") == v2
    fresh = Records(store)
    assert fresh.load() == 1 and fresh.require("posts", "p1").data == {"n": 2}


def test_two_concurrent_updates_from_same_version_one_wins(store: Store) -> None:
    first, second = Records(store), Records(store)
    base = first.create("posts", "p1", {"n": 0})
    second.load()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def update(records: Records, n: int) -> None:
        barrier.wait()
        try:
            records.update("posts", "p1", {"n": n}, version=base.version)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=update, args=(r, n)) for n, r in enumerate([first, second], 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "won"]
    # The loser's index learnt the winning version, so a retry starts from the truth.
    assert first.require("posts", "p1") == second.require("posts", "p1")


def test_refresh_picks_up_other_instances_writes_and_deletes(store: Store) -> None:
    writer, reader = Records(store), Records(store)
    reader.load()
    writer.create("assets", "a1", {"title": "one"})
    made = writer.create("assets", "a2", {"title": "two"})
    assert reader.get("assets", "a1") is None
    assert reader.refresh() == 2
    writer.update("assets", "a2", {"title": "two, edited"}, version=made.version)
    writer.delete("assets", "a1")
    assert reader.refresh() == 2
    assert reader.get("assets", "a1") is None
    assert reader.require("assets", "a2").data == {"title": "two, edited"}
    assert reader.refresh() == 0


def test_refresh_does_not_undo_a_write_made_while_it_fetched(store: Store) -> None:
    records, other = Records(store), Records(store)
    records.load()
    made = other.create("posts", "p", {"n": 1})
    original_read = store.read

    def read_then_write(key: str) -> tuple[bytes, str]:
        found = original_read(key)
        if key == record_key("posts", "p") and records.get("posts", "p") is None:
            # Another request on this instance writes after the refresh read the old version.
            records.update("posts", "p", {"n": 2}, version=made.version)
        return found

    store.read = read_then_write  # type: ignore[method-assign]
    records.refresh()
    assert records.require("posts", "p").data == {"n": 2}


def test_delete_with_stale_version_is_refused(store: Store) -> None:
    records = Records(store)
    v1 = records.create("posts", "p1", {"n": 1})
    records.update("posts", "p1", {"n": 2}, version=v1.version)
    with pytest.raises(Conflict):
        records.delete("posts", "p1", version=v1.version)
    assert records.get("posts", "p1") is not None
    with pytest.raises(NotFound):
        records.require("posts", "nope")


def test_modify_retries_until_it_applies(store: Store) -> None:
    first, second = Records(store), Records(store)
    first.create("sets", "s", {"tags": []})
    second.load()
    first.modify("sets", "s", lambda d: {"tags": [*d["tags"], "a"]})
    # second's index is stale; modify must retry from the store's current version
    second.modify("sets", "s", lambda d: {"tags": [*d["tags"], "b"]})
    assert second.require("sets", "s").data == {"tags": ["a", "b"]}


def test_restart_sees_everything(store: Store) -> None:
    records = Records(store)
    for n in range(30):
        records.create("posts", f"p{n}", {"n": n})
    again = Records(store)
    assert again.load() == 30
    assert sorted(r.data["n"] for r in again.all("posts")) == list(range(30))


def test_listeners_hear_local_and_remote_changes(store: Store) -> None:
    writer, reader = Records(store), Records(store)
    heard: list[tuple[str, object, object]] = []
    reader.subscribe(
        lambda kind, before, after: heard.append((kind, before and before.data, after and after.data))
    )
    writer.create("users", "u1", {"email": "a@example.com"})
    reader.refresh()
    reader.create("users", "u2", {"email": "b@example.com"})
    assert heard == [("users", None, {"email": "a@example.com"}), ("users", None, {"email": "b@example.com"})]


def test_at_version_asks_the_store_before_refusing_another_instances_version(store: Store) -> None:
    writer, stale = Records(store), Records(store)
    first = writer.create("posts", "p1", {"n": 1})
    stale.load()
    second = writer.update("posts", "p1", {"n": 2}, version=first.version)
    # `stale` has not refreshed, yet the client's version is the current one: accepted.
    assert stale.at_version("posts", "p1", second.version) == second
    with pytest.raises(PreconditionFailed):
        stale.at_version("posts", "p1", first.version)
    with pytest.raises(Conflict):
        stale.at_version("posts", "p1", first.version, client_version=False)
    writer.create("posts", "p2", {"n": 1})
    assert stale.at_version("posts", "p2", None).data == {"n": 1}  # made elsewhere, found in the store
    with pytest.raises(NotFound):
        stale.at_version("posts", "nope", None)
