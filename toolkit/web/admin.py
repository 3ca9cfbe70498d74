"""Admin pages: accounts and the audit log."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import Role
from toolkit.errors import Conflict, Invalid
from toolkit.i18n import gettext
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.forms import form_fields, see_other
from toolkit.web.templating import render


def link_url(request: Request, secret: str) -> str:
    return f"{portal_of(request).settings.base_url.rstrip('/')}/link/{secret}"


def _users_page(
    request: Request, *, issued: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    accounts = portal_of(request).accounts
    context = {"people": accounts.all(), "roles": [r.name for r in Role], "issued": issued, "error": error}
    return render(request, "admin/users.html", context, status=status)


async def users_page(request: Request) -> Response:
    return _users_page(request)


async def invite(request: Request) -> Response:
    actor = require_user(request)
    accounts = portal_of(request).accounts
    fields = await form_fields(request)
    try:
        person = await run_in_threadpool(
            lambda: accounts.add(
                fields.get("email", ""),
                role=fields.get("role", "employee"),
                name=fields.get("name", ""),
                actor=actor,
            )
        )
    except (Invalid, Conflict) as exc:
        return _users_page(request, error=exc.text(gettext), status=exc.status)
    link = await run_in_threadpool(lambda: accounts.issue_link(person, "invite", actor=actor))
    return _users_page(
        request,
        issued={
            "email": person.email,
            "url": link_url(request, link.secret),
            "expires_at": link.expires_at,
            "purpose": "invite",
        },
        status=201,
    )


async def change_user(request: Request) -> Response:
    actor = require_user(request)
    accounts = portal_of(request).accounts
    person = accounts.require(request.path_params["user_id"])
    fields = await form_fields(request)
    action = fields.get("action", "")
    try:
        if action == "role":
            await run_in_threadpool(lambda: accounts.set_role(person, fields.get("role", ""), actor=actor))
        elif action in ("deactivate", "activate"):
            await run_in_threadpool(lambda: accounts.set_active(person, action == "activate", actor=actor))
        elif action == "reset":
            link = await run_in_threadpool(lambda: accounts.issue_link(person, "reset", actor=actor))
            return _users_page(
                request,
                issued={
                    "email": person.email,
                    "url": link_url(request, link.secret),
                    "expires_at": link.expires_at,
                    "purpose": "reset",
                },
            )
        else:
            raise Invalid()
    except (Invalid, Conflict) as exc:
        return _users_page(request, error=exc.text(gettext), status=exc.status)
    return see_other("/admin/users")


AUDIT_PAGE = 100


async def audit_page(request: Request) -> Response:
    audit = portal_of(request).audit
    query = request.query_params
    actor = query.get("actor", "").strip()
    object_id = query.get("object", "").strip()
    day = query.get("day") or None
    before = query.get("before") or None
    try:
        if before:
            datetime.fromisoformat(before)
        entries = await run_in_threadpool(
            lambda: audit.entries(
                day=day, actor=actor, object_id=object_id, limit=AUDIT_PAGE + 1, before=before
            )
        )
    except ValueError:
        entries, day, before = [], None, None
    filters = {k: v for k, v in {"actor": actor, "object": object_id, "day": day or ""}.items() if v}
    older = None
    if len(entries) > AUDIT_PAGE:
        entries = entries[:AUDIT_PAGE]
        older = urlencode({**filters, "before": entries[-1].at})
    context = {
        "entries": entries,
        "actor": actor,
        "object_id": object_id,
        "day": day or "",
        "older": older,
        "newest": urlencode(filters) if before else None,
    }
    return render(request, "admin/audit.html", context)


routes = [
    route("/admin/users", users_page, allow=Allow.admin),
    route("/admin/users", invite, allow=Allow.admin, methods=["POST"], name="invite"),
    route("/admin/users/{user_id}", change_user, allow=Allow.admin, methods=["POST"]),
    route("/admin/audit", audit_page, allow=Allow.admin),
]
