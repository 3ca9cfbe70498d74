"""Counting at scale: hourly per-instance objects, roll-ups made once and exactly, readers that cost
the period (not the history), the 'surprise me' tally, and stores written by the previous release."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO

import pytest

from tests.storekit import RecordingStore
from toolkit.counter_summaries import summarize
from toolkit.counters import (
    CLAIM_SECONDS,
    METRICS,
    RECENT_REFRESH_SECONDS,
    USE_METRICS,
    CounterKey,
    Counters,
    RollUp,
    days_between,
)
from toolkit.store import Store, VersionMismatch

NOW = datetime(2025, 3, 4, 12, 30, tzinfo=UTC)
TODAY = NOW.date()


class Clock:
    """A clock the test moves by hand, so nothing waits for real time."""

    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def history(writers: list[Counters], days: Iterable[str], seed: int = 7) -> None:
    """Random counts on each of the days, spread over the writers, then flushed."""
    rng = random.Random(seed)
    posts = [f"post-{n}" for n in range(6)]
    people = [f"person-{n}" for n in range(30)]
    for day in days:
        for _ in range(rng.randrange(5, 25)):
            metric = rng.choice(METRICS)
            variant = rng.choice(("v1", "v2", "")) if metric in USE_METRICS else ""
            writer = rng.choice(writers)
            post, person, amount = rng.choice(posts), rng.choice(people), rng.randrange(1, 4)
            writer.add(metric, post, person, variant, amount=amount, day=day)
    for writer in writers:
        writer.flush()


def _mine(exact: dict[CounterKey, int], person: str) -> dict[str, Counter[str]]:
    """One person's counts per post and metric, key by key."""
    per_post: dict[str, Counter[str]] = {}
    for key, value in exact.items():
        if key.user_id == person:
            per_post.setdefault(key.post_id, Counter())[key.metric] += value
    return per_post


def _used(exact: dict[CounterKey, int], post: str) -> dict[str, int]:
    """Per variant of the post, the distinct people who used it, key by key."""
    people: dict[str, set[str]] = {}
    for key in exact:
        if key.post_id == post and key.metric in USE_METRICS and key.variant:
            people.setdefault(key.variant, set()).add(key.user_id)
    return {variant: len(users) for variant, users in people.items()}


def _today() -> tuple[datetime, str]:
    now = datetime.now(UTC)
    return now, now.date().isoformat()


# Writing


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
    keys = [i.key for i in store.list("counters/")]
    # Each instance writes only its own objects, one per hour the counts were added in.
    assert all(re.fullmatch(rf"counters/{day}/\d\d/(one|two)\.json", key) for key in keys), keys
    assert {key.rsplit("/", 1)[1] for key in keys} == {"one.json", "two.json"}


def test_an_instance_sees_its_own_unflushed_counts(store: Store) -> None:
    counters = Counters(store, "one")
    counters.add("copy", "p", "u", "v1")
    now, day = _today()
    assert counters.totals(now.date(), now.date()) == {CounterKey(day, "copy", "p", "u", "v1"): 1}
    assert counters.summary(now.date(), now.date()).posts == {"p": {"copy": 1}}
    assert list(store.list("counters/")) == []


def test_restart_under_the_same_name_continues_instead_of_overwriting(store: Store) -> None:
    before = Counters(store, "web-1")
    before.add("kit", "p", "u", amount=3)
    before.flush()
    after = Counters(store, "web-1")
    after.add("kit", "p", "u")
    now, day = _today()
    assert after.totals(now.date(), now.date()) == {CounterKey(day, "kit", "p", "u"): 4}
    after.flush()
    assert Counters(store, "x").totals(now.date(), now.date()) == {CounterKey(day, "kit", "p", "u"): 4}


def test_totals_only_cover_the_days_asked_for(store: Store) -> None:
    counters = Counters(store, "one")
    counters.add("click", "p", "u")
    counters.flush()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert Counters(store, "x").totals(yesterday, yesterday) == {}


