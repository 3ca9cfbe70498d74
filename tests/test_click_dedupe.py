"""Counting a click at most once per (share link, client) a day, from salted hashes held in memory
only; and programs (HTTP libraries, command-line tools, headless browsers) are not people."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.sharing import ClickDedupe, ShareLink, is_crawler
from toolkit.store import Store

CLIENT = "203.0.113.9 Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


class Day:
    """A clock for the dedupe that the test moves on by hand."""

    def __init__(self) -> None:
        self.value = "2025-03-01"

    def __call__(self) -> str:
        return self.value


def test_a_client_counts_once_per_link_per_day() -> None:
    seen = ClickDedupe()
    assert seen.first_today("token-a", CLIENT)
    assert not any(seen.first_today("token-a", CLIENT) for _ in range(50))
    assert seen.first_today("token-b", CLIENT)  # another link
    assert seen.first_today("token-a", "198.51.100.4 " + CLIENT.split(" ", 1)[1])  # another address
    assert seen.first_today("token-a", "203.0.113.9 Mozilla/5.0 (iPhone) Mobile")  # another browser


def test_the_next_day_counts_again_under_a_new_salt() -> None:
    day = Day()
    seen = ClickDedupe(today=day)
    assert seen.first_today("token-a", CLIENT)
    salt = seen._salt
    day.value = "2025-03-02"
    assert seen.first_today("token-a", CLIENT)
    assert seen._salt != salt and len(seen) == 1  # yesterday's hashes are gone with their salt


def test_only_salted_hashes_are_held_and_they_differ_per_instance() -> None:
    first, second = ClickDedupe(), ClickDedupe()
    first.first_today("token-secret-123", CLIENT)
    second.first_today("token-secret-123", CLIENT)
    (mark,) = first._seen
    (other,) = second._seen
    assert isinstance(mark, bytes) and len(mark) == 12
    assert mark != other  # random salt per instance: the same click hashes differently
    for part in (b"203.0.113.9", b"Mozilla", b"token-secret-123"):
        assert part not in mark


def test_memory_is_bounded_and_the_oldest_are_forgotten() -> None:
    seen = ClickDedupe(max_entries=100)
    for n in range(1000):
        assert seen.first_today("token", f"client-{n}")
    assert len(seen) == 100
    assert not seen.first_today("token", "client-999")  # recent ones are still known
    assert seen.first_today("token", "client-0")  # the oldest was forgotten


def _link() -> ShareLink:
    return ShareLink(token="t" * 22, post_id="post-1", user_id="user-1", created_at="2025-03-01T00:00:00")


def _clicks(portal: Portal) -> int:
    today = datetime.now(UTC).date()
    return sum(v for k, v in portal.counters.totals(today, today).items() if k.metric == "click")


@pytest.fixture
def portal(store: Store) -> Iterator[Portal]:
    portal = Portal(Settings.from_env({}, instance_id="dedupe"), store)
    portal.start()
    yield portal
    portal.close()


def test_count_click_counts_a_client_once_and_says_so(portal: Portal) -> None:
    link = _link()
    assert portal.sharing.count_click(link, CLIENT)
    assert [portal.sharing.count_click(link, CLIENT) for _ in range(49)] == [False] * 49
    assert portal.sharing.count_click(link, "198.51.100.4 " + CLIENT.split(" ", 1)[1])
    assert _clicks(portal) == 2
    # Without a client (demo data, tests) every call counts, as before.
    assert portal.sharing.count_click(link) and portal.sharing.count_click(link)
    assert _clicks(portal) == 4


@pytest.mark.parametrize(
    "agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.32.3",
        "python-httpx/0.27.0",
        "Python/3.12 aiohttp/3.9.5",
        "Python-urllib/3.11",
        "Go-http-client/1.1",
        "Go-http-client/2.0",
        "Java/17.0.2",
        "okhttp/4.12.0",
        "Apache-HttpClient/4.5.14 (Java/17)",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "axios/1.6.2",
        "libwww-perl/6.72",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
        "Safari/538.1",
        "Mozilla/5.0 (compatible; Qwantbot/1.0; +https://help.qwant.com/bot/)",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",  # only the maintained list knows it
        "",
        "   ",
        None,
    ],
)
def test_programs_and_headless_browsers_are_not_people(agent: str | None) -> None:
    assert is_crawler(agent)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36 Edg/126.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.71 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [LinkedInApp]/9.29.8962",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ],
)
def test_browsers_are_people(agent: str) -> None:
    assert not is_crawler(agent)


def test_a_huge_user_agent_costs_no_more_than_a_normal_one() -> None:
    """The public /s/ address matches every User-Agent against ~1,500 patterns: only its start."""
    for filler in ("a", "Mozilla/5.0 (", "1.", "/"):
        agent = "Mozilla/5.0 " + filler * 20_000
        started = time.perf_counter()
        is_crawler(agent + filler)  # not cached
        assert time.perf_counter() - started < 0.25, filler
