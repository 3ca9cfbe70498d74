"""Statistics over a year of counters: the 365-day stats page and "surprise me", against the previous
design measured in the same run on the same counts.

Run with `.venv/bin/python bench/bench_stats.py [--employees 5000] [--posts 300] [--instances 4]`.

Setup (not timed): a company from `make_company` (people and posts, no share links) on a local
folder, then a year of counts modelled on demo-company's (about 30% of employees take a link to a
post, most copy or download it, links get clicked over the next days; some colleagues use a post
without a link), spread over the instances. They are written twice:
- in this release's layout, through `Counters`: history back-filled as demo-company does (one object
  per instance and day), yesterday and today hour by hour (one object per instance and hour, as a
  serving instance writes them), then rolled up by `Counters.roll_up()` (timed on its own: it runs
  once a day in the background, never in a request);
- in the previous release's layout (`counters/<day>/<instance>.json`, about 1,460 objects) in a
  second folder, for the baseline.

Measured, first view (a new instance) and warm median:
- the stats page for 365 days as toolkit/web/stats.py builds it (the period's totals with the
  90-day chart, report, series, leaderboard switched on) plus its CSV export;
- "surprise me": Posts.surprise_variant on the live posts (a different post each click).
The baseline is a copy of the previous Counters.totals (list every counter object, read the ones
whose ETag changed, sum every key of the period on every request) feeding the same Stats code its
key-by-key path, and the previous Posts.variant_usage (the 91 days' totals per click). The warm runs
of this release move its clock on by the refresh interval before some runs, so today's raw objects
are listed again, as a serving instance does every few seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

# Run as a script from a checkout, where the toolkit package is not necessarily installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.accounts import User  # noqa: E402
from toolkit.company import CompanySpec, make_company  # noqa: E402
from toolkit.counters import (  # noqa: E402
    PREFIX,
    RAW_REFRESH_SECONDS,
    USE_METRICS,
    CounterKey,
    Counters,
    days_between,
)
from toolkit.portal import Portal  # noqa: E402
from toolkit.posts import USAGE_WINDOW_DAYS, Post, Posts  # noqa: E402
from toolkit.settings import Settings  # noqa: E402
from toolkit.stats import Period, Stats  # noqa: E402
from toolkit.store import ObjectMissing, Store  # noqa: E402
from toolkit.store.local import LocalStore  # noqa: E402

TARGET_PAGE_MS = 300.0
TARGET_SURPRISE_MS = 20.0
Event = tuple[str, int, str]  # day, instance, "metric|post|person|variant"


class BenchClock:
    """Real time passing from a fixed start, plus whatever the bench skips ahead."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = time.monotonic()
        self.skipped = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began + self.skipped)

    def skip(self, seconds: float) -> None:
        self.skipped += seconds


# The previous design, copied from the release before this one


