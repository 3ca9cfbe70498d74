"""One running instance: settings, the store, the record index and the domain services on them.

Built once at start-up (the web app's lifespan, or a CLI command) and shared by every request.
"""

from __future__ import annotations

import logging
import os
import socket

from toolkit.accounts import Accounts
from toolkit.assets import Assets
from toolkit.audit import AuditLog
from toolkit.brand import BrandSettings
from toolkit.counters import Counters
from toolkit.crisis import Crisis
from toolkit.hashtag_sets import HashtagSets
from toolkit.notices import Notices
from toolkit.notify import Notifier
from toolkit.policy import Policy
from toolkit.posts import Post, Posts
from toolkit.records import Records
from toolkit.renditions import Renditions
from toolkit.settings import Settings
from toolkit.sharing import Sharing
from toolkit.stats import Stats
from toolkit.store import Store, open_store

log = logging.getLogger(__name__)


class Portal:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(
            settings.store, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
        # Counter and audit objects are written per instance, so the name must be unique per process:
        # several workers started with one TOOLKIT_INSTANCE_ID would otherwise overwrite each other.
        self.instance = f"{settings.instance_id or socket.gethostname()}-{os.getpid()}"
        self.records = Records(self.store)
        self.audit = AuditLog(self.store, self.instance)
        self.accounts = Accounts(self.records, self.audit)
        self.assets = Assets(self.records, self.store, self.audit, max_pixels=settings.max_pixels)
        self.brand = BrandSettings(self.records, self.store, self.audit, self.assets)
        self.renditions = Renditions(self.store, self.assets, self.brand, lambda: self.settings)
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
        """Check the store answers and load every record; raises StoreUnavailable if it cannot."""
        self.store.ping()
        count = self.records.load()
        log.info("loaded %d records from %s", count, self.store.endpoint)

    def refresh(self) -> int:
        return self.records.refresh()

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
