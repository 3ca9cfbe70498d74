"""Statistics marketing can act on, each employee's own numbers, and the opt-in leaderboard.

Everything is computed on read from portal.counters (aggregates of the closed days and months of the
period, plus the raw per-instance objects of the days not rolled up yet: see toolkit.counters) and
the record index; nothing here is stored except the leaderboard switch.

Definitions (the stats page and API say the same):
- uses: copies of the text, image downloads and kits; share links made and clicks are separate.
- unique sharers of a post: distinct people who used it or made a share link to it in the period.
- participation: of the accounts that are active now and have the role employee, the share that
  used at least one post (a use or a share link) in the period. Marketing and admins are left out
  of both sides: they try posts while writing them, and counting them would flatter the number.
- posts nobody used: posts live now with no use and no share link in the period.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from toolkit.accounts import USERS, Accounts, User, iso, now
from toolkit.audit import AuditLog
from toolkit.counter_summaries import summarize
from toolkit.counters import (
    ENGAGED_METRICS,
    USE_METRICS,
    CounterKey,
    Counters,
    PeriodCounts,
    Summary,
    days_between,
)
from toolkit.errors import N_, Conflict, Invalid
from toolkit.posts import Posts
from toolkit.records import Records

DEFAULT_DAYS = 30
MAX_DAYS = 366
CHART_DAYS = 90
TOP_POSTS = 10
LEADERBOARD_SIZE = 20
SETTINGS = "settings"
LEADERBOARD_ID = "leaderboard"


def today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def public(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _day(raw: str, label: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise Invalid(N_("%(field)s must be a date like 2025-12-31."), field=label) from None


def parse_period(raw_from: str | None, raw_to: str | None, *, on: date | None = None) -> Period:
    """The period a request asks for: the last 30 days by default, at most 366 days; Invalid (422)
    for dates that are not YYYY-MM-DD or a 'from' after 'to'."""
    on = on or today()
    last = _day(raw_to, "to") if raw_to else None
    first = _day(raw_from, "from") if raw_from else None
    # The default 30 days are cut at the ends of the calendar (date.min and date.max have no
    # neighbours), so a far-off date is an answer, not an OverflowError.
    span = timedelta(days=DEFAULT_DAYS - 1)
    if last is None:
        last = on if first is None or first <= on else min(first, date.max - span) + span
    if first is None:
        first = last - span if last >= date.min + span else date.min
    if first > last:
        raise Invalid(N_("'from' must not come after 'to'."))
    period = Period(first, last)
    if period.days > MAX_DAYS:
        raise Invalid(N_("Choose a period of at most %(n)s days."), n=MAX_DAYS)
    return period


@dataclass
class Tally:
    """Counts for one post, campaign, day or person."""

    copy: int = 0
    download: int = 0
    kit: int = 0
    share_links: int = 0
    clicks: int = 0
    sharers: set[str] = field(default_factory=set)

    @property
    def uses(self) -> int:
        return self.copy + self.download + self.kit

    @property
    def unique_sharers(self) -> int:
        return len(self.sharers)

    @property
    def engaged(self) -> bool:
        return self.uses > 0 or self.share_links > 0

    def add(self, key: CounterKey, value: int) -> None:
        if key.metric == "copy":
            self.copy += value
        elif key.metric == "download":
            self.download += value
        elif key.metric == "kit":
            self.kit += value
        elif key.metric == "share_link":
            self.share_links += value
        elif key.metric == "click":
            self.clicks += value
        if key.metric in ENGAGED_METRICS and value > 0:
            self.sharers.add(key.user_id)

    @classmethod
    def of(cls, metrics: Mapping[str, int], sharers: set[str] | None = None) -> Tally:
        """The tally of counts per metric (and the people who used or linked)."""
        return cls(
            copy=metrics.get("copy", 0),
            download=metrics.get("download", 0),
            kit=metrics.get("kit", 0),
            share_links=metrics.get("share_link", 0),
            clicks=metrics.get("click", 0),
            sharers=sharers if sharers is not None else set(),
        )

    def public(self) -> dict[str, Any]:
        return {
            "uses": {"copy": self.copy, "download": self.download, "kit": self.kit, "total": self.uses},
            "share_links": self.share_links,
            "clicks": self.clicks,
            "unique_sharers": self.unique_sharers,
        }


@dataclass
class PostRow:
    id: str
    title: str
    campaign: str
    status: str  # draft, approved, archived, or deleted when only its counts remain
    live: bool
    tally: Tally

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "campaign": self.campaign,
            "status": self.status,
            "live": self.live,
            **self.tally.public(),
        }


@dataclass
class CampaignRow:
    campaign: str
    posts: int
    tally: Tally

    def public(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "posts": self.posts, **self.tally.public()}


@dataclass(frozen=True)
class DayPoint:
    day: str
    uses: int
    share_links: int
    clicks: int

    def public(self) -> dict[str, Any]:
        return {"day": self.day, "uses": self.uses, "share_links": self.share_links, "clicks": self.clicks}


@dataclass(frozen=True)
class Participation:
    active_employees: int
    participants: int

    @property
    def rate(self) -> float:
        return self.participants / self.active_employees if self.active_employees else 0.0

    @property
    def percent(self) -> int:
        return round(self.rate * 100)

    def public(self) -> dict[str, Any]:
        return {
            "active_employees": self.active_employees,
            "participants": self.participants,
            "rate": round(self.rate, 4),
        }


@dataclass
class Report:
    period: Period
    posts: list[PostRow]
    totals: Tally
    campaigns: list[CampaignRow]
    days: list[DayPoint]
    participation: Participation
    top_posts: list[PostRow]
    unused_posts: list[PostRow]

    def public(self) -> dict[str, Any]:
        return {
            **self.period.public(),
            "posts": [row.public() for row in self.posts],
            "totals": {"posts_used": sum(1 for r in self.posts if r.tally.engaged), **self.totals.public()},
            "campaigns": [row.public() for row in self.campaigns],
            "days": [point.public() for point in self.days],
            "participation": self.participation.public(),
            "top_posts": [row.public() for row in self.top_posts],
            "unused_posts": [
                {"id": r.id, "title": r.title, "campaign": r.campaign} for r in self.unused_posts
            ],
        }

    def csv(self) -> str:
        """The per-post table as CSV (UTF-8, comma separated, header row)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.posts:
            t = row.tally
            writer.writerow(
                [
                    row.id,
                    _cell(row.title),
                    _cell(row.campaign),
                    row.status,
                    t.copy,
                    t.download,
                    t.kit,
                    t.uses,
                    t.share_links,
                    t.clicks,
                    t.unique_sharers,
                ]
            )
        return out.getvalue()


