"""One running instance: settings, the store, the record index and the domain services on them.

Built once at start-up (the web app's lifespan, or a CLI command) and shared by every request.
"""

from __future__ import annotations

import logging
import os
import socket

from toolkit.accounts import Accounts
from toolkit.audit import AuditLog
from toolkit.records import Records
from toolkit.settings import Settings
from toolkit.store import Store, open_store

log = logging.getLogger(__name__)


class Portal:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(
            settings.store, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
        self.instance = settings.instance_id or f"{socket.gethostname()}-{os.getpid()}"
        self.records = Records(self.store)
        self.audit = AuditLog(self.store, self.instance)
        self.accounts = Accounts(self.records, self.audit)

    def start(self) -> None:
        """Check the store answers and load every record; raises StoreUnavailable if it cannot."""
        self.store.ping()
        count = self.records.load()
        log.info("loaded %d records from %s", count, self.store.endpoint)

    def refresh(self) -> int:
        return self.records.refresh()

    def close(self) -> None:
        self.records.close()
