"""/api/v1/me and /api/v1/users."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import PROFILE_FIELDS
from toolkit.errors import N_, Invalid
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.admin import link_url
from toolkit.web.api.responses import json_response
from toolkit.web.forms import if_match, json_body
from toolkit.web.idempotency import idempotent


async def me(request: Request) -> Response:
    user = require_user(request)
    return json_response(user.public(), version=user.version)


async def update_me(request: Request) -> Response:
    user = require_user(request)
    body = await json_body(request)
    unknown = sorted(set(body) - set(PROFILE_FIELDS))
    if unknown:
        raise Invalid(N_("These fields cannot be changed here: %(fields)s."), fields=", ".join(unknown))
    expected = if_match(request)
    if expected is not None and expected != user.version:
        from toolkit.errors import PreconditionFailed

        raise PreconditionFailed()
    saved = await run_in_threadpool(portal_of(request).accounts.update_profile, user, body)
    return json_response(saved.public(), version=saved.version)


async def list_users(request: Request) -> Response:
    return json_response({"items": [u.public() for u in portal_of(request).accounts.all()]})


async def create_user(request: Request) -> Response:
    actor = require_user(request)
    accounts = portal_of(request).accounts
    body = await json_body(request)
    profile = {k: str(body[k]) for k in ("first_name", "job_title", "team", "language") if k in body}
    person = await run_in_threadpool(
        lambda: accounts.add(
            str(body.get("email", "")),
            role=str(body.get("role", "employee")),
            name=str(body.get("name", "")),
            actor=actor,
            **profile,
        )
    )
    link = await run_in_threadpool(lambda: accounts.issue_link(person, "invite", actor=actor))
    data = person.public() | {
        "invite_url": link_url(request, link.secret),
        "invite_expires_at": link.expires_at,
    }
    return json_response(data, status=201, version=person.version)


async def update_user(request: Request) -> Response:
    actor = require_user(request)
    accounts = portal_of(request).accounts
    person = accounts.require(request.path_params["user_id"])
    body = await json_body(request)
    if set(body) - {"role", "active"}:
        raise Invalid(N_("Only 'role' and 'active' can be changed here."))
    if "role" in body:
        person = await run_in_threadpool(lambda: accounts.set_role(person, str(body["role"]), actor=actor))
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise Invalid(N_("'active' must be true or false."))
        person = await run_in_threadpool(lambda: accounts.set_active(person, body["active"], actor=actor))
    return json_response(person.public(), version=person.version)


routes = [
    route("/api/v1/me", me, allow=Allow.employee),
    route("/api/v1/me", update_me, allow=Allow.employee, methods=["PATCH"], name="update_me"),
    route("/api/v1/users", list_users, allow=Allow.admin),
    route("/api/v1/users", idempotent(create_user), allow=Allow.admin, methods=["POST"], name="create_user"),
    route("/api/v1/users/{user_id}", update_user, allow=Allow.admin, methods=["PATCH"]),
]