CSV_COLUMNS = (
    "post_id",
    "title",
    "campaign",
    "status",
    "copies",
    "downloads",
    "kits",
    "uses",
    "share_links",
    "clicks",
    "unique_sharers",
)


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    user_id: str
    name: str
    clicks: int

    def public(self) -> dict[str, Any]:
        return {"rank": self.rank, "name": self.name, "clicks": self.clicks}


@dataclass(frozen=True)
class MyPostRow:
    post_id: str
    title: str
    live: bool
    uses: int
    share_links: int
    clicks: int

    def public(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "title": self.title,
            "live": self.live,
            "uses": self.uses,
            "share_links": self.share_links,
            "clicks": self.clicks,
        }


@dataclass
class MyStats:
    """One person's own numbers; never anyone else's."""

    period: Period
    tally: Tally
    posts: list[MyPostRow]

    def public(self) -> dict[str, Any]:
        data = self.tally.public()
        data.pop("unique_sharers")
        return {**self.period.public(), **data, "posts": [row.public() for row in self.posts]}


def display_name(user: User) -> str:
    """How colleagues see a person on the leaderboard: the name they gave, never the e-mail domain."""
    return user.name or user.first_name or user.email.split("@")[0]


class Stats:
    """Service `portal.stats`."""

    def __init__(
        self,
        records: Records,
        audit: AuditLog,
        accounts: Accounts,
        posts: Posts,
        counters: Counters,
        clock: Callable[[], date] = today,
    ) -> None:
        self.records = records
        self.audit = audit
        self.accounts = accounts
        self.posts = posts
        self.counters = counters
        self.clock = clock

    def totals(self, period: Period) -> dict[CounterKey, int]:
        """The counts of the period, to hand to report(), series(), mine() and leaderboard() (which
        read it through the counters' aggregates, once for all of them). May read the store: use a
        worker thread."""
        return self.counters.period(period.first, period.last)

    def _summary(self, period: Period, totals: dict[CounterKey, int] | None) -> Summary:
        counts = self.totals(period) if totals is None else totals
        if isinstance(counts, PeriodCounts):
            return counts.summary(period.first, period.last)
        return summarize(_within(counts, period))

    def default_period(self) -> Period:
        return parse_period(None, None, on=self.clock())

    def chart_period(self) -> Period:
        last = self.clock()
        return Period(last - timedelta(days=CHART_DAYS - 1), last)

    # Marketing

    def report(self, period: Period, totals: dict[CounterKey, int] | None = None) -> Report:
        """Per post, per campaign, per day, participation, top and unused posts for the period."""
        view = self._summary(period, totals)
        known = {post.id: post for post in self.posts.all()}
        moment = now()
        tallies = {post: Tally.of(metrics, view.sharers.get(post)) for post, metrics in view.posts.items()}
        everything: Counter[str] = Counter()
        for metrics in view.posts.values():
            everything.update(metrics)
        overall = Tally.of(everything, view.engaged)
        rows: list[PostRow] = []
        for post_id in set(tallies) | {p.id for p in known.values() if p.is_live(moment)}:
            post = known.get(post_id)
            rows.append(
                PostRow(
                    id=post_id,
                    title=post.title if post else "",
                    campaign=post.campaign if post else "",
                    status=post.status if post else "deleted",
                    live=post.is_live(moment) if post else False,
                    tally=tallies.get(post_id, Tally()),
                )
            )
        rows.sort(key=lambda r: (-r.tally.uses - r.tally.share_links, -r.tally.clicks, r.title.lower()))
        employees = self._active_employees()
        return Report(
            period=period,
            posts=rows,
            totals=overall,
            campaigns=_campaigns(rows),
            days=_series(period, view),
            participation=Participation(len(employees), len(employees & view.engaged)),
            top_posts=[r for r in rows if r.tally.engaged or r.tally.clicks][:TOP_POSTS],
            unused_posts=sorted(
                (r for r in rows if r.live and not r.tally.engaged), key=lambda r: r.title.lower()
            ),
        )

    def _active_employees(self) -> set[str]:
        # Through accounts.get and its per-person cache: Accounts.all() makes every User anew.
        found = set()
        for record in self.records.all(USERS):
            user = self.accounts.get(record.id)
            if user is not None and user.active and user.role == "employee":
                found.add(user.id)
        return found

    def series(self, period: Period, totals: dict[CounterKey, int] | None = None) -> list[DayPoint]:
        """Uses, share links and clicks per day, every day of the period (zeros included)."""
        return _series(period, self._summary(period, totals))

    # Each person

    def mine(self, user: User, period: Period, totals: dict[CounterKey, int] | None = None) -> MyStats:
        overall = Tally()
        per_post: dict[str, Tally] = defaultdict(Tally)
        for post_id, metrics in self._user_counts(user, period, totals).items():
            for metric, value in metrics.items():
                key = CounterKey("", metric, post_id, user.id)
                overall.add(key, value)
                per_post[post_id].add(key, value)
        moment = now()
        rows = []
        for post_id, tally in per_post.items():
            post = self.posts.get(post_id)
            rows.append(
                MyPostRow(
                    post_id=post_id,
                    title=post.title if post else "",
                    live=post.is_live(moment) if post else False,
                    uses=tally.uses,
                    share_links=tally.share_links,
                    clicks=tally.clicks,
                )
            )
        rows.sort(key=lambda r: (-r.clicks, -r.uses, r.title.lower()))
        return MyStats(period, overall, rows)

    def _user_counts(
        self, user: User, period: Period, totals: dict[CounterKey, int] | None
    ) -> Mapping[str, Mapping[str, int]]:
        """The person's counts in the period per post and metric, and nobody else's."""
        counts = self.totals(period) if totals is None else totals
        if isinstance(counts, PeriodCounts):
            return counts.user_counts(user.id, period.first, period.last)
        per_post: dict[str, Counter[str]] = defaultdict(Counter)
        for key, value in _within(counts, period):
            if key.user_id == user.id:
                per_post[key.post_id][key.metric] += value
        return per_post

    # Leaderboard: off unless marketing switches it on; people who opted out never appear

    def leaderboard_enabled(self) -> bool:
        record = self.records.get(SETTINGS, LEADERBOARD_ID)
        return bool(record and record.data.get("enabled"))

    def set_leaderboard(self, enabled: bool, actor: User) -> bool:
        if not isinstance(enabled, bool):
            raise Invalid(N_("'enabled' must be true or false."))
        data = {"enabled": enabled, "updated_at": iso(now()), "by": actor.id}
        for _ in range(5):
            current = self.records.get(SETTINGS, LEADERBOARD_ID)
            if current is not None and bool(current.data.get("enabled")) == enabled:
                return enabled
            try:
                if current is None:
                    record = self.records.create(SETTINGS, LEADERBOARD_ID, data)
                else:
                    record = self.records.update(SETTINGS, LEADERBOARD_ID, data, version=current.version)
            except Conflict:
                continue
            self.audit.record(
                actor,
                "leaderboard.on" if enabled else "leaderboard.off",
                SETTINGS,
                LEADERBOARD_ID,
                current.version if current else None,
                record.version,
                {"enabled": enabled},
            )
            return enabled
        raise Conflict()

    def leaderboard(
        self, period: Period, totals: dict[CounterKey, int] | None = None, *, size: int = LEADERBOARD_SIZE
    ) -> list[LeaderRow]:
        """People by clicks on their share links in the period; empty while the leaderboard is off.

        Only active people who did not opt out, and only those with at least one click.
        """
        if not self.leaderboard_enabled():
            return []
        by_clicks: dict[int, list[str]] = defaultdict(list)
        for user_id, total in self._summary(period, totals).clicks.items():
            if total > 0:
                by_clicks[total].append(user_id)
        # Only people who can still make the board are looked up: the most clicks first, a whole
        # group of equals at a time, since equals are ordered by name.
        people: list[tuple[int, str, str]] = []
        for total in sorted(by_clicks, reverse=True):
            if len(people) >= size:
                break
            group = []
            for user_id in by_clicks[total]:
                user = self.accounts.get(user_id)
                if user is None or not user.active or user.leaderboard_opt_out:
                    continue
                group.append((total, display_name(user), user_id))
            people += sorted(group, key=lambda item: item[1].lower())
        rows: list[LeaderRow] = []
        for position, (total, name, user_id) in enumerate(people[:size], start=1):
            # Equal clicks share a rank.
            rank = rows[-1].rank if rows and rows[-1].clicks == total else position
            rows.append(LeaderRow(rank, user_id, name, total))
        return rows


