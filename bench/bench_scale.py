"""Company scale (issue 13): what an instance pays to start and to stay current, by store size.

Run with `.venv/bin/python bench/bench_scale.py` (or `make bench`). For each size a store is filled
by `python -m toolkit demo-company` (records shaped like a real deployment: mostly share links and
their owner claims), then two designs are measured on it, each in a process of its own so the RSS
is the instance's own:
- old: today's listing design, kept below as a faithful copy of the former `Records.load/refresh`:
  every refresh LISTs all of `records/` and GETs what changed;
- new: `Portal.start()` and `portal.refresh()`: a checkpoint plus the journal tail at start, one
  journal LIST per refresh.
Measured: cold start, refresh with nothing changed (median ms and store requests), refresh after 10
changes made by another instance, RSS after start, and whether every write of that other instance
was seen at its version (the integrity idea of bench_load.py). A power law fitted to the sizes
extrapolates to 2.7 million records (folder) and 1 million (S3), where the targets are.

The folder runs by default; S3 runs on moto started on loopback in a process of its own, at smaller
sizes (moto serves some hundreds of requests a second here). Larger runs:
    bench/bench_scale.py --sizes 100000,300000,1000000 --s3 2000,5000,10000
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.accounts import User  # noqa: E402
from toolkit.errors import N_, Conflict  # noqa: E402
from toolkit.portal import Portal  # noqa: E402
from toolkit.records import new_id  # noqa: E402
from toolkit.settings import Settings  # noqa: E402
from toolkit.store import ObjectMissing, Store, VersionMismatch, open_store  # noqa: E402
from toolkit.store.counting import CountingStore  # noqa: E402
from toolkit.store.s3 import S3Store  # noqa: E402

LOCAL_TARGET = 2_700_000
S3_TARGET = 1_000_000
TARGET_REFRESH_MS = 50.0
TARGET_REFRESH_REQUESTS = 2
TARGET_CHANGES_MS = 150.0
TARGET_COLD_S3_S = 30.0
TARGET_RSS_MB = 400.0
CHANGES = 10
# moto and boto3 need credentials to sign requests; any will do. Never the developer's real ones.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


# Today's design, kept as the baseline: a faithful copy of the listing logic of Records before the
# journal (load = refresh; a refresh LISTs records/ whole and GETs every record whose ETag changed).

_PREFIX = "records/"
_FETCHERS = 16


@dataclass(frozen=True)
class _OldRecord:
    kind: str
    id: str
    version: str
    data: dict[str, Any]


@dataclass
class _OldEntry:
    record: _OldRecord
    written_in: int = -1


def _old_key(kind: str, record_id: str) -> str:
    return f"{_PREFIX}{kind}/{record_id}.json"


def _old_parse_key(key: str) -> tuple[str, str] | None:
    if not key.startswith(_PREFIX) or not key.endswith(".json"):
        return None
    kind, _, name = key[len(_PREFIX) : -len(".json")].partition("/")
    if not kind or not name or "/" in name:
        return None
    return kind, name


class OldRecords:
    """The record index of the listing design (toolkit/records.py before issue 13)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: dict[str, dict[str, _OldEntry]] = {}
        self._lock = threading.RLock()
        self._generation = 0
        self._pool = ThreadPoolExecutor(max_workers=_FETCHERS, thread_name_prefix="records")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def get(self, kind: str, record_id: str) -> _OldRecord | None:
        with self._lock:
            entry = self._index.get(kind, {}).get(record_id)
            return entry.record if entry else None

    def count(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._index.values())

    def create(self, kind: str, record_id: str, data: dict[str, Any]) -> _OldRecord:
        try:
            etag = self.store.put(
                _old_key(kind, record_id),
                json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(),
                content_type="application/json",
                if_none_match=True,
            )
        except VersionMismatch:
            raise Conflict(N_("That already exists.")) from None
        return self._apply(_OldRecord(kind, record_id, etag, data))

    def load(self) -> int:
        return self.refresh()

    def refresh(self) -> int:
        with self._lock:
            self._generation += 1
            started = self._generation
        listed: dict[tuple[str, str], str] = {}
        for info in self.store.list(_PREFIX):
            parsed = _old_parse_key(info.key)
            if parsed:
                listed[parsed] = info.etag
        with self._lock:
            stale = [
                key
                for key, etag in listed.items()
                if (e := self._entry(*key)) is None or e.record.version != etag
            ]
            gone = [
                (kind, rid)
                for kind, entries in self._index.items()
                for rid, entry in entries.items()
                if (kind, rid) not in listed and entry.written_in < started
            ]
        fetched = list(self._pool.map(lambda key: self._fetch(*key), stale))
        changed = 0
        with self._lock:
            for record in fetched:
                if record is None:
                    continue
                entry = self._entry(record.kind, record.id)
                if entry is not None and entry.written_in >= started:
                    continue
                if entry is None or entry.record.version != record.version:
                    self._apply(record, local=False)
                    changed += 1
            for kind, rid in gone:
                entry = self._entry(kind, rid)
                if entry is not None and entry.written_in < started:
                    self._index.get(kind, {}).pop(rid, None)
                    changed += 1
        return changed

    def _entry(self, kind: str, record_id: str) -> _OldEntry | None:
        return self._index.get(kind, {}).get(record_id)

    def _fetch(self, kind: str, record_id: str) -> _OldRecord | None:
        try:
            raw, etag = self.store.read(_old_key(kind, record_id))
        except ObjectMissing:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return _OldRecord(kind, record_id, etag, data)

    def _apply(self, record: _OldRecord, *, local: bool = True) -> _OldRecord:
        with self._lock:
            self._index.setdefault(record.kind, {})[record.id] = _OldEntry(
                record, self._generation if local else -1
            )
        return record


