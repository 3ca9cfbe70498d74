"""Marketing's statistics page: posts, campaigns, the 90-day chart, participation, the leaderboard switch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.counters import CounterKey
from toolkit.errors import Invalid, NotFound
from toolkit.i18n import gettext
from toolkit.portal import Portal
from toolkit.stats import Period, parse_period
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.charts import daily_chart
from toolkit.web.forms import form_fields, see_other
from toolkit.web.templating import render

QUICK_PERIODS = (7, 30, 90, 365)


def _stats_context(portal: Portal, period: Period) -> dict[str, Any]:
    """Everything the page shows, from one read of the counters covering both the period and the chart."""
    stats = portal.stats
    today = stats.clock()
    chart_period = stats.chart_period()
    wide = Period(min(period.first, chart_period.first), max(period.last, chart_period.last))
    totals: dict[CounterKey, int] = stats.totals(wide)
    report = stats.report(period, totals)
    points = stats.series(chart_period, totals)
    return {
        "period": period,
        "report": report,
        "chart": daily_chart(points),
        "chart_points": points,
        "leaderboard_on": stats.leaderboard_enabled(),
        "leaderboard": stats.leaderboard(period, totals),
        "query": f"from={period.first.isoformat()}&to={period.last.isoformat()}",
        "quick_periods": [
            (days, f"/stats?from={(today - timedelta(days=days - 1)).isoformat()}&to={today.isoformat()}")
            for days in QUICK_PERIODS
        ],
    }


async def stats_page(request: Request) -> Response:
    portal = portal_of(request)
    query = request.query_params
    error = None
    status = 200
    try:
        period = parse_period(query.get("from"), query.get("to"), on=portal.stats.clock())
    except Invalid as exc:
        error, status = exc.text(gettext), exc.status
        period = portal.stats.default_period()
    context = await run_in_threadpool(_stats_context, portal, period)
    context.update(error=error, revoked=query.get("revoked") == "1", raw_from=query.get("from", ""))
    return render(request, "marketing/stats.html", context, status=status)


async def switch_leaderboard(request: Request) -> Response:
    actor = require_user(request)
    fields = await form_fields(request)
    enabled = fields.get("enabled") == "1"
    await run_in_threadpool(portal_of(request).stats.set_leaderboard, enabled, actor)
    return see_other("/stats#leaderboard")


def _token_from(value: str) -> str:
    """A pasted share address or a bare token."""
    value = value.strip().rstrip("/")
    if "/s/" in value:
        value = value.split("/s/", 1)[1].split("/", 1)[0].split("?", 1)[0]
    return value


async def revoke_link(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    fields = await form_fields(request)
    token = _token_from(fields.get("link", ""))
    try:
        await run_in_threadpool(portal.sharing.revoke, token, actor)
    except NotFound as exc:
        context = await run_in_threadpool(_stats_context, portal, portal.stats.default_period())
        context.update(error=exc.text(gettext), revoked=False, raw_from="")
        return render(request, "marketing/stats.html", context, status=exc.status)
    return see_other("/stats?revoked=1#revoke")


routes = [
    route("/stats", stats_page, allow=Allow.marketing),
    route("/stats/leaderboard", switch_leaderboard, allow=Allow.marketing, methods=["POST"]),
    route("/stats/revoke-link", revoke_link, allow=Allow.marketing, methods=["POST"]),
]