def _within(counts: dict[CounterKey, int], period: Period) -> Iterable[tuple[CounterKey, int]]:
    first, last = period.first.isoformat(), period.last.isoformat()
    return ((k, v) for k, v in counts.items() if first <= k.day <= last)


def _series(period: Period, view: Summary) -> list[DayPoint]:
    points = []
    for day in days_between(period.first, period.last):
        metrics = view.days.get(day, Counter())
        uses = sum(metrics.get(metric, 0) for metric in USE_METRICS)
        points.append(DayPoint(day, uses, metrics.get("share_link", 0), metrics.get("click", 0)))
    return points


def _campaigns(rows: list[PostRow]) -> list[CampaignRow]:
    grouped: dict[str, list[PostRow]] = defaultdict(list)
    for row in rows:
        grouped[row.campaign].append(row)
    campaigns = []
    for name, members in grouped.items():
        tally = Tally()
        for row in members:
            t = row.tally
            tally.copy += t.copy
            tally.download += t.download
            tally.kit += t.kit
            tally.share_links += t.share_links
            tally.clicks += t.clicks
            tally.sharers |= t.sharers
        campaigns.append(CampaignRow(name, len(members), tally))
    campaigns.sort(key=lambda c: (-c.tally.uses - c.tally.share_links, -c.tally.clicks, c.campaign.lower()))
    return campaigns