# One measurement, in a process of its own


@dataclass
class Measurement:
    backend: str
    design: str
    records: int  # records in the store (from the fill)
    held: int  # records the instance holds in memory after start
    cold_s: float
    cold_requests: int
    rss_mb: float
    peak_mb: float
    refresh_ms: list[float]
    refresh_requests: list[int]
    changes_ms: list[float]
    changes_requests: list[int]
    written: int
    seen: int

    @property
    def refresh_p50(self) -> float:
        return statistics.median(self.refresh_ms)

    @property
    def changes_p50(self) -> float:
        return statistics.median(self.changes_ms)

    @property
    def requests_p50(self) -> float:
        return statistics.median(self.refresh_requests)

    @property
    def changes_requests_p50(self) -> float:
        return statistics.median(self.changes_requests)


def _memory() -> tuple[float, float]:
    """(RSS, peak RSS) of this process in MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class _Requests:
    """Store requests as the store sees them: HTTP requests for S3 (a LIST page each), calls otherwise."""

    def __init__(self, meter: CountingStore, inner: Store) -> None:
        self.meter = meter
        self.http = 0
        self.s3 = isinstance(inner, S3Store)
        self._lock = threading.Lock()
        if isinstance(inner, S3Store):
            inner.client.meta.events.register("before-send.s3", self._sent)

    def _sent(self, **_: Any) -> None:
        with self._lock:
            self.http += 1

    def reset(self) -> None:
        self.meter.reset()
        with self._lock:
            self.http = 0

    def count(self) -> int:
        return self.http if self.s3 else self.meter.total_requests()


def _timed_rounds(
    rounds: int, budget_s: float, step: Callable[[], tuple[float, int]]
) -> tuple[list[float], list[int]]:
    """Run step (returns ms, requests) `rounds` times, or fewer (at least 3) within the budget."""
    times: list[float] = []
    requests: list[int] = []
    started = time.monotonic()
    while len(times) < rounds and (len(times) < 3 or time.monotonic() - started < budget_s):
        ms, n = step()
        times.append(ms)
        requests.append(n)
    return times, requests


def _person(n: int) -> dict[str, Any]:
    return User(id="", email=f"bench-{n}-{new_id()[:6].lower()}@example.com", name=f"Bench {n}").to_data()


def measure(job: dict[str, Any]) -> Measurement:
    """Start an instance of one design on the store, refresh it, and let another instance write."""
    settings = Settings.from_env(
        {}, store=job["store"], s3_endpoint_url=job["endpoint"], instance_id=f"bench-{job['design']}"
    )
    inner = open_store(job["store"], s3_endpoint_url=job["endpoint"])
    meter = CountingStore(inner)
    requests = _Requests(meter, inner)
    rounds, budget = int(job["rounds"]), float(job["budget"])
    gc.collect()

    started = time.perf_counter()
    if job["design"] == "old":
        old = OldRecords(meter)
        old.load()
        held = old.count()
        refresh: Callable[[], int] = old.refresh

        def version_of(kind: str, record_id: str) -> str | None:
            found = old.get(kind, record_id)
            return found.version if found else None
    else:
        portal = Portal(settings, store=meter)
        portal.start()
        held = sum(portal.records.counts().values())
        refresh = portal.refresh

        def version_of(kind: str, record_id: str) -> str | None:
            found = portal.records.get(kind, record_id)
            return found.version if found else None

    cold = time.perf_counter() - started
    cold_requests = requests.count()
    gc.collect()
    rss, peak = _memory()

    def nothing() -> tuple[float, int]:
        requests.reset()
        moment = time.perf_counter()
        refresh()
        return (time.perf_counter() - moment) * 1000, requests.count()

    refresh_ms, refresh_requests = _timed_rounds(rounds, budget, nothing)

    # Another instance writes: the old design's writers only PUT (it lists); the new one's is a
    # started portal, whose writes go through the journal. Started after RSS was read.
    if job["design"] == "old":
        other_old = OldRecords(inner)

        def write(n: int) -> tuple[str, str, str]:
            record = other_old.create("users", new_id(), _person(n))
            return record.kind, record.id, record.version
    else:
        other = Portal(replace(settings, instance_id="bench-other"), store=inner)
        other.start()

        def write(n: int) -> tuple[str, str, str]:
            record = other.records.create("users", new_id(), _person(n))
            return record.kind, record.id, record.version

    written: list[tuple[str, str, str]] = []
    seen = 0

    def changes() -> tuple[float, int]:
        nonlocal seen
        batch = [write(len(written) + n) for n in range(CHANGES)]
        written.extend(batch)
        requests.reset()
        moment = time.perf_counter()
        refresh()
        ms = (time.perf_counter() - moment) * 1000
        count = requests.count()
        seen += sum(1 for kind, rid, version in batch if version_of(kind, rid) == version)
        return ms, count

    changes_ms, changes_requests = _timed_rounds(rounds, budget, changes)
    return Measurement(
        backend=job["backend"],
        design=job["design"],
        records=int(job["records"]),
        held=held,
        cold_s=cold,
        cold_requests=cold_requests,
        rss_mb=rss,
        peak_mb=peak,
        refresh_ms=refresh_ms,
        refresh_requests=refresh_requests,
        changes_ms=changes_ms,
        changes_requests=changes_requests,
        written=len(written),
        seen=seen,
    )


# The run: fill, measure each design in a child process, fit, compare with the targets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on loopback, in a process of its own (its CPU is not the instance's)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **S3_ENV},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Fill:
    records: int
    seconds: float
    rate: float
    summary: str


YEAR_OF_5000 = 926_000  # records a year of 5,000 employees, 300 posts, a 30% share rate makes


def company_for(size: int) -> tuple[int, int, float]:
    """(employees, posts a year, years) of a demo-company of about `size` records: the issue's
    company (5,000 people, 300 posts a year) over more years from a year of it up; below that one
    year of fewer people (and fewer posts under 20,000 records)."""
    if size >= YEAR_OF_5000:
        return 5000, 300, round(size / YEAR_OF_5000, 2)
    posts = min(300, max(10, size // 60))
    return max(3, round(size / (posts * 0.6 + 3.5))), posts, 1.0


def fill(store: str, endpoint: str, size: int, seed: int, instances: int) -> Fill:
    employees, posts, years = company_for(size)
    command = [
        sys.executable,
        "-m",
        "toolkit",
        "demo-company",
        "--store",
        store,
        "--employees",
        str(employees),
        "--posts",
        str(posts),
        "--share-rate",
        "0.3",
        "--years",
        str(years),
        "--seed",
        str(seed),
        "--instances",
        str(instances),
    ]
    env = {**os.environ, **S3_ENV, "TOOLKIT_S3_ENDPOINT_URL": endpoint}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"demo-company failed:\n{done.stderr[-3000:]}")
    found = re.search(r"^([\d,]+) records and", done.stdout, re.MULTILINE)
    records = int(found.group(1).replace(",", "")) if found else 0
    return Fill(records, seconds, records / seconds if seconds else 0.0, done.stdout)


def run_child(job: dict[str, Any]) -> Measurement:
    env = {**os.environ, **S3_ENV}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement {job['design']} failed:\n{done.stderr[-3000:]}")
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def fit_power(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """(a, b) of t = a * n**b by least squares on logs; None with fewer than two usable points."""
    usable = [(math.log(n), math.log(t)) for n, t in points if n > 0 and t > 0]
    if len({x for x, _ in usable}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in usable)
    my = statistics.fmean(y for _, y in usable)
    sxx = sum((x - mx) ** 2 for x, _ in usable)
    b = sum((x - mx) * (y - my) for x, y in usable) / sxx
    return math.exp(my - b * mx), b


def fit_linear(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """(c, d) of y = c + d * n by least squares."""
    if len({n for n, _ in points}) < 2:
        return None
    mx = statistics.fmean(n for n, _ in points)
    my = statistics.fmean(y for _, y in points)
    d = sum((n - mx) * (y - my) for n, y in points) / sum((n - mx) ** 2 for n, _ in points)
    return my - d * mx, d


def heading(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}", flush=True)


def table(rows: list[Measurement]) -> str:
    header = (
        f"{'records':>10} {'design':<6} {'held':>9} {'cold start':>11} {'requests':>9} "
        f"{'refresh p50':>12} {'req/refresh':>11} {'10 changes':>11} {'req':>5} {'RSS MB':>7} {'seen':>9}"
    )
    lines = [header]
    for m in rows:
        lines.append(
            f"{m.records:>10,} {m.design:<6} {m.held:>9,} {m.cold_s:>10.2f}s {m.cold_requests:>9,} "
            f"{m.refresh_p50:>10.1f}ms {m.requests_p50:>11g} {m.changes_p50:>9.1f}ms "
            f"{m.changes_requests_p50:>5g} {m.rss_mb:>7.0f} {m.seen:>4}/{m.written:<4}"
        )
    return "\n".join(lines)


def ratios(rows: list[Measurement]) -> list[str]:
    lines = []
    by = {(m.records, m.design): m for m in rows}
    for records in sorted({m.records for m in rows}):
        old, new = by.get((records, "old")), by.get((records, "new"))
        if old is None or new is None:
            continue

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.3g}" if b else "-"

        lines.append(
            f"{records:>10,} new/old: cold start {ratio(new.cold_s, old.cold_s)}, "
            f"refresh {ratio(new.refresh_p50, old.refresh_p50)}, "
            f"10 changes {ratio(new.changes_p50, old.changes_p50)}, RSS {ratio(new.rss_mb, old.rss_mb)}"
        )
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def growth(rows: list[Measurement], target: int, backend: str) -> list[tuple[str, bool]]:
    """Growth laws per design and the targets at `target` records; returns (line, passed) for targets."""
    results: list[tuple[str, bool]] = []
    for design in ("old", "new"):
        mine = sorted((m for m in rows if m.design == design), key=lambda m: m.records)
        if not mine:
            continue
        print(f"{design}:")
        series: list[tuple[str, list[float]]] = [
            ("cold start s", [m.cold_s for m in mine]),
            ("refresh ms", [m.refresh_p50 for m in mine]),
            ("10 changes ms", [m.changes_p50 for m in mine]),
        ]
        for label, values in series:
            law = fit_power([(m.records, v) for m, v in zip(mine, values, strict=True)])
            if law is not None:
                a, b = law
                print(f"  {label:<14} ~ n^{b:.2f}; at {target:,} records: {a * target**b:,.2f}")
        rss = fit_linear([(m.records, m.rss_mb) for m in mine])
        if rss is not None:
            c, d = rss
            print(
                f"  {'RSS MB':<14} ~ {c:.0f} + {d * 1e6:,.0f} per million records; "
                f"at {target:,}: {c + d * target:,.0f}"
            )
    new = sorted((m for m in rows if m.design == "new"), key=lambda m: m.records)
    if not new:
        return results
    largest = new[-1]
    where = "measured" if largest.records >= target else f"extrapolated from {largest.records:,}"
    refresh_law = fit_power([(m.records, m.refresh_p50) for m in new])
    changes_law = fit_power([(m.records, m.changes_p50) for m in new])
    refresh_at = refresh_law[0] * target ** refresh_law[1] if refresh_law else largest.refresh_p50
    changes_at = changes_law[0] * target ** changes_law[1] if changes_law else largest.changes_p50
    if largest.records >= target:
        refresh_at, changes_at = largest.refresh_p50, largest.changes_p50
    requests = max(m.requests_p50 for m in new)
    results.append(
        (
            f"refresh, nothing changed, at {target:,} records ({where}): {refresh_at:.1f} ms and "
            f"{requests:g} store requests (target < {TARGET_REFRESH_MS:g} ms, <= {TARGET_REFRESH_REQUESTS})",
            refresh_at < TARGET_REFRESH_MS and requests <= TARGET_REFRESH_REQUESTS,
        )
    )
    results.append(
        (
            f"refresh after {CHANGES} changes at {target:,} records ({where}): {changes_at:.1f} ms "
            f"(target < {TARGET_CHANGES_MS:g} ms)",
            changes_at < TARGET_CHANGES_MS,
        )
    )
    if backend == "s3":
        law = fit_power([(m.records, m.cold_s) for m in new])
        cold_at = largest.cold_s if largest.records >= target or law is None else law[0] * target ** law[1]
        results.append(
            (
                f"cold start from checkpoint at {target:,} records on moto ({where}): {cold_at:.1f} s "
                f"(target < {TARGET_COLD_S3_S:g} s)",
                cold_at < TARGET_COLD_S3_S,
            )
        )
    else:
        rss = fit_linear([(m.records, m.rss_mb) for m in new])
        rss_at = largest.rss_mb if largest.records >= target or rss is None else rss[0] + rss[1] * target
        results.append(
            (
                f"RSS after start at {target:,} records ({where}): {rss_at:.0f} MB "
                f"(target < {TARGET_RSS_MB:g} MB)",
                rss_at < TARGET_RSS_MB,
            )
        )
    return results


def bench(backend: str, sizes: list[int], args: argparse.Namespace) -> tuple[list[tuple[str, bool]], bool]:
    target = LOCAL_TARGET if backend == "local" else S3_TARGET
    heading(
        f"{'Local folder' if backend == 'local' else 'S3 (moto on loopback)'}: "
        f"{', '.join(f'{s:,}' for s in sizes)} records; targets at {target:,}"
    )
    rows: list[Measurement] = []
    base = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.dir))
    try:
        with moto_server() if backend == "s3" else _nothing() as endpoint:
            for index, size in enumerate(sizes):
                if backend == "s3":
                    import boto3

                    bucket = f"bench-scale-{index}-{os.getpid()}"
                    boto3.client(
                        "s3",
                        endpoint_url=endpoint,
                        aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        region_name="us-east-1",
                    ).create_bucket(Bucket=bucket)
                    store = f"s3://{bucket}/toolkit"
                else:
                    store = str(base / f"store-{size}")
                # Counters are not what is measured here; on moto (some 100 requests/s on this machine)
                # four instances' worth of day objects would take most of the fill.
                made = fill(store, endpoint, size, args.seed, 4 if backend == "local" else 1)
                print(
                    f"filled {made.records:,} records in {made.seconds:.1f} s "
                    f"({made.rate:,.0f} records/s, demo-company, {store})",
                    flush=True,
                )
                for design in ("new", "old"):
                    job = {
                        "backend": backend,
                        "design": design,
                        "store": store,
                        "endpoint": endpoint,
                        "records": made.records,
                        "rounds": args.rounds,
                        "budget": args.budget,
                    }
                    measured = run_child(job)
                    rows.append(measured)
                    print(
                        f"  {design}: cold start {measured.cold_s:.2f} s, "
                        f"refresh {measured.refresh_p50:.1f} ms ({measured.requests_p50:g} requests), "
                        f"10 changes {measured.changes_p50:.1f} ms, "
                        f"RSS {measured.rss_mb:.0f} MB",
                        flush=True,
                    )
                if backend == "local" and not args.keep:
                    shutil.rmtree(store, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    heading(
        "Side by side (medians; requests: " + ("HTTP requests" if backend == "s3" else "store calls") + ")"
    )
    print(table(rows))
    for line in ratios(rows):
        print(line)
    heading(f"Growth law (fitted over the sizes) and extrapolation to {target:,} records")
    results = growth(rows, target, backend)
    if backend == "s3":
        print(
            "note: moto answers every LIST by scanning all keys of the bucket (moto/s3/models.py,\n"
            "list_objects), so on moto even a one-page LIST grows with the bucket; S3 itself does not."
        )
    sound = all(m.seen == m.written for m in rows)
    print(
        f"\nintegrity: every write of the other instance seen at its version on the reader: "
        f"{'PASS' if sound else 'FAIL'} "
        f"({sum(m.seen for m in rows)}/{sum(m.written for m in rows)})"
    )
    return results, sound


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def sizes_arg(text: str) -> list[int]:
    if text.strip() in ("", "0", "none", "off"):
        return []
    return sorted({int(float(part)) for part in text.split(",") if part.strip()})


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("5000,20000,60000"), help="folder sizes")
    parser.add_argument(
        "--s3", type=sizes_arg, default=sizes_arg("400,1000,2000"), help="S3 sizes on moto (0 to skip)"
    )
    parser.add_argument("--rounds", type=int, default=10, help="refreshes per measurement (at most)")
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds per measurement before stopping early (3 rounds at least)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=None, help="where the folder stores are made (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores made")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asdict(measure(json.loads(args.child)))), flush=True)
        return 0
    started = time.monotonic()
    results: list[tuple[str, bool]] = []
    sound = True
    for backend, sizes in (("local", args.sizes), ("s3", args.s3)):
        if sizes:
            found, ok = bench(backend, sizes, args)
            results += [(f"[{backend}] {line}", passed) for line, passed in found]
            sound = sound and ok
    heading("Targets (issue 13)")
    for line, passed in results:
        print(f"{verdict(passed)}: {line}")
    print(f"\nintegrity: {'PASS' if sound else 'FAIL'}; total {time.monotonic() - started:.0f} s")
    # A missed target is reported, not fatal (it depends on the machine); a lost write is.
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
