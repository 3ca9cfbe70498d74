"""Signed session cookies and CSRF tokens; no session state is kept on the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "toolkit_session"
CSRF_COOKIE = "toolkit_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    user_id: str
    epoch: int
    issued_at: float
    sid: str


class Signer:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()

    def sign(self, payload: bytes) -> str:
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def unsign(self, value: str) -> bytes | None:
        body, _, mac = value.partition(".")
        expected = base64.urlsafe_b64encode(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not mac or not hmac.compare_digest(expected.rstrip(b"=").decode(), mac):
            return None
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            return None


class SessionCodec:
    def __init__(self, secret: str, max_age_seconds: float) -> None:
        self._signer = Signer(secret, "session")
        self.max_age = max_age_seconds

    def encode(self, user_id: str, epoch: int) -> str:
        # A new sid at every sign-in: a cookie planted before login is never the one used after.
        data = {"u": user_id, "e": epoch, "t": int(time.time()), "s": secrets.token_urlsafe(9)}
        return self._signer.sign(json.dumps(data, separators=(",", ":")).encode())

    def decode(self, value: str, *, now: float | None = None) -> Session | None:
        raw = self._signer.unsign(value)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            session = Session(str(data["u"]), int(data["e"]), float(data["t"]), str(data["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now or time.time()) - session.issued_at > self.max_age:
            return None
        return session


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, sent: str | None) -> bool:
    return bool(cookie and sent and hmac.compare_digest(cookie, sent))