class PreviousCounters:
    """The previous Counters' reading path: list every counter object, sum every key on each call."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[str, tuple[str, dict[str, int]]] = {}

    def totals(self, first: date, last: date) -> dict[CounterKey, int]:
        wanted = set(days_between(first, last))
        summed: Counter[CounterKey] = Counter()
        listed = [info for info in self.store.list(PREFIX) if info.key[len(PREFIX) :].split("/")[0] in wanted]
        for info in listed:
            day = info.key[len(PREFIX) :].split("/")[0]
            for key, value in self._read(info.key, info.etag).items():
                metric, post_id, user_id, variant = (key.split("|") + ["", "", "", ""])[:4]
                summed[CounterKey(day, metric, post_id, user_id, variant)] += value
        return dict(summed)

    def _read(self, key: str, etag: str) -> dict[str, int]:
        cached = self._seen.get(key)
        if cached and cached[0] == etag:
            return cached[1]
        try:
            raw, current = self.store.read(key)
        except ObjectMissing:
            return {}
        counts = {k: int(v) for k, v in json.loads(raw).get("counts", {}).items()}
        self._seen[key] = (current, counts)
        return counts

    def variant_usage(self, post: Post, today: date) -> dict[str, int]:
        people: dict[str, set[str]] = {v.id: set() for v in post.variants}
        totals = self.totals(today - timedelta(days=USAGE_WINDOW_DAYS), today)
        for key in totals:
            if key.post_id == post.id and key.metric in USE_METRICS and key.variant in people:
                people[key.variant].add(key.user_id)
        return {variant_id: len(users) for variant_id, users in people.items()}


# A year of counts


def year_of_events(
    rng: random.Random, people: list[User], posts: list[Post], today: date, instances: int, share_rate: float
) -> Iterator[Event]:
    """Counts shaped like demo-company's: keen and occasional sharers, clicks over the next days."""
    first_day = today - timedelta(days=364)
    beta = 0.6 * (1 - share_rate) / share_rate
    propensity = {p.id: rng.betavariate(0.6, beta) for p in people}
    for post in posts:
        if not post.valid_from or not post.valid_until or post.status == "draft":
            continue
        first = max(datetime.fromisoformat(post.valid_from).date(), first_day)
        last = min(datetime.fromisoformat(post.valid_until).date() - timedelta(days=1), today)
        if last < first:
            continue
        appeal = math.exp(rng.gauss(-0.125, 0.5))
        variants = [v.id for v in post.variants]
        for person in people:
            if rng.random() >= propensity[person.id] * appeal:
                if rng.random() < share_rate * 0.4 * appeal:
                    day = first + timedelta(days=int(rng.expovariate(1 / 3.0)))
                    if day <= last:
                        metric = rng.choices(USE_METRICS, (60, 32, 8))[0]
                        yield (
                            day.isoformat(),
                            rng.randrange(instances),
                            f"{metric}|{post.id}|{person.id}|{rng.choice(variants)}",
                        )
                continue
            day = first + timedelta(days=int(rng.expovariate(1 / 2.5)))
            if day > last:
                continue
            variant = rng.choice(variants)
            stamp = day.isoformat()
            yield stamp, rng.randrange(instances), f"share_link|{post.id}|{person.id}|"
            for metric, chance in (("copy", 0.75), ("download", 0.45), ("kit", 0.08)):
                if rng.random() < chance:
                    yield stamp, rng.randrange(instances), f"{metric}|{post.id}|{person.id}|{variant}"
            for _ in range(int(rng.expovariate(1 / 3.0))):
                clicked = day + timedelta(days=int(rng.expovariate(1 / 1.5)))
                if clicked <= today:
                    yield clicked.isoformat(), rng.randrange(instances), f"click|{post.id}|{person.id}|"


def write_previous_layout(store: Store, book: dict[tuple[str, int], Counter[str]], names: list[str]) -> int:
    for (day, instance), counts in book.items():
        body = {"instance": names[instance], "day": day, "counts": dict(counts)}
        store.put(f"{PREFIX}{day}/{names[instance]}.json", json.dumps(body).encode())
    return len(book)


def write_this_layout(
    store: Store, book: dict[tuple[str, int], Counter[str]], names: list[str], now: datetime
) -> None:
    """History back-filled per instance and day; yesterday and today hour by hour, as served."""
    recent = {now.date().isoformat(), (now.date() - timedelta(days=1)).isoformat()}
    for instance, name in enumerate(names):
        writer = Counters(store, name, clock=fixed(now))
        for (day, owner), counts in sorted(book.items()):
            if owner != instance or day in recent:
                continue
            for key, amount in counts.items():
                metric, post, person, variant = key.split("|")
                writer.add(metric, post, person, variant, amount=amount, day=day)
            if day.endswith("-28"):
                writer.flush()  # about a month in memory at a time, as demo-company does
        writer.flush()
        for day in sorted(recent):
            counts = book.get((day, instance), Counter())
            hours = now.hour + 1 if day == now.date().isoformat() else 24
            for hour in range(hours):
                moment = datetime.fromisoformat(day).replace(hour=hour, minute=30, tzinfo=UTC)
                hourly = Counters(store, name, clock=fixed(moment))
                for key, amount in list(counts.items())[hour::hours]:
                    metric, post, person, variant = key.split("|")
                    hourly.add(metric, post, person, variant, amount=amount)
                hourly.flush()


