"""The object store interface every backend implements, and the errors they share."""

from __future__ import annotations

import builtins
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from toolkit.errors import N_, Unavailable

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str  # opaque version; changes whenever the bytes are replaced
    size: int


class StoreError(Exception):
    """Base of the store's own errors (not shown to users as such)."""


class ObjectMissing(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no object at {key!r}")
        self.key = key


class VersionMismatch(StoreError):
    """A conditional write or delete found another version than the one it was made from."""

    def __init__(self, key: str) -> None:
        super().__init__(f"precondition failed for {key!r}")
        self.key = key


class StoreUnavailable(Unavailable):
    """The store did not answer; the web layer turns this into a 503."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(N_("The storage service is not reachable right now. Try again in a moment."))
        self.endpoint = endpoint
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot reach the store at {self.endpoint}: {self.reason}"


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root or that backends disagree about."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    if parts[0].startswith("."):
        raise ValueError(f"object keys may not start with a dot: {key!r}")
    return key


class Store(ABC):
    """Objects by key. Records and blobs both live here; nothing else holds state."""

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where the objects are, for messages."""

    @abstractmethod
    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """A stream of the object's bytes and its info; the caller closes the stream."""

    @abstractmethod
    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write the object atomically and return its new ETag.

        if_match: only replace the object at that version; if_none_match: only create it.
        Either failing raises VersionMismatch. A stream body is copied in chunks, never whole.
        """

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist."""

    @abstractmethod
    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix, in key order; only keys after start_after if given."""

    def folders(self, prefix: str) -> builtins.list[str]:
        """The names one level below prefix (which ends in "/") that hold objects, in order.

        The backends answer with one request however many objects lie below (how the record kinds
        are found without listing every record); this fallback for other stores lists them all.
        """
        return sorted(
            {
                info.key[len(prefix) :].split("/")[0]
                for info in self.list(prefix)
                if "/" in info.key[len(prefix) :]
            }
        )

    @abstractmethod
    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Remove the object; deleting what is not there is not an error unless if_match is given."""

    def delete_many(self, keys: builtins.list[str]) -> None:
        """Remove many objects unconditionally (collecting old journal entries and checkpoints)."""
        for key in keys:
            self.delete(key)

    def read(self, key: str) -> tuple[bytes, str]:
        """The whole object and its ETag; for records and other small objects."""
        stream, info = self.open(key)
        with stream:
            return stream.read(), info.etag

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a cheap request."""
        self.head("health/ping")

    def checksum(self, key: str) -> tuple[int, str]:
        """(size, sha256 hex) of an object, read as a stream; used to verify copies."""
        stream, _ = self.open(key)
        digest = hashlib.sha256()
        size = 0
        with stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()
