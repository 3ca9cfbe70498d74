"""Object storage: the only place the portal keeps anything. Chosen by TOOLKIT_STORE's URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from toolkit.store.base import ObjectInfo, ObjectMissing, Store, StoreUnavailable, VersionMismatch

__all__ = ["ObjectInfo", "ObjectMissing", "Store", "StoreUnavailable", "VersionMismatch", "open_store"]


def open_store(url: str, *, s3_endpoint_url: str = "", s3_region: str = "") -> Store:
    """A store for file:///abs/path, a plain path, or s3://bucket/prefix."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from toolkit.store.s3 import S3Store

        if not parsed.netloc:
            raise ValueError(f"TOOLKIT_STORE={url!r} names no bucket; use s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url, region=s3_region)
    from toolkit.store.local import LocalStore

    if parsed.scheme == "file":
        return LocalStore(Path(parsed.netloc + parsed.path) if parsed.netloc else Path(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(f"TOOLKIT_STORE={url!r}: use a folder, file:///abs/path or s3://bucket/prefix")
    return LocalStore(Path(url))