# Measuring


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def median(times: list[float]) -> float:
    return statistics.median(times)


def stats_page(stats: Stats, period: Period) -> str:
    """What toolkit/web/stats.py computes for the page, and the CSV export."""
    chart = stats.chart_period()
    wide = Period(min(period.first, chart.first), max(period.last, chart.last))
    totals = stats.totals(wide)
    report = stats.report(period, totals)
    stats.series(chart, totals)
    stats.leaderboard(period, totals)
    return report.csv()


def previous_page(stats: Stats, previous: PreviousCounters, period: Period) -> str:
    chart = stats.chart_period()
    totals = previous.totals(min(period.first, chart.first), max(period.last, chart.last))
    report = stats.report(period, totals)
    stats.series(chart, totals)
    stats.leaderboard(period, totals)
    return report.csv()


def folder_size(store: LocalStore, prefix: str) -> tuple[int, int]:
    infos = list(store.list(prefix))
    return len(infos), sum(i.size for i in infos)


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


class Company:
    """The company and its year of counts, in both layouts."""

    def __init__(self, args: argparse.Namespace) -> None:
        started = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="bench-stats-"))
        folder = self.work / "store"
        settings = Settings.from_env({}, instance_id="bench", store=str(folder))
        spec = CompanySpec(employees=args.employees, posts_per_year=args.posts, share_rate=0.0, years=1.0)
        make_company(settings, spec)
        self.store = LocalStore(folder)
        self.portal = Portal(settings, store=self.store)
        self.portal.start()
        self.now = datetime.now(UTC)
        self.clock = BenchClock(self.now)
        self.today = self.now.date()
        people = [u for u in self.portal.accounts.all() if u.role == "employee"]
        self.posts = self.portal.posts.all()
        self.live = [p for p in self.posts if p.is_live(self.now)] or self.posts
        marketer = next(u for u in self.portal.accounts.all() if u.is_marketing)
        self.portal.stats.set_leaderboard(True, marketer)
        names = [f"web-{n + 1}" for n in range(args.instances)]
        book: dict[tuple[str, int], Counter[str]] = {}
        events = 0
        found = year_of_events(
            random.Random(1), people, self.posts, self.today, args.instances, args.share_rate
        )
        for day, instance, key in found:
            book.setdefault((day, instance), Counter())[key] += 1
            events += 1
        keys = sum(len(c) for c in book.values())
        self.previous_store = LocalStore(self.work / "previous", durable=False)
        old_objects = write_previous_layout(self.previous_store, book, names)
        write_this_layout(LocalStore(folder, durable=False), book, names, self.now)
        objects = folder_size(self.store, PREFIX)[0]
        print(
            f"setup: {len(people)} employees, {len(self.posts)} posts, {events:,} events, {keys:,} keys "
            f"in a year, {args.instances} instances; {old_objects:,} objects in the previous layout, "
            f"{objects:,} in this one ({time.monotonic() - started:.0f} s)"
        )

    def stats(self, counters: Counters) -> Stats:
        portal = self.portal
        return Stats(portal.records, portal.audit, portal.accounts, portal.posts, counters, self.today_now)

    def today_now(self) -> date:
        return self.clock().date()

    def roll_up(self) -> None:
        roll_ms = timed(Counters(self.store, "web-1", clock=self.clock).roll_up)
        days = folder_size(self.store, f"{PREFIX}day/")
        months = folder_size(self.store, f"{PREFIX}month/")
        summaries = [
            float(i.size) for i in self.store.list(f"{PREFIX}month/") if i.key.endswith("/summary.json")
        ]
        print(
            f"roll-up (once, in the background): {roll_ms / 1000:.1f} s; day aggregates: {days[0]} objects, "
            f"{days[1] / 1e6:.1f} MB; month aggregates: {months[0]} objects, {months[1] / 1e6:.1f} MB "
            f"(a month's summary: {median(summaries) / 1e3:.0f} kB)"
        )


