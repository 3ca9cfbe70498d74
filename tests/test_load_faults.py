"""The short fault test: two portal processes on a real S3 server, under load, through faults.

The long version with numbers is bench/bench_load.py (`make bench`). Here each fault lasts a few
seconds and the assertions are about correctness only: which answers came, what the bucket holds,
and in which order requests finished, never how fast.

The servers are started once for the module (that takes seconds); every test then runs its own load
and ends with the integrity check over everything the load generators did so far, which holds
whatever ran before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.loadkit import (
    FaultReport,
    LoadGenerator,
    Rig,
    kill_and_restart,
    loop_stays_free,
    slow_store,
    store_outage,
)

RATE = 30.0  # requests per second: enough to overlap every fault, light for a shared CI machine


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with Rig(
        tmp_path_factory.mktemp("load"), instances=2, workers=2, refresh_seconds=0.5, flush_seconds=0.5
    ) as running:
        yield running


def generator(rig: Rig) -> LoadGenerator:
    # Generous timeouts: a loaded two-core machine may be slow, which is not what is tested here.
    return LoadGenerator(rig, RATE, upload_every=0.5, edit_pause=0.3, timeout=60.0, outage_grace=2.0)


def assert_sound(report: FaultReport) -> None:
    assert report.problems == [], f"{report.name}: {report.problems} (facts: {report.facts})"


def assert_integrity(rig: Rig) -> None:
    integrity = rig.check_integrity()
    assert integrity.passed, integrity.report()


def test_load_mixed_workload_has_no_errors(rig: Rig) -> None:
    async def run() -> LoadGenerator:
        async with generator(rig) as gen:
            gen.set_phase("steady")
            await gen.hold(3)
        return gen

    gen = asyncio.run(run())

    totals = gen.totals()
    assert gen.errors() == 0, {name: dict(s.errors) for name, s in totals.items() if s.errors}
    for endpoint in ("feed page", "feed api", "rendition", "copy", "share click", "upload", "edit"):
        assert totals[endpoint].ok > 0, endpoint
    assert rig.ledger.uploads
    assert_integrity(rig)


def test_store_outage_answers_503_with_message_then_recovers(rig: Rig) -> None:
    async def run() -> tuple[LoadGenerator, FaultReport]:
        async with generator(rig) as gen:
            gen.set_phase("before")
            await gen.hold(1)
            report = await store_outage(gen, 2.0, after=1.0)
        return gen, report

    gen, report = asyncio.run(run())

    assert_sound(report)
    assert gen.errors() == 0, {name: dict(s.errors) for name, s in gen.totals().items() if s.errors}
    during = gen.totals(("store outage", "recovering"))
    assert sum(s.expected["503 during store outage"] for s in during.values()) > 0
    # What needs no store call went on being served from memory during the outage.
    assert during["feed page"].ok > 0 and during["share click"].ok > 0
    assert_integrity(rig)


def test_instance_killed_hard_other_serves_restarted_catches_up(rig: Rig) -> None:
    async def run() -> tuple[LoadGenerator, FaultReport]:
        async with generator(rig) as gen:
            gen.set_phase("before")
            await gen.hold(1)
            report = await kill_and_restart(gen, 1, down_seconds=1.0, after=1.0)
        return gen, report

    gen, report = asyncio.run(run())

    assert_sound(report)
    assert gen.errors() == 0, {name: dict(s.errors) for name, s in gen.totals().items() if s.errors}
    down = gen.totals(("instance down",))
    assert sum(s.ok for s in down.values()) > 0, "the other instance served on"
    assert_integrity(rig)


def test_slow_store_never_stalls_the_event_loop(rig: Rig) -> None:
    async def run() -> tuple[LoadGenerator, FaultReport, FaultReport]:
        async with generator(rig) as gen:
            gen.set_phase("before")
            await gen.hold(0.5)
            under_load = await slow_store(gen, 2.0, 2.0)
        ordering = await loop_stays_free(gen, 2.0)
        return gen, under_load, ordering

    gen, under_load, ordering = asyncio.run(run())

    assert_sound(under_load)
    assert_sound(ordering)
    assert gen.errors() == 0, {name: dict(s.errors) for name, s in gen.totals().items() if s.errors}
    assert_integrity(rig)
