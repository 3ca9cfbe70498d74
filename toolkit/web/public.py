"""Pages and endpoints anyone may reach: sign-in, one-time links, language switch, health."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from toolkit.errors import Invalid, NotFound, TooManyRequests
from toolkit.i18n import LANGUAGES
from toolkit.web.access import (
    LANGUAGE_COOKIE,
    Allow,
    client_bucket,
    codec_of,
    csrf_tokens_of,
    portal_of,
    route,
    session_of,
    user_of,
)
from toolkit.web.forms import form_fields, safe_next, see_other
from toolkit.web.sessions import csrf_cookie_name, session_cookie_name
from toolkit.web.templating import render


def sign_in(request: Request, response: Response, user_id: str, epoch: int) -> Response:
    """Start a fresh session: a new session id in the cookie, and a new CSRF token bound to it."""
    portal = portal_of(request)
    settings = portal.settings
    value, session = codec_of(portal).issue(user_id, epoch)
    response.set_cookie(
        session_cookie_name(settings.secure_cookies),
        value,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    _set_csrf(request, response, "session:" + session.sid)
    return response


def sign_out(request: Request, response: Response) -> Response:
    """Drop the session cookie, and give the browser a CSRF token for a visitor not signed in."""
    secure = portal_of(request).settings.secure_cookies
    response.delete_cookie(session_cookie_name(secure), httponly=True, samesite="lax", secure=secure)
    _set_csrf(request, response, "")
    return response


def _set_csrf(request: Request, response: Response, binding: str) -> None:
    portal = portal_of(request)
    secure = portal.settings.secure_cookies
    token = csrf_tokens_of(portal).new(binding)
    response.set_cookie(csrf_cookie_name(secure), token, httponly=True, samesite="lax", secure=secure)


async def login_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if user_of(request) is not None:
        return see_other(next_url)
    return render(request, "public/login.html", {"next": next_url, "email": "", "error": None})


async def login(request: Request) -> Response:
    fields = await form_fields(request)
    next_url = safe_next(fields.get("next"))
    email = fields.get("email", "")
    try:
        user = await run_in_threadpool(
            portal_of(request).accounts.authenticate,
            email,
            fields.get("password", ""),
            client_bucket(request),
        )
    except (Invalid, TooManyRequests) as exc:
        from toolkit.i18n import gettext

        context = {"next": next_url, "email": email, "error": exc.text(gettext)}
        return render(request, "public/login.html", context, status=exc.status)
    return sign_in(request, see_other(next_url), user.id, user.session_epoch)


async def logout(request: Request) -> Response:
    """End this session on every instance, not only in this browser: a copy of the cookie taken
    before is refused too (within the refresh interval on other instances)."""
    portal = portal_of(request)
    session = session_of(request, portal)
    person = portal.accounts.get(session.user_id) if session is not None else None
    # Only a session that still works is written down: a dead one costs no write, however often.
    if session is not None and person is not None and person.live_session(session.epoch, session.sid):
        expires = codec_of(portal).expires_at(session)
        await run_in_threadpool(portal.accounts.end_session, session.user_id, session.sid, expires)
    return sign_out(request, see_other("/login"))


async def link_page(request: Request) -> Response:
    secret = request.path_params["secret"]
    user, purpose = await run_in_threadpool(portal_of(request).accounts.peek_link, secret)
    return render(
        request, "public/link.html", {"person": user, "purpose": purpose, "secret": secret, "error": None}
    )


async def use_link(request: Request) -> Response:
    """Links are spent by a POST, never a GET: mail scanners and chat previews fetch links too."""
    accounts = portal_of(request).accounts
    secret = request.path_params["secret"]
    fields = await form_fields(request)
    person, purpose = await run_in_threadpool(accounts.peek_link, secret)
    try:
        if purpose == "setup":
            user = await run_in_threadpool(
                accounts.create_first_admin,
                secret,
                fields.get("email", ""),
                fields.get("name", ""),
                fields.get("password", ""),
            )
        elif purpose == "login":
            spent, _ = await run_in_threadpool(accounts.use_link, secret)
            assert spent is not None
            user = spent
        else:
            assert person is not None
            from toolkit.accounts import check_password_strength

            check_password_strength(fields.get("password", ""))
            used, _ = await run_in_threadpool(accounts.use_link, secret)
            assert used is not None
            user = await run_in_threadpool(accounts.set_password, used, fields.get("password", ""))
    except Invalid as exc:
        from toolkit.i18n import gettext

        context = {"person": person, "purpose": purpose, "secret": secret, "error": exc.text(gettext)}
        return render(request, "public/link.html", context, status=exc.status)
    return sign_in(request, see_other("/"), user.id, user.session_epoch)


async def choose_language(request: Request) -> Response:
    fields = await form_fields(request)
    language = fields.get("language", "")
    if language not in LANGUAGES:
        raise NotFound()
    response = see_other(safe_next(fields.get("next")))
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 86400,
        samesite="lax",
        secure=portal_of(request).settings.secure_cookies,
    )
    return response


async def health(request: Request) -> Response:
    """200 when the store answers; the error handler turns an unreachable store into 503."""
    await run_in_threadpool(portal_of(request).store.ping)
    return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


routes = [
    route("/login", login_page, allow=Allow.anyone),
    route("/login", login, allow=Allow.anyone, methods=["POST"], name="login_submit"),
    route("/logout", logout, allow=Allow.anyone, methods=["POST"]),
    route("/link/{secret}", link_page, allow=Allow.anyone),
    route("/link/{secret}", use_link, allow=Allow.anyone, methods=["POST"], name="use_link_submit"),
    route("/language", choose_language, allow=Allow.anyone, methods=["POST"]),
    route("/api/v1/health", health, allow=Allow.anyone),
]
