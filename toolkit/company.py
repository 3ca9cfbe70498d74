"""A realistic company on demand, for sizing a deployment: `python -m toolkit demo-company`.

Fills a store with a synthetic organisation through the domain code: people (teams, languages,
job titles; no passwords: they sign in by single sign-on or one-time link), hashtag sets, posts
over the years (most archived or expired, the recent ones live), share links and their owner
claims, policy versions and acknowledgements, and a history of per-instance counters.

Share links are written in the shapes `Sharing.link_for` writes (`ShareLink.to_data()`,
`claim_record`, `claim_id`) straight through `portal.records.create`, because `link_for` refuses
posts that are no longer live. Everything is drawn from one random generator seeded by the spec,
so a seed gives the same counts every time (ids the domain draws itself stay random, as in
production).

Speed: a folder is written without fsync (a crash means running it again) from one thread (its
lock and the GIL make more threads only contend); S3, whose requests are I/O bound, from many. The
high-volume kinds write no journal entries (nobody serves the store yet), and a checkpoint is
written at the end so instances start fast. Memory stays flat: share links are not held, and the
counter history is flushed a month at a time.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any

from toolkit.accounts import User, iso
from toolkit.company_data import (
    ADMIN_TEAM,
    FIRST_NAMES,
    FORMAL_EN,
    FORMAL_NL,
    LAST_NAMES,
    MARKETING_TEAM,
    TEAMS,
    THEMES,
    Theme,
)
from toolkit.counters import Counters
from toolkit.errors import Conflict, Invalid
from toolkit.kits import slug
from toolkit.portal import Portal
from toolkit.posts import KIND as POSTS
from toolkit.records import PREFIX
from toolkit.settings import Settings
from toolkit.sharing import LINKS, OWNERS, ShareLink, claim_id, claim_record, new_token
from toolkit.store import Store, open_store
from toolkit.store.counting import CountingStore
from toolkit.store.local import LocalStore

Progress = Callable[[str], None]


COMPANY = "Northwind"
# Top-level folders that hold something else than records.
_NOT_RECORDS = frozenset({"counters", "audit", "journal", "checkpoints", "blobs", "renditions", "health"})
_PROGRESS_SECONDS = 2.0
_LINK_BATCH = 250
_HELD_THREADS = 4


class StoreNotEmpty(Exception):
    """The store has records already; demo-company only fills an empty one unless forced."""


# What the company looks like


@dataclass(frozen=True)
class CompanySpec:
    employees: int = 5000
    posts_per_year: int = 300
    share_rate: float = 0.3
    years: float = 1.0
    seed: int = 1
    instances: int = 1
    threads: int = 0  # 0: chosen by store (one for a folder, many for S3)

    def __post_init__(self) -> None:
        if self.employees < 1:
            raise ValueError("--employees must be at least 1")
        if self.posts_per_year < 0:
            raise ValueError("--posts must not be negative")
        if not 0.0 <= self.share_rate <= 1.0:
            raise ValueError("--share-rate must be between 0 and 1")
        if not 0.0 < self.years <= 50:
            raise ValueError("--years must be above 0 and at most 50")
        if not 1 <= self.instances <= 64:
            raise ValueError("--instances must be between 1 and 64")
        if self.threads < 0:
            raise ValueError("--threads must not be negative")

    @property
    def days(self) -> int:
        return max(1, round(365 * self.years))

    @property
    def total_posts(self) -> int:
        return round(self.posts_per_year * self.years)


@dataclass(frozen=True)
class _Person:
    email: str
    name: str
    first_name: str
    job_title: str
    team: str
    language: str
    role: str
    joined: date
    propensity: float  # the chance of taking a share link for a post of average appeal


@dataclass(frozen=True)
class _PostPlan:
    number: int
    theme: Theme
    created: datetime
    valid_from: datetime
    valid_until: datetime
    status: str
    appeal: float
    variants: tuple[tuple[str, str, str], ...]  # (language, tone, text)
    link: str


@dataclass
class CompanyReport:
    """What a fill wrote; counts come from the store requests themselves."""

    spec: CompanySpec
    endpoint: str
    created: dict[str, int]  # objects per record kind or top-level folder
    records: int
    objects: int
    written_bytes: int
    requests: dict[str, int]
    elapsed: float
    share_links: int = 0
    counter_events: int = 0
    checkpoint: int | None = None
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        rate = self.records / self.elapsed if self.elapsed else 0.0
        kinds = sorted(((k, n) for k, n in self.created.items() if n), key=lambda item: (-item[1], item[0]))
        width = max((len(k) for k, _ in kinds), default=10)
        lines = [
            f"demo-company: {self.spec.employees:,} employees, {self.spec.total_posts:,} posts over "
            f"{self.spec.years:g} year(s), share rate {self.spec.share_rate:g}, "
            f"{self.spec.instances} instance(s), seed {self.spec.seed}",
            f"store: {self.endpoint}",
            f"{self.records:,} records and {self.objects - self.records:,} other objects "
            f"({self.objects:,} objects, {self.written_bytes / 1e6:,.1f} MB) in {self.elapsed:,.1f} s "
            f"({rate:,.0f} records/s)",
        ]
        lines += [f"  {kind:<{width}}  {count:>12,}" for kind, count in kinds]
        lines.append(
            "phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items())
        )
        requests = ", ".join(f"{op} {n:,}" for op, n in sorted(self.requests.items()))
        lines.append(f"store requests: {requests}")
        lines.append(
            f"checkpoint written at journal position {self.checkpoint}"
            if self.checkpoint is not None
            else "no checkpoint written"
        )
        return "\n".join(lines)


# Opening the store


def bulk_store(url: str, settings: Settings) -> Store:
    """The store at url, a folder opened without fsync (a bulk fill that crashes is run again)."""
    store = open_store(url, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region)
    if isinstance(store, LocalStore):
        store = LocalStore(store.root, durable=False)
    return store


def has_records(store: Store) -> bool:
    """Whether any record kind has objects: one request, however large the store."""
    return bool(store.folders(PREFIX))


def default_threads(store: Store) -> int:
    # A folder is bound by its lock and the GIL: more threads only contend (measured: one thread
    # writes 2.1k records/s, two 1.2k/s). S3 is bound by round trips.
    return 1 if isinstance(store, LocalStore) else 24


# The fill


class _Writer:
    """A thread pool with a bounded number of tasks in flight; the first failure is raised."""

    def __init__(self, threads: int) -> None:
        # One thread: run in the caller, which saves handing the GIL back and forth.
        self.inline = threads == 1
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="company")
        self._slots = threading.BoundedSemaphore(threads * 4)
        self._errors: list[BaseException] = []
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.check()
        if self.inline:
            fn(*args)
            return
        self._slots.acquire()
        future = self._pool.submit(fn, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        self._slots.release()
        error = None if future.cancelled() else future.exception()
        with self._lock:
            self._futures.discard(future)
            if error is not None:
                self._errors.append(error)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items in parallel, results in order."""
        self.check()
        if self.inline:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def drain(self) -> None:
        """Wait for every submitted task; raise the first failure."""
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                break
            wait(pending)
        self.check()

    def check(self) -> None:
        with self._lock:
            if self._errors:
                raise self._errors[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _CounterBook:
    """Counter history for several instances, one Counters object per (instance, month).

    Each (instance, day) belongs to exactly one object, which is flushed when no later event can
    fall in its month, so memory stays at about a month of counts whatever the number of years.
    """

    def __init__(self, store: Store, names: Sequence[str], writer: _Writer) -> None:
        self.store = store
        self.names = list(names)
        self.writer = writer
        self._open: dict[tuple[int, str], Counters] = {}
        self.events = 0

    def add(
        self, instance: int, metric: str, post_id: str, user_id: str, variant: str, day: date, amount: int = 1
    ) -> None:
        stamp = day.isoformat()
        key = (instance, stamp[:7])
        counters = self._open.get(key)
        if counters is None:
            counters = self._open[key] = Counters(self.store, self.names[instance])
        counters.add(metric, post_id, user_id, variant, amount=amount, day=stamp)
        self.events += amount

    def close_before(self, day: date) -> None:
        """Flush the months that end before day: no later event can fall in them."""
        month = day.isoformat()[:7]
        for key in sorted(k for k in self._open if k[1] < month):
            self.writer.submit(self._open.pop(key).flush)

    def close_all(self) -> None:
        for key in sorted(self._open):
            self.writer.submit(self._open.pop(key).flush)


class _Ticker:
    """Prints the records written so far and the rate to the progress callback every few seconds."""

    def __init__(self, meter: CountingStore, progress: Progress | None, started: float) -> None:
        self.meter = meter
        self.progress = progress
        self.started = started
        self.phase = "starting"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="company-progress", daemon=True)
        if progress is not None:
            self._thread.start()

    def records(self) -> int:
        return sum(n for group, n in self.meter.written().items() if group not in _NOT_RECORDS)

    def _run(self) -> None:
        last_time, last_count = self.started, 0
        while not self._stop.wait(_PROGRESS_SECONDS):
            moment, count = time.monotonic(), self.records()
            elapsed = moment - self.started
            assert self.progress is not None
            self.progress(
                f"demo-company: {count:,} records ({(count - last_count) / (moment - last_time):,.0f}/s now, "
                f"{count / elapsed:,.0f}/s average), {elapsed:,.0f} s, {self.phase}"
            )
            last_time, last_count = moment, count

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def make_company(
    settings: Settings,
    spec: CompanySpec,
    *,
    store: Store | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> CompanyReport:
    """Fill the store (settings.store, or the one given) with the company the spec describes.

    Raises StoreNotEmpty when the store has records already and force is not set.
    """
    started = time.monotonic()
    raw = store or bulk_store(settings.store, settings)
    if not force and has_records(raw):
        raise StoreNotEmpty(
            f"the store at {raw.endpoint} has records already; demo-company fills an empty store "
            "(use --force to add a company to it anyway)"
        )
    meter = CountingStore(raw)
    # Announcing 300 approvals to the team chat or mailing anyone would be a poor surprise.
    quiet = replace(settings, webhook_url="", smtp_url="", instance_id=settings.instance_id or "demo-company")
    portal = Portal(quiet, store=meter)
    threads = spec.threads or default_threads(raw)
    writer = _Writer(threads)
    # Held kinds (people, posts) are announced in the journal, whose numbers the writers of one
    # instance claim one after another: a few threads are enough there, more only collide.
    held_writer = _Writer(min(threads, _HELD_THREADS))
    ticker = _Ticker(meter, progress, started)
    phases: dict[str, float] = {}
    try:
        portal.start()
        filler = _Filler(portal, spec, writer, held_writer, ticker, phases)
        filler.run()
        ticker.phase = "checkpoint"
        moment = time.monotonic()
        checkpoint = portal.records.checkpoint_now()
        phases["checkpoint"] = time.monotonic() - moment
    finally:
        ticker.stop()
        writer.close()
        held_writer.close()
        portal.records.announce_on_demand = True
        portal.close()
    created = meter.written()
    requests = dict(meter.requests)
    written = meter.written_bytes
    records = sum(n for k, n in created.items() if k not in _NOT_RECORDS)
    return CompanyReport(
        spec=spec,
        endpoint=raw.endpoint,
        created=created,
        records=records,
        objects=sum(created.values()),
        written_bytes=written,
        requests=requests,
        elapsed=time.monotonic() - started,
        share_links=filler.share_links,
        counter_events=filler.counters.events,
        checkpoint=checkpoint,
        phases=phases,
    )


class _Filler:
    def __init__(
        self,
        portal: Portal,
        spec: CompanySpec,
        writer: _Writer,
        held_writer: _Writer,
        ticker: _Ticker,
        phases: dict[str, float],
    ) -> None:
        self.portal = portal
        self.spec = spec
        self.writer = writer
        self.held_writer = held_writer
        self.ticker = ticker
        self.phases = phases
        self.rng = random.Random(spec.seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()
        self.start = self.today - timedelta(days=spec.days)
        names = [f"demo-company-{n + 1}" for n in range(spec.instances)]
        self.counters = _CounterBook(portal.store, names, writer)
        self.share_links = 0

    def _phase(self, name: str, step: Callable[[], None]) -> None:
        self.ticker.phase = name
        moment = time.monotonic()
        step()
        self.writer.drain()
        self.phases[name] = time.monotonic() - moment

    def run(self) -> None:
        # Nobody serves this store yet, so no instance can hold a share link or acknowledgement in
        # its cache: the high-volume kinds need no journal entries while it fills.
        self.portal.records.announce_on_demand = False
        self.people = self._plan_people()
        self.posts_plan = self._plan_posts()
        self.boost = self._calibrate()
        self._phase("people", self._add_people)
        self._phase("hashtag sets", self._add_hashtag_sets)
        self._phase("posts", self._add_posts)
        self._phase("policy", self._add_policy)
        self._phase("one-time links", self._add_one_time_links)
        self._phase("share links and counters", self._add_sharing)
        self.portal.records.announce_on_demand = True

    # Planning: every random choice is made here, in one order, so a seed gives the same company.

    def _plan_people(self) -> list[_Person]:
        rng, spec = self.rng, self.spec
        n = spec.employees
        admins = max(1, n // 500) if n >= 3 else 0
        marketing = max(1, n // 100)
        joined_share = min(0.3, 0.06 * spec.years)
        if spec.share_rate <= 0:
            alpha = beta = 0.0
        else:
            # Skewed like real advocacy: a few keen sharers, many occasional ones; mean = share rate.
            alpha = 0.6
            beta = alpha * (1 - spec.share_rate) / spec.share_rate
        weights = [team.weight for team in TEAMS]
        used: set[str] = set()
        people = []
        for index in range(n):
            if index < marketing:
                role, team = "marketing", MARKETING_TEAM
            elif index < marketing + admins:
                role, team = "admin", ADMIN_TEAM
            else:
                role, team = "employee", rng.choices(TEAMS, weights)[0]
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{slug(first)}.{slug(last).replace('-', '')}"
            email = f"{local}@{COMPANY.lower()}.example"
            if email in used:
                email = f"{local}{index}@{COMPANY.lower()}.example"
            used.add(email)
            if rng.random() < joined_share:
                joined = self.start + timedelta(days=rng.randrange(spec.days))
            else:
                joined = self.start - timedelta(days=rng.randrange(1, 3650))
            if spec.share_rate >= 1:
                propensity = 1.0
            elif beta == 0.0:
                propensity = 0.0
            else:
                propensity = rng.betavariate(alpha, beta)
            people.append(
                _Person(
                    email=email,
                    name=f"{first} {last}",
                    first_name=first,
                    job_title=rng.choice(team.titles),
                    team=team.name,
                    language="nl" if rng.random() < 0.65 else "en",
                    role=role,
                    joined=joined,
                    propensity=propensity,
                )
            )
        return people

    def _plan_posts(self) -> list[_PostPlan]:
        rng, spec = self.rng, self.spec
        total = spec.total_posts
        plans = []
        for number in range(total):
            offset = (number + rng.random()) * spec.days / total
            valid_from = datetime.combine(
                self.start + timedelta(days=int(offset)), datetime.min.time(), UTC
            ) + timedelta(hours=8, minutes=rng.randrange(0, 240))
            valid_from = min(valid_from, self.now - timedelta(minutes=1))
            window = rng.choice((14, 21, 30, 30, 45, 60, 90))
            valid_until = valid_from + timedelta(days=window)
            if valid_until > self.now:
                status = "approved"
            else:
                status = "archived" if rng.random() < 0.8 else "approved"
            plans.append(self._plan_post(number, valid_from, valid_until, status))
        for number in range(total, total + round(total * 0.02)):
            # Drafts marketing is preparing for the coming weeks.
            valid_from = self.now + timedelta(days=rng.randrange(3, 30))
            plans.append(self._plan_post(number, valid_from, valid_from + timedelta(days=30), "draft"))
        return plans

    def _plan_post(self, number: int, valid_from: datetime, valid_until: datetime, status: str) -> _PostPlan:
        rng = self.rng
        theme = rng.choice(THEMES)
        variants = [("en", "casual", theme.en), ("nl", "casual", theme.nl)]
        if rng.random() < 0.5:
            variants.append(("en", "formal", FORMAL_EN + theme.en))
        if rng.random() < 0.3:
            variants.append(("nl", "formal", FORMAL_NL + theme.nl))
        sigma = 0.5
        return _PostPlan(
            number=number,
            theme=theme,
            created=min(valid_from, self.now) - timedelta(days=rng.randrange(2, 15), hours=rng.randrange(8)),
            valid_from=valid_from,
            valid_until=valid_until,
            status=status,
            appeal=math.exp(rng.gauss(-sigma * sigma / 2, sigma)),
            variants=tuple(variants),
            link=f"https://www.{COMPANY.lower()}.example/{theme.key}/{number + 1}"
            if rng.random() < 0.6
            else "",
        )

    def _calibrate(self) -> float:
        """The factor c for which the mean of min(1, c * propensity * appeal) over people and posts is
        the share rate asked for: without it, keen sharers capped at certainty would pull the rate
        some 5% below it. Only time (people who joined later, posts still live) makes it lower."""
        rate = self.spec.share_rate
        appeals = [plan.appeal for plan in self.posts_plan if plan.status != "draft"]
        if not appeals or not 0.0 < rate < 1.0:
            return 1.0
        propensities = sorted(person.propensity for person in self.people)
        below = list(accumulate(propensities, initial=0.0))
        n = len(propensities)

        def mean(c: float) -> float:
            total = 0.0
            for appeal in appeals:
                capped = bisect_left(propensities, 1 / (c * appeal))  # those below certainty
                total += c * appeal * below[capped] + (n - capped)
            return total / (n * len(appeals))

        low, high = 0.0, 1.0
        while mean(high) < rate and high < 1e6:
            low, high = high, high * 2
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if mean(middle) < rate else (low, middle)
        return high

    # Writing, through the domain services

    def _add_people(self) -> None:
        accounts = self.portal.accounts

        def add(person: _Person) -> User:
            try:
                return accounts.add(
                    person.email,
                    role=person.role,
                    name=person.name,
                    first_name=person.first_name,
                    job_title=person.job_title,
                    team=person.team,
                    language=person.language,
                )
            except Conflict:
                # --force on a store that has this person from an earlier fill: take them as they are.
                existing = accounts.by_email(person.email)
                assert existing is not None
                return existing

        self.users: list[User] = self.held_writer.map(add, self.people)
        self.author = self.users[0]

    def _add_hashtag_sets(self) -> None:
        sets = self.portal.hashtag_sets
        self.set_ids: dict[str, str] = {}
        for theme in THEMES:
            try:
                made = sets.create(
                    {
                        "name": theme.set_name,
                        "description": f"{theme.title} posts",
                        "hashtags": list(theme.hashtags),
                    },
                    self.author,
                )
            except Conflict:
                made = next(s for s in sets.all() if s.name.lower() == theme.set_name.lower())
            self.set_ids[theme.key] = made.id

    def _add_posts(self) -> None:
        self.made_posts: list[tuple[str, tuple[str, ...]]] = self.held_writer.map(
            self._add_post, self.posts_plan
        )

    def _add_post(self, plan: _PostPlan) -> tuple[str, tuple[str, ...]]:
        """The post through its workflow, dated as it happened; returns its id and variant ids."""
        posts, records = self.portal.posts, self.portal.records
        year = plan.valid_from.year
        quarter = (plan.valid_from.month - 1) // 3 + 1
        post = posts.create(
            {
                "title": f"{plan.theme.title} ({plan.number + 1})",
                "campaign": f"{plan.theme.set_name} {year} Q{quarter}",
                "variants": [
                    {"language": language, "tone": tone, "text": text}
                    for language, tone, text in plan.variants
                ],
                "hashtag_set_ids": [self.set_ids[plan.theme.key]],
                "extra_hashtags": [f"#{COMPANY}"],
                "headline": plan.theme.title,
                "link": plan.link,
                "valid_from": iso(plan.valid_from),
                "valid_until": iso(plan.valid_until),
            },
            self.author,
        )
        if plan.status != "draft":
            post = posts.approve(post.id, self.author)
        if plan.status == "archived":
            post = posts.archive(post.id, self.author)
        # The workflow stamps "now"; history gets the moments it happened (same record shape).
        approved = plan.created + timedelta(days=1) if plan.status != "draft" else None
        ended = plan.valid_until if plan.status == "archived" else approved or plan.created
        dated = replace(
            post,
            created_at=iso(plan.created),
            updated_at=iso(min(ended, self.now)),
            approved_at=iso(min(approved, plan.valid_from)) if approved else None,
        )
        records.update(POSTS, post.id, dated.to_data(), version=post.version)
        return post.id, tuple(variant.id for variant in post.variants)

    def _add_policy(self) -> None:
        policy, rng = self.portal.policy, self.rng
        versions: list[tuple[int, date]] = []
        # A new version about twice a year (none in the last two months: people are still reading).
        for n, day in enumerate(range(0, max(1, self.spec.days - 60), 182)):
            effective = self.start + timedelta(days=day)
            texts = {
                "en": f"# Social media policy\n\nVersion effective {effective:%d %B %Y}.\n\n"
                "Share what you are proud of, in your own words. Speak for yourself, not for the company. "
                f"Keep what is confidential to yourself.\n\nRevision {n + 1} (seed {self.spec.seed}).",
                "nl": f"# Socialemediabeleid\n\nVersie geldig vanaf {effective.isoformat()}.\n\n"
                "Deel waar je trots op bent, in je eigen woorden. Spreek voor jezelf, niet namens het "
                f"bedrijf. Houd vertrouwelijke zaken voor je.\n\nHerziening {n + 1} (seed {self.spec.seed}).",
            }
            try:
                number = policy.publish(texts, self.author).number
            except Invalid:  # --force, same seed, same day: this text is the current version already
                current = policy.current()
                assert current is not None
                number = current.number
            versions.append((number, effective))
        acks: list[tuple[User, int]] = []
        for index, (number, _) in enumerate(versions):
            newest = index == len(versions) - 1
            until = self.today if newest else versions[index + 1][1]
            chance = 0.88 if newest else 0.97
            for person, user in zip(self.people, self.users, strict=True):
                if person.joined <= until and rng.random() < chance:
                    acks.append((user, number))
        self.writer.map(lambda item: policy.acknowledge(item[0], item[1]), acks)

    def _add_one_time_links(self) -> None:
        accounts, rng = self.portal.accounts, self.rng
        chosen = rng.sample(self.users, max(1, round(len(self.users) * 0.01)))
        self.writer.map(lambda user: accounts.issue_link(user, "login"), chosen)

    def _add_sharing(self) -> None:
        spec, rng, book = self.spec, self.rng, self.counters
        instances = spec.instances
        records = self.portal.records
        one_day = timedelta(days=1)
        batch: list[ShareLink] = []

        def write(links: list[ShareLink]) -> None:
            # The link first, then the claim that points to it, as Sharing.link_for writes them.
            for link in links:
                records.create(LINKS, link.token, link.to_data())
                records.create(OWNERS, claim_id(link.post_id, link.user_id), claim_record(link))

        def instance() -> int:
            return rng.randrange(instances) if instances > 1 else 0

        plans = sorted(
            (p for p in zip(self.posts_plan, self.made_posts, strict=True) if p[0].status != "draft"),
            key=lambda p: p[0].valid_from,
        )
        for plan, (post_id, variant_ids) in plans:
            first = plan.valid_from.date()
            last = min((plan.valid_until - one_day).date(), self.today)
            book.close_before(first)
            self.ticker.phase = f"share links and counters, {first:%Y-%m}"
            if last < first:
                continue
            # The variants a person reads in their own language (all of them if none is).
            by_language = {
                language: [
                    v for v, (lang, _, _) in zip(variant_ids, plan.variants, strict=True) if lang == language
                ]
                or list(variant_ids)
                for language in ("en", "nl")
            }
            others: list[int] = []
            for index, person in enumerate(self.people):
                if person.joined > last:
                    continue
                if rng.random() >= person.propensity * plan.appeal * self.boost:
                    others.append(index)
                    continue
                day = max(first, person.joined) + timedelta(days=int(rng.expovariate(1 / 2.5)))
                if day > last:
                    others.append(index)  # not taken (yet)
                    continue
                user_id = self.users[index].id
                moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                    hours=7, seconds=rng.randrange(14 * 3600)
                )
                batch.append(ShareLink(new_token(), post_id, user_id, iso(min(moment, self.now))))
                self.share_links += 1
                variant = rng.choice(by_language[person.language])
                book.add(instance(), "share_link", post_id, user_id, "", day)
                if rng.random() < 0.75:
                    book.add(instance(), "copy", post_id, user_id, variant, day)
                if rng.random() < 0.45:
                    book.add(instance(), "download", post_id, user_id, variant, day)
                if rng.random() < 0.08:
                    book.add(instance(), "kit", post_id, user_id, variant, day)
                clicks: Counter[date] = Counter()
                for _ in range(int(rng.expovariate(1 / 3.0))):
                    clicked = day + timedelta(days=int(rng.expovariate(1 / 1.5)))
                    if clicked <= self.today:
                        clicks[clicked] += 1
                for clicked, amount in sorted(clicks.items()):
                    book.add(instance(), "click", post_id, user_id, "", clicked, amount)
                if len(batch) >= _LINK_BATCH:
                    self.writer.submit(write, batch)
                    batch = []
            # Colleagues who use the post without a tracked link: copy the text, download the image.
            share = min(1.0, spec.share_rate * 0.4 * plan.appeal)
            for index in rng.sample(others, round(len(others) * share)):
                person = self.people[index]
                day = max(first, person.joined) + timedelta(days=int(rng.expovariate(1 / 3.0)))
                if day > last:
                    continue
                metric = rng.choices(("copy", "download", "kit"), (60, 32, 8))[0]
                variant = rng.choice(by_language[person.language])
                book.add(instance(), metric, post_id, self.users[index].id, variant, day)
        if batch:
            self.writer.submit(write, batch)
        book.close_all()
