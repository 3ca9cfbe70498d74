"""Signed session cookies and session-bound CSRF tokens.

A session is a signed cookie {"u": user id, "e": the person's session epoch, "t": issued at,
"s": session id}. Nothing is kept on the server for it, except the ids of sessions that ended
early (signed out), which the person's record lists until they would have expired
(toolkit.accounts). Bumping the person's epoch ends all their sessions at once.

CSRF tokens are the signed double-submit of OWASP's cheat sheet: "<random>.<mac>" with
mac = HMAC(key, binding + random), where the binding is what the request is authenticated by
(the session id, or the e-mail a trusted single sign-on proxy vouches for, or nothing before
signing in). The same token is in a cookie and in every form (and the page's meta tag for
JavaScript); a write must send it back and it must verify for the request's own binding, so a
token planted in the cookie from elsewhere (a sibling subdomain, plain http) is refused.

When the base URL is https both cookies carry the __Host- prefix: the browser then only accepts
them Secure, for Path=/ and from this very host, so no subdomain can plant or overwrite them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from toolkit.keys import derive

SESSION_COOKIE = "toolkit_session"
CSRF_COOKIE = "toolkit_csrf"
HOST_PREFIX = "__Host-"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def session_cookie_name(secure: bool) -> str:
    return HOST_PREFIX + SESSION_COOKIE if secure else SESSION_COOKIE


def csrf_cookie_name(secure: bool) -> str:
    return HOST_PREFIX + CSRF_COOKIE if secure else CSRF_COOKIE


@dataclass(frozen=True)
class Session:
    user_id: str
    epoch: int
    issued_at: float
    sid: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison that does not raise on non-ASCII text (compare_digest on str does)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


class Signer:
    def __init__(self, secret: str | bytes, purpose: str) -> None:
        self._key = derive(_secret_bytes(secret), purpose)

    def sign(self, payload: bytes) -> str:
        body = _b64(payload)
        return f"{body}.{_b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())}"

    def unsign(self, value: str) -> bytes | None:
        body, _, mac = value.partition(".")
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not mac or not _same(expected, mac):
            return None
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            return None


class SessionCodec:
    def __init__(self, secret: str | bytes, max_age_seconds: float) -> None:
        self._signer = Signer(secret, "session")
        self.max_age = max_age_seconds

    def issue(self, user_id: str, epoch: int) -> tuple[str, Session]:
        """A new session and its cookie value. A new id at every sign-in: a cookie planted before
        login is never the one used after, and signing out ends exactly this one."""
        session = Session(user_id, epoch, float(int(time.time())), secrets.token_urlsafe(12))
        data = {"u": user_id, "e": epoch, "t": int(session.issued_at), "s": session.sid}
        return self._signer.sign(json.dumps(data, separators=(",", ":")).encode()), session

    def encode(self, user_id: str, epoch: int) -> str:
        return self.issue(user_id, epoch)[0]

    def decode(self, value: str, *, now: float | None = None) -> Session | None:
        """The session a cookie carries if it is authentic and not expired; whether its person and
        epoch are still good, and whether it was signed out, is for the caller to check."""
        raw = self._signer.unsign(value)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            session = Session(str(data["u"]), int(data["e"]), float(data["t"]), str(data["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now or time.time()) - session.issued_at > self.max_age or not session.sid:
            return None
        return session

    def expires_at(self, session: Session) -> float:
        return session.issued_at + self.max_age


class CsrfTokens:
    """Signed double-submit tokens: "<random>.<HMAC(key, binding + random)>"."""

    def __init__(self, secret: str | bytes) -> None:
        self._key = derive(_secret_bytes(secret), "csrf")

    def _mac(self, binding: str, nonce: str) -> str:
        message = f"{len(binding)}:{binding}:{nonce}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def new(self, binding: str) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(binding, nonce)}"

    def valid(self, token: str | None, binding: str) -> bool:
        """Whether the token was made by this portal for this binding."""
        if not token or len(token) > 200:
            return False
        nonce, _, mac = token.partition(".")
        return bool(nonce and mac) and _same(self._mac(binding, nonce), mac)


def csrf_matches(cookie: str | None, sent: str | None) -> bool:
    """The double-submit half: the token sent with the write is the one in the cookie."""
    return bool(cookie and sent and _same(cookie, sent))
