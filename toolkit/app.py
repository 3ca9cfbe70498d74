"""create_app(settings): routes, middleware, error handlers and the lifespan of one instance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from toolkit.notices import run_daily_checks
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.store import Store, StoreUnavailable
from toolkit.web.access import routes_without_declaration
from toolkit.web.errors import EXCEPTION_HANDLERS
from toolkit.web.idempotency import purge_expired
from toolkit.web.logs import configure_logging
from toolkit.web.middleware import PortalMiddleware
from toolkit.web.routes import all_routes
from toolkit.web.uploads import sweep_spool

log = logging.getLogger(__name__)
_DAY = 86_400.0


async def _keep_fresh(portal: Portal) -> None:
    """Pick up other instances' writes; an unreachable store is logged and retried, never fatal."""
    failing = False
    while True:
        await asyncio.sleep(portal.settings.refresh_seconds)
        try:
            await run_in_threadpool(portal.refresh)
            if failing:
                log.warning("store reachable again: %s", portal.store.endpoint)
            failing = False
        except StoreUnavailable as exc:
            if not failing:
                log.error("%s", exc)
            failing = True
        except Exception:
            log.exception("refresh failed")


async def _flush_counters(portal: Portal) -> None:
    """Write this instance's counts and any audit entries the store refused earlier, every
    interval; what fails is kept for the next one."""
    while True:
        await asyncio.sleep(portal.settings.counter_flush_seconds)
        try:
            await run_in_threadpool(portal.counters.flush)
            await run_in_threadpool(portal.audit.flush_pending)
        except StoreUnavailable as exc:
            log.error("counters or audit entries not flushed: %s", exc)
        except Exception:
            log.exception("counter flush failed")


async def _purge_daily(portal: Portal) -> None:
    """Forget stored results of Idempotency-Key requests once they are a day old."""
    while True:
        try:
            await run_in_threadpool(purge_expired, portal.records)
        except Exception as exc:
            log.error("idempotency results not purged: %s", exc)
        await asyncio.sleep(_DAY)


async def _run(portal: Portal, after_start: Callable[[Portal], None] | None) -> None:
    """Load the records if that is still to do, then keep this instance current until shutdown."""
    if not portal.ready:
        while True:
            try:
                await run_in_threadpool(portal.load)
                break
            except StoreUnavailable as exc:
                log.error("cannot load the records yet, retrying: %s", exc)
                await asyncio.sleep(portal.settings.refresh_seconds)
            except Exception:
                # Health keeps answering 503 "starting"; the log says why.
                log.exception("loading the records failed, retrying")
                await asyncio.sleep(portal.settings.refresh_seconds)
    if after_start is not None:
        await run_in_threadpool(after_start, portal)
    await asyncio.gather(
        _keep_fresh(portal), _flush_counters(portal), run_daily_checks(portal), _purge_daily(portal)
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    portal: Portal | None = None,
    serve_while_starting: bool = False,
    after_start: Callable[[Portal], None] | None = None,
) -> Starlette:
    """The web app of one instance.

    serve_while_starting: answer at once (503 "starting" until the records are loaded) instead of
    loading before the first request; what a server in production wants, so health checks see it.
    after_start: called (in a worker thread) once the records are loaded.
    """
    settings = settings or Settings.from_env()
    configure_logging()
    routes = all_routes()
    undeclared = routes_without_declaration(routes)
    if undeclared:
        raise RuntimeError(f"routes without an access declaration: {', '.join(undeclared)}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Portal]]:
        instance = portal or Portal(settings, store)
        # An unreachable store stops the start with one clear line, loading or not.
        await run_in_threadpool(instance.store.ping)
        await run_in_threadpool(sweep_spool, instance)
        if not instance.ready and not serve_while_starting:
            await run_in_threadpool(instance.load)
        task = asyncio.create_task(_run(instance, after_start))
        try:
            yield {"portal": instance}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(instance.close)

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                PortalMiddleware,
                secure_cookies=settings.secure_cookies,
                default_language=settings.default_language,
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
