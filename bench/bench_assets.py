"""Image library: peak memory of large uploads, and search over 10,000 assets.

Run with `.venv/bin/python bench/bench_assets.py [uploads] [search]` (both by default).

Uploads: a real portal (uvicorn, local store) runs in a child process per case, so its peak resident
memory (VmHWM in /proc) belongs to that one upload. The files are the same 24-megapixel camera JPEG
followed by filler up to 20 MB and 200 MB: phones write such files ("motion photos" carry a video
after the picture), and keeping the pixels equal means any difference in peak memory comes from
the file's size alone. The body is streamed from disk by httpx, as a browser would send it. A
third case sends 200 MB to a portal with the default 50 MB limit: refused with 413 before the body
is read. Decoding is bounded by TOOLKIT_MAX_PIXELS, not by the file size, and is the same in both.

Search: 10,000 asset records on a local store; the portal's index-backed search against a baseline
that lists and reads every record from the store per request (what a portal without an in-memory
index has to do), same queries, medians and the ratio.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw

# Run as a script from a checkout, where the toolkit package is not necessarily installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.accounts import User  # noqa: E402
from toolkit.asset_fields import words_of  # noqa: E402
from toolkit.assets import ASSETS, Asset  # noqa: E402
from toolkit.portal import Portal  # noqa: E402
from toolkit.records import record_key  # noqa: E402
from toolkit.settings import Settings  # noqa: E402

MB = 1024 * 1024
SEARCH_ASSETS = 10_000
SEARCH_RUNS = 50
BASELINE_RUNS = 5
TARGET_SEARCH_MS = 50.0
# Two uploads whose files differ by 180 MB may differ in peak memory by no more than this.
TARGET_GROWTH_MB = 16.0


# Upload memory


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A camera-like picture: smooth colour fields, hard shapes and grain (so JPEG works hard)."""
    rnd = random.Random(seed)
    width, height = size
    fields = [Image.effect_noise((width // 80, height // 80), 64) for _ in range(3)]
    img = Image.merge("RGB", fields).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(80):
        x, y, r = rnd.randrange(width), rnd.randrange(height), rnd.randrange(width // 50, width // 8)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rnd.randrange(256), rnd.randrange(256), 90))
    grain = Image.merge("RGB", [Image.effect_noise(size, 12) for _ in range(3)])
    return ImageChops.add(img, grain, offset=-128)


def padded_copy(picture: Path, target: Path, size: int, seed: int) -> None:
    """picture followed by pseudo-random filler (a stand-in for a motion photo's video) up to size bytes."""
    rnd = random.Random(seed)
    with open(picture, "rb") as source, open(target, "wb") as out:
        out.write(source.read())
        while (left := size - out.tell()) > 0:
            out.write(rnd.randbytes(min(left, 4 * MB)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


def serve(store: str, port: int, max_upload_mb: int) -> None:
    """Child process: one portal instance on the store (the parent measures its memory)."""
    import uvicorn

    from toolkit.app import create_app

    settings = Settings.from_env(
        {}, store=store, max_upload_mb=max_upload_mb, instance_id="bench", refresh_seconds=60.0
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def upload(url: str, token: str, path: Path) -> tuple[int, float]:
    import httpx

    started = time.perf_counter()
    with open(path, "rb") as body:
        try:
            response = httpx.post(
                f"{url}/api/v1/assets",
                files={"file": (path.name, body, "image/jpeg")},
                headers={"authorization": f"Bearer {token}"},
                timeout=600,
            )
            status = response.status_code
        except httpx.HTTPError:
            # The server answered and closed the connection while the body was still being sent.
            status = 0
    return status, time.perf_counter() - started


def measure_upload(store: str, token: str, warm_up: Path, big: Path, max_upload_mb: int) -> dict[str, Any]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", store, str(port), str(max_upload_mb)],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the portal did not start")
            time.sleep(0.1)
        status, _ = upload(url, token, warm_up)
        assert status in (200, 201), status
        before = peak_rss_mb(child.pid)
        status, seconds = upload(url, token, big)
        after = peak_rss_mb(child.pid)
    finally:
        child.terminate()
        child.wait(timeout=20)
    return {"status": status, "seconds": seconds, "baseline": before, "peak": after, "growth": after - before}


def bench_uploads(folder: Path) -> bool:
    print("Generating a 24 MP camera JPEG ...", flush=True)
    picture = folder / "camera.jpg"
    photo((6000, 4000), seed=1).save(picture, "JPEG", quality=92)
    warm_up = folder / "warm-up.jpg"
    photo((1200, 800), seed=2).save(warm_up, "JPEG", quality=90)
    small, large = folder / "camera-20mb.jpg", folder / "camera-200mb.jpg"
    padded_copy(picture, small, 20 * MB, seed=3)
    padded_copy(picture, large, 200 * MB, seed=4)

    store = str(folder / "store")
    settings = Settings.from_env({}, store=store, instance_id="bench-setup")
    portal = Portal(settings)
    portal.start()
    user = portal.accounts.add("bench@example.com", role="marketing")
    token = portal.accounts.create_token(user).secret
    portal.close()

    picture_mb = picture.stat().st_size / MB
    print(f"\nUpload peak memory of the server process (picture: 6000x4000, {picture_mb:.1f} MB)\n")
    header = (
        f"{'file':<34} {'limit':>6} {'status':>6} {'time s':>7} "
        f"{'RSS before MB':>14} {'peak MB':>8} {'growth MB':>10}"
    )
    print(header)
    print("-" * len(header))
    rows: list[dict[str, Any]] = []
    for label, path, limit in (
        ("20 MB (JPEG + filler)", small, 250),
        ("200 MB (JPEG + filler)", large, 250),
        ("200 MB, over the 50 MB limit", large, 50),
    ):
        # Each accepted case gets its own store, so the second is not a duplicate of the first.
        case_store = folder / f"store-{len(rows)}"
        subprocess.run(["cp", "-r", store, str(case_store)], check=True)
        result = measure_upload(str(case_store), token, warm_up, path, limit)
        rows.append(result)
        print(
            f"{label:<34} {limit:>4}MB {result['status']:>6} {result['seconds']:>7.1f} "
            f"{result['baseline']:>14.0f} {result['peak']:>8.0f} {result['growth']:>10.0f}"
        )
    difference = rows[1]["growth"] - rows[0]["growth"]
    accepted = rows[0]["status"] == 201 and rows[1]["status"] == 201 and rows[2]["status"] == 413
    ok = bool(accepted and difference <= TARGET_GROWTH_MB)
    print(
        f"\n{verdict(ok)}  a 10x larger file costs {difference:+.0f} MB more peak memory "
        f"(target <= {TARGET_GROWTH_MB:.0f} MB)"
    )
    return ok


# Search over 10,000 assets

WORDS = (
    "harbour sunrise team office summit launch product city night dunes summer winter campaign "
    "event conference portrait workshop hackathon customer award booth stage keynote coffee "
    "rooftop garden bicycle train warehouse factory laboratory robot drone solar wind ocean "
    "mountain river forest bridge tower skyline festival market kitchen studio classroom"
).split()
TAGS = [f"{w}" for w in WORDS[:30]] + ["logo", "people", "product shot", "2024", "2025", "archive"]


def fake_asset_data(rnd: random.Random, n: int, day0: str) -> dict[str, Any]:
    status = rnd.choices(["approved", "draft", "archived"], weights=[7, 2, 1])[0]
    title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 5))).capitalize()
    asset = Asset(
        id=f"a{n:05d}",
        version="",
        title=title,
        status=status,
        width=6000,
        height=4000,
        content_type="image/jpeg",
        size=8_000_000,
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        original_key=f"blobs/assets/a{n:05d}/original",
        master_key=f"blobs/assets/a{n:05d}/master.jpg",
        master_type="image/jpeg",
        master_width=2560,
        master_height=1707,
        thumbs={"320": f"blobs/assets/a{n:05d}/thumb-320.jpg", "640": f"blobs/assets/a{n:05d}/thumb-640.jpg"},
        description=" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 18))),
        alt_text=title,
        tags=tuple(sorted(set(rnd.sample(TAGS, rnd.randint(1, 4))))),
        rights_expires=day0 if rnd.random() < 0.05 else None,
        created_at=f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T12:00:00+00:00",
    )
    return asset.to_data()


QUERIES: list[dict[str, Any]] = [
    {},
    {"q": "harbour"},
    {"q": "sun"},
    {"q": "team summit"},
    {"tags": ["people"]},
    {"tags": ["summer", "people"]},
    {"q": "coffee", "tags": ["2025"]},
    {"status": "draft"},
    {"q": "robot", "status": "approved"},
    {"q": "nothingmatchesthis"},
]


def baseline_search(portal: Portal, viewer: User, query: dict[str, Any]) -> int:
    """Without an index: list the records, read every asset from the store, then filter the same way."""
    store = portal.store
    from datetime import UTC, datetime

    today = datetime.now(UTC).date()
    needles = [f" {w}" for w in words_of(query.get("q", ""))]
    wanted = set(query.get("tags", []))
    found = []
    for info in store.list(f"records/{ASSETS}/"):
        raw, etag = store.read(info.key)
        data = json.loads(raw)
        if viewer.is_marketing:
            if query.get("status") and data["status"] != query["status"]:
                continue
        else:
            from toolkit.records import Record

            if not Asset.from_record(Record(ASSETS, info.key, etag, data)).usable_on(today):
                continue
        if wanted and not wanted <= set(data["tags"]):
            continue
        words = " " + " ".join(words_of(" ".join([data["title"], data["description"], *data["tags"]])))
        if needles and not all(n in words for n in needles):
            continue
        found.append(data)
    found.sort(key=lambda d: d["created_at"], reverse=True)
    return len(found[:48])


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_search(folder: Path) -> bool:
    store = str(folder / "search-store")
    portal = Portal(Settings.from_env({}, store=store, instance_id="bench-search"))
    portal.start()
    marketing = portal.accounts.add("marketing@example.com", role="marketing")
    employee = portal.accounts.add("employee@example.com")
    print(f"\nWriting {SEARCH_ASSETS:,} asset records ...", flush=True)
    rnd = random.Random(42)
    from datetime import UTC, datetime

    day0 = datetime.now(UTC).date().isoformat()
    records = [fake_asset_data(rnd, n, day0) for n in range(SEARCH_ASSETS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda item: portal.store.put(
                    record_key(ASSETS, f"a{item[0]:05d}"), json.dumps(item[1]).encode()
                ),
                enumerate(records),
            )
        )
    print(f"  written in {time.perf_counter() - started:.1f} s; loading a fresh instance ...", flush=True)
    portal.close()
    portal = Portal(Settings.from_env({}, store=store, instance_id="bench-search"))
    started = time.perf_counter()
    portal.start()
    print(
        f"  index of {portal.records.count(ASSETS):,} assets loaded in {time.perf_counter() - started:.1f} s"
    )

    print(
        f"\nSearch over {SEARCH_ASSETS:,} assets, first page of 48; medians "
        f"(index: {SEARCH_RUNS} runs, baseline: {BASELINE_RUNS} runs)\n"
    )
    header = f"{'query':<42} {'as':<10} {'matches':>8} {'index ms':>9} {'baseline ms':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    index_times, baseline_times = [], []
    for query in QUERIES:
        for viewer in (marketing, employee):
            if "status" in query and not viewer.is_marketing:
                continue
            total = portal.assets.search(viewer, per_page=48, **query).total
            ours = median_ms(lambda: portal.assets.search(viewer, per_page=48, **query), SEARCH_RUNS)  # noqa: B023
            theirs = median_ms(lambda: baseline_search(portal, viewer, query), BASELINE_RUNS)  # noqa: B023
            index_times.append(ours)
            baseline_times.append(theirs)
            label = json.dumps(query, ensure_ascii=False)[:42]
            ratio = theirs / ours
            print(f"{label:<42} {viewer.role:<10} {total:>8} {ours:>9.2f} {theirs:>12.0f} {ratio:>6.0f}x")
    ours_median = statistics.median(index_times)
    theirs_median = statistics.median(baseline_times)
    print(
        f"\nmedian over all queries: index {ours_median:.2f} ms, baseline {theirs_median:.0f} ms, "
        f"ratio {theirs_median / ours_median:.0f}x"
    )

    from starlette.testclient import TestClient

    from toolkit.app import create_app

    token = portal.accounts.create_token(marketing).secret
    with TestClient(create_app(portal.settings, portal=portal)) as client:
        headers = {"authorization": f"Bearer {token}"}
        api = median_ms(lambda: client.get("/api/v1/assets?q=sun&per_page=48", headers=headers), SEARCH_RUNS)
    print(f"GET /api/v1/assets?q=sun (in-process ASGI, JSON of 48 assets): median {api:.2f} ms")
    portal.close()
    ok = max(index_times) <= TARGET_SEARCH_MS
    print(f"{verdict(ok)}  every index-backed search <= {TARGET_SEARCH_MS:.0f} ms median")
    return ok


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(parts: list[str]) -> int:
    """Run the upload and search benchmarks (or only those named: uploads, search)."""
    started = time.perf_counter()
    parts = parts or ["uploads", "search"]
    with tempfile.TemporaryDirectory(prefix="bench-assets-") as name:
        folder = Path(name)
        uploads_ok = bench_uploads(folder) if "uploads" in parts else True
        search_ok = bench_search(folder) if "search" in parts else True
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0 if uploads_ok and search_ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(main(sys.argv[1:]))
