"""Share links in the domain: stable per (post, person), unguessable, one link even when two instances
race, gone when they should be, and the pure helpers (crawler detection, UTM, summaries)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from toolkit.accounts import User
from toolkit.errors import Gone, Invalid, Locked, NotFound
from toolkit.portal import Portal
from toolkit.posts import Post
from toolkit.settings import Settings
from toolkit.sharing import LINKS, OWNERS, is_crawler, plain_summary, tracked_url
from toolkit.store import Store


def _portal(store: Store, instance: str = "one") -> Portal:
    settings = Settings.from_env({}, base_url="https://toolkit.example.com/", instance_id=instance)
    portal = Portal(settings, store)
    portal.start()
    return portal


@pytest.fixture
def portal(store: Store) -> Iterator[Portal]:
    portal = _portal(store)
    yield portal
    portal.close()


def _person(portal: Portal, role: str = "employee", email: str | None = None) -> User:
    email = email or f"{role}@example.com"
    return portal.accounts.by_email(email) or portal.accounts.add(
        email, role=role, name="Daan Jansen", first_name="Daan", job_title="Engineer"
    )


def _live(portal: Portal, **values: Any) -> Post:
    author = _person(portal, "marketing")
    body: dict[str, Any] = {
        "title": "Hiring",
        "campaign": "Jobs",
        "link": "https://example.com/jobs",
        "variants": [{"language": "en", "text": "I'm {first_name}, {job_title}. Join us!"}],
    }
    body.update(values)
    return portal.posts.approve(portal.posts.create(body, author).id, author)


def _share_links_today(portal: Portal) -> int:
    today = datetime.now(UTC).date()
    return sum(v for k, v in portal.counters.totals(today, today).items() if k.metric == "share_link")


def test_link_for_is_stable_random_and_counted_once(portal: Portal) -> None:
    post, employee = _live(portal), _person(portal)
    link = portal.sharing.link_for(post, employee)
    assert portal.sharing.link_for(post, employee) == link
    assert len(base64.urlsafe_b64decode(link.token + "==")) * 8 >= 96
    assert post.id not in link.token and employee.id not in link.token
    assert (link.post_id, link.user_id, link.revoked) == (post.id, employee.id, False)
    assert portal.sharing.url(link.token) == f"https://toolkit.example.com/s/{link.token}"
    assert _share_links_today(portal) == 1
    other = portal.sharing.link_for(post, _person(portal, "employee", "other@example.com"))
    assert other.token != link.token
    tokens = {portal.sharing.link_for(_live(portal, title=f"P{n}"), employee).token for n in range(20)}
    assert len(tokens) == 20


def test_two_instances_asked_at_once_make_one_link(store: Store) -> None:
    first = _portal(store, "one")
    post, employee = _live(first), _person(first)
    second = _portal(store, "two")
    barrier = threading.Barrier(2)
    made: list[str] = []

    def ask(portal: Portal) -> None:
        barrier.wait()
        made.append(portal.sharing.link_for(post, employee).token)

    threads = [threading.Thread(target=ask, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(made) == 2 and made[0] == made[1]
        assert [i.key for i in store.list(f"records/{LINKS}/")] == [f"records/{LINKS}/{made[0]}.json"]
        assert len(list(store.list(f"records/{OWNERS}/"))) == 1
    finally:
        first.close()
        second.close()


def test_link_for_refuses_posts_that_are_not_live_and_crisis_mode(portal: Portal) -> None:
    author, employee = _person(portal, "marketing"), _person(portal)
    draft = portal.posts.create({"title": "Draft", "variants": [{"language": "en", "text": "x"}]}, author)
    with pytest.raises(Invalid):
        portal.sharing.link_for(draft, employee)
    post = _live(portal)
    portal.crisis.set(True, "Quiet please.", "Press office", actor=_person(portal, "admin"))
    with pytest.raises(Locked):
        portal.sharing.link_for(post, employee)
    assert portal.records.all(LINKS) == []


def test_resolve_is_gone_for_unknown_revoked_archived_expired_and_crisis(portal: Portal) -> None:
    author, employee = _person(portal, "marketing"), _person(portal)
    with pytest.raises(Gone):
        portal.sharing.resolve("no-such-token-at-all")
    with pytest.raises(Gone):
        portal.sharing.resolve("../../etc/passwd")
    archived, expired, revoked, paused = (_live(portal, title=f"P{n}") for n in range(4))
    links = {p.id: portal.sharing.link_for(p, employee) for p in (archived, expired, revoked, paused)}
    assert portal.sharing.resolve(links[archived.id].token)[1].id == archived.id
    portal.posts.archive(archived.id, author)
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    portal.posts.update(expired.id, {"valid_until": past}, author)
    portal.sharing.revoke(links[revoked.id].token, employee)
    for post in (archived, expired, revoked):
        with pytest.raises(Gone):
            portal.sharing.resolve(links[post.id].token)
    portal.sharing.resolve(links[paused.id].token)
    portal.crisis.set(True, "Quiet please.", "Press office", actor=_person(portal, "admin"))
    with pytest.raises(Gone):
        portal.sharing.resolve(links[paused.id].token)


def test_revoke_is_for_the_owner_or_marketing_audited_and_a_new_link_follows(portal: Portal) -> None:
    post, employee = _live(portal), _person(portal)
    colleague = _person(portal, "employee", "colleague@example.com")
    link = portal.sharing.link_for(post, employee)
    with pytest.raises(NotFound):
        portal.sharing.revoke(link.token, colleague)
    revoked = portal.sharing.revoke(link.token, _person(portal, "marketing"))
    assert revoked.revoked and revoked.revoked_by == _person(portal, "marketing").id
    assert portal.sharing.revoke(link.token, employee).revoked  # again: nothing changes
    assert [e.action for e in portal.audit.entries(object_id=link.token)] == ["share_link.revoke"]
    fresh = portal.sharing.link_for(post, employee)
    assert fresh.token != link.token and _share_links_today(portal) == 2
    assert portal.sharing.existing(post, employee) == fresh


def test_another_instance_knows_a_new_link_before_its_next_refresh(store: Store) -> None:
    first = _portal(store, "one")
    post, employee = _live(first), _person(first)
    second = _portal(store, "two")
    try:
        link = first.sharing.link_for(post, employee)
        assert LINKS not in second.records.counts()  # read on demand, never held
        assert second.sharing.resolve(link.token)[0].token == link.token
        page = second.sharing.page(link.token)
        assert page.text.startswith("I'm Daan, Engineer. Join us!")
        assert page.target is not None and "utm_content=" + post.id in page.target
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    "agent",
    [
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "facebookexternalhit/1.1",
        "Slackbot 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.21.12.21 A",
        "Mozilla/5.0 (compatible; SomeNewBot/1.0; +http://example.com/bot)",
        "",
        None,
    ],
)
def test_is_crawler_recognises_preview_bots(agent: str | None) -> None:
    assert is_crawler(agent)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        # LinkedIn's in-app browser is a person reading the feed, not the crawler.
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 [LinkedInApp]/9.29",
    ],
)
def test_is_crawler_lets_browsers_through(agent: str) -> None:
    assert not is_crawler(agent)


def _post(**values: Any) -> Post:
    return Post(id="p1", title="T", campaign=values.pop("campaign", ""), variants=(), **values)


def test_tracked_url_adds_utm_keeps_other_parameters_and_fragment() -> None:
    post = _post(campaign="Spring Launch — NL")
    assert tracked_url("https://example.com/a?x=1&utm_source=mail&y=%2F+z&flag#top", post) == (
        "https://example.com/a?x=1&y=%2F+z&flag&utm_source=linkedin&utm_medium=employee_advocacy"
        "&utm_campaign=spring-launch-nl&utm_content=p1#top"
    )
    assert tracked_url("https://example.com", _post()) == (
        "https://example.com?utm_source=linkedin&utm_medium=employee_advocacy&utm_campaign=toolkit&utm_content=p1"
    )


def test_plain_summary_is_one_line_and_cut_at_a_word() -> None:
    assert plain_summary("Short\n\ntext") == "Short text"
    long = "word " * 100
    summary = plain_summary(long)
    assert summary.endswith("word…") and len(summary) <= 201


def test_a_persons_links_are_found_without_listing_everyones(store: Store) -> None:
    portal = _portal(store)
    try:
        post, employee = _live(portal), _person(portal)
        other = _person(portal, email="other@example.com")
        mine = portal.sharing.link_for(post, employee)
        portal.sharing.link_for(post, other)
        portal.sharing.revoke(mine.token, employee)
        again = portal.sharing.link_for(post, employee)
        listed = _listings(portal, lambda: portal.sharing.links_of(employee))
        assert [link.token for link in portal.sharing.links_of(employee)] == [again.token, mine.token]
        assert listed == [f"records/{OWNERS}/{employee.id}."]
    finally:
        portal.close()


def _listings(portal: Portal, action: Any) -> list[str]:
    """The prefixes listed while action ran."""
    seen: list[str] = []
    original = portal.store.list

    def spy(prefix: str, **kwargs: Any) -> Any:
        seen.append(prefix)
        return original(prefix, **kwargs)

    portal.store.list = spy  # type: ignore[method-assign]
    try:
        action()
    finally:
        portal.store.list = original  # type: ignore[method-assign]
    return seen


def test_claims_from_the_previous_release_move_to_the_person_first_layout(store: Store) -> None:
    """A store whose owner claims are keyed <post>.<user>, as the previous release made them."""
    portal = _portal(store)
    post, employee = _live(portal), _person(portal)
    link = portal.sharing.link_for(post, employee)
    claim = portal.records.require(OWNERS, f"{employee.id}.{post.id}")
    portal.records.delete(OWNERS, claim.id)
    portal.records.create(
        OWNERS, f"{post.id}.{employee.id}", {k: v for k, v in claim.data.items() if k != "previous"}
    )
    portal.records.delete("settings", "share-link-layout")
    portal.close()
    upgraded = _portal(store, "two")
    try:
        assert upgraded.sharing.existing(post, employee) == link
        assert [found.token for found in upgraded.sharing.links_of(employee)] == [link.token]
        assert upgraded.records.get(OWNERS, f"{post.id}.{employee.id}") is None
        assert upgraded.sharing.link_for(post, employee).token == link.token
    finally:
        upgraded.close()
