"""Statistics in the domain: periods, the per-post/campaign/day report, participation, each person's own
numbers and the opt-in leaderboard."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from tests.test_counters import Clock
from toolkit.accounts import User
from toolkit.counters import METRICS, CounterKey, Counters
from toolkit.errors import Invalid
from toolkit.portal import Portal
from toolkit.posts import Post
from toolkit.settings import Settings
from toolkit.stats import Period, Stats, parse_period
from toolkit.store import Store

TODAY = date(2025, 6, 30)


@pytest.fixture
def portal(store: Store) -> Iterator[Portal]:
    portal = Portal(Settings.from_env({}, instance_id="stats"), store)
    portal.start()
    yield portal
    portal.close()


def _person(portal: Portal, email: str, role: str = "employee", **profile: Any) -> User:
    name = profile.pop("name", email.split("@")[0].title())
    return portal.accounts.add(email, role=role, name=name, **profile)


def _post(portal: Portal, author: User, title: str, campaign: str = "", *, approve: bool = True) -> Post:
    post = portal.posts.create(
        {"title": title, "campaign": campaign, "variants": [{"language": "en", "text": title}]}, author
    )
    return portal.posts.approve(post.id, author) if approve else post


def _key(day: int, metric: str, post: Post | str, user: User | str) -> CounterKey:
    post_id = post if isinstance(post, str) else post.id
    user_id = user if isinstance(user, str) else user.id
    return CounterKey((TODAY - timedelta(days=day)).isoformat(), metric, post_id, user_id)


def test_period_defaults_to_the_last_30_days_and_is_checked() -> None:
    assert parse_period(None, None, on=TODAY) == Period(TODAY - timedelta(days=29), TODAY)
    assert parse_period("", "", on=TODAY).days == 30
    assert parse_period("2025-06-01", None, on=TODAY) == Period(date(2025, 6, 1), TODAY)
    assert parse_period(None, "2025-01-31", on=TODAY) == Period(date(2025, 1, 2), date(2025, 1, 31))
    assert parse_period("2024-07-01", "2025-07-01", on=TODAY).days == 366
    too_long, backwards = ("2024-06-30", "2025-07-01"), ("2025-06-02", "2025-06-01")
    for bad in (too_long, backwards, ("yesterday", None), (None, "2025-13-01")):
        with pytest.raises(Invalid):
            parse_period(*bad, on=TODAY)


def test_report_per_post_campaign_day_participation_top_and_unused(portal: Portal) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    ann, bob, cas = (_person(portal, f"{n}@example.com") for n in ("ann", "bob", "cas"))
    gone = _person(portal, "gone@example.com")
    portal.accounts.set_active(gone, False, actor=_person(portal, "admin@example.com", "admin"))
    hiring = _post(portal, author, "Hiring", "Jobs")
    culture = _post(portal, author, "Culture", "Jobs")
    quiet = _post(portal, author, "Quiet", "Brand")
    _post(portal, author, "Draft", "Brand", approve=False)
    old = _post(portal, author, "Old", "Brand")
    portal.posts.archive(old.id, author)
    totals = {
        _key(0, "copy", hiring, ann): 2,
        _key(1, "download", hiring, ann): 1,
        _key(1, "kit", culture, ann): 1,
        _key(2, "share_link", hiring, bob): 1,
        _key(2, "click", hiring, bob): 5,
        _key(0, "click", hiring, bob): 2,
        _key(3, "copy", hiring, author): 1,
        _key(4, "copy", old, gone): 1,
        _key(40, "copy", quiet, cas): 9,  # outside the period
    }
    report = portal.stats.report(Period(TODAY - timedelta(days=29), TODAY), totals)
    rows = {r.title: r for r in report.posts}
    assert set(rows) == {"Hiring", "Culture", "Quiet", "Old"}  # live posts and posts with activity
    hiring_row = rows["Hiring"].public()
    assert hiring_row == {
        "id": hiring.id,
        "title": "Hiring",
        "campaign": "Jobs",
        "status": "approved",
        "live": True,
        "uses": {"copy": 3, "download": 1, "kit": 0, "total": 4},
        "share_links": 1,
        "clicks": 7,
        "unique_sharers": 3,  # ann used it, bob made a link, marketing copied it
    }
    assert rows["Old"].status == "archived" and rows["Old"].tally.uses == 1
    assert report.totals.uses == 6 and report.totals.clicks == 7 and report.totals.share_links == 1
    campaigns = {c.campaign: c.public() for c in report.campaigns}
    assert campaigns["Jobs"]["posts"] == 2 and campaigns["Jobs"]["uses"]["total"] == 5
    assert campaigns["Jobs"]["unique_sharers"] == 3 and campaigns["Brand"]["uses"]["total"] == 1
    # Active employees: ann, bob, cas (gone is deactivated, marketing and admin are not employees).
    assert report.participation.public() == {"active_employees": 3, "participants": 2, "rate": 0.6667}
    assert [r.title for r in report.top_posts] == ["Hiring", "Culture", "Old"]
    assert [r.title for r in report.unused_posts] == ["Quiet"]
    days = {p.day: p for p in report.days}
    assert len(days) == 30
    today = TODAY.isoformat()
    assert days[today].public() == {"day": today, "uses": 2, "share_links": 0, "clicks": 2}
    assert days[(TODAY - timedelta(days=2)).isoformat()].clicks == 5
    csv_lines = report.csv().splitlines()
    assert csv_lines[0].startswith("post_id,title,campaign,status,copies")
    assert f"{hiring.id},Hiring,Jobs,approved,3,1,0,4,1,7,3" in csv_lines


def test_report_reads_counts_from_the_store_for_real_events(portal: Portal) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    ann = _person(portal, "ann@example.com")
    post = _post(portal, author, "Hiring")
    portal.posts.record_use(post, ann, "copy", post.variants[0].id)
    portal.sharing.count_click(portal.sharing.link_for(post, ann))
    portal.counters.flush()
    report = portal.stats.report(portal.stats.default_period())
    assert report.totals.public()["uses"]["total"] == 1
    assert (report.totals.share_links, report.totals.clicks) == (1, 1)


def test_csv_cells_cannot_become_spreadsheet_formulas(portal: Portal) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    _post(portal, author, "=HYPERLINK(\"http://evil\")", "+campaign")
    rows = list(csv.reader(io.StringIO(portal.stats.report(Period(TODAY, TODAY), {}).csv())))
    assert rows[1][1:3] == ["'=HYPERLINK(\"http://evil\")", "'+campaign"]


def test_my_numbers_are_only_my_own(portal: Portal) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    ann, bob = _person(portal, "ann@example.com"), _person(portal, "bob@example.com")
    post = _post(portal, author, "Hiring")
    totals = {
        _key(0, "copy", post, ann): 1,
        _key(0, "click", post, ann): 4,
        _key(0, "click", post, bob): 50,
        _key(0, "share_link", post, bob): 1,
    }
    mine = portal.stats.mine(ann, Period(TODAY, TODAY), totals).public()
    assert mine["clicks"] == 4 and mine["share_links"] == 0 and mine["uses"]["total"] == 1
    assert mine["posts"] == [
        {"post_id": post.id, "title": "Hiring", "live": True, "uses": 1, "share_links": 0, "clicks": 4}
    ]
    assert "unique_sharers" not in mine


def test_leaderboard_is_off_by_default_honours_opt_out_and_is_audited(portal: Portal) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    ann = _person(portal, "ann@example.com", name="Ann Smit")
    bob = _person(portal, "bob@example.com", name="Bob de Boer")
    cas = _person(portal, "cas@example.com", name="Cas Private")
    dee = _person(portal, "dee@example.com", name="Dee Equal")
    portal.accounts.update_profile(cas, {"leaderboard_opt_out": True})
    post = _post(portal, author, "Hiring")
    totals = {
        _key(0, "click", post, ann): 3,
        _key(0, "click", post, bob): 9,
        _key(0, "click", post, cas): 20,
        _key(0, "click", post, dee): 3,
        _key(0, "click", post, "deleted-user"): 7,
    }
    period = Period(TODAY, TODAY)
    assert not portal.stats.leaderboard_enabled()
    assert portal.stats.leaderboard(period, totals) == []
    portal.stats.set_leaderboard(True, author)
    portal.stats.set_leaderboard(True, author)  # no change, no second audit entry
    board = [(r.rank, r.name, r.clicks) for r in portal.stats.leaderboard(period, totals)]
    assert board == [(1, "Bob de Boer", 9), (2, "Ann Smit", 3), (2, "Dee Equal", 3)]
    portal.stats.set_leaderboard(False, author)
    assert portal.stats.leaderboard(period, totals) == []
    actions = [e.action for e in portal.audit.entries(object_id="leaderboard")]
    assert actions == ["leaderboard.off", "leaderboard.on"]


def _page(stats: Stats, period: Period, people: list[User], totals: dict[CounterKey, int] | None) -> Any:
    """Everything the statistics page, the CSV and each person's own numbers show for the period."""
    report = stats.report(period, totals)
    public = report.public()
    public["posts"] = sorted(public["posts"], key=lambda row: row["id"])
    return (
        public,
        sorted(report.csv().splitlines()),
        stats.series(period, totals),
        stats.leaderboard(period, totals),
        [stats.mine(person, period, totals).public() for person in people],
    )


