"""Idempotency-Key on the API's creating POSTs: a retried request returns the first result.

A client that lost the answer to a create (a timeout, a dropped connection) sends the request again
with the same Idempotency-Key header; the first result (status, body, ETag and Location) comes back
and nothing is made twice, as Stripe's API does. Per user and key, for 24 hours:
- the same key with another body (or for another endpoint) is refused with 422;
- the same key while the first request is still running is refused with 409.

Results are records of the on-demand kind "idempotency" (id: sha256 of user id and key), so no
instance holds them in memory and every instance sees the same ones. Only successful answers are
kept: an error answer means nothing changed, so the claim is dropped and a retry runs again.
purge_expired() (the daily loop) deletes the results older than 24 hours.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from weakref import WeakSet

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import N_, Conflict, Invalid
from toolkit.records import Record, Records
from toolkit.store import StoreUnavailable
from toolkit.web.access import Endpoint, portal_of, require_user
from toolkit.web.forms import json_limit_bytes, read_json_bytes

log = logging.getLogger(__name__)

KIND = "idempotency"
HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
MAX_KEY_LENGTH = 255
KEEP = timedelta(hours=24)
# A claim whose request never finished (its instance stopped) blocks retries this long at most.
RUNNING = timedelta(minutes=5)
# Headers of the first answer that a replay repeats.
REPLAYED = ("content-type", "etag", "location", "cache-control")

KEY_TOO_LONG = N_("The Idempotency-Key header must be 1 to %(length)s characters.")
KEY_REUSED = N_(
    "This Idempotency-Key was used for another request in the last 24 hours. Use a new key for a new request."
)
KEY_RUNNING = N_("A request with this Idempotency-Key is still being processed. Try again in a moment.")

Clock = Callable[[], datetime]
_IDEMPOTENT: WeakSet[Endpoint] = WeakSet()


def _now() -> datetime:
    return datetime.now(UTC)


# Tests replace this to move time on.
clock: Clock = _now


class KeyReused(Invalid):
    code = "idempotency_key_reused"


class KeyInUse(Conflict):
    code = "idempotency_key_in_use"


def record_id(user_id: str, key: str) -> str:
    return hashlib.sha256(f"{user_id}\0{key}".encode()).hexdigest()


def request_hash(method: str, path: str, body: bytes) -> str:
    """What the key stands for: this endpoint with exactly this body."""
    digest = hashlib.sha256(f"{method} {path}\0".encode())
    digest.update(body)
    return digest.hexdigest()


def _age(data: dict[str, Any], now: datetime) -> timedelta:
    try:
        return now - datetime.fromisoformat(str(data.get("created_at", "")))
    except ValueError:
        return KEEP  # unreadable: treat as expired


def _replay(data: dict[str, Any]) -> Response:
    headers = {str(k): str(v) for k, v in dict(data.get("headers", {})).items()}
    headers[REPLAYED_HEADER] = "true"
    return Response(str(data.get("body", "")).encode(), status_code=int(data["status"]), headers=headers)


def _claim(records: Records, rid: str, body_hash: str, now: datetime) -> Record | Response:
    """Claim the key for this request (the claim record), or the answer to give instead."""
    existing = records.get(KIND, rid)
    claim = {"body_hash": body_hash, "state": "running", "created_at": now.isoformat()}
    if existing is not None:
        data = existing.data
        age = _age(data, now)
        fresh = age < KEEP and (data.get("state") == "done" or age < RUNNING)
        if fresh:
            if data.get("state") != "done":
                raise KeyInUse(KEY_RUNNING)
            if data.get("body_hash") != body_hash:
                raise KeyReused(KEY_REUSED)
            return _replay(data)
        try:
            return records.update(KIND, rid, claim, version=existing.version)
        except Conflict:
            raise KeyInUse(KEY_RUNNING) from None
    try:
        return records.create(KIND, rid, claim)
    except Conflict:
        raise KeyInUse(KEY_RUNNING) from None


def _release(records: Records, claim: Record) -> None:
    try:
        records.delete(KIND, claim.id, version=claim.version)
    except Exception:  # noqa: BLE001 - the claim expires on its own (RUNNING)
        log.warning("idempotency claim %s not released", claim.id, exc_info=True)


def _keep(records: Records, claim: Record, response: Response, body: str) -> None:
    data = dict(claim.data) | {
        "state": "done",
        "status": response.status_code,
        "headers": {name: response.headers[name] for name in REPLAYED if name in response.headers},
        "body": body,
    }
    try:
        records.update(KIND, claim.id, data, version=claim.version)
    except (StoreUnavailable, Conflict):
        # The change is made: answer it. A retry meets the running claim (409) until it expires.
        log.warning("idempotency result %s not stored", claim.id, exc_info=True)


class Attempt:
    """A request that claimed its key: keep() its answer when it made something, else abandon()."""

    def __init__(self, records: Records, claim: Record) -> None:
        self.records = records
        self.claim = claim

    async def keep(self, response: Response) -> None:
        body = getattr(response, "body", None)
        text: str | None = None
        if isinstance(body, bytes | memoryview):
            try:
                text = bytes(body).decode()
            except UnicodeDecodeError:
                text = None
        if not 200 <= response.status_code < 300 or text is None:
            await self.abandon()
            return
        await run_in_threadpool(_keep, self.records, self.claim, response, text)

    async def abandon(self) -> None:
        await run_in_threadpool(_release, self.records, self.claim)


async def begin(request: Request, fingerprint: bytes) -> Attempt | Response | None:
    """Claim the request's Idempotency-Key for a request whose body is fingerprint.

    None: the request has no key (just do it). A Response: the first answer, to return as it is.
    Raises 422 for a key used with another body, 409 while the first request with it runs.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Invalid(KEY_TOO_LONG, length=MAX_KEY_LENGTH)
    user = require_user(request)
    records = portal_of(request).records
    rid = record_id(user.id, key)
    body_hash = request_hash(request.method, request.url.path, fingerprint)
    claimed = await run_in_threadpool(_claim, records, rid, body_hash, clock())
    if isinstance(claimed, Response):
        return claimed
    return Attempt(records, claimed)


def idempotent(handler: Endpoint) -> Endpoint:
    """Honour an Idempotency-Key header on this creating handler (one with a JSON body)."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        if HEADER not in request.headers:
            return await handler(request)
        raw = await read_json_bytes(request, json_limit_bytes(request))
        attempt = await begin(request, raw)
        if not isinstance(attempt, Attempt):
            return attempt if attempt is not None else await handler(request)
        try:
            response = await handler(request)
        except BaseException:
            await attempt.abandon()
            raise
        await attempt.keep(response)
        return response

    return documented(wrapped)


def documented(handler: Endpoint) -> Endpoint:
    """Mark a handler that honours Idempotency-Key itself (with begin), for the OpenAPI description."""
    _IDEMPOTENT.add(handler)
    return handler


def is_idempotent(handler: Endpoint) -> bool:
    """Whether the handler honours Idempotency-Key (the OpenAPI description documents it)."""
    return handler in _IDEMPOTENT


def purge_expired(records: Records, now: datetime | None = None) -> int:
    """Delete the results older than 24 hours; for the daily loop. One listing of the kind and a
    read per result: call from a worker thread. Returns how many were deleted."""
    moment = now or clock()
    deleted = 0
    for record in records.scan(KIND):
        if _age(record.data, moment) < KEEP:
            continue
        try:
            records.delete(KIND, record.id, version=record.version)
        except Conflict:
            continue  # reused meanwhile
        deleted += 1
    return deleted
