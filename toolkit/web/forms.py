"""Small helpers handlers share for reading input and answering."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse

from toolkit.errors import N_, BadRequest, Invalid, PreconditionFailed, TooLarge
from toolkit.web.access import portal_of

JSON_TOO_LARGE = N_("The request body is larger than %(limit)s KB.")


async def form_fields(request: Request) -> dict[str, str]:
    """Text fields of a submitted form (file parts are ignored; uploads have their own parser)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


async def form_lists(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    found: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


class _NotFinite(ValueError):
    """NaN, Infinity or a number too large for a float: JSON (RFC 8259) has no such numbers."""


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise _NotFinite(text)
    return value


def json_limit_bytes(request: Request) -> int:
    return int(portal_of(request).settings.max_json_kb) * 1024


async def read_json_bytes(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it passes limit bytes: by its Content-Length before
    reading anything, else while it streams in, so an endless body is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(JSON_TOO_LARGE, limit=limit // 1024)
    chunks: list[bytes] = []
    size = 0
    try:
        async with contextlib.aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(JSON_TOO_LARGE, limit=limit // 1024)
                chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest(N_("The request ended before its body was complete.")) from None
    body = b"".join(chunks)
    # Starlette's own cache of the body: anything reading request.body() later gets these bytes.
    request._body = body
    return body


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object: at most TOOLKIT_MAX_JSON_KB (413), valid JSON (400), only finite
    numbers (422: NaN and Infinity are not JSON, and could be neither stored nor answered)."""
    raw = await read_json_bytes(request, json_limit_bytes(request))
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
        # A lone surrogate escape ("\ud800") parses, but can be neither stored nor answered as
        # UTF-8; nesting deeper than the parser's recursion limit raises RecursionError.
        json.dumps(body, ensure_ascii=False).encode()
    except _NotFinite:
        raise Invalid(N_("Numbers must be finite: NaN and Infinity are not allowed in JSON.")) from None
    except (ValueError, RecursionError):
        raise BadRequest(N_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise BadRequest(N_("The request body must be a JSON object."))
    return body


def if_match(request: Request) -> str | None:
    """The version the client edited, from If-Match; a weak or list value cannot be honoured."""
    value = request.headers.get("if-match")
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/") or "," in value or value == "*":
        raise PreconditionFailed(N_("If-Match must carry the one strong ETag you received."))
    return value.strip('"')


def safe_next(target: str | None, default: str = "/") -> str:
    """Only ever a path inside the portal: no scheme, no host, no protocol-relative //host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 for c in target) or "\\" in target:
        return default
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