def test_the_numbers_are_the_same_before_and_after_roll_up(portal: Portal, store: Store) -> None:
    author = _person(portal, "marketing@example.com", "marketing")
    people = [_person(portal, f"person{n}@example.com") for n in range(8)]
    posts = [_post(portal, author, f"Post {n}", f"Campaign {n % 2}") for n in range(4)]
    portal.stats.set_leaderboard(True, author)
    clock = Clock(datetime.combine(TODAY, time(12, 30), UTC))
    writers = [Counters(store, "web-1", clock=clock), Counters(store, "web-2", clock=clock)]
    rng = random.Random(5)
    # A quiet year: counts on every 29th day, and on the last days (still raw when the page is read).
    days = [TODAY - timedelta(days=n) for n in (*range(0, 366, 29), 1, 2, 3)]
    for day in days:
        for _ in range(12):
            metric = rng.choice(METRICS)
            rng.choice(writers).add(
                metric,
                rng.choice(posts).id,
                rng.choice(people).id,
                rng.choice(("", "v")) if metric != "click" else "",
                amount=rng.randrange(1, 5),
                day=day.isoformat(),
            )
    for writer in writers:
        writer.flush()

    def stats(name: str) -> Stats:
        counters = Counters(store, name, clock=clock)
        return Stats(portal.records, portal.audit, portal.accounts, portal.posts, counters, lambda: TODAY)

    # A year (rolled-up months, rolled-up days of June, raw days) and a period from mid-August.
    periods = (Period(TODAY - timedelta(days=364), TODAY), Period(date(2024, 8, 15), TODAY))
    key_by_key = stats("key-by-key")  # the numbers as the previous release summed them
    expected = [_page(key_by_key, p, people, writers[0].totals(p.first, p.last)) for p in periods]
    assert _page(stats("before"), periods[0], people, None) == expected[0]  # no roll-up yet: raw days
    Counters(store, "web-1", clock=clock).roll_up()
    after = stats("after")
    for period, numbers in zip(periods, expected, strict=True):
        assert _page(after, period, people, None) == numbers
        # The way the page asks: one handle for the period and the chart.
        assert _page(after, period, people, after.totals(period)) == numbers
