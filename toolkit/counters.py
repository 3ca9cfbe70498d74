"""Usage and click counts without a shared hot object, read in O(period), not O(history).

Writing. Each instance adds counts in memory and flushes them every few seconds to objects that
only it writes, one per UTC hour in which the counts were added:

    counters/<day>/<HH>/<instance>.json      this instance's counts for <day>, added during hour HH

An object is rewritten (whole) only by the flushes of its own hour (and the one just after it), so
its size is bounded by one hour of one instance's distinct keys and a flush writes only what
changed. Nobody else writes it: no contention, no lost update. An instance restarted under the same
name reads the hour's object before its first write to it, so it continues the totals instead of
overwriting them. A hard kill loses at most one flush interval. Back-filled history
(`add(..., day="2024-03-01")`, the demo generator) lands in that day's object for the hour it was
added in. The release before this one wrote `counters/<day>/<instance>.json`, a whole day per
object; such objects are read exactly like the hourly ones, so an old store keeps its numbers with
nothing to convert.

Rolling up. A day is closed GRACE after it ended (UTC): no flush still under way can reach it.
`roll_up()`, called by every instance's daily background loop, makes once per closed day and once
per closed month an aggregate:

    counters/<kind>/<name>/summary.json               kind "day" (yyyy-mm-dd) or "month" (yyyy-mm)
    counters/<kind>/<name>/<attempt>/users-<i>.json   per-person detail, shard i = crc32(person) % n
    counters/<kind>/<name>/<attempt>/variants.json    who used which caption variant, and last when
    counters/claims/<kind>-<name>.json                who is making (or made) it

The summary holds what the marketing page needs (per post and metric, each post's sharers, per day
and metric, engaged people, clicks per person) and stays small; the detail is split so one
person's own page reads one small shard per period unit. An instance makes an aggregate only after
creating its claim (If-None-Match; a claim older than CLAIM_SECONDS is taken over, as the
checkpoint claims are, unless the aggregate is complete). It writes the parts under a fresh attempt
folder and the summary last, with If-None-Match: the summary is the marker that the aggregate is
complete and names its attempt, so a crash halfway leaves only an attempt folder nothing points to,
which the instance that completes the aggregate deletes. The claim of a complete aggregate stays
(a record of who made it); a failed attempt withdraws its own so another instance can retry at
once. A month is made from its day aggregates, so its sums are theirs, which are the raw objects'.

Kept, not deleted: the raw objects of rolled-up days are the exact per-day, per-person record that
`totals()` reads (exports, the demo generator's checks, re-making an aggregate after late counts)
and cost about 250 kB a day for 5,000 employees; readers of rolled-up periods never list them.
Day aggregates are kept because a period that starts or ends inside a month needs its days.

Late counts: counts flushed for a day after it was rolled up (an instance cut off from the store
for longer than GRACE, or history back-filled into a store whose history was already rolled up)
reach the raw objects, where `totals()` sees them, but not the aggregates made before them.

The shapes readers merge (Summary, detail shards, variant tallies) are in
toolkit.counter_summaries; the dict-like handle of a period in toolkit.period_counts.

Reading. `summary(first, last)` merges one month summary per whole closed month, one day summary
per other closed day, and the raw objects of the days no aggregate covers yet (today, yesterday,
and any closed day no roll-up has reached: readers fall back to raw objects, so they are right
before any roll-up ran). Which days have raw objects at all comes from one delimiter listing of
counters/ (a name per day), so empty days cost nothing. Summaries are immutable, so they are
cached in memory (bounded); raw days are listed again at most every RAW_REFRESH_SECONDS and only
objects whose ETag changed are read. `user_counts()` reads one detail shard per aggregate.
`variant_users()` ("surprise me") reads an in-memory tally of who used which variant and the last
day they did: this instance's `add` updates it at once, other instances' objects are folded in when
their ETag changes (checked at most every RECENT_REFRESH_SECONDS), aggregates once. Taking the
latest day is idempotent, so folding a day twice (raw, then rolled up) changes nothing.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import secrets
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from toolkit.counter_summaries import (
    _USES,
    Built,
    Detail,
    Variants,
    _counter,
    _counts_data,
    _decoded,
    _detail_data,
    _merge_detail,
    _merge_variants,
    _note,
    _variants_data,
    build,
    merge,
)
from toolkit.counter_summaries import ENGAGED_METRICS as ENGAGED_METRICS
from toolkit.counter_summaries import METRICS as METRICS
from toolkit.counter_summaries import USE_METRICS as USE_METRICS
from toolkit.counter_summaries import CounterKey as CounterKey
from toolkit.counter_summaries import Summary as Summary
from toolkit.period_counts import PeriodCounts as PeriodCounts
from toolkit.store import ObjectMissing, Store, VersionMismatch

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

PREFIX = "counters/"
CLAIMS = f"{PREFIX}claims/"

GRACE = timedelta(hours=2)
CLAIM_SECONDS = 600.0
RAW_REFRESH_SECONDS = 5.0
RECENT_REFRESH_SECONDS = 5.0
# How long "no aggregate yet" is believed before asking the store again (a roll-up runs daily).
ABSENT_SECONDS = 60.0
# How long the list of days that have raw objects is believed, for closed days (late counts only).
FOLDERS_SECONDS = 300.0
USERS_PER_SHARD = 250
MAX_SHARDS = 64
UNIT_CACHE = 200  # a year: 12 months, the days at the period's ends and of the current month
PART_CACHE = 256
RAW_CACHE = 32  # raw days held: today and yesterday once roll-ups run, more until then

_DAY_NAME = re.compile(r"\d{4}-\d{2}-\d{2}\Z")

Clock = Callable[[], datetime]  # an aware datetime in UTC
_Object = tuple[str, dict[str, int]]  # a raw object's ETag and counts
Slot = tuple[str, int]  # (day, UTC hour the counts were added in)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def today() -> str:
    return utcnow().date().isoformat()


def days_between(first: date, last: date) -> Iterator[str]:
    day = first
    while day <= last:
        yield day.isoformat()
        if day == last:
            break  # date.max has no next day
        day += timedelta(days=1)


def _months(first: date, last: date) -> Iterator[tuple[str, date, date]]:
    """(yyyy-mm, first day, last day) of every calendar month that meets first..last."""
    year, month = first.year, first.month
    while True:
        start = date(year, month, 1)
        end = date(year, month, calendar.monthrange(year, month)[1])
        yield start.isoformat()[:7], start, end
        if end >= last or (year, month) == (9999, 12):
            return
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def month_last(month: str) -> date:
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, calendar.monthrange(year, number)[1])


def is_closed(day: date, moment: datetime) -> bool:
    """Whether no flush can still reach the day: it ended GRACE ago (UTC)."""
    if day >= moment.astimezone(UTC).date():
        return False
    return datetime.combine(day + timedelta(days=1), time(), UTC) + GRACE <= moment


def shard_of(user_id: str, shards: int) -> int:
    """The detail shard holding a person: stable across processes and releases."""
    return zlib.crc32(user_id.encode()) % shards


def _shards_for(people: int) -> int:
    return max(1, min(MAX_SHARDS, -(-people // USERS_PER_SHARD)))


def _slot_key(day: str, hour: int, instance: str) -> str:
    return f"{PREFIX}{day}/{hour:02d}/{instance}.json"


def _unit_key(kind: str, name: str) -> str:
    return f"{PREFIX}{kind}/{name}/summary.json"


def _part_key(kind: str, name: str, attempt: str, part: str) -> str:
    return f"{PREFIX}{kind}/{name}/{attempt}/{part}.json"


def _claim_key(kind: str, name: str) -> str:
    return f"{CLAIMS}{kind}-{name}.json"


def _covers_since(key: str, since: str) -> bool:
    """Whether a raw object or an aggregate is about days from `since` on (a month: any of them)."""
    head, _, rest = key[len(PREFIX) :].partition("/")
    name = rest.partition("/")[0] if head in ("day", "month") else head
    return name >= since[: len(name)]


@dataclass(frozen=True)
class Unit:
    """A complete aggregate (its summary read from the store)."""

    kind: str  # "day" or "month"
    name: str
    attempt: str
    shards: int
    summary: Summary

    def part(self, part: str) -> str:
        return _part_key(self.kind, self.name, self.attempt, part)


@dataclass(frozen=True)
class RollUp:
    """What one roll_up call made (others may have made the rest)."""

    days: list[str]
    months: list[str]


class _Lru(Generic[T]):
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class _RawDay:
    """A day's raw objects as last listed: key -> (ETag, counts), and what was built from them."""

    listed_at: float = float("-inf")
    objects: dict[str, _Object] = field(default_factory=dict)
    built: tuple[object, Built] | None = None


