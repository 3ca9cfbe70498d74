"""Memory of hostile and large image uploads under the decode budget (issue 14, item 6).

Run with `.venv/bin/python bench/bench_uploads.py`. A real portal (uvicorn, local store, default
settings) runs in a child process; the uploads go to POST /api/v1/assets over HTTP, one at a time
and four at once, and the child's memory is read from /proc: the peak (VmHWM, reset before each
case through /proc/<pid>/clear_refs) and the resident memory a moment after the case.

Cases:
- the attack: a 0.5 MB PNG of zeros declaring 8944 x 8944 RGBA (80 megapixels, just under the pixel
  limit; 320 MB decoded). It is refused (422) from its header: nothing is decoded.
- the largest kind of upload the default budget accepts: distinct 6000 x 4000 RGBA PNGs (a 24 MP
  picture with transparency, costed at about 240 MB). Four at once are decoded one after another.
- baseline: the same hostile file through the former pipeline (inspect_upload, then make_master:
  two full decodes, no budget), in a fresh child process; with --four-baseline also four threads
  at once (about 2.9 GB: not by default, so `make bench` fits on a small machine).

Targets: peak growth of one upload under 300 MB, four in parallel under 600 MB, and the resident
memory back within 32 MB of where it was before each case, not counting the masters and tiles the
portal keeps in its master cache on purpose (column "cached", from the stored blobs, at most 64 MB).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

# Run as a script from a checkout, where the toolkit package is not necessarily installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.assets import MASTER_CACHE_BYTES  # noqa: E402
from toolkit.portal import Portal  # noqa: E402
from toolkit.settings import Settings  # noqa: E402

MB = 1024 * 1024
HOSTILE = (8944, 8944)
TARGET_ONE_MB = 300.0
TARGET_FOUR_MB = 600.0
TARGET_KEPT_MB = 32.0
SETTLE_SECONDS = 1.0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int) -> bytes:
    """A valid RGBA PNG of zeros; each row compressed once and repeated after a full flush."""
    row = bytes(1 + width * 4)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(row) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    adler = ((len(row) * height % 65521) << 16) | 1
    idat = b"\x78\xda" + block * height + end + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def transparent_photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A picture with smooth colour fields and a soft transparent edge."""
    rnd = random.Random(seed)
    width, height = size
    fields = [Image.effect_noise((width // 60, height // 60), 40 + rnd.randrange(30)) for _ in range(4)]
    return Image.merge("RGBA", fields).resize(size, Image.Resampling.BILINEAR)


# Memory of a process, from /proc.


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def peak_mb(pid: int) -> float:
    return _status(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status(pid, "VmRSS")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current resident memory (Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# The portal under test.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(store: str, port: int) -> None:
    """Child process: one portal instance with default settings on the store."""
    import uvicorn

    from toolkit.app import create_app

    settings = Settings.from_env({}, store=store, instance_id="bench", refresh_seconds=60.0)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def upload(url: str, token: str, name: str, data: bytes) -> int:
    import httpx

    response = httpx.post(
        f"{url}/api/v1/assets",
        files={"file": (name, data, "image/png")},
        headers={"authorization": f"Bearer {token}"},
        timeout=600,
    )
    return response.status_code


def cached_mb(store: Path) -> float:
    """What the portal keeps in memory on purpose after uploads: the masters and tiles it made, in
    its master cache (toolkit.assets.MASTER_CACHE_BYTES), read from the stored blobs."""
    made = [
        path.stat().st_size
        for path in (store / "blobs" / "assets").glob("*/*")
        if path.name.startswith(("master.", "tiles-"))
    ]
    return min(sum(made), MASTER_CACHE_BYTES) / MB


def measure(url: str, pid: int, token: str, store: Path, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Upload the files at once (one thread each); the server's memory before, at peak and after.

    kept: resident memory after the case minus before, less what the master cache holds since.
    """
    time.sleep(SETTLE_SECONDS)
    before = rss_mb(pid)
    cached_before = cached_mb(store)
    reset_peak(pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        statuses = list(pool.map(lambda item: upload(url, token, *item), files))
    seconds = time.perf_counter() - started
    peak = peak_mb(pid)
    time.sleep(SETTLE_SECONDS)
    after = rss_mb(pid)
    cached = cached_mb(store) - cached_before
    return {
        "statuses": statuses,
        "seconds": seconds,
        "before": before,
        "growth": peak - before,
        "cached": cached,
        "kept": after - before - cached,
    }


def start_portal(store: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", store, str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return child, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            raise RuntimeError("the portal did not start")
        time.sleep(0.1)


# The former pipeline, for the baseline.

BASELINE_CHILD = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from toolkit.imaging.inspect import inspect_upload
from toolkit.imaging.master import make_master

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

def old_upload(path):
    inspect_upload(path, max_pixels=80_000_000)
    make_master(path)

paths = sys.argv[2:]
before = status("VmRSS")
threads = [threading.Thread(target=old_upload, args=(p,)) for p in paths]
for t in threads: t.start()
for t in threads: t.join()
print(status("VmHWM") - before, status("VmRSS") - before)
"""


def baseline(paths: list[Path]) -> tuple[float, float]:
    """(peak growth, kept) in MB of the former two-decode pipeline on these files, in threads."""
    out = subprocess.run(
        [sys.executable, "-c", BASELINE_CHILD, str(ROOT), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    growth, kept = out.stdout.split()
    return float(growth), float(kept)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(four_baseline: bool = False) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as name:
        folder = Path(name)
        hostile = zero_png(*HOSTILE)
        hostile_path = folder / "hostile.png"
        hostile_path.write_bytes(hostile)
        print(f"Hostile PNG: {len(hostile) / 1024:.0f} KB declaring {HOSTILE[0]} x {HOSTILE[1]} RGBA")
        print("Generating five distinct 6000 x 4000 RGBA PNGs ...", flush=True)
        large = []
        for n in range(5):
            path = folder / f"large-{n}.png"
            transparent_photo((6000, 4000), seed=n).save(path, compress_level=1)
            large.append((path.name, path.read_bytes()))

        store = str(folder / "store")
        setup = Portal(Settings.from_env({}, store=store, instance_id="bench-setup"))
        setup.start()
        user = setup.accounts.add("bench@example.com", role="marketing")
        token = setup.accounts.create_token(user).secret
        setup.close()

        child, url = start_portal(store)
        rows: list[tuple[str, dict[str, Any]]] = []
        try:
            warm = folder / "warm.png"
            transparent_photo((1200, 800), seed=9).save(warm)
            assert upload(url, token, "warm.png", warm.read_bytes()) == 201
            baseline_rss = rss_mb(child.pid)
            baseline_cached = cached_mb(Path(store))
            # Four copies of the attack differ in a byte of their text, so none is a duplicate.
            attack = [
                (f"bomb-{n}.png", hostile[:-12] + _chunk(b"tEXt", b"n\x00%d" % n) + hostile[-12:])
                for n in range(4)
            ]
            for label, files in (
                ("hostile PNG, one", attack[:1]),
                ("hostile PNG, four at once", attack),
                ("6000x4000 RGBA PNG, one", large[:1]),
                ("6000x4000 RGBA PNG, four at once", large[1:]),
            ):
                rows.append((label, measure(url, child.pid, token, Path(store), files)))
            time.sleep(SETTLE_SECONDS)
            final_rss = rss_mb(child.pid)
            final_cached = cached_mb(Path(store))
        finally:
            child.terminate()
            child.wait(timeout=30)

        print("Baseline: the former pipeline (two decodes, no budget) on the hostile PNG ...", flush=True)
        copies = []
        for n in range(4):
            path = folder / f"old-{n}.png"
            path.write_bytes(hostile)
            copies.append(path)
        old_one = baseline(copies[:1])
        old_four = baseline(copies) if four_baseline else None

    print(f"\nServer memory per case (MB; resident before the uploads {baseline_rss:.0f} MB)\n")
    header = (
        f"{'case':<36} {'statuses':<20} {'time s':>7} {'peak growth':>12} {'cached':>7} {'kept after':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, row in rows:
        statuses = ",".join(map(str, row["statuses"]))
        print(
            f"{label:<36} {statuses:<20} {row['seconds']:>7.2f} {row['growth']:>12.0f} "
            f"{row['cached']:>7.0f} {row['kept']:>11.0f}"
        )
    former = [("former pipeline, hostile, one", old_one)]
    if old_four is not None:
        former.append(("former pipeline, hostile, four", old_four))
    for label, (growth, kept) in former:
        print(f"{label:<36} {'(no server)':<20} {'':>7} {growth:>12.0f} {'':>7} {kept:>11.0f}")

    by_label = dict(rows)
    one, four = by_label["hostile PNG, one"], by_label["hostile PNG, four at once"]
    large_one, large_four = by_label["6000x4000 RGBA PNG, one"], by_label["6000x4000 RGBA PNG, four at once"]
    refused = all(s == 422 for s in one["statuses"] + four["statuses"])
    accepted = all(s == 201 for s in large_one["statuses"] + large_four["statuses"])
    worst_one = max(one["growth"], large_one["growth"])
    worst_four = max(four["growth"], large_four["growth"])
    worst_kept = max(row["kept"] for _, row in rows)
    checks = [
        (refused, "the hostile PNG is refused (422) every time"),
        (accepted, "the large RGBA PNGs are accepted (201), also four at once"),
        (worst_one < TARGET_ONE_MB, f"one upload: peak growth {worst_one:.0f} MB < {TARGET_ONE_MB:.0f} MB"),
        (
            worst_four < TARGET_FOUR_MB,
            f"four at once: peak growth {worst_four:.0f} MB < {TARGET_FOUR_MB:.0f} MB",
        ),
        (
            worst_kept < TARGET_KEPT_MB,
            f"memory returned: at most {worst_kept:.0f} MB kept after a case (< {TARGET_KEPT_MB:.0f} MB); "
            f"{final_rss - baseline_rss - (final_cached - baseline_cached):+.0f} MB after all cases",
        ),
    ]
    print()
    for ok, text in checks:
        print(f"{verdict(ok)}  {text}")
    print(
        f"      (former pipeline: {old_one[0]:.0f} MB for one hostile upload, keeping {old_one[1]:.0f} MB"
        + (f"; {old_four[0]:.0f} MB for four at once" if old_four else "; --four-baseline measures four")
        + ")"
    )
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(main(four_baseline="--four-baseline" in sys.argv[1:]))
