"""Pages and endpoints anyone may reach: sign-in, one-time links, language switch, health."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from toolkit.errors import Invalid, NotFound, TooManyRequests
from toolkit.i18n import LANGUAGES
from toolkit.web.access import LANGUAGE_COOKIE, Allow, portal_of, route, session_codec, user_of
from toolkit.web.forms import form_fields, safe_next, see_other
from toolkit.web.sessions import CSRF_COOKIE, SESSION_COOKIE, new_csrf_token
from toolkit.web.templating import render


def sign_in(request: Request, response: Response, user_id: str, epoch: int) -> Response:
    """Start a fresh session: new session cookie and a new CSRF token (rotated at login)."""
    settings = portal_of(request).settings
    codec = session_codec(settings.secret_key, settings.session_days)
    response.set_cookie(
        SESSION_COOKIE,
        codec.encode(user_id, epoch),
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.set_cookie(
        CSRF_COOKIE, new_csrf_token(), httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


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
            portal_of(request).accounts.authenticate, email, fields.get("password", "")
        )
    except (Invalid, TooManyRequests) as exc:
        from toolkit.i18n import gettext

        context = {"next": next_url, "email": email, "error": exc.text(gettext)}
        return render(request, "public/login.html", context, status=exc.status)
    return sign_in(request, see_other(next_url), user.id, user.session_epoch)


async def logout(request: Request) -> Response:
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


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
