"""/api/v1/stats: post statistics for marketing (JSON and CSV) and the leaderboard switch."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import N_, Invalid
from toolkit.stats import Period, Report, parse_period
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response
from toolkit.web.forms import json_body


def requested_period(request: Request) -> Period:
    query = request.query_params
    return parse_period(query.get("from"), query.get("to"), on=portal_of(request).stats.clock())


async def _report(request: Request) -> Report:
    period = requested_period(request)
    return await run_in_threadpool(portal_of(request).stats.report, period)


async def post_stats(request: Request) -> Response:
    report = await _report(request)
    return json_response(report.public())


async def post_stats_csv(request: Request) -> Response:
    report = await _report(request)
    name = f"post-stats-{report.period.first.isoformat()}-{report.period.last.isoformat()}.csv"
    return Response(
        report.csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"},
    )


async def leaderboard(request: Request) -> Response:
    stats = portal_of(request).stats
    period = requested_period(request)
    rows = await run_in_threadpool(stats.leaderboard, period)
    return json_response(
        {"enabled": stats.leaderboard_enabled(), **period.public(), "items": [r.public() for r in rows]}
    )


async def set_leaderboard(request: Request) -> Response:
    actor = require_user(request)
    body = await json_body(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool) or set(body) != {"enabled"}:
        raise Invalid(N_("Send {\"enabled\": true} or {\"enabled\": false}."))
    stats = portal_of(request).stats
    await run_in_threadpool(stats.set_leaderboard, enabled, actor)
    return json_response({"enabled": stats.leaderboard_enabled()})


routes = [
    route("/api/v1/stats/posts", post_stats, allow=Allow.marketing),
    route("/api/v1/stats/posts.csv", post_stats_csv, allow=Allow.marketing),
    route("/api/v1/stats/leaderboard", leaderboard, allow=Allow.marketing),
    route(
        "/api/v1/stats/leaderboard",
        set_leaderboard,
        allow=Allow.marketing,
        methods=["PUT"],
        name="api_set_leaderboard",
    ),
]
