"""Small helpers handlers share for reading input and answering."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse

from toolkit.errors import N_, BadRequest, PreconditionFailed


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


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
        # A lone surrogate escape ("\ud800") parses, but can be neither stored nor answered as
        # UTF-8; nesting deeper than the parser's recursion limit raises RecursionError.
        json.dumps(body, ensure_ascii=False).encode()
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
