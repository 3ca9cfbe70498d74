"""Counting at scale: per-instance objects, summed on read, nothing lost between instances."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from toolkit.counters import CounterKey, Counters
from toolkit.store import Store


def _today() -> tuple[datetime, str]:
    now = datetime.now(UTC)
    return now, now.date().isoformat()


def test_counts_from_two_instances_add_up_exactly_after_flush(store: Store) -> None:
    first, second = Counters(store, "one"), Counters(store, "two")
    barrier = threading.Barrier(2)

    def click(counters: Counters) -> None:
        barrier.wait()
        for n in range(500):
            counters.add("click", "post-1", "user-1")
            if n % 100 == 0:
                counters.flush()
        counters.flush()

    threads = [threading.Thread(target=click, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    now, day = _today()
    reader = Counters(store, "reader")
    assert reader.totals(now.date(), now.date()) == {CounterKey(day, "click", "post-1", "user-1"): 1000}
    assert sorted(i.key for i in store.list("counters/")) == [
        f"counters/{day}/one.json",
        f"counters/{day}/two.json",
    ]


def test_an_instance_sees_its_own_unflushed_counts(store: Store) -> None:
    counters = Counters(store, "one")
    counters.add("copy", "p", "u", "v1")
    now, day = _today()
    assert counters.totals(now.date(), now.date()) == {CounterKey(day, "copy", "p", "u", "v1"): 1}
    assert list(store.list("counters/")) == []


def test_restart_under_the_same_name_continues_instead_of_overwriting(store: Store) -> None:
    before = Counters(store, "web-1")
    before.add("kit", "p", "u", amount=3)
    before.flush()
    after = Counters(store, "web-1")
    after.add("kit", "p", "u")
    after.flush()
    now, day = _today()
    assert Counters(store, "x").totals(now.date(), now.date()) == {CounterKey(day, "kit", "p", "u"): 4}


def test_totals_only_cover_the_days_asked_for(store: Store) -> None:
    counters = Counters(store, "one")
    counters.add("click", "p", "u")
    counters.flush()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert Counters(store, "x").totals(yesterday, yesterday) == {}


def test_unknown_metric_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        Counters(store, "one").add("likes", "p", "u")
