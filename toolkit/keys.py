"""The portal's secret key: TOOLKIT_SECRET_KEY, or one made at the first start and kept in the store.

It signs session cookies and CSRF tokens and keys the pseudonyms of the sign-in throttle. No key
is published anywhere: without TOOLKIT_SECRET_KEY the first instance to start on a store makes a
random one (secrets.token_bytes(32)) and writes it create-only to KEY_OBJECT, so two instances
starting at once agree (the one whose write is refused reads the winner's), and every later
instance on that store finds it there. Anyone who can read the bucket can therefore sign sessions:
keep the bucket private, or set TOOLKIT_SECRET_KEY (the same on every instance).

Plain Python on the store; no web imports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
from datetime import UTC, datetime

from toolkit.settings import DEFAULT_SECRET
from toolkit.store import ObjectMissing, Store, VersionMismatch

log = logging.getLogger(__name__)

KEY_OBJECT = "keys/secret-key.json"
KEY_BYTES = 32
# Keys once shipped in the source: known to everyone, so never accepted as TOOLKIT_SECRET_KEY.
PUBLISHED = frozenset({DEFAULT_SECRET})


class Keys:
    """The secret key of one portal; load() once at start, before any request is served."""

    def __init__(self, store: Store, configured: str = "") -> None:
        self.store = store
        self.configured = configured
        self.source = ""  # "setting", "made" (this instance wrote it) or "store" (found there)
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._secret is not None

    @property
    def secret(self) -> bytes:
        """The key's bytes; loads it first if load() was not called (store I/O: not on the event loop)."""
        if self._secret is None:
            self.load()
        assert self._secret is not None
        return self._secret

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose, so a value made for one use is never valid for another."""
        return derive(self.secret, purpose)

    def load(self) -> None:
        """TOOLKIT_SECRET_KEY, else the key kept in the store, else a new one written there.

        ValueError for a published key or an unreadable stored one; StoreUnavailable passes on.
        """
        with self._lock:
            if self._secret is not None:
                return
            if self.configured:
                if self.configured in PUBLISHED:
                    raise ValueError(
                        "TOOLKIT_SECRET_KEY is the key that was once the published default, so anyone "
                        "could forge a session with it. Set a long random value, or unset it and let "
                        f"the portal make one and keep it in the store ({KEY_OBJECT})."
                    )
                self._secret, self.source = self.configured.encode(), "setting"
                return
            self._secret, self.source = self._from_store()

    def _from_store(self) -> tuple[bytes, str]:
        try:
            return _decode(self.store.read(KEY_OBJECT)[0]), "store"
        except ObjectMissing:
            pass
        made = secrets.token_bytes(KEY_BYTES)
        body = {
            "key": base64.urlsafe_b64encode(made).decode(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self.store.put(
                KEY_OBJECT, json.dumps(body).encode(), content_type="application/json", if_none_match=True
            )
        except VersionMismatch:
            # Another instance started at the same moment and wrote first: use its key.
            log.info("TOOLKIT_SECRET_KEY is not set: using the secret key kept in the store")
            return _decode(self.store.read(KEY_OBJECT)[0]), "store"
        log.warning(
            "TOOLKIT_SECRET_KEY is not set: made a random secret key and kept it in the store at %s, "
            "where every instance on this store finds it. Whoever can read the store can sign in as "
            "anyone: keep it private, or set TOOLKIT_SECRET_KEY on every instance.",
            KEY_OBJECT,
        )
        return made, "made"


def stored(store: Store) -> bool:
    """Whether the store keeps a secret key (for `toolkit check`)."""
    return store.head(KEY_OBJECT) is not None


def derive(secret: bytes, purpose: str) -> bytes:
    """sha256("<purpose>:<secret>"): for a configured key the same as before keys were kept in the
    store, so sessions signed with TOOLKIT_SECRET_KEY survive the upgrade."""
    return hashlib.sha256(purpose.encode() + b":" + secret).digest()


def _decode(raw: bytes) -> bytes:
    try:
        secret = base64.urlsafe_b64decode(json.loads(raw)["key"])
    except (ValueError, KeyError, TypeError):
        secret = b""
    if len(secret) < KEY_BYTES:
        raise ValueError(
            f"the secret key kept in the store ({KEY_OBJECT}) is not valid; delete that object so the "
            "next start makes a new one (everyone then signs in again)"
        )
    return secret
