"""The bounded cache of on-demand records (share links, acknowledgements, ...) of one instance."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.records import Key, Record


class RecordCache:
    """A bounded LRU of on-demand records; None remembers that a record does not exist."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Key, Record | None] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: Key) -> tuple[bool, Record | None]:
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def keep(self, key: Key, record: Record | None) -> None:
        with self._lock:
            self._items[key] = record
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def refresh(self, key: Key, record: Record | None) -> bool:
        """Replace what is cached for key, if anything is; whether it changed."""
        with self._lock:
            if key not in self._items:
                return False
            before = self._items[key]
            self._items[key] = record
            return (before.version if before else None) != (record.version if record else None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
