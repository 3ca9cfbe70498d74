"""One running instance: settings, the store, the record index and the domain services on them.

Built once at start-up (the web app's lifespan, or a CLI command) and shared by every request.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from toolkit.accounts import Accounts
from toolkit.assets import Assets
from toolkit.audit import AuditLog
from toolkit.brand import BrandSettings
from toolkit.counters import Counters
from toolkit.crisis import Crisis
from toolkit.hashtag_sets import HashtagSets
from toolkit.keys import Keys
from toolkit.metrics import Metrics
from toolkit.notices import Notices
from toolkit.notify import Notifier
from toolkit.policy import Policy
from toolkit.posts import Post, Posts
from toolkit.records import Records
from toolkit.renditions import Renditions
from toolkit.settings import Settings
from toolkit.sharing import Sharing, move_legacy_claims
from toolkit.stats import Stats
from toolkit.store import Store, open_store
from toolkit.store.instrumented import InstrumentedStore

log = logging.getLogger(__name__)


class Portal:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        raw = store or open_store(
            settings.store, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
        # Every store request is counted and timed; portal.store.inner is the store itself.
        self.store: Store = InstrumentedStore(raw, self.metrics)
        self.keys = Keys(self.store, settings.secret_key)
        # Counter and audit objects are written per instance, so the name must be unique per process:
        # several workers started with one TOOLKIT_INSTANCE_ID would otherwise overwrite each other.
        self.instance = f"{settings.instance_id or socket.gethostname()}-{os.getpid()}"
        self.records = Records(
            self.store,
            instance=self.instance,
            cache_entries=settings.record_cache_entries,
            checkpoint_every_entries=settings.checkpoint_every,
            checkpoint_every_seconds=settings.checkpoint_minutes * 60,
            metrics=self.metrics,
        )
        self.metrics.watch_refresh_lag(self.records.refreshed_seconds_ago)
        # False until start() has loaded the records; requests meanwhile get 503 "starting".
        self.ready = False
        self.audit = AuditLog(self.store, self.instance)
        self.accounts = Accounts(self.records, self.audit, keys=self.keys)
        self.assets = Assets(
            self.records,
            self.store,
            self.audit,
            max_pixels=settings.max_pixels,
            max_decode_mb=settings.max_decode_mb,
        )
        self.brand = BrandSettings(self.records, self.store, self.audit, self.assets)
        self.renditions = Renditions(
            self.store, self.assets, self.brand, lambda: self.settings, metrics=self.metrics
        )
        self.counters = Counters(self.store, self.instance)
        self.hashtag_sets = HashtagSets(self.records, self.audit)
        self.posts = Posts(
            self.records, self.audit, self.hashtag_sets, self.counters, on_approved=self._announce_post
        )
        self.policy = Policy(self.records, self.audit, self.accounts, lambda: self.settings)
        self.crisis = Crisis(self.records, self.audit)
        self.notices = Notices(self.records, self.accounts, lambda: self.settings, self.instance)
        self.notifier = Notifier(lambda: self.settings)
        self.sharing = Sharing(
            self.records,
            self.store,
            self.audit,
            self.accounts,
            self.posts,
            self.assets,
            self.crisis,
            self.counters,
            lambda: self.settings,
        )
        self.stats = Stats(self.records, self.audit, self.accounts, self.posts, self.counters)

    def start(self) -> None:
        """Check the store answers and load the records; raises StoreUnavailable if it cannot."""
        self.store.ping()
        self.load()

    def load(self) -> None:
        """The signing key, the latest checkpoint and the journal after it (a listing on a store
        without one)."""
        self.keys.load()
        started = time.perf_counter()
        count = self.records.load()
        move_legacy_claims(self.records)
        self.ready = True
        log.info(
            "loaded %d records from %s in %.1f s (journal position %d)",
            count,
            self.store.endpoint,
            time.perf_counter() - started,
            self.records.position,
        )

    def refresh(self) -> int:
        """Other instances' changes; then a checkpoint if one is due and nobody else writes it."""
        changed = self.records.refresh()
        self.records.maybe_checkpoint()
        return changed

    def _announce_post(self, post: Post) -> None:
        """Tell employees where they already are (Slack, Teams) that fresh content is there."""
        self.notifier.post_approved(post.title, f"{self.settings.base_url.rstrip('/')}/posts/{post.id}")

    def close(self) -> None:
        """Flush what is only in memory; called at shutdown."""
        try:
            self.counters.flush()
        except Exception:
            log.exception("could not flush counters at shutdown")
        self.notifier.close()
        self.records.close()
