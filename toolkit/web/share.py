"""Public share pages: /s/<token> for LinkedIn's crawler and for the people who click.

Crawlers get a server-rendered page with Open Graph tags (they run no JavaScript). People are
counted and sent on to the post's link with UTM parameters, or shown a clean page when the post has
no link. Nothing about a visitor is stored: the User-Agent and the address are looked at and
forgotten (only a salted hash of them with the token is held in this instance's memory until the
day ends, so that a client asking again the same day is not counted twice; see
toolkit.sharing.ClickDedupe), and the only cookie is a list of hashed tokens clicked today.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from toolkit.errors import Gone
from toolkit.sharing import SHARE_IMAGE_HEIGHT, SHARE_IMAGE_WIDTH, SHARE_PRESET, SharePage, is_crawler
from toolkit.web.access import Allow, client_address, portal_of, route
from toolkit.web.templating import render

CLICKED_COOKIE = "toolkit_clicked"
CLICKED_PATH = "/s/"
# A browser that opens more links than this in a day forgets the oldest; the cookie stays small.
CLICKED_MAX = 40
_HASH_CHARS = 12
IMAGE_CACHE = "public, max-age=86400"


def gone_page(request: Request) -> Response:
    """The neutral 410: no post text, no image, nothing about who shared it."""
    response = render(request, "public/gone.html", status=410)
    response.headers["cache-control"] = "no-store"
    return response


def _token_mark(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:_HASH_CHARS]


def clicked_today(cookie: str | None, day: str) -> list[str]:
    """The marks in a click cookie when it is from today; an older or damaged cookie counts as empty."""
    if not cookie:
        return []
    stamp, _, rest = cookie.partition(".")
    if stamp != day.replace("-", ""):
        return []
    marks = [m for m in rest.split(".") if len(m) == _HASH_CHARS and all(c in "0123456789abcdef" for c in m)]
    return marks[-CLICKED_MAX:]


def _remember_click(request: Request, response: Response, marks: list[str], now: datetime) -> None:
    settings = portal_of(request).settings
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    response.set_cookie(
        CLICKED_COOKIE,
        f"{now:%Y%m%d}." + ".".join(marks[-CLICKED_MAX:]),
        max_age=max(60, int((midnight - now).total_seconds())),
        path=CLICKED_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


async def share_page(request: Request) -> Response:
    portal = portal_of(request)
    token = request.path_params["token"]
    try:
        page: SharePage = await run_in_threadpool(portal.sharing.page, token)
    except Gone:
        return gone_page(request)
    agent = request.headers.get("user-agent")
    # Matching ~1,500 robot patterns takes a millisecond or so: not on the event loop.
    if await run_in_threadpool(is_crawler, agent):
        return _page(request, page, status=200)
    response: Response
    if page.target:
        response = RedirectResponse(page.target, status_code=303)
        response.headers["cache-control"] = "no-store"
    else:
        response = _page(request, page, status=200)
    if request.method == "GET":
        now = datetime.now(UTC)
        marks = clicked_today(request.cookies.get(CLICKED_COOKIE), now.date().isoformat())
        mark = _token_mark(token)
        if mark not in marks:
            # Without the cookie (a fresh or scripted client) the server's own memory decides.
            portal.sharing.count_click(page.link, client_fingerprint(request, agent))
            _remember_click(request, response, [*marks, mark], now)
    return response


def client_fingerprint(request: Request, agent: str | None) -> str:
    """Who clicked, for counting a click once: the address as the portal sees it (behind a trusted
    proxy, the sender it names) and the User-Agent. Hashed with a daily salt by ClickDedupe, held
    in memory only, and never stored or logged. An IPv6 client counts by its /64: one device picks
    new addresses within it at will (privacy extensions), so single addresses would not tell."""
    address = client_address(request, portal_of(request).settings.trusted_proxies)
    if address is None:
        where = "unknown"
    elif isinstance(address, ipaddress.IPv6Address):
        where = str(ipaddress.IPv6Network((address, 64), strict=False))
    else:
        where = str(address)
    return f"{where} {agent or ''}"


def _page(request: Request, page: SharePage, *, status: int) -> Response:
    sharing = portal_of(request).sharing
    token = page.link.token
    context = {
        "page": page,
        "share_url": sharing.url(token),
        "image_url": sharing.image_url(token) if page.image else None,
        "image_width": SHARE_IMAGE_WIDTH,
        "image_height": SHARE_IMAGE_HEIGHT,
    }
    response = render(request, "public/share.html", context, status=status)
    # The same address answers crawlers with this page and people with a redirect.
    response.headers["cache-control"] = "no-cache"
    response.headers["vary"] = "User-Agent, Accept-Language"
    return response


async def share_image(request: Request) -> Response:
    """The 1200x627 JPEG of the post, for anyone (crawlers fetch it without cookies); 410 when gone."""
    portal = portal_of(request)
    token = request.path_params["token"]
    try:
        page: SharePage = await run_in_threadpool(portal.sharing.page, token)
    except Gone:
        return gone_page(request)
    if page.image is None:
        # Bare 404: this address is public, and an error page would show the portal around it.
        return Response(status_code=404, headers={"cache-control": "no-store"})
    asset = page.image
    headline = page.post.headline or None
    rendition = await run_in_threadpool(
        lambda: portal.renditions.render(asset, SHARE_PRESET, "jpeg", watermark=True, headline=headline)
    )
    etag = f'"{rendition.etag}"'
    headers = {"etag": etag, "cache-control": IMAGE_CACHE}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(rendition.data, media_type=rendition.content_type, headers=headers)


routes = [
    route("/s/{token}", share_page, allow=Allow.anyone),
    route("/s/{token}/image.jpg", share_image, allow=Allow.anyone),
]
