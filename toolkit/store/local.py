"""The embedded default: objects as files in a folder, written atomically, preconditions under a lock."""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from toolkit.store.base import (
    CHUNK,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreUnavailable,
    VersionMismatch,
    check_key,
)

# Hidden names at the root are the store's own bookkeeping and never listed as objects.
_TMP = ".tmp"
_LOCK = ".lock"
_STALE_TMP_SECONDS = 3600
_FOLDER_RACES = 5


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root).resolve()
        # durable=False skips fsync: only for bulk fills (demo-company) where a crash means re-running.
        self.durable = durable
        self._links = True  # hard links available; cleared the first time the file system says no
        self._thread_lock = threading.Lock()
        try:
            (self.root / _TMP).mkdir(parents=True, exist_ok=True)
            (self.root / _LOCK).touch(exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(self.endpoint, exc.strerror or str(exc)) from exc
        self._sweep_temporaries()

    @property
    def endpoint(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    @staticmethod
    def _etag(st: os.stat_result) -> str:
        # Every write is a rename of a new file, so (inode, mtime, size) changes with every version
        # without hashing the bytes: listing thousands of records stays cheap.
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock serialises processes on this host; the thread lock serialises this process's
        # threads, which share one open file description per call otherwise.
        with self._thread_lock, open(self.root / _LOCK, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _guard(self, fn: str, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(self.endpoint, f"{fn}: {exc.strerror or exc}")

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectMissing(key) from None
        except OSError as exc:
            raise self._guard("open", exc) from exc
        st = os.fstat(handle.fileno())
        return handle, ObjectInfo(key, self._etag(st), st.st_size)

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        path = self._path(key)
        try:
            fd, tmp_name = tempfile.mkstemp(dir=self.root / _TMP)
        except OSError as exc:
            raise self._guard("write", exc) from exc
        try:
            with os.fdopen(fd, "wb") as tmp:
                chunks = iter([bytes(body)]) if isinstance(body, bytes | bytearray) else _chunks(body)
                for chunk in chunks:
                    try:
                        tmp.write(chunk)
                    except OSError as exc:
                        raise self._guard("write", exc) from exc
                tmp.flush()
                if self.durable:
                    os.fsync(tmp.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        try:
            for attempt in range(_FOLDER_RACES):
                try:
                    return self._place(tmp_name, path, key, if_match, if_none_match)
                except FileNotFoundError:
                    # A delete removed the (then empty) folder between mkdir and rename: again.
                    if attempt == _FOLDER_RACES - 1:
                        raise
            raise AssertionError("unreachable")
        except OSError as exc:
            # A full disk or a folder made read-only is an outage (503), not a bug (500).
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise self._guard("write", exc) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise

    def _place(
        self, tmp_name: str, path: Path, key: str, if_match: str | None, if_none_match: bool
    ) -> str:
        """Move the written temporary file to its key, under the write's condition."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_match is None and not if_none_match:
            os.replace(tmp_name, path)
            return self._etag(os.stat(path))
        if if_none_match and self._links:
            created = self._create_by_link(tmp_name, path, key)
            if created is not None:
                return created
        with self._locked():
            current = self._stat(path)
            if if_none_match and current is not None:
                raise VersionMismatch(key)
            if if_match is not None and (current is None or self._etag(current) != if_match):
                raise VersionMismatch(key)
            os.replace(tmp_name, path)
            return self._etag(os.stat(path))

    def _create_by_link(self, tmp_name: str, path: Path, key: str) -> str | None:
        """Create-only without the lock: link(2) refuses an existing name atomically. None when
        the file system has no hard links (the locked path then does it)."""
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            raise VersionMismatch(key) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            self._links = False
            return None
        os.unlink(tmp_name)
        return self._etag(os.stat(path))

    @staticmethod
    def _stat(path: Path) -> os.stat_result | None:
        try:
            return os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def head(self, key: str) -> ObjectInfo | None:
        try:
            st = self._stat(self._path(key))
        except OSError as exc:
            raise self._guard("stat", exc) from exc
        if st is None or not os.path.isfile(self._path(key)):
            return None
        return ObjectInfo(key, self._etag(st), st.st_size)

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        # Walk only the deepest folder the prefix names, so listing records/posts/ never touches blobs.
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            if not self.root.is_dir():
                raise StoreUnavailable(self.endpoint, "the folder is gone")
            return
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, self.root)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                rel_dir = ""
            for name in filenames:
                key = f"{rel_dir}/{name}" if rel_dir else name
                if key.startswith(prefix) and key > start_after and not key.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        st = os.stat(os.path.join(dirpath, name))
                        found.append(ObjectInfo(key, self._etag(st), st.st_size))
        found.sort(key=lambda info: info.key)
        yield from found

    def folders(self, prefix: str) -> builtins.list[str]:
        start = self.root / prefix.rstrip("/") if prefix.strip("/") else self.root
        try:
            return sorted(e.name for e in os.scandir(start) if e.is_dir() and not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._guard("list", exc) from exc

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        path = self._path(key)
        with self._locked():
            current = self._stat(path)
            if if_match is not None and (current is None or self._etag(current) != if_match):
                raise VersionMismatch(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise self._guard("delete", exc) from exc
        self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, folder: Path) -> None:
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _sweep_temporaries(self) -> None:
        """Remove temp files left by a crash mid-write; they were never visible as objects."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in os.scandir(self.root / _TMP):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
