"""The one Jinja2 environment: i18n, filters and the globals every page uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from toolkit import i18n
from toolkit.paths import TEMPLATES
from toolkit.web.api.renditions import rendition_url_global
from toolkit.web.sessions import CSRF_FIELD


def _context(request: Request) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    return {
        "user": user,
        "csrf_token": request.state.csrf_token if hasattr(request.state, "csrf_token") else "",
        "csrf_field": CSRF_FIELD,
        "language": i18n.current_language.get(),
        "languages": i18n.LANGUAGES,
        "portal": getattr(request.state, "portal", None),
    }


def _date(value: str | datetime | None, fmt: str = "%Y-%m-%d") -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime(fmt)


def _datetime(value: str | datetime | None) -> str:
    return _date(value, "%Y-%m-%d %H:%M")


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    env.globals["rendition_url"] = rendition_url_global
    return env


templates = Jinja2Templates(env=make_environment(), context_processors=[_context])


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    """A page, rendered in the request's language, never cached by shared caches."""
    response = templates.TemplateResponse(request, name, context or {}, status_code=status)
    response.headers["cache-control"] = "private, no-cache"
    response.headers["vary"] = "Cookie, Accept-Language"
    return response
