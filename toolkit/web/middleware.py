"""Things every response gets: security headers, a CSRF cookie, the request's language; and its
duration in portal.metrics (request_seconds by method, route template and status class)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from time import perf_counter

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.i18n import current_language, negotiate, pick_language
from toolkit.metrics import OTHER
from toolkit.portal import Portal
from toolkit.web.sessions import CSRF_COOKIE, new_csrf_token

# No inline scripts anywhere: all JavaScript is in files under /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

# Static files, health checks, public share links and scrapers never post a form: no CSRF cookie.
NO_COOKIE_PATHS = ("/static/", "/api/v1/health", "/s/", "/metrics")


class PortalMiddleware:
    def __init__(self, app: ASGIApp, *, secure_cookies: bool, default_language: str) -> None:
        self.app = app
        self.secure_cookies = secure_cookies
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # unless a response starts: an exception escaped to the server error handler
        headers = dict(scope["headers"])
        raw_cookie = headers.get(b"cookie", b"").decode("latin-1")
        cookies = SimpleCookie()
        if raw_cookie:
            try:
                cookies.load(raw_cookie)
            except Exception:
                cookies = SimpleCookie()
        csrf = cookies[CSRF_COOKIE].value if CSRF_COOKIE in cookies else None
        # API clients with a token never use the CSRF cookie: do not hand them one on every call.
        fresh_csrf = csrf is None and b"authorization" not in headers
        state = scope.setdefault("state", {})
        state["csrf_token"] = csrf or new_csrf_token()
        lang_cookie = cookies["toolkit_lang"].value if "toolkit_lang" in cookies else None
        current_language.set(
            pick_language(
                lang_cookie,
                negotiate(headers.get(b"accept-language", b"").decode("latin-1"), self.default_language),
                default=self.default_language,
            )
        )

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    response_headers.setdefault(name, value)
                if fresh_csrf and not scope["path"].startswith(NO_COOKIE_PATHS):
                    secure = "; Secure" if self.secure_cookies else ""
                    response_headers.append(
                        "set-cookie",
                        f"{CSRF_COOKIE}={state['csrf_token']}; Path=/; HttpOnly; SameSite=Lax{secure}",
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # The portal is in the lifespan's state; without a lifespan nothing is measured.
            portal: Portal | None = state.get("portal")
            if portal is not None:
                # The router leaves the route it chose in the scope: its path template (never the
                # raw path) keeps the number of label values bounded.
                route = scope.get("route")
                portal.metrics.request(
                    scope["method"], getattr(route, "path", OTHER), status, perf_counter() - started
                )
