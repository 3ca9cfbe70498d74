"""Marketing's 'Expiring soon' page: the digest of the latest daily check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from toolkit.web.access import Allow, portal_of, route
from toolkit.web.templating import render


async def notices_page(request: Request) -> Response:
    notices = portal_of(request).notices
    digest = notices.latest()
    # What the check found may have been dealt with since (archived, extended): say so per line.
    now = notices.compute()
    open_assets = {(a.id, a.reason, a.expires) for a in now.assets}
    open_posts = {(p.id, p.valid_until) for p in now.posts}
    context = {
        "digest": digest,
        "open_assets": open_assets,
        "open_posts": open_posts,
        "mail_enabled": bool(portal_of(request).settings.smtp_url),
    }
    return render(request, "marketing/notices.html", context)


routes = [route("/notices", notices_page, allow=Allow.marketing)]