def test_unknown_metric_and_malformed_day_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        Counters(store, "one").add("likes", "p", "u")
    with pytest.raises(ValueError):
        Counters(store, "one").add("copy", "p", "u", day="../../etc")


def test_an_hour_is_written_only_during_its_hour_and_then_leaves_memory(store: Store) -> None:
    clock = Clock(datetime(2025, 3, 4, 9, 59, tzinfo=UTC))
    counters = Counters(store, "web-1", clock=clock)
    counters.add("copy", "p", "u")
    counters.flush()
    nine = store.head("counters/2025-03-04/09/web-1.json")
    assert nine is not None
    clock.advance(minutes=2)
    for _ in range(3):
        counters.add("copy", "p", "u")
        counters.flush()
    # Later flushes write the current hour only; the past hour is untouched and no longer held.
    assert store.head("counters/2025-03-04/09/web-1.json") == nine
    assert [slot for slot in counters._slots] == [("2025-03-04", 10)]
    expected = {CounterKey("2025-03-04", "copy", "p", "u"): 4}
    assert Counters(store, "x", clock=clock).totals(TODAY, TODAY) == expected


def test_back_filled_history_is_written_for_its_day(store: Store) -> None:
    counters = Counters(store, "demo-company-1", clock=Clock())
    counters.add("share_link", "p", "u", day="2024-03-01")
    counters.add("click", "p", "u", amount=5, day="2024-03-01")
    counters.flush()
    reader = Counters(store, "x", clock=Clock())
    march = date(2024, 3, 1)
    assert reader.totals(march, march) == {
        CounterKey("2024-03-01", "share_link", "p", "u"): 1,
        CounterKey("2024-03-01", "click", "p", "u"): 5,
    }
    assert reader.summary(march, march).clicks == {"u": 5}
    assert reader.roll_up().days == ["2024-03-01"]
    assert Counters(store, "y", clock=Clock()).summary(march, march).clicks == {"u": 5}


def test_objects_of_the_previous_release_are_still_counted(store: Store) -> None:
    clock = Clock()
    old_day = "2025-02-03"
    old = {"instance": "web-1", "day": old_day, "counts": {"copy|p|ann|v1": 2, "click|p|ann|": 7}}
    store.put(f"counters/{old_day}/web-1.json", json.dumps(old).encode())
    today = TODAY.isoformat()
    store.put(
        f"counters/{today}/web-1.json",
        json.dumps({"instance": "web-1", "day": today, "counts": {"kit|p|bob|": 1}}).encode(),
    )
    # The same instance name, upgraded: its new counts add to the old object, never replace it.
    upgraded = Counters(store, "web-1", clock=clock)
    upgraded.add("kit", "p", "bob")
    upgraded.flush()
    first = date(2025, 2, 1)
    reader = Counters(store, "reader", clock=clock)
    expected = {
        CounterKey(old_day, "copy", "p", "ann", "v1"): 2,
        CounterKey(old_day, "click", "p", "ann"): 7,
        CounterKey(today, "kit", "p", "bob"): 2,
    }
    assert reader.totals(first, TODAY) == expected
    assert reader.summary(first, TODAY) == summarize(expected.items())
    assert reader.variant_users("p", first) == {"v1": 1}
    assert reader.roll_up().months == ["2025-02"]
    after = Counters(store, "later", clock=clock)
    assert after.summary(first, TODAY) == summarize(expected.items())
    assert after.user_counts("ann", first, TODAY) == {"p": {"copy": 2, "click": 7}}


# Rolling up


