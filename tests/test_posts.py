"""Example posts, hashtag sets and the composer, at the domain level on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from toolkit.accounts import Accounts
from toolkit.audit import AuditLog
from toolkit.counters import Counters
from toolkit.errors import Conflict, Invalid, NotFound, PreconditionFailed
from toolkit.hashtag_sets import HashtagSets
from toolkit.posts import Posts
from toolkit.records import Records
from toolkit.store import Store


class World:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = Records(store)
        self.audit = AuditLog(store, "test")
        self.accounts = Accounts(self.records, self.audit)
        self.counters = Counters(store, "test")
        self.sets = HashtagSets(self.records, self.audit)
        self.approved: list[str] = []
        self.posts = Posts(
            self.records,
            self.audit,
            self.sets,
            self.counters,
            on_approved=lambda post: self.approved.append(post.id),
        )
        self.marketer = self.accounts.add("m@example.com", role="marketing", name="Mia Marketing")
        self.employee = self.accounts.add(
            "e@example.com",
            role="employee",
            name="Daan Jansen",
            first_name="Daan",
            job_title="Engineer",
            team="Platform",
        )


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def post_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "We are hiring",
        "campaign": "Employer brand",
        "variants": [
            {
                "language": "en",
                "tone": "casual",
                "text": "Hi, I'm {first_name}, {job_title} in {team}. Join us!",
            },
            {"language": "nl", "tone": "formal", "text": "Ik ben {name}. Kom bij ons werken!"},
        ],
        "extra_hashtags": "#hiring, careers",
    }
    values.update(overrides)
    return values


def keys(store: Store) -> list[tuple[str, str]]:
    return [(i.key, i.etag) for i in store.list("records/")]


@pytest.mark.parametrize(
    "bad",
    [
        {"title": ""},
        {"variants": []},
        {"variants": [{"language": "fr", "text": "Bonjour"}]},
        {"variants": [{"language": "en", "text": "   "}]},
        {"link": "javascript:alert(1)"},
        {"link": "not a url"},
        {"valid_from": "2030-01-02", "valid_until": "2030-01-01"},
        {"valid_until": "next tuesday"},
        {"preset": "huge"},
        {"hashtag_set_ids": ["nope"]},
        {"extra_hashtags": "two words"},
        {"channel": "myspace"},
        {"asset_id": "missing"},
    ],
)
def test_invalid_post_is_refused_and_store_unchanged(world: World, bad: dict[str, Any]) -> None:
    before = keys(world.store)
    with pytest.raises((Invalid, NotFound)):
        world.posts.create(post_values(**bad), world.marketer)
    assert keys(world.store) == before


def test_workflow_draft_approved_archived_and_feed(world: World) -> None:
    post = world.posts.create(post_values(), world.marketer)
    assert post.status == "draft" and world.posts.feed() == []
    with pytest.raises(NotFound):
        world.posts.visible(world.employee, post.id)
    approved = world.posts.approve(post.id, world.marketer)
    assert world.approved == [post.id]
    assert [p.id for p in world.posts.feed()] == [post.id]
    assert world.posts.visible(world.employee, post.id).id == post.id
    world.posts.archive(post.id, world.marketer)
    assert world.posts.feed() == [] and approved.approved_at
    actions = [e.action for e in world.audit.entries(object_id=post.id)]
    assert actions == ["post.archive", "post.approve", "post.create"]


def test_post_leaves_feed_after_valid_until_and_waits_for_valid_from(world: World) -> None:
    now = datetime.now(UTC)
    expired = world.posts.create(
        post_values(title="Old", valid_until=(now - timedelta(minutes=1)).isoformat()), world.marketer
    )
    future = world.posts.create(
        post_values(title="Soon", valid_from=(now + timedelta(days=1)).isoformat()), world.marketer
    )
    current = world.posts.create(
        post_values(
            title="Now",
            valid_from=(now - timedelta(days=1)).isoformat(),
            valid_until=(now + timedelta(days=1)).isoformat(),
        ),
        world.marketer,
    )
    for post in (expired, future, current):
        world.posts.approve(post.id, world.marketer)
    assert [p.title for p in world.posts.feed()] == ["Now"]
    with pytest.raises(NotFound):
        world.posts.visible(world.employee, expired.id)
    assert world.posts.visible(world.marketer, expired.id).title == "Old"


def test_feed_filters_by_campaign_and_language_newest_first(world: World) -> None:
    first = world.posts.create(post_values(title="A", campaign="Launch"), world.marketer)
    second = world.posts.create(
        post_values(title="B", variants=[{"language": "nl", "text": "Hoi"}]), world.marketer
    )
    world.posts.approve(first.id, world.marketer)
    world.posts.approve(second.id, world.marketer)
    assert [p.title for p in world.posts.feed()] == ["B", "A"]
    assert [p.title for p in world.posts.feed(campaign="Launch")] == ["A"]
    assert [p.title for p in world.posts.feed(language="en")] == ["A"]


def test_editing_an_approved_post_keeps_it_live_and_is_audited(world: World) -> None:
    post = world.posts.approve(world.posts.create(post_values(), world.marketer).id, world.marketer)
    edited = world.posts.update(post.id, {"title": "We are hiring engineers"}, world.marketer)
    assert edited.status == "approved" and [p.title for p in world.posts.feed()] == [
        "We are hiring engineers"
    ]
    entry = world.audit.entries(object_id=post.id)[0]
    assert entry.action == "post.update" and entry.before == post.version and entry.after == edited.version
    assert entry.details["fields"] == ["title"]


def test_update_with_stale_if_match_is_refused(world: World) -> None:
    post = world.posts.create(post_values(), world.marketer)
    world.posts.update(post.id, {"title": "Second"}, world.marketer)
    with pytest.raises(PreconditionFailed):
        world.posts.update(post.id, {"title": "Third"}, world.marketer, version=post.version)
    assert world.posts.require(post.id).title == "Second"


def test_live_post_cannot_be_deleted_before_archiving(world: World) -> None:
    post = world.posts.approve(world.posts.create(post_values(), world.marketer).id, world.marketer)
    with pytest.raises(Conflict):
        world.posts.delete(post.id, world.marketer)
    world.posts.archive(post.id, world.marketer)
    world.posts.delete(post.id, world.marketer)
    assert world.posts.get(post.id) is None


def test_compose_fills_profile_and_adds_hashtags_from_sets_and_extras(world: World) -> None:
    brand = world.sets.create(
        {"name": "Employer brand", "hashtags": "werkenbij, #Hiring, #TeamSpirit"}, world.marketer
    )
    post = world.posts.create(
        post_values(hashtag_set_ids=[brand.id], link="https://example.com/jobs"), world.marketer
    )
    composed = world.posts.compose(post, world.employee, language="en")
    assert composed.text == (
        "Hi, I'm Daan, Engineer in Platform. Join us!\n\nhttps://example.com/jobs\n\n"
        "#werkenbij #Hiring #TeamSpirit #careers"
    )
    assert composed.hashtags == ("#werkenbij", "#Hiring", "#TeamSpirit", "#careers")
    assert composed.length == len(composed.text) and composed.warnings == ()
    assert "shareActive=true" in composed.linkedin_url


def test_compose_lets_employee_remove_but_not_invent_hashtags(world: World) -> None:
    post = world.posts.create(post_values(), world.marketer)
    composed = world.posts.compose(post, world.employee, hashtags=["#careers", "#MyOwnSpam"])
    assert composed.hashtags == ("#careers",) and "#MyOwnSpam" not in composed.text


def test_compose_keeps_markup_and_unknown_placeholders_literal(world: World) -> None:
    text = "<script>alert(1)</script> {unknown} {name.__class__} {{name}} {first_name}"
    post = world.posts.create(
        post_values(variants=[{"language": "en", "text": text}], extra_hashtags=""), world.marketer
    )
    composed = world.posts.compose(post, world.employee)
    assert composed.text == "<script>alert(1)</script> {unknown} {name.__class__} {{name}} Daan"


def test_compose_warns_about_unfilled_placeholder_and_missing_link(world: World) -> None:
    nameless = world.accounts.add("x@example.com", role="employee")
    post = world.posts.create(post_values(link="https://example.com"), world.marketer)
    composed = world.posts.compose(post, nameless, language="en", body="Hi, I'm {job_title}")
    codes = {w.code for w in composed.warnings}
    assert "unfilled_placeholder" in codes
    assert composed.text.count("https://example.com") == 1  # appended once, so no missing-link warning
    assert "missing_link" not in codes


def test_surprise_prefers_the_variant_fewest_colleagues_used(world: World) -> None:
    post = world.posts.create(
        post_values(
            variants=[
                {"language": "en", "text": "One"},
                {"language": "en", "text": "Two"},
                {"language": "en", "text": "Three"},
            ]
        ),
        world.marketer,
    )
    one, two, three = post.variants
    for person in ("a", "b"):
        world.counters.add("copy", post.id, person, one.id)
    world.counters.add("kit", post.id, "c", three.id)
    picks = {world.posts.surprise_variant(post, "en", random.Random(seed)).id for seed in range(10)}
    assert picks == {two.id}


def test_hashtag_sets_normalise_and_refuse_bad_input(world: World) -> None:
    made = world.sets.create(
        {"name": "Launch", "description": "Q1", "hashtags": ["launch", "#Launch", "#Q1"]}, world.marketer
    )
    assert made.hashtags == ("#launch", "#Q1")
    before = keys(world.store)
    with pytest.raises(Invalid):
        world.sets.create({"name": "Bad", "hashtags": "two words"}, world.marketer)
    with pytest.raises(Conflict):
        world.sets.create({"name": "launch", "hashtags": "x"}, world.marketer)
    assert keys(world.store) == before


def test_hashtag_set_in_use_cannot_be_deleted(world: World) -> None:
    made = world.sets.create({"name": "Launch", "hashtags": "launch"}, world.marketer)
    post = world.posts.create(post_values(hashtag_set_ids=[made.id]), world.marketer)
    with pytest.raises(Conflict):
        world.sets.delete(made.id, world.marketer)
    world.posts.update(post.id, {"hashtag_set_ids": []}, world.marketer)
    world.sets.delete(made.id, world.marketer)
    assert world.sets.all() == []
