"""The counts of a period as one dict-like handle (what Stats.totals() returns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, TypeVar, overload

from toolkit.counter_summaries import CounterKey, Summary

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

    from toolkit.counters import Counters

T = TypeVar("T")


class PeriodCounts(dict[CounterKey, int]):
    """The counts of a period, as `Stats.totals()` hands them to report(), series(), mine() and
    leaderboard(), which read them through the summaries instead of key by key.

    It is also the dict of every CounterKey of the period that callers annotate it as, filled from
    the raw objects (O(raw keys of the period)) only if somebody reads it as one.
    """

    def __init__(self, counters: Counters, first: date, last: date) -> None:
        super().__init__()
        self.counters = counters
        self.first = first
        self.last = last
        self._filled = False
        self._summaries: dict[tuple[date, date], Summary] = {}

    def summary(self, first: date, last: date) -> Summary:
        """The summary of first..last, made once per handle (a page asks for it several times)."""
        found = self._summaries.get((first, last))
        if found is None:
            found = self._summaries[(first, last)] = self.counters.summary(first, last)
        return found

    def user_counts(self, user_id: str, first: date, last: date) -> dict[str, Counter[str]]:
        return self.counters.user_counts(user_id, first, last)

    def _fill(self) -> None:
        if not self._filled:
            self._filled = True
            super().update(self.counters.totals(self.first, self.last))

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __iter__(self) -> Iterator[CounterKey]:
        self._fill()
        return super().__iter__()

    def __getitem__(self, key: CounterKey) -> int:
        self._fill()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._fill()
        return super().__contains__(key)

    def __eq__(self, other: object) -> bool:
        self._fill()
        return super().__eq__(other)

    def __repr__(self) -> str:
        self._fill()
        return super().__repr__()

    def keys(self) -> dict_keys[CounterKey, int]:
        self._fill()
        return super().keys()

    def values(self) -> dict_values[CounterKey, int]:
        self._fill()
        return super().values()

    def items(self) -> dict_items[CounterKey, int]:
        self._fill()
        return super().items()

    @overload
    def get(self, key: CounterKey, default: None = None, /) -> int | None: ...

    @overload
    def get(self, key: CounterKey, default: int, /) -> int: ...

    @overload
    def get(self, key: CounterKey, default: T, /) -> int | T: ...

    def get(self, key: CounterKey, default: object = None, /) -> object:
        self._fill()
        return super().get(key, default)

    def copy(self) -> dict[CounterKey, int]:
        self._fill()
        return dict(super().items())
