"""What a period's readers need from the counters: the counter key, and the summaries, per-person
detail and variant tallies that roll-ups store and readers merge (see toolkit.counters)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

METRICS = ("copy", "download", "kit", "share_link", "click")
USE_METRICS = ("copy", "download", "kit")
ENGAGED_METRICS = (*USE_METRICS, "share_link")
_ENGAGED = frozenset(ENGAGED_METRICS)
_USES = frozenset(USE_METRICS)

# person -> post -> metric -> count
Detail = dict[str, dict[str, Counter[str]]]
# post -> variant -> person -> last day they used it
Variants = dict[str, dict[str, dict[str, str]]]


class CounterKey(NamedTuple):
    day: str
    metric: str
    post_id: str
    user_id: str
    variant: str = ""

    def encode(self) -> str:
        return "|".join(self[1:])


def _decode(day: str, key: str) -> CounterKey:
    metric, post_id, user_id, variant = (key.split("|") + ["", "", "", ""])[:4]
    return CounterKey(day, metric, post_id, user_id, variant)


def _decoded(day: str, counts: Mapping[str, int]) -> Iterator[tuple[CounterKey, int]]:
    return ((_decode(day, key), value) for key, value in counts.items())


def _counter(table: dict[str, Counter[str]], key: str) -> Counter[str]:
    found = table.get(key)
    if found is None:
        found = table[key] = Counter()
    return found


# What a period's readers need


@dataclass(eq=False)
class Summary:
    """What the statistics need from the counts of a period, without a key per person per day.

    sharers: per post, the people with a positive use or share-link count (a key of theirs);
    engaged: all of those people; clicks: per person, clicks on their share links.
    """

    posts: dict[str, Counter[str]] = field(default_factory=dict)
    sharers: dict[str, set[str]] = field(default_factory=dict)
    days: dict[str, Counter[str]] = field(default_factory=dict)
    engaged: set[str] = field(default_factory=set)
    _clicks: Counter[str] = field(default_factory=Counter, repr=False)
    # The clicks of merged parts are added up when first asked for: only the leaderboard needs
    # them, and a year has thousands of people per month.
    _unmerged: list[Counter[str]] = field(default_factory=list, repr=False)

    @property
    def clicks(self) -> Counter[str]:
        if self._unmerged:
            parts, self._unmerged = self._unmerged, []
            for part in parts:
                _add(self._clicks, part)
        return self._clicks

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Summary):
            return NotImplemented
        mine = (self.posts, self.sharers, self.days, self.clicks, self.engaged)
        return mine == (other.posts, other.sharers, other.days, other.clicks, other.engaged)

    def add(self, key: CounterKey, value: int) -> None:
        _counter(self.posts, key.post_id)[key.metric] += value
        _counter(self.days, key.day)[key.metric] += value
        if key.metric == "click":
            self._clicks[key.user_id] += value
        elif key.metric in _ENGAGED and value > 0:
            self.sharers.setdefault(key.post_id, set()).add(key.user_id)
            self.engaged.add(key.user_id)

    def to_data(self) -> dict[str, Any]:
        return {
            "posts": {post: dict(metrics) for post, metrics in self.posts.items()},
            "sharers": {post: sorted(people) for post, people in self.sharers.items()},
            "days": {day: dict(metrics) for day, metrics in self.days.items()},
            "clicks": dict(self.clicks),
            "engaged": sorted(self.engaged),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Summary:
        # Interned, so the same person's id is one string however many periods hold it.
        name = sys.intern
        summary = cls(
            posts={post: Counter(metrics) for post, metrics in data.get("posts", {}).items()},
            sharers={post: {name(p) for p in people} for post, people in data.get("sharers", {}).items()},
            days={day: Counter(metrics) for day, metrics in data.get("days", {}).items()},
            engaged={name(p) for p in data.get("engaged", [])},
        )
        summary._clicks = Counter({name(p): int(n) for p, n in data.get("clicks", {}).items()})
        return summary


def merge(parts: Iterable[Summary]) -> Summary:
    """The summary of disjoint periods together: counts added, people united. Never changes the parts."""
    out = Summary()
    sharers: dict[str, list[set[str]]] = {}
    engaged: list[set[str]] = []
    for part in parts:
        _add_all(out.posts, part.posts)
        _add_all(out.days, part.days)
        for post, people in part.sharers.items():
            sharers.setdefault(post, []).append(people)
        out._unmerged.append(part.clicks)
        engaged.append(part.engaged)
    out.sharers = {post: set().union(*groups) for post, groups in sharers.items()}
    out.engaged = set().union(*engaged)
    return out


def _add(into: Counter[str], other: Mapping[str, int]) -> None:
    # A plain loop: Counter.update checks its argument's type on every call, which shows when a
    # year's page merges some sixty summaries of hundreds of posts.
    if not into:
        into.update(other)
        return
    get = into.get
    for key, value in other.items():
        into[key] = get(key, 0) + value


def _add_all(into: dict[str, Counter[str]], other: Mapping[str, Mapping[str, int]]) -> None:
    for key, counts in other.items():
        found = into.get(key)
        if found is None:
            into[key] = Counter(counts)
        else:
            _add(found, counts)


def summarize(counts: Iterable[tuple[CounterKey, int]]) -> Summary:
    """The summary of raw counts (e.g. a `totals()` dict's items)."""
    out = Summary()
    for key, value in counts:
        out.add(key, value)
    return out


@dataclass
class Built:
    """Everything an aggregate holds, made from raw counts."""

    summary: Summary = field(default_factory=Summary)
    detail: Detail = field(default_factory=dict)
    variants: Variants = field(default_factory=dict)

    def add(self, key: CounterKey, value: int) -> None:
        self.summary.add(key, value)
        _counter(self.detail.setdefault(key.user_id, {}), key.post_id)[key.metric] += value
        if key.metric in _USES and key.variant:
            _note(self.variants, key.post_id, key.variant, key.user_id, key.day)


def build(counts: Iterable[tuple[CounterKey, int]]) -> Built:
    out = Built()
    for key, value in counts:
        out.add(key, value)
    return out


def _note(table: Variants, post: str, variant: str, user: str, day: str) -> None:
    people = table.setdefault(post, {}).setdefault(variant, {})
    if people.get(user, "") < day:
        people[user] = day


def _merge_detail(into: Detail, other: Mapping[str, Mapping[str, Mapping[str, int]]]) -> None:
    for user, posts in other.items():
        mine = into.setdefault(sys.intern(user), {})
        for post, metrics in posts.items():
            _counter(mine, post).update(metrics)


def _merge_variants(into: Variants, other: Variants, since: str = "") -> None:
    for post, variants in other.items():
        for variant, people in variants.items():
            for user, day in people.items():
                if day >= since:
                    _note(into, post, variant, user, day)


def _detail_data(raw: bytes) -> Detail:
    detail: Detail = {}
    _merge_detail(detail, json.loads(raw))
    return detail


def _variants_data(raw: bytes) -> Variants:
    variants: Variants = {}
    _merge_variants(variants, json.loads(raw))
    return variants


def _counts_data(raw: bytes) -> dict[str, int]:
    return {key: int(value) for key, value in json.loads(raw).get("counts", {}).items()}
