"""Default deny: every route declares who may use it, and one guard enforces it.

A route made without a declaration cannot be registered (create_app refuses to start), so a new
handler is never reachable by accident. The guard also identifies the visitor (API token,
trusted single sign-on header, or session cookie) and checks CSRF on cookie-authenticated writes.
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Awaitable, Callable, Sequence
from enum import IntEnum
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolkit.accounts import Role, User, normalise_email
from toolkit.errors import N_, BadRequest, Forbidden, Invalid, NotFound, Starting, Unauthorized
from toolkit.i18n import current_language, negotiate, pick_language
from toolkit.keys import Keys
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.web.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfTokens,
    Session,
    SessionCodec,
    csrf_cookie_name,
    csrf_matches,
    session_cookie_name,
)

Endpoint = Callable[[Request], Awaitable[Response]]
# Networks (from the settings) whose requests a route lets in without anyone signing in.
Addresses = Callable[[Settings], tuple[str, ...]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = ("127.0.0.0/8", "::1/128")
# A request carrying any of these says a proxy passed it on: its socket peer is not its sender.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "x-forwarded-proto")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LANGUAGE_COOKIE = "toolkit_lang"
CSRF_REFUSED = N_("This form has expired or did not come from this portal. Reload the page and try again.")
SSO_HEADER_INVALID = N_(
    "The single sign-on proxy sent a %(header)s header that is not one e-mail address, so this request "
    "was refused. Ask your administrator to check the proxy."
)


class Allow(IntEnum):
    """Who may use a route; each level includes the ones above it in the list."""

    anyone = 0
    employee = Role.employee.value
    marketing = Role.marketing.value
    admin = Role.admin.value


class GuardedRoute(Route):
    """A Route that knows who may use it."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        allow: Allow,
        methods: Sequence[str],
        name: str,
        streams_body: bool = False,
        or_from: Addresses | None = None,
        hidden: bool = False,
    ) -> None:
        self.allow = allow
        self.handler = endpoint
        self.streams_body = streams_body
        self.or_from = or_from
        self.hidden = hidden
        super().__init__(
            path, _guard(endpoint, allow, streams_body, or_from, hidden), methods=list(methods), name=name
        )


def route(
    path: str,
    endpoint: Endpoint,
    *,
    allow: Allow,
    methods: Sequence[str] = ("GET",),
    name: str | None = None,
    streams_body: bool = False,
    or_from: Addresses | None = None,
    hidden: bool = False,
) -> GuardedRoute:
    """A route that declares who may use it.

    streams_body: the handler reads a (large) multipart body itself with toolkit.web.uploads, so
    the guard must not parse it as a form first (that would read the whole body before any size
    limit). A cookie-authenticated request without the CSRF header then has its csrf_token field
    checked by that streaming parser, which refuses the request when the field is missing or wrong.

    or_from: also let in, without anyone signing in, reads (GET, HEAD) sent from these networks, as
    told by client_address(); such a request is served even while the instance is still starting.
    hidden: a visitor who is not signed in gets 404, as if the route did not exist, instead of the
    sign-in page or 401; signed-in people without the role still get 403.
    """
    name = name or endpoint.__name__
    return GuardedRoute(
        path,
        endpoint,
        allow=allow,
        methods=methods,
        name=name,
        streams_body=streams_body,
        or_from=or_from,
        hidden=hidden,
    )


def portal_of(request: Request) -> Portal:
    """The instance serving the request; 503 "starting" while it is still loading its records."""
    portal: Portal = request.state.portal
    if not portal.ready:
        raise Starting()
    return portal


def user_of(request: Request) -> User | None:
    user: User | None = getattr(request.state, "user", None)
    return user


def require_user(request: Request) -> User:
    user = user_of(request)
    if user is None:
        raise Unauthorized()
    return user


