"""Things every response gets: security headers, a CSRF cookie, the request's language; and its
duration in portal.metrics (request_seconds by method, route template and status class).

The CSRF cookie holds a token bound to what the request is authenticated by (toolkit.web.sessions):
a request whose cookie is missing, or was made for another binding (signed out, another session,
planted from elsewhere), gets a fresh one, and its page carries that one."""

from __future__ import annotations

from http.cookies import SimpleCookie
from time import perf_counter

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.i18n import current_language, negotiate, pick_language
from toolkit.metrics import OTHER
from toolkit.portal import Portal
from toolkit.store import StoreUnavailable
from toolkit.web.access import csrf_binding, csrf_tokens_of
from toolkit.web.sessions import csrf_cookie_name

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
        state = scope.setdefault("state", {})
        csrf_name, csrf, fresh_csrf = self._csrf(scope, state, headers, cookies)
        state["csrf_token"] = fresh_csrf or csrf or ""
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
                # A response that sets the cookie itself (signing in, out) knows better.
                if fresh_csrf and not any(
                    value.startswith(csrf_name + "=") for value in response_headers.getlist("set-cookie")
                ):
                    secure = "; Secure" if csrf_name != csrf_cookie_name(False) else ""
                    response_headers.append(
                        "set-cookie", f"{csrf_name}={fresh_csrf}; Path=/; HttpOnly; SameSite=Lax{secure}"
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

    def _csrf(
        self, scope: Scope, state: dict[str, object], headers: dict[bytes, bytes], cookies: SimpleCookie
    ) -> tuple[str, str | None, str | None]:
        """(cookie name, the request's CSRF cookie, a fresh token to set instead, if it needs one)."""
        portal = state.get("portal")
        secure = portal.settings.secure_cookies if isinstance(portal, Portal) else self.secure_cookies
        name = csrf_cookie_name(secure)
        csrf = cookies[name].value if name in cookies else None
        # API clients with a token never use the CSRF cookie: do not hand them one on every call.
        # Static files, health checks, share pages and scrapers never post a form.
        if (
            not isinstance(portal, Portal)
            or not portal.ready
            or b"authorization" in headers
            or scope["path"].startswith(NO_COOKIE_PATHS)
        ):
            return name, csrf, None
        try:
            # The key is loaded by Portal.load(); only a Portal made without one loads it here.
            tokens = csrf_tokens_of(portal)
        except StoreUnavailable:
            return name, csrf, None
        binding = csrf_binding(Request(scope), portal)
        return name, csrf, None if tokens.valid(csrf, binding) else tokens.new(binding)