class _Recent:
    """Per post and variant, who used it and the last day they did: 'surprise me' without a re-sum."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the tally itself: held for microseconds
        self.refreshing = threading.Lock()  # one refresh at a time, its I/O outside `lock`
        self.since: str | None = None  # None: nobody asked yet, so add() need not note anything
        self.refreshed_at = float("-inf")
        self.people: Variants = {}
        self.folded: dict[str, str] = {}  # source key -> the ETag or attempt already folded

    def covers(self, since: str) -> bool:
        """Whether the tally is loaded from `since` on (other callers wait while it loads)."""
        return self.since is not None and self.since <= since and self.refreshed_at > float("-inf")

    def note(self, post: str, variant: str, user: str, day: str) -> None:
        with self.lock:
            if self.since is not None and day >= self.since:
                _note(self.people, post, variant, user, day)

    def count(self, post: str, since: str, until: str) -> dict[str, int]:
        with self.lock:
            return {
                variant: sum(1 for day in people.values() if since <= day <= until)
                for variant, people in self.people.get(post, {}).items()
            }

    def forget_before(self, since: str) -> None:
        with self.lock:
            for variants in self.people.values():
                for variant, people in list(variants.items()):
                    variants[variant] = {user: day for user, day in people.items() if day >= since}
            self.since = since


class Counters:
    def __init__(self, store: Store, instance: str, *, clock: Clock = utcnow) -> None:
        self.store = store
        self.instance = instance
        self.clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # This instance's objects still in memory: written totals plus what came since.
        self._slots: dict[Slot, Counter[str]] = {}
        self._dirty: set[Slot] = set()
        self._loaded: set[Slot] = set()
        self._versions: Counter[str] = Counter()  # per day, bumped when this instance's counts change
        self._units: _Lru[Unit] = _Lru(UNIT_CACHE)
        self._absent: dict[str, float] = {}
        self._details: _Lru[Detail] = _Lru(PART_CACHE)
        self._raw: _Lru[_RawDay] = _Lru(RAW_CACHE)
        self._days_seen: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
        self._recent = _Recent()
        self._claims: dict[str, str] = {}
        self._made: set[str] = set()  # aggregates known complete (their summary keys)

    def _tick(self) -> float:
        return self.clock().timestamp()

    # Writing

    def add(
        self,
        metric: str,
        post_id: str,
        user_id: str,
        variant: str = "",
        *,
        amount: int = 1,
        day: str | None = None,
    ) -> None:
        """Count one event now (or on `day`, for back-filled history); cheap, no I/O."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        moment = self.clock()
        if day is None:
            day = moment.date().isoformat()
        elif not _DAY_NAME.match(day):
            raise ValueError(f"day must be YYYY-MM-DD, not {day!r}")
        slot = (day, moment.hour)
        with self._lock:
            self._slots.setdefault(slot, Counter())["|".join((metric, post_id, user_id, variant))] += amount
            self._dirty.add(slot)
            self._versions[day] += 1
        if metric in _USES and variant:
            self._recent.note(post_id, variant, user_id, day)

    def flush(self) -> int:
        """Write this instance's objects that changed; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                dirty = sorted(self._dirty)
            written = 0
            for slot in dirty:
                self._load_slot(slot)
                with self._lock:
                    snapshot = dict(self._slots[slot])
                    self._dirty.discard(slot)
                day, hour = slot
                body = {"instance": self.instance, "day": day, "hour": hour, "counts": snapshot}
                try:
                    self.store.put(
                        _slot_key(day, hour, self.instance),
                        json.dumps(body).encode(),
                        content_type="application/json",
                    )
                except Exception:
                    with self._lock:
                        self._dirty.add(slot)
                    raise
                written += 1
                self._forget_listing(day)
            self._drop_written()
            return written

    def _load_slot(self, slot: Slot) -> None:
        """An instance restarted under the same name continues its totals instead of overwriting them."""
        with self._lock:
            if slot in self._loaded:
                return
        try:
            raw, _ = self.store.read(_slot_key(*slot, self.instance))
            stored = Counter(_counts_data(raw))
        except ObjectMissing:
            stored = Counter()
        with self._lock:
            if slot not in self._loaded:
                # update(), not +: a Counter sum would drop zero and negative counts.
                stored.update(self._slots.get(slot, Counter()))
                self._slots[slot] = stored
                self._loaded.add(slot)
                self._versions[slot[0]] += 1

    def _drop_written(self) -> None:
        """Past hours that are written leave memory: readers find them in the store."""
        moment = self.clock()
        current = (moment.date().isoformat(), moment.hour)
        with self._lock:
            written = [s for s in self._slots if s != current and s in self._loaded and s not in self._dirty]
            for slot in written:
                del self._slots[slot]
                self._loaded.discard(slot)

    def _forget_listing(self, day: str) -> None:
        # The next read of the day lists it again, so an hour that just left memory is found in
        # the store (a listing made before its write would miss it).
        raw = self._raw.get(day)
        if raw is not None:
            raw.listed_at = float("-inf")

    # Raw objects

    def _days_with_objects(self, max_age: float = FOLDERS_SECONDS) -> frozenset[str]:
        """Days that have raw objects: one delimiter listing of counters/, however many objects."""
        now = self._tick()
        at, days = self._days_seen
        if now - at < max_age:
            return days
        days = frozenset(name for name in self.store.folders(PREFIX) if _DAY_NAME.match(name))
        self._days_seen = (now, days)
        return days

    def _own_days(self) -> set[str]:
        with self._lock:
            return {day for day, _ in self._slots}

    def _objects(self, day: str, max_age: float = RAW_REFRESH_SECONDS) -> dict[str, _Object]:
        """The day's raw objects (every instance, old and new format), read again only when changed."""
        raw = self._raw.get(day)
        if raw is None:
            raw = _RawDay()
            self._raw.put(day, raw)
        now = self._tick()
        if now - raw.listed_at < max_age:
            return raw.objects
        known = raw.objects
        objects: dict[str, _Object] = {}
        for info in self.store.list(f"{PREFIX}{day}/"):
            seen = known.get(info.key)
            if seen is not None and seen[0] == info.etag:
                objects[info.key] = seen
                continue
            try:
                body, etag = self.store.read(info.key)
            except ObjectMissing:
                continue
            objects[info.key] = (etag, _counts_data(body))
        raw.objects, raw.listed_at = objects, now
        return objects

    def _own(self, day: str) -> tuple[dict[str, Counter[str]], int]:
        """This instance's objects of the day that are in memory (copies), and the day's version."""
        with self._lock:
            pending = [slot for slot in self._slots if slot[0] == day and slot not in self._loaded]
        for slot in pending:
            self._load_slot(slot)
        with self._lock:
            own = {
                _slot_key(d, hour, self.instance): Counter(counts)
                for (d, hour), counts in self._slots.items()
                if d == day
            }
            return own, self._versions[day]

    def _raw_counts(self, day: str, max_age: float = RAW_REFRESH_SECONDS) -> tuple[Counter[str], object]:
        """Every count of the day in raw objects and this instance's memory, and a signature of them.

        Memory first, then the listing: an hour that leaves memory in between was written before
        it left, and its write made the next listing fresh.
        """
        own, version = self._own(day)
        objects = self._objects(day, max_age)
        signature = (version, tuple(sorted((key, etag) for key, (etag, _) in objects.items())))
        combined: Counter[str] = Counter()
        for key, (_, counts) in objects.items():
            if key not in own:  # this instance's own objects count from memory, never behind
                combined.update(counts)
        for counts in own.values():
            combined.update(counts)
        return combined, signature

    def _raw_built(self, day: str) -> Built:
        counts, signature = self._raw_counts(day)
        raw = self._raw.get(day)
        if raw is not None and raw.built is not None and raw.built[0] == signature:
            return raw.built[1]
        made = build(_decoded(day, counts))
        if raw is not None:
            raw.built = (signature, made)
        return made

    def totals(self, first: date, last: date) -> dict[CounterKey, int]:
        """Every count from first to last (inclusive), key by key, from the raw objects.

        Exact to the person and day, and so O(raw keys of the period): the statistics use
        summary() and user_counts() instead.
        """
        wanted = set(days_between(first, last))
        days = (self._days_with_objects(max_age=0) | self._own_days()) & wanted
        summed: dict[CounterKey, int] = {}
        for day in sorted(days):
            counts, _ = self._raw_counts(day, max_age=0)
            summed.update(_decoded(day, counts))
        return summed

    # Aggregates

    def _unit(self, kind: str, name: str, *, fresh: bool = False) -> Unit | None:
        """The complete aggregate, from memory once read; None while there is none."""
        key = _unit_key(kind, name)
        found = self._units.get(key)
        if found is not None:
            return found
        now = self._tick()
        if not fresh and self._absent.get(key, float("-inf")) > now:
            return None
        try:
            raw, _ = self.store.read(key)
        except ObjectMissing:
            if len(self._absent) > 4096:
                self._absent = {k: t for k, t in list(self._absent.items()) if t > now}
            self._absent[key] = now + ABSENT_SECONDS
            return None
        data = json.loads(raw)
        unit = Unit(kind, name, data["attempt"], int(data["shards"]), Summary.from_data(data["summary"]))
        self._units.put(key, unit)
        self._absent.pop(key, None)
        self._made.add(key)
        return unit

    def _plan(self, first: date, last: date) -> list[Unit | str]:
        """What covers first..last: whole closed months and closed days by their aggregate, the
        rest by raw day (a str). Days without raw objects are left out."""
        moment = self.clock()
        current = moment.astimezone(UTC).date()
        recent = {current.isoformat(), (current - timedelta(days=1)).isoformat()}
        data = self._days_with_objects() | self._own_days()
        months_with_data = {day[:7] for day in data}
        plan: list[Unit | str] = []
        for month, start, end in _months(first, last):
            if month not in months_with_data and not any(day[:7] == month for day in recent):
                continue
            if first <= start and end <= last and is_closed(end, moment):
                unit = self._unit("month", month)
                if unit is not None:
                    plan.append(unit)
                    continue
            for day in days_between(max(first, start), min(last, end)):
                if day in recent and not is_closed(date.fromisoformat(day), moment):
                    plan.append(day)  # still being counted: always listed
                elif day in data:
                    closed = is_closed(date.fromisoformat(day), moment)
                    plan.append((self._unit("day", day) if closed else None) or day)
        return plan

    def summary(self, first: date, last: date) -> Summary:
        """The counts of first..last as the statistics need them; from memory once warm."""
        return merge(
            self._raw_built(item).summary if isinstance(item, str) else item.summary
            for item in self._plan(first, last)
        )

    def user_counts(self, user_id: str, first: date, last: date) -> dict[str, Counter[str]]:
        """One person's counts in first..last, per post and metric: one small shard per aggregate."""
        out: dict[str, Counter[str]] = {}
        for item in self._plan(first, last):
            if isinstance(item, str):
                found: Mapping[str, Counter[str]] = self._raw_built(item).detail.get(user_id, {})
            else:
                found = self._detail(item, shard_of(user_id, item.shards)).get(user_id, {})
            for post, metrics in found.items():
                _counter(out, post).update(metrics)
        return out

    def period(self, first: date, last: date) -> PeriodCounts:
        """A handle on first..last that Stats reads through summary() and user_counts()."""
        return PeriodCounts(self, first, last)

    def _detail(self, unit: Unit, shard: int) -> Detail:
        key = unit.part(f"users-{shard}")
        found = self._details.get(key)
        if found is None:
            found = _detail_data(self.store.read(key)[0])
            self._details.put(key, found)
        return found

    def _unit_variants(self, unit: Unit) -> Variants:
        # Not cached: the tally folds each aggregate once.
        return _variants_data(self.store.read(unit.part("variants"))[0])

    # "Surprise me"

    def variant_users(self, post_id: str, since: date) -> dict[str, int]:
        """Per variant of the post, how many people used it from `since` to today (no re-sum)."""
        until = self.clock().date()
        first = since.isoformat()
        recent = self._recent
        if not recent.covers(first):
            with recent.refreshing:
                if not recent.covers(first):
                    self._load_recent(first)
        elif self._tick() - recent.refreshed_at >= RECENT_REFRESH_SECONDS and recent.refreshing.acquire(
            blocking=False
        ):
            # One click refreshes; the others meanwhile answer from the tally as it is.
            try:
                if recent.since is not None and first > recent.since:
                    recent.forget_before(first)
                self._refresh_recent(since, until)
            except Exception as exc:  # the tally stays as it was; the next click tries again
                log.warning("counters: could not refresh the recent uses: %s", exc)
            finally:
                recent.refreshing.release()
        return recent.count(post_id, first, until.isoformat())

    def _load_recent(self, since: str) -> None:
        recent = self._recent
        with recent.lock:
            recent.since, recent.people, recent.folded = since, {}, {}
            recent.refreshed_at = float("-inf")
        # Started before the counts in memory are folded, so an add meanwhile is noted either way.
        with self._lock:
            own = [(slot[0], dict(counts)) for slot, counts in self._slots.items() if slot[0] >= since]
        for day, counts in own:
            self._fold_counts(day, counts, since)
        self._refresh_recent(date.fromisoformat(since), self.clock().date())

    def _refresh_recent(self, since: date, until: date) -> None:
        recent = self._recent
        first = since.isoformat()
        for item in self._plan(since, until):
            if isinstance(item, Unit):
                source = _unit_key(item.kind, item.name)
                if recent.folded.get(source) != item.attempt:
                    variants = self._unit_variants(item)
                    with recent.lock:
                        _merge_variants(recent.people, variants, first)
                    recent.folded[source] = item.attempt
                continue
            for key, (etag, counts) in self._objects(item).items():
                if recent.folded.get(key) != etag:
                    self._fold_counts(item, counts, first)
                    recent.folded[key] = etag
        recent.folded = {k: v for k, v in recent.folded.items() if _covers_since(k, first)}
        recent.refreshed_at = self._tick()

    def _fold_counts(self, day: str, counts: Mapping[str, int], since: str) -> None:
        if day < since:
            return
        table: Variants = {}
        for key, value in _decoded(day, counts):
            if key.metric in _USES and key.variant and value:
                _note(table, key.post_id, key.variant, key.user_id, day)
        with self._recent.lock:
            _merge_variants(self._recent.people, table, since)

    # Rolling up

    def roll_up(self, now: datetime | None = None) -> RollUp:
        """Make the aggregates of closed days and months that have none yet (once, by one instance).

        Safe to call from every instance at any time; returns what this call made.
        """
        moment = now or self.clock()
        self.flush()  # this instance's counts of the closing days are in the store first
        closed = sorted(
            day for day in self._days_with_objects(max_age=0) if is_closed(date.fromisoformat(day), moment)
        )
        made = RollUp([], [])
        for month in sorted({day[:7] for day in closed}):
            if self._complete("month", month):
                continue
            days = [day for day in closed if day[:7] == month]
            ready = True
            for day in days:
                outcome = self._make("day", day, moment, [])
                if outcome == "made":
                    made.days.append(day)
                ready = ready and outcome != "busy"
            if ready and is_closed(month_last(month), moment):
                if self._make("month", month, moment, days) == "made":
                    made.months.append(month)
        return made

    def _make(self, kind: str, name: str, moment: datetime, days: list[str]) -> str:
        """'made', 'done' (complete already) or 'busy' (another instance is making it)."""
        if _unit_key(kind, name) in self._made:
            return "done"
        if not self._claim(kind, name, moment):
            return "done" if self._complete(kind, name) else "busy"
        # The claim stays once the aggregate is complete (a record of who made it, and what tells
        # the next roll-up to look no further); it is withdrawn only when making failed, so
        # another instance can retry at once. Should an aggregate be made twice all the same, its
        # create-only summary lets one attempt win and the other sweeps its parts away.
        try:
            built = self._build_day(name) if kind == "day" else self._build_month(days)
            if built is None:
                self._release(kind, name)
                return "busy"
            return self._write(kind, name, built, moment)
        except Exception:
            self._release(kind, name)
            raise
        finally:
            self._claims.pop(_claim_key(kind, name), None)

    def _complete(self, kind: str, name: str) -> bool:
        """Whether the aggregate is complete: a HEAD, once (roll_up asks about every month of the
        history each run, and a month's summary is a megabyte)."""
        key = _unit_key(kind, name)
        if key not in self._made and self.store.head(key) is not None:
            self._made.add(key)
        return key in self._made

    def _build_day(self, day: str) -> Built:
        """The day from the store's raw objects (what is durable), listed now."""
        combined: Counter[str] = Counter()
        for _, counts in self._objects(day, max_age=0).values():
            combined.update(counts)
        return build(_decoded(day, combined))

    def _build_month(self, days: list[str]) -> Built | None:
        """The month from its days' aggregates; None if one is missing."""
        units = [self._unit("day", day, fresh=True) for day in days]
        if any(unit is None for unit in units):
            return None
        out = Built()
        whole = [unit for unit in units if unit is not None]
        out.summary = merge(unit.summary for unit in whole)
        for unit in whole:
            for shard in range(unit.shards):
                _merge_detail(out.detail, json.loads(self.store.read(unit.part(f"users-{shard}"))[0]))
            _merge_variants(out.variants, self._unit_variants(unit))
        return out

    def _write(self, kind: str, name: str, built: Built, moment: datetime) -> str:
        """Parts under a fresh attempt, then the summary (create-only), then the leftovers go."""
        attempt = secrets.token_hex(6)
        shards = _shards_for(len(built.detail))
        split: list[dict[str, Any]] = [{} for _ in range(shards)]
        for user, posts in built.detail.items():
            split[shard_of(user, shards)][user] = {post: dict(m) for post, m in posts.items()}
        for index, part in enumerate(split):
            self._put(_part_key(kind, name, attempt, f"users-{index}"), part)
        self._put(_part_key(kind, name, attempt, "variants"), built.variants)
        summary = {
            "kind": kind,
            "name": name,
            "attempt": attempt,
            "shards": shards,
            "made_by": self.instance,
            "made_at": moment.isoformat(),
            "summary": built.summary.to_data(),
        }
        try:
            self._put(_unit_key(kind, name), summary, create=True)
        except VersionMismatch:
            winner = self._unit(kind, name, fresh=True)
            self._sweep(kind, name, keep=winner.attempt if winner else None)  # ours is a leftover
            return "done"
        log.info("counters: rolled up %s %s (%d people)", kind, name, len(built.detail))
        self._units.put(_unit_key(kind, name), Unit(kind, name, attempt, shards, built.summary))
        self._made.add(_unit_key(kind, name))
        self._sweep(kind, name, keep=attempt)
        return "made"

    def _put(self, key: str, data: Mapping[str, Any], *, create: bool = False) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        self.store.put(key, body, content_type="application/json", if_none_match=create)

    def _sweep(self, kind: str, name: str, keep: str | None) -> None:
        """Delete the parts of attempts the summary does not name (crashed or beaten ones)."""
        folder = f"{PREFIX}{kind}/{name}/"
        kept = (_unit_key(kind, name), f"{folder}{keep}/" if keep else _unit_key(kind, name))
        stale = [info.key for info in self.store.list(folder) if not info.key.startswith(kept)]
        if stale:
            self.store.delete_many(stale)

    def _claim(self, kind: str, name: str, moment: datetime) -> bool:
        """Whether this instance may make the aggregate: a create-only claim; a stale one is taken
        over unless the aggregate is complete."""
        key = _claim_key(kind, name)
        body = json.dumps({"instance": self.instance, "at": moment.timestamp()}).encode()
        for _ in range(2):
            try:
                self._claims[key] = self.store.put(
                    key, body, content_type="application/json", if_none_match=True
                )
                return True
            except VersionMismatch:
                pass
            if self._complete(kind, name):
                return False
            try:
                raw, etag = self.store.read(key)
            except ObjectMissing:
                continue
            if moment.timestamp() - float(json.loads(raw).get("at", 0)) < CLAIM_SECONDS:
                return False
            log.warning("counters: taking over the stale claim on %s %s", kind, name)
            try:
                self.store.delete(key, if_match=etag)
            except VersionMismatch:
                return False
        return False

    def _release(self, kind: str, name: str) -> None:
        key = _claim_key(kind, name)
        etag = self._claims.get(key)
        if etag is None:
            return
        try:
            self.store.delete(key, if_match=etag)
        except Exception as exc:  # it goes stale and is taken over; the aggregate is not at risk
            log.warning("counters: could not release the claim on %s %s: %s", kind, name, exc)