def _guard(
    endpoint: Endpoint,
    allow: Allow,
    streams_body: bool = False,
    or_from: Addresses | None = None,
    hidden: bool = False,
) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if or_from is not None and request.method in SAFE_METHODS:
            # Not portal_of(): an instance still loading its records answers these too.
            settings: Settings = request.state.portal.settings
            address = client_address(request, settings.trusted_proxies)
            if address is not None and _within(address, or_from(settings)):
                request.state.user = None
                request.state.auth_via = "address"
                return await endpoint(request)
        try:
            user, via = identify(request)
        except Unauthorized:
            if hidden:
                raise NotFound() from None
            raise
        request.state.user = user
        request.state.auth_via = via
        current_language.set(language_for(request, user))
        if allow > Allow.anyone:
            if user is None:
                raise NotFound() if hidden else Unauthorized()
            if not user.can(Role(allow.value)):
                raise Forbidden()
        if request.method not in SAFE_METHODS and via != "token":
            if streams_body and not request.headers.get(CSRF_HEADER):
                # The streaming parser compares the form's field with the cookie; that the cookie
                # is bound to this request's session is checked here, before the body is read.
                if not csrf_cookie_bound(request):
                    raise Forbidden(CSRF_REFUSED)
                request.state.csrf_in_body = True
            else:
                await check_csrf(request)
        return await endpoint(request)

    guarded.__name__ = endpoint.__name__
    guarded.__doc__ = endpoint.__doc__
    return guarded


