"""The admin's crisis switch page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import Conflict, Invalid
from toolkit.i18n import gettext
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.forms import form_fields, see_other
from toolkit.web.templating import render


def _crisis_page(
    request: Request, values: dict[str, str] | None = None, *, error: str | None = None, status: int = 200
) -> Response:
    state = portal_of(request).crisis.state()
    if values is None:
        values = {
            "message": state.message,
            "spokesperson": state.spokesperson,
            "channel": state.channel,
            "version": state.version,
        }
    context = {
        "state": state,
        "values": values,
        "error": error,
        "saved": request.query_params.get("saved") == "1",
    }
    return render(request, "admin/crisis.html", context, status=status)


async def crisis_page(request: Request) -> Response:
    return _crisis_page(request)


async def switch_crisis(request: Request) -> Response:
    actor = require_user(request)
    fields = await form_fields(request)
    values = {key: fields.get(key, "") for key in ("message", "spokesperson", "channel", "version")}
    action = fields.get("action", "")
    crisis = portal_of(request).crisis
    try:
        if action not in ("on", "off", "update"):
            raise Invalid()
        active = action == "on" or (action == "update" and crisis.state().active)
        await run_in_threadpool(
            lambda: crisis.set(
                active,
                values["message"],
                values["spokesperson"],
                values["channel"],
                actor=actor,
                version=values["version"] or None,
            )
        )
    except (Invalid, Conflict) as exc:
        return _crisis_page(request, values, error=exc.text(gettext), status=exc.status)
    return see_other("/admin/crisis?saved=1")


routes = [
    route("/admin/crisis", crisis_page, allow=Allow.admin),
    route("/admin/crisis", switch_crisis, allow=Allow.admin, methods=["POST"], name="switch_crisis"),
]
