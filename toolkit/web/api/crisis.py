"""/api/v1/settings/crisis: read the crisis switch (everyone), flip it (admins)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import N_, Invalid
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response
from toolkit.web.forms import if_match, json_body

FIELDS = ("active", "message", "spokesperson", "channel")


async def get_crisis(request: Request) -> Response:
    state = portal_of(request).crisis.state()
    return json_response(state.public(), version=state.version or None)


async def put_crisis(request: Request) -> Response:
    actor = require_user(request)
    body = await json_body(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise Invalid(N_("These fields cannot be set here: %(fields)s."), fields=", ".join(unknown))
    if not isinstance(body.get("active"), bool):
        raise Invalid(N_("'active' must be true or false."))
    for key in ("message", "spokesperson", "channel"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise Invalid(N_("'%(field)s' must be text."), field=key)
    expected = if_match(request)
    crisis = portal_of(request).crisis
    state = await run_in_threadpool(
        lambda: crisis.set(
            body["active"],
            body.get("message"),
            body.get("spokesperson"),
            body.get("channel"),
            actor=actor,
            version=expected,
            client_version=True,
        )
    )
    return json_response(state.public(), version=state.version)


routes = [
    route("/api/v1/settings/crisis", get_crisis, allow=Allow.employee),
    route("/api/v1/settings/crisis", put_crisis, allow=Allow.admin, methods=["PUT"], name="put_crisis"),
]
