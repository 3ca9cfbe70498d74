"""JSON responses with the version of what they show as a strong ETag."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


def json_response(data: Any, *, status: int = 200, version: str | None = None) -> JSONResponse:
    headers = {"cache-control": "no-store"}
    if version:
        headers["etag"] = f'"{version}"'
    return JSONResponse(data, status_code=status, headers=headers)
