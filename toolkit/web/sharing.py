"""Employees: getting a share link from the composer without JavaScript, and 'My sharing'."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import Invalid
from toolkit.i18n import gettext
from toolkit.stats import parse_period
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.sharing import my_numbers
from toolkit.web.forms import see_other
from toolkit.web.templating import render


async def make_link(request: Request) -> Response:
    """The composer's 'Get share link' button without JavaScript: make it, show it in the composer."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    post = portal.posts.visible(user, request.path_params["post_id"])
    await run_in_threadpool(portal.sharing.link_for, post, user)
    return see_other(f"/posts/{post.id}#share-link")


async def my_stats_page(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    query = request.query_params
    error, status = None, 200
    raw_from, raw_to = query.get("from"), query.get("to")
    try:
        parse_period(raw_from, raw_to, on=portal.stats.clock())
    except Invalid as exc:
        error, status = exc.text(gettext), exc.status
        raw_from = raw_to = None
    numbers = await run_in_threadpool(my_numbers, portal, user, raw_from, raw_to)
    context = {"numbers": numbers, "error": error, "revoked": query.get("revoked") == "1"}
    return render(request, "employee/my_stats.html", context, status=status)


async def revoke_my_link(request: Request) -> Response:
    user = require_user(request)
    await run_in_threadpool(portal_of(request).sharing.revoke, request.path_params["token"], user)
    return see_other("/me/stats?revoked=1")


routes = [
    route("/posts/{post_id}/share-link", make_link, allow=Allow.employee, methods=["POST"]),
    route("/me/stats", my_stats_page, allow=Allow.employee),
    route(
        "/me/share-links/{token}/revoke", revoke_my_link, allow=Allow.employee, methods=["POST"]
    ),
]
