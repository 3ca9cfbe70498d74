"""The one place errors become responses: JSON under /api/, an HTML page everywhere else."""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from toolkit import i18n
from toolkit.errors import N_, Locked, ToolkitError, Unauthorized

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", N_("The request could not be processed.")),
    401: ("unauthorized", N_("Please sign in first.")),
    403: ("forbidden", N_("You do not have permission to do this.")),
    404: ("not_found", N_("Not found.")),
    405: ("method_not_allowed", N_("This address does not accept that kind of request.")),
    500: ("internal_error", N_("Something went wrong on our side. Try again in a moment.")),
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    """The JSON error shape of the whole API: {"error": {"code", "message"}}."""
    return {"error": {"code": code, "message": message, **extra}}


def _respond(request: Request, status: int, code: str, message: str, extra: dict[str, object]) -> Response:
    headers = {"retry-after": "5"} if status == 503 else None
    if is_api(request):
        if status == 401:
            headers = {"www-authenticate": 'Bearer realm="toolkit"'}
        return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)
    from toolkit.web.templating import render

    response = render(
        request, "error.html", {"status": status, "code": code, "message": message, **extra}, status=status
    )
    if headers:
        response.headers.update(headers)
    return response


async def toolkit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ToolkitError)
    if isinstance(exc, Unauthorized) and not is_api(request) and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if exc.status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    extra = getattr(exc, "extra", {}) or {}
    if isinstance(exc, Locked) and "crisis" in extra and not is_api(request):
        # Crisis mode: the page a person wanted is replaced by who speaks for the company and what to do.
        from toolkit.web.templating import render

        return render(request, "employee/crisis.html", {"crisis": extra["crisis"]}, status=exc.status)
    return _respond(request, exc.status, exc.code, exc.text(i18n.gettext), extra)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP_CODES.get(exc.status_code, ("error", exc.detail))
    response = _respond(request, exc.status_code, code, i18n.gettext(message), {})
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    code, message = _HTTP_CODES[500]
    return _respond(request, 500, code, i18n.gettext(message), {})


EXCEPTION_HANDLERS = {ToolkitError: toolkit_error, HTTPException: http_error, Exception: server_error}