def test_roll_up_is_exact_over_rolled_up_months_days_and_raw_days(store: Store) -> None:
    clock = Clock()
    writers = [Counters(store, f"web-{n}", clock=clock) for n in (1, 2)]
    # Some days have no counts at all, as in a quiet week.
    days = ["2025-01-25", "2025-01-29", "2025-01-31", "2025-02-03", "2025-02-14", "2025-02-28"]
    history(writers, [*days, "2025-03-01", "2025-03-03", TODAY.isoformat()])
    # A rolled-up month (February), rolled-up days (January 29 and 31, March 1 and 3) and a raw
    # day (today) in one period.
    first, last = date(2025, 1, 29), TODAY
    reader = Counters(store, "reader", clock=clock)
    exact = writers[0].totals(first, last)
    before = writers[0].summary(first, last)
    assert before == summarize(exact.items())
    people = ["person-1", "person-2", "person-3", "nobody"]
    mine_before = {p: _mine(exact, p) for p in people}
    surprise_before = {f"post-{n}": _used(exact, f"post-{n}") for n in range(6)}
    assert writers[1].user_counts("person-1", first, last) == mine_before["person-1"]
    assert writers[1].variant_users("post-1", first) == surprise_before["post-1"]

    made = reader.roll_up()
    assert made.months == ["2025-01", "2025-02"]
    assert made.days == [*days, "2025-03-01", "2025-03-03"]
    assert reader.roll_up() == RollUp([], [])

    recording = RecordingStore(store)
    fresh = Counters(recording, "web-3", clock=clock)
    assert fresh.summary(first, last) == before
    assert {p: fresh.user_counts(p, first, last) for p in people} == mine_before
    assert {f"post-{n}": fresh.variant_users(f"post-{n}", first) for n in range(6)} == surprise_before
    # Only today is listed key by key; a month costs one summary, a person one shard per aggregate.
    assert set(recording.of("list")) == {f"counters/{TODAY.isoformat()}/"}
    summaries = [k for k in recording.of("get") if k.endswith("/summary.json")]
    assert sorted(k for k in summaries if "/month/" in k) == ["counters/month/2025-02/summary.json"]
    # Once warm, the same questions are answered without the store.
    recording.calls.clear()
    assert fresh.summary(first, last) == before
    assert fresh.user_counts("person-3", first, last) == mine_before["person-3"]
    assert recording.calls == []


