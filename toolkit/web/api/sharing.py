"""/api/v1: share links (make, revoke) and each person's own sharing numbers."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import User
from toolkit.portal import Portal
from toolkit.sharing import ShareLink
from toolkit.stats import parse_period
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response
from toolkit.web.idempotency import idempotent


def link_json(portal: Portal, link: ShareLink) -> dict[str, Any]:
    return {
        "url": portal.sharing.url(link.token),
        "token": link.token,
        "post_id": link.post_id,
        "created_at": link.created_at,
        "revoked": link.revoked,
    }


async def make_share_link(request: Request) -> Response:
    """The caller's one link to this post (made on first request); 423 while sharing is paused."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    post = portal.posts.visible(user, request.path_params["post_id"])
    link = await run_in_threadpool(portal.sharing.link_for, post, user)
    return json_response(link_json(portal, link), version=link.version)


async def revoke_share_link(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    await run_in_threadpool(portal.sharing.revoke, request.path_params["token"], user)
    return Response(status_code=204)


def my_numbers(portal: Portal, user: User, raw_from: str | None, raw_to: str | None) -> dict[str, Any]:
    """The person's own numbers and, only while it is on, the leaderboard. Reads the store."""
    stats = portal.stats
    period = parse_period(raw_from, raw_to, on=stats.clock())
    totals = stats.totals(period)
    mine = stats.mine(user, period, totals)
    data = mine.public()
    data["links"] = [
        link_json(portal, link) | {"title": (p.title if (p := portal.posts.get(link.post_id)) else "")}
        for link in portal.sharing.links_of(user)
        if not link.revoked
    ]
    if stats.leaderboard_enabled():
        data["leaderboard"] = {
            "opted_out": user.leaderboard_opt_out,
            "items": [
                row.public() | {"me": row.user_id == user.id} for row in stats.leaderboard(period, totals)
            ],
        }
    else:
        data["leaderboard"] = None
    return data


async def my_stats(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    query = request.query_params
    data = await run_in_threadpool(my_numbers, portal, user, query.get("from"), query.get("to"))
    return json_response(data)


routes = [
    route(
        "/api/v1/posts/{post_id}/share-link",
        idempotent(make_share_link),
        allow=Allow.employee,
        methods=["POST"],
        name="api_make_share_link",
    ),
    route(
        "/api/v1/share-links/{token}",
        revoke_share_link,
        allow=Allow.employee,
        methods=["DELETE"],
        name="api_revoke_share_link",
    ),
    route("/api/v1/me/stats", my_stats, allow=Allow.employee, name="api_my_stats"),
]
