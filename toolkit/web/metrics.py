"""GET /metrics: this instance's metrics in Prometheus text format (see toolkit/metrics.py).

Who may read them: admins (session or API token) from anywhere, and without signing in any
request sent from loopback or from TOOLKIT_METRICS_ALLOW (judged by access.client_address, so a
request through an undeclared proxy is not taken for a local one). Anyone else who is not signed
in gets 404; signed-in people who are not admins get 403. Each instance counts for itself, so a
scraper asks every instance directly rather than through a load balancer.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.metrics import CONTENT_TYPE
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.web.access import LOOPBACK, Allow, route


def scrapers(settings: Settings) -> tuple[str, ...]:
    """Networks that may read the metrics without signing in."""
    return LOOPBACK + settings.metrics_allow


async def metrics_text(request: Request) -> Response:
    """The Prometheus text exposition of this instance."""
    # Not portal_of(): metrics are most wanted while an instance is still loading its records.
    portal: Portal = request.state.portal
    # Collecting reads /proc and takes the instruments' locks: off the event loop.
    body = await run_in_threadpool(portal.metrics.render)
    return Response(body, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})


routes = [route("/metrics", metrics_text, allow=Allow.admin, or_from=scrapers, hidden=True)]