def test_roll_up_is_made_by_exactly_one_of_two_instances(store: Store) -> None:
    clock = Clock()
    recording = RecordingStore(store)
    history([Counters(store, "web-1", clock=clock)], days_between(date(2025, 1, 29), date(2025, 2, 3)))
    first, second = Counters(recording, "web-1", clock=clock), Counters(recording, "web-2", clock=clock)
    expected = first.summary(date(2025, 1, 1), TODAY)
    barrier = threading.Barrier(2)
    made = {}

    def roll(counters: Counters) -> None:
        barrier.wait()
        made[counters.instance] = counters.roll_up()

    threads = [threading.Thread(target=roll, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A month waits for days another instance was still making; the next run completes it.
    rest = first.roll_up()
    days = made["web-1"].days + made["web-2"].days + rest.days
    months = made["web-1"].months + made["web-2"].months + rest.months
    assert sorted(days) == list(days_between(date(2025, 1, 29), date(2025, 2, 3)))
    assert sorted(months) == ["2025-01", "2025-02"]
    created = [k for k in recording.of("create") if k.endswith("/summary.json")]
    assert len(created) == len(set(created)) == len(days) + len(months)
    assert Counters(store, "reader", clock=clock).summary(date(2025, 1, 1), TODAY) == expected
    claims = [i.key for i in store.list("counters/claims/")]
    assert len(claims) == len(days) + len(months)  # one per aggregate, kept as who made it


class _Crashing(RecordingStore):
    """Dies after writing an aggregate's parts: no summary, and its claim stays behind."""

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        if key.endswith("/summary.json"):
            raise SystemExit("killed")
        return super().put(
            key, body, content_type=content_type, if_match=if_match, if_none_match=if_none_match
        )

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        raise SystemExit("killed")


def test_a_roll_up_that_crashed_halfway_converges(store: Store) -> None:
    clock = Clock()
    history([Counters(store, "web-1", clock=clock)], ["2025-02-26", "2025-02-27"])
    day = date(2025, 2, 26)
    expected = Counters(store, "x", clock=clock).summary(day, day)
    with pytest.raises(SystemExit):
        Counters(_Crashing(store), "web-1", clock=clock).roll_up()
    crashed = [i.key for i in store.list("counters/day/2025-02-26/")]
    assert crashed and all("/users-" in k or "/variants" in k for k in crashed)
    # Readers are right meanwhile: without a summary the day is read from its raw objects.
    assert Counters(store, "reader", clock=clock).summary(day, day) == expected
    # The claim holds until it is stale; then another instance takes it over and completes.
    other = Counters(store, "web-2", clock=clock)
    assert (other.roll_up().days, other.roll_up().months) == (["2025-02-27"], [])
    clock.advance(seconds=CLAIM_SECONDS + 1)
    made = other.roll_up()
    assert (made.days, made.months) == (["2025-02-26"], ["2025-02"])
    left = [i.key for i in store.list("counters/day/2025-02-26/")]
    assert len(left) == len(crashed) + 1 and not set(left) & set(crashed)  # the crashed attempt is gone
    assert Counters(store, "after", clock=clock).summary(day, day) == expected
    claim = json.loads(store.read("counters/claims/day-2025-02-26.json")[0])
    assert claim["instance"] == "web-2"


def test_a_beaten_attempt_deletes_its_own_parts(store: Store) -> None:
    clock = Clock()
    history([Counters(store, "web-1", clock=clock)], ["2025-03-01"])
    slow = Counters(store, "slow", clock=clock)
    built = slow._build_day("2025-03-01")
    assert Counters(store, "fast", clock=clock).roll_up().days == ["2025-03-01"]
    with pytest.raises(VersionMismatch):
        store.put("counters/day/2025-03-01/summary.json", b"{}", if_none_match=True)
    assert slow._write("day", "2025-03-01", built, clock()) == "done"
    attempts = {i.key.split("/")[3] for i in store.list("counters/day/2025-03-01/")}
    assert len(attempts) == 2  # the winner's attempt folder and its summary.json


def test_nothing_to_roll_up_on_an_empty_store(store: Store) -> None:
    made = Counters(store, "web-1", clock=Clock()).roll_up()
    assert (made.days, made.months) == ([], [])


# "Surprise me"


def test_surprise_tally_is_updated_incrementally_across_two_instances(store: Store) -> None:
    clock = Clock()
    history([Counters(store, "web-0", clock=clock)], ["2025-02-03", "2025-02-22", "2025-03-02"], seed=3)
    Counters(store, "web-0", clock=clock).roll_up()
    recording = RecordingStore(store)
    a = Counters(recording, "web-1", clock=clock)
    b = Counters(store, "web-2", clock=clock)
    since = date(2025, 2, 1)
    baseline = a.variant_users("post-1", since)
    assert baseline == Counters(store, "x", clock=clock).variant_users("post-1", since)

    # This instance's own use counts at once, without a store request.
    recording.calls.clear()
    a.add("copy", "post-1", "newcomer-a", "v1")
    assert a.variant_users("post-1", since)["v1"] == baseline.get("v1", 0) + 1
    assert recording.calls == []

    # Another instance's use is folded in once its object changed, at most every few seconds.
    b.add("download", "post-1", "newcomer-b", "v2")
    b.add("download", "post-1", "newcomer-b", "v2")  # one person, however often
    b.flush()
    assert a.variant_users("post-1", since).get("v2", 0) == baseline.get("v2", 0)
    clock.advance(seconds=RECENT_REFRESH_SECONDS)
    recording.calls.clear()
    assert a.variant_users("post-1", since)["v2"] == baseline.get("v2", 0) + 1
    # Only today's listing and b's changed object were read: no re-sum of the history.
    assert recording.of("list") == [f"counters/{TODAY.isoformat()}/"]
    assert recording.of("get") == [f"counters/{TODAY.isoformat()}/12/web-2.json"]
    clock.advance(seconds=RECENT_REFRESH_SECONDS)
    recording.calls.clear()
    a.variant_users("post-1", since)
    assert recording.of("get") == []  # nothing changed: nothing read