@dataclass
class Timings:
    page_first: float
    page: list[float]
    surprise_first: float
    surprise: list[float]
    csv: str
    peak: int = 0


def measure_this_release(company: Company, period: Period, runs: int) -> Timings:
    # Python memory of a first view, measured apart: tracing slows everything down.
    tracemalloc.start()
    stats_page(company.stats(Counters(company.store, "web-10", clock=company.clock)), period)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = company.stats(Counters(company.store, "web-9", clock=company.clock))
    page_first = timed(partial(stats_page, stats, period))
    page = []
    for run in range(runs):
        if run % 3 == 2:
            company.clock.skip(RAW_REFRESH_SECONDS)  # today's objects are listed again, as every few seconds
        page.append(timed(partial(stats_page, stats, period)))
    portal = company.portal
    counters = Counters(company.store, "web-8", clock=company.clock)
    posts = Posts(portal.records, portal.audit, portal.hashtag_sets, counters)
    surprise_first = timed(partial(posts.surprise_variant, company.live[0]))
    clicks = (company.live * 5)[: max(runs * 5, 25)]
    surprise = [timed(partial(posts.surprise_variant, post)) for post in clicks]
    return Timings(page_first, page, surprise_first, surprise, stats_page(stats, period), peak)


def measure_previous_design(company: Company, period: Period, runs: int) -> Timings:
    stats = company.stats(Counters(company.store, "unused", clock=company.clock))
    previous = PreviousCounters(company.previous_store)
    pages: list[str] = []
    page = [timed(lambda: pages.append(previous_page(stats, previous, period))) for _ in range(runs)]
    clicks = company.live[: runs + 1]
    surprise = [timed(partial(previous.variant_usage, post, company.today)) for post in clicks]
    return Timings(page[0], page[1:] or page, surprise[0], surprise[1:], pages[0])


def row(name: str, first: float, warm: float, old_first: float, old_warm: float, target: float) -> None:
    print(
        f"{name:<21} first {first:8.1f} ms, warm median {warm:7.1f} ms | previous design: first "
        f"{old_first:8.1f} ms, again {old_warm:8.1f} ms | warm {old_warm / warm:6.0f}x faster, "
        f"target < {target:.0f} ms {'met' if warm < target else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--share-rate", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=9, help="warm runs of this release")
    parser.add_argument("--baseline-runs", type=int, default=2, help="runs of the previous design")
    parser.add_argument("--keep", action="store_true", help="keep the stores (a temporary folder)")
    args = parser.parse_args()

    company = Company(args)
    try:
        run(company, args)
    finally:
        company.portal.close()
        if args.keep:
            print(f"stores kept in {company.work}")
        else:
            shutil.rmtree(company.work, ignore_errors=True)


def run(company: Company, args: argparse.Namespace) -> None:
    company.roll_up()
    period = Period(company.today - timedelta(days=364), company.today)
    ours = measure_this_release(company, period, args.runs)
    theirs = measure_previous_design(company, period, args.baseline_runs)
    assert sorted(ours.csv.splitlines()) == sorted(theirs.csv.splitlines()), "the two designs disagree"

    print("\nmedians, local folder store (the numbers of both designs are equal: checked)")
    row(
        "stats page, 365 days",
        ours.page_first,
        median(ours.page),
        theirs.page_first,
        median(theirs.page),
        TARGET_PAGE_MS,
    )
    row(
        "surprise me",
        ours.surprise_first,
        median(ours.surprise),
        theirs.surprise_first,
        median(theirs.surprise),
        TARGET_SURPRISE_MS,
    )
    print(f"peak Python memory of the first 365-day page view (this release): {ours.peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
