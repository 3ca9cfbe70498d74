"""The store contract, run against both backends."""

from __future__ import annotations

import errno
import io
import os
import threading
from pathlib import Path

import pytest

from toolkit.store import ObjectMissing, Store, StoreUnavailable, VersionMismatch, open_store
from toolkit.store.local import LocalStore


def test_put_then_read_returns_bytes_and_same_etag(store: Store) -> None:
    etag = store.put("records/things/a.json", b'{"a":1}')
    assert store.read("records/things/a.json") == (b'{"a":1}', etag)
    info = store.head("records/things/a.json")
    assert info is not None and info.etag == etag and info.size == 7


def test_get_missing_raises_object_missing(store: Store) -> None:
    with pytest.raises(ObjectMissing):
        store.read("records/things/none.json")
    assert store.head("records/things/none.json") is None


def test_replacing_an_object_changes_its_etag(store: Store) -> None:
    first = store.put("k/x", b"one")
    second = store.put("k/x", b"two")
    assert first != second


def test_if_none_match_refuses_existing_object(store: Store) -> None:
    store.put("k/x", b"one", if_none_match=True)
    with pytest.raises(VersionMismatch):
        store.put("k/x", b"two", if_none_match=True)
    assert store.read("k/x")[0] == b"one"


def test_if_match_refuses_stale_version(store: Store) -> None:
    old = store.put("k/x", b"one")
    new = store.put("k/x", b"two", if_match=old)
    with pytest.raises(VersionMismatch):
        store.put("k/x", b"three", if_match=old)
    assert store.read("k/x") == (b"two", new)


def test_if_match_on_missing_object_is_a_mismatch(store: Store) -> None:
    with pytest.raises(VersionMismatch):
        store.put("k/none", b"x", if_match="abc")
    assert store.head("k/none") is None


def test_list_by_prefix_gives_keys_and_etags_in_order(store: Store) -> None:
    tags = {
        key: store.put(key, key.encode())
        for key in ["records/b/2.json", "records/b/1.json", "records/a/1.json"]
    }
    store.put("blobs/assets/x/original", b"blob")
    listed = list(store.list("records/b/"))
    assert [(i.key, i.etag) for i in listed] == [
        ("records/b/1.json", tags["records/b/1.json"]),
        ("records/b/2.json", tags["records/b/2.json"]),
    ]
    assert [i.key for i in store.list("records/")] == [
        "records/a/1.json",
        "records/b/1.json",
        "records/b/2.json",
    ]
    assert list(store.list("nothing/")) == []


def test_delete_removes_and_tolerates_missing(store: Store) -> None:
    etag = store.put("k/x", b"one")
    with pytest.raises(VersionMismatch):
        store.delete("k/x", if_match="stale")
    store.delete("k/x", if_match=etag)
    assert store.head("k/x") is None
    store.delete("k/x")


def test_stream_put_and_open_round_trip_large_body(store: Store) -> None:
    body = bytes(range(256)) * (12 * 4096)  # 12 MB: crosses the multipart threshold on S3
    etag = store.put("blobs/big", io.BytesIO(body))
    stream, info = store.open("blobs/big")
    with stream:
        assert stream.read() == body
    assert info.size == len(body) and info.etag == etag
    assert store.checksum("blobs/big")[0] == len(body)


def test_interrupted_stream_put_leaves_no_object(store: Store) -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.sent > 9 * 1024 * 1024:
                raise ConnectionResetError("client went away")
            n = len(buffer)
            buffer[:n] = b"x" * n
            self.sent += n
            return n

    with pytest.raises(ConnectionResetError):
        store.put("blobs/partial", io.BufferedReader(Failing()))
    assert store.head("blobs/partial") is None
    assert list(store.list("blobs/")) == []


def test_keys_escaping_the_root_are_refused(store: Store) -> None:
    for key in ["../x", "a/../../x", "/abs", "a//b", ".lock", ""]:
        with pytest.raises(ValueError):
            store.put(key, b"x")


def test_concurrent_conditional_writes_from_same_version_one_wins(store: Store) -> None:
    base = store.put("k/x", b"base")
    results: list[str] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        try:
            store.put("k/x", f"writer {n}".encode(), if_match=base)
            results.append("won")
        except VersionMismatch:
            results.append("lost")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]


def test_local_store_is_shared_safely_by_two_processes_on_one_folder(tmp_path: Path) -> None:
    import multiprocessing

    root = tmp_path / "data"
    base = LocalStore(root).put("k/x", b"base")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.starmap(_conditional_write, [(str(root), base, n) for n in range(8)])
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def _conditional_write(root: str, version: str, n: int) -> str:
    try:
        LocalStore(root).put("k/x", f"writer {n}".encode(), if_match=version)
        return "won"
    except VersionMismatch:
        return "lost"


def test_local_store_leaves_no_temporaries_visible_after_crash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    (tmp_path / "data" / ".tmp" / "half-written").write_bytes(b"torn")
    assert list(store.list("")) == []


def test_open_store_chooses_backend_by_url(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "a")), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}/b"), LocalStore)
    with pytest.raises(ValueError):
        open_store("ftp://example.com/x")
    with pytest.raises(ValueError):
        open_store("s3://")


def test_list_after_a_key_and_folders_below_a_prefix(store: Store) -> None:
    for key in ["j/001", "j/002", "j/003", "r/posts/a.json", "r/users/b.json", "r/users/c.json"]:
        store.put(key, b"x")
    assert [info.key for info in store.list("j/", start_after="j/001")] == ["j/002", "j/003"]
    assert [info.key for info in store.list("j/", start_after="j/003")] == []
    assert store.folders("r/") == ["posts", "users"]
    assert store.folders("nothing/") == []


def test_delete_many_removes_every_key(store: Store) -> None:
    keys = [f"gc/{n:04d}" for n in range(30)]
    for key in keys:
        store.put(key, b"x")
    store.delete_many(keys[:25] + ["gc/never-existed"])
    assert [info.key for info in store.list("gc/")] == keys[25:]


def test_local_store_disk_errors_are_an_outage_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "data")
    store.put("k/kept", b"before")

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("toolkit.store.local.os.replace", disk_full)
    monkeypatch.setattr("toolkit.store.local.os.link", disk_full)
    with pytest.raises(StoreUnavailable, match="No space left"):
        store.put("k/new", b"x", if_none_match=True)
    with pytest.raises(StoreUnavailable):
        store.put("k/kept", b"after")
    monkeypatch.undo()
    assert [info.key for info in store.list("k/")] == ["k/kept"] and store.read("k/kept")[0] == b"before"
    assert list((tmp_path / "data" / ".tmp").iterdir()) == []


def test_local_put_survives_a_delete_pruning_its_folder_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "data")
    store.put("claims/a", b"x")
    real_replace = os.replace
    pruned: list[str] = []

    def replace_after_a_prune(src: str, dst: str) -> None:
        if not pruned:
            # What a concurrent delete of the folder's last object does between mkdir and rename.
            store.delete("claims/a")
            pruned.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr("toolkit.store.local.os.replace", replace_after_a_prune)
    store.put("claims/b", b"y")
    assert pruned and store.read("claims/b")[0] == b"y"
