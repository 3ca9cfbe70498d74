"""demo-company: a small synthetic company on both backends, the same for a seed, refused on a full store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import started_portal
from tests.s3server import S3Server
from toolkit.__main__ import main
from toolkit.company import CompanyReport, CompanySpec, make_company
from toolkit.settings import Settings
from toolkit.sharing import OWNERS
from toolkit.store import Store
from toolkit.store.local import LocalStore

SMALL = CompanySpec(employees=40, posts_per_year=6, share_rate=0.3, years=1, seed=7, instances=2)
# moto serves some 70 requests a second on this machine: a smaller company keeps the S3 run short.
TINY = CompanySpec(employees=12, posts_per_year=4, share_rate=0.5, years=1, seed=7, instances=2)


def fill(store: Store, store_url: str, spec: CompanySpec = SMALL) -> CompanyReport:
    return make_company(Settings.from_env({}, store=store_url), spec, store=store)


def test_a_small_company_is_plausible_and_a_portal_serves_it(store: Store, store_url: str) -> None:
    spec = TINY if store_url.startswith("s3://") else SMALL
    report = fill(store, store_url, spec)
    made = report.created
    people = spec.employees
    assert made["users"] == made["user-emails"] == people
    assert made["posts"] == spec.total_posts
    assert made["hashtag-sets"] == 8
    assert made["policy-versions"] == 2
    # Proportions: links ~ rate x employees x posts (a skewed, seeded draw), one claim per link,
    # most people acknowledged each version, counters for several days on both instances.
    expected = spec.share_rate * people * spec.total_posts
    assert 0.5 * expected <= made["share-links"] <= 1.6 * expected
    assert made["share-link-owners"] == made["share-links"] == report.share_links
    assert 0.7 * 2 * people <= made["policy-acks"] <= 2 * people
    assert made["counters"] >= 10
    assert report.records == sum(
        n for k, n in made.items() if k not in ("counters", "audit", "journal", "checkpoints")
    )
    assert report.written_bytes > 0 and report.objects >= report.records
    assert "share-links" in report.summary() and "records/s" in report.summary()

    portal = started_portal(store, store_url, instance="reader")
    try:
        users = portal.accounts.all()
        assert len(users) == people
        assert {u.role for u in users} == {"employee", "marketing", "admin"}
        assert {u.language for u in users} == {"en", "nl"}
        assert not any(u.password_hash for u in users)
        posts = portal.posts.all()
        assert len(posts) == spec.total_posts
        assert all({v.language for v in p.variants} == {"en", "nl"} for p in posts)
        assert any(p.status == "archived" for p in posts)
        assert portal.policy.current() is not None and portal.policy.current().number == 2  # type: ignore[union-attr]

        # Every owner claim points at a share link of the same post and person.
        claims = portal.records.scan(OWNERS)
        assert len(claims) == made["share-link-owners"]
        by_id = {u.id: u for u in users}
        post_ids = {p.id for p in posts}
        for claim in claims:
            link = portal.sharing.get(str(claim.data["token"]))
            assert link is not None and not link.revoked
            assert (link.post_id, link.user_id) == (claim.data["post_id"], claim.data["user_id"])
            assert link.post_id in post_ids and link.user_id in by_id
        # The person's own list finds their links through the claims.
        keen = Counter(str(c.data["user_id"]) for c in claims).most_common(1)[0]
        assert len(portal.sharing.links_of(by_id[keen[0]])) == keen[1]

        # The counter history adds up: one share_link count per link made.
        today = datetime.now(UTC).date()
        totals = portal.counters.totals(today - timedelta(days=400), today)
        metrics = Counter[str]()
        for key, value in totals.items():
            metrics[key.metric] += value
        assert metrics["share_link"] == made["share-links"]
        assert metrics["click"] > 0 and metrics["copy"] > 0
    finally:
        portal.close()


def test_the_same_seed_makes_the_same_company(tmp_path: Path) -> None:
    first = fill(LocalStore(tmp_path / "a", durable=False), str(tmp_path / "a"))
    second = fill(LocalStore(tmp_path / "b", durable=False), str(tmp_path / "b"))
    assert first.created == second.created
    assert (first.share_links, first.counter_events) == (second.share_links, second.counter_events)
    other = CompanySpec(employees=40, posts_per_year=6, share_rate=0.3, years=1, seed=8, instances=2)
    third = fill(LocalStore(tmp_path / "c", durable=False), str(tmp_path / "c"), other)
    assert (third.share_links, third.counter_events) != (first.share_links, first.counter_events)


def test_a_store_with_records_is_refused_without_force(
    store_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if store_url.startswith("s3://"):
        server: S3Server = request.getfixturevalue("s3_server")
        monkeypatch.setenv("TOOLKIT_S3_ENDPOINT_URL", server.url)
    args = ["demo-company", "--store", store_url, "--employees", "5", "--posts", "2", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "records/s" in out.out and "demo-company:" in out.out
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "has records already" in err and "--force" in err
    assert main([*args, "--force"]) == 0
    assert "records/s" in capsys.readouterr().out