def identify(request: Request) -> tuple[User | None, str | None]:
    """Who is asking, and how they proved it: 'token', 'sso', 'session' or nobody."""
    portal = portal_of(request)
    settings = portal.settings
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        user = portal.accounts.user_for_token(secret.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Unauthorized(N_("The API token is missing, not valid, or was revoked."))
        return user, "token"
    if (
        settings.trusted_email_header
        and request.client
        and _trusted(request.client.host, settings.trusted_proxies)
    ):
        email = trusted_email(request, settings.trusted_email_header)
        if email:
            user = portal.accounts.sso_user(email, auto_create=settings.sso_auto_create)
            if user is not None:
                return user, "sso"
    session = session_of(request, portal)
    if session is not None:
        user = portal.accounts.get(session.user_id)
        if user is not None and user.live_session(session.epoch, session.sid):
            return user, "session"
    return None, None


# The portal's key. Portal.load() loads it before the first request; a Portal without one (made
# before toolkit.keys existed) gets one here, on first use.
_KEYS: weakref.WeakKeyDictionary[Portal, Keys] = weakref.WeakKeyDictionary()


def keys_of(portal: Portal) -> Keys:
    keys: Keys | None = getattr(portal, "keys", None)
    if keys is None:
        keys = _KEYS.get(portal)
        if keys is None:
            keys = _KEYS[portal] = Keys(portal.store, portal.settings.secret_key)
    return keys


def codec_of(portal: Portal) -> SessionCodec:
    return session_codec(keys_of(portal).secret, portal.settings.session_days)


def csrf_tokens_of(portal: Portal) -> CsrfTokens:
    return _csrf_tokens(keys_of(portal).secret)


def session_of(request: Request, portal: Portal) -> Session | None:
    """The session the request's cookie carries, if authentic and not expired (whether its person
    still has it is identify()'s question)."""
    cookie = request.cookies.get(session_cookie_name(portal.settings.secure_cookies))
    return codec_of(portal).decode(cookie) if cookie else None


def csrf_binding(request: Request, portal: Portal) -> str:
    """What this request's CSRF token must be bound to: the e-mail a trusted single sign-on proxy
    vouches for, else the id of the session in its cookie, else nothing (not signed in)."""
    settings = portal.settings
    if (
        settings.trusted_email_header
        and request.client
        and _trusted(request.client.host, settings.trusted_proxies)
    ):
        vouched = [value.strip().lower() for value in request.headers.getlist(settings.trusted_email_header)]
        if any(vouched):
            return "sso:" + ",".join(vouched)
    session = session_of(request, portal)
    return "session:" + session.sid if session is not None else ""


def csrf_cookie_of(request: Request) -> str | None:
    """The CSRF cookie (named with the __Host- prefix when the base URL is https)."""
    return request.cookies.get(csrf_cookie_name(request.state.portal.settings.secure_cookies))


def csrf_cookie_bound(request: Request) -> bool:
    """Whether the request's CSRF cookie was made by this portal for this request's binding."""
    portal = portal_of(request)
    return csrf_tokens_of(portal).valid(csrf_cookie_of(request), csrf_binding(request, portal))


def client_bucket(request: Request) -> str:
    """Who is signing in, for the sign-in throttle: the client address (an IPv6 client by its /64,
    which one household or host usually holds whole), or the socket peer when the sender cannot be
    known (undeclared proxy: then everyone behind it shares one bucket, see `toolkit check`)."""
    address = client_address(request, request.state.portal.settings.trusted_proxies)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    if address is not None:
        return str(address)
    return "peer:" + (request.client.host if request.client else "")


# What a single e-mail address never contains: list separators, angle brackets, quotes, spaces.
_NOT_IN_ONE_ADDRESS = frozenset(',;<>"() \t')


def trusted_email(request: Request, header: str) -> str | None:
    """The one e-mail address the trusted proxy's header names, or None when it names none.

    A header that names something else (two addresses "a@x.com, b@y.com", a display name, the header
    sent twice, control characters) is refused with 400 for this request only: believing part of it
    would sign in the wrong person, and ignoring it would hide a misconfigured or abused proxy.
    """
    values = [value.strip() for value in request.headers.getlist(header)]
    values = [value for value in values if value]
    if not values:
        return None
    email = values[0]
    if (
        len(values) > 1
        or email.count("@") != 1
        or any(c in _NOT_IN_ONE_ADDRESS or ord(c) < 32 or ord(c) == 127 for c in email)
    ):
        raise BadRequest(SSO_HEADER_INVALID, header=header)
    try:
        normalise_email(email)
    except Invalid:
        raise BadRequest(SSO_HEADER_INVALID, header=header) from None
    return email


@cache
def session_codec(secret: str | bytes, days: int) -> SessionCodec:
    return SessionCodec(secret, days * 86400)


@cache
def _csrf_tokens(secret: bytes) -> CsrfTokens:
    return CsrfTokens(secret)


@cache
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(host: str, proxies: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(proxies))


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IPAddress, networks: tuple[str, ...]) -> bool:
    return any(address in network for network in _networks(networks))


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> IPAddress | None:
    """Who sent the request, as far as can be known; None when that cannot be known.

    The socket peer, unless the peer is one of TOOLKIT_TRUSTED_PROXIES: then the sender is the
    last X-Forwarded-For hop before the trusted proxies (none given: unknown). A request from any
    other peer that carries forwarding headers has an unknown sender: a proxy nobody declared
    passed it on (a loopback peer would otherwise stand for the whole internet behind it), or the
    client forged them. The server itself never rewrites the peer (uvicorn runs without
    proxy_headers).
    """
    if request.client is None:
        return None
    peer = _address(request.client.host)
    if peer is None:
        return None
    headers = request.headers
    if trusted_proxies and _within(peer, trusted_proxies):
        hops = [hop for value in headers.getlist("x-forwarded-for") for hop in value.split(",")]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return None
            if not _within(address, trusted_proxies):
                return address
        return None
    if any(name in headers for name in FORWARDING_HEADERS):
        return None
    return peer


def language_for(request: Request, user: User | None) -> str:
    """Explicit choice in the header switch, then the person's profile, then the browser."""
    default = portal_of(request).settings.default_language
    return pick_language(
        request.cookies.get(LANGUAGE_COOKIE),
        user.language if user else None,
        negotiate(request.headers.get("accept-language"), default=default),
        default=default,
    )


async def check_csrf(request: Request) -> None:
    """The token sent (header or form field) is the cookie's, and bound to this request's session."""
    cookie = csrf_cookie_of(request)
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not (csrf_matches(cookie, sent) and csrf_cookie_bound(request)):
        raise Forbidden(CSRF_REFUSED)


def routes_without_declaration(routes: Sequence[Any]) -> list[str]:
    """Paths of routes that do not say who may use them (they must not exist)."""
    from starlette.routing import Mount

    missing = []
    for item in routes:
        if isinstance(item, Mount):
            if getattr(item, "allow", None) is None:
                missing.append(item.path)
        elif not isinstance(item, GuardedRoute):
            missing.append(getattr(item, "path", repr(item)))
    return missing
