"""Cached-rendition throughput: the portal (one uvicorn worker, loopback) against a bare Starlette app.

Run with `.venv/bin/python bench/bench_serve.py`. It seeds a throwaway local store with an approved
photo-like image and an employee API token, starts the portal, warms one rendition (a versioned
linkedin-landscape JPEG, so it is answered from the in-memory cache), then alternates load rounds
between the portal and a baseline: a plain Starlette app, in the same kind of server, serving the
same bytes from memory with no authentication, sessions or lookups. The load generator is wrk when
it is installed; otherwise a Python asyncio client, clearly labelled, whose own speed is then the
limit. Target: at least 5,000 requests per second from one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Run as a script from a checkout, where the toolkit package is not necessarily installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageChops, ImageDraw  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

TARGET_RPS = 5000.0
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
CONNECTIONS = 50
WRK_THREADS = 2
PRESET = "linkedin-landscape"
BODY_ENV = "BENCH_BODY_FILE"
SECRET = "bench-secret-" + "x" * 32


@dataclass(frozen=True)
class Round:
    rps: float
    p50_ms: float
    p99_ms: float


def photo(size: tuple[int, int]) -> Image.Image:
    """A camera-like picture (colour fields, shapes, grain) so the rendition has a realistic size."""
    width, height = size
    fields = [Image.effect_noise((max(2, width // 80), max(2, height // 80)), 64) for _ in range(3)]
    img = Image.merge("RGB", fields).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for i in range(60):
        x, y, r = (i * 7919) % width, (i * 104729) % height, width // 40 + (i * 31) % (width // 10)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=((i * 40) % 256, (i * 90) % 256, (i * 150) % 256))
    grain = Image.merge("RGB", [Image.effect_noise(size, 10) for _ in range(3)])
    return ImageChops.add(img, grain, offset=-128)


def seed(folder: Path) -> tuple[str, str]:
    """A store with an approved image and an employee token: (asset id, token)."""
    from toolkit.assets import UploadedFile
    from toolkit.portal import Portal
    from toolkit.settings import Settings

    portal = Portal(Settings.from_env({}, store=str(folder / "data"), instance_id="bench-seed"))
    portal.start()
    try:
        marketing = portal.accounts.add("marketing@example.com", role="marketing", name="Bench Marketing")
        employee = portal.accounts.add("employee@example.com", role="employee", name="Bench Employee")
        path = folder / "photo.jpg"
        photo((2400, 1600)).save(path, "JPEG", quality=90)
        data = path.read_bytes()
        upload = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), path.name)
        asset, _ = portal.assets.add_upload(upload, actor=marketing, title="Bench photo")
        portal.assets.update(asset.id, {"status": "approved", "alt_text": "A test picture"}, actor=marketing)
        token = portal.accounts.create_token(employee).secret
    finally:
        portal.close()
    return asset.id, token


def plain_app() -> Starlette:
    """The baseline: the same bytes from memory, with the same headers, and nothing else."""
    body = Path(os.environ[BODY_ENV]).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    async def image(request: Request) -> Response:
        return Response(
            body,
            media_type="image/jpeg",
            headers={"etag": etag, "cache-control": "private, max-age=31536000, immutable"},
        )

    return Starlette(routes=[Route("/image", image)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(app: str, port: int, env: dict[str, str], app_dir: Path) -> Iterator[None]:
    """uvicorn with one worker on loopback, without access logs; stopped on exit."""
    command = [
        sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning", "--app-dir", str(app_dir),
    ]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, **env})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped at start-up (exit code {process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers, if only with 404
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not start within 30 s")


def fetch(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


# Load generators


def wrk_round(url: str, token: str | None) -> Round:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    for problem in ("Non-2xx or 3xx responses", "Socket errors"):
        if problem in output:
            raise SystemExit(f"wrk reported errors against {url}:\n{output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rps, output
    return Round(float(rps.group(1)), _wrk_latency(output, "50%"), _wrk_latency(output, "99%"))


def _wrk_latency(output: str, percentile: str) -> float:
    found = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    assert found, output
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def python_round(url: str, token: str | None) -> Round:
    """A Python stand-in for wrk: keep-alive HTTP/1.1 on CONNECTIONS connections for SECONDS."""
    return asyncio.run(_python_load(url, token))


async def _python_load(url: str, token: str | None) -> Round:
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()
    latencies: list[float] = []
    stop = time.perf_counter() + SECONDS

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"unexpected answer from {url}: {head[:60]!r}")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                assert length
                await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Round(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
    )


def main() -> None:
    started = time.perf_counter()
    have_wrk = shutil.which("wrk") is not None
    if have_wrk:
        generator = f"wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{SECONDS}s --latency"
        measure = wrk_round
    else:
        print(
            "wrk is not installed: install wrk (apt-get install wrk) to measure with a real load generator."
        )
        print("Falling back to the PYTHON load generator: its own speed limits the numbers below.\n")
        generator = f"PYTHON asyncio load generator, {CONNECTIONS} keep-alive connections, {SECONDS}s"
        measure = python_round
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-") as tmp:
        folder = Path(tmp)
        print("Seeding a local store with an approved image and an employee token ...", flush=True)
        asset_id, token = seed(folder)
        portal_port, plain_port = free_port(), free_port()
        env = {
            "TOOLKIT_STORE": str(folder / "data"),
            "TOOLKIT_SECRET_KEY": SECRET,
            "TOOLKIT_BASE_URL": f"http://127.0.0.1:{portal_port}",
            "TOOLKIT_INSTANCE_ID": "bench",
        }
        with server("toolkit.app:create_app", portal_port, env, ROOT):
            base = (
                f"http://127.0.0.1:{portal_port}/api/v1/assets/{asset_id}/render?preset={PRESET}&format=jpeg"
            )
            _, headers, _ = fetch(base, token)
            url = f"{base}&watermark=1&v={headers['etag'].strip(chr(34))}"
            status, headers, body = fetch(url, token)
            assert status == 200 and headers["cache-control"].endswith("immutable"), headers
            body_file = folder / "body.jpg"
            body_file.write_bytes(body)
            plain_env = {BODY_ENV: str(body_file)}
            with server("bench_serve:plain_app", plain_port, plain_env, Path(__file__).parent):
                plain_url = f"http://127.0.0.1:{plain_port}/image"
                fetch(plain_url)
                print(f"Warmed one rendition: {PRESET} JPEG, {len(body) / 1024:.0f} KB, served from memory.")
                print(f"Load: {generator}; {ROUNDS} alternating rounds per target; {os.cpu_count()} CPUs.\n")
                portal_rounds: list[Round] = []
                plain_rounds: list[Round] = []
                for _ in range(ROUNDS):
                    portal_rounds.append(measure(url, token))
                    plain_rounds.append(measure(plain_url, None))
    report(portal_rounds, plain_rounds, have_wrk)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


def report(portal: list[Round], plain: list[Round], have_wrk: bool) -> None:
    header = f"{'':44} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8}   rounds (req/s)"
    print(header)
    print("-" * len(header))
    rows = (
        ("portal: cached rendition, bearer token", portal),
        ("baseline: plain Starlette, same bytes", plain),
    )
    for label, rounds in rows:
        rps = statistics.median(r.rps for r in rounds)
        p50 = statistics.median(r.p50_ms for r in rounds)
        p99 = statistics.median(r.p99_ms for r in rounds)
        each = ", ".join(f"{r.rps:.0f}" for r in rounds)
        print(f"{label:44} {rps:15.0f} {p50:8.2f} {p99:8.2f}   {each}")
    ours = statistics.median(r.rps for r in portal)
    ratio = ours / statistics.median(r.rps for r in plain)
    print(f"\nportal / baseline throughput: {ratio:.2f}")
    verdict = "PASS" if ours >= TARGET_RPS else "MISS"
    note = "" if have_wrk else " (measured with the Python fallback, not wrk)"
    print(f"{verdict}  >= {TARGET_RPS:.0f} req/s for a cached rendition from one worker{note}")


if __name__ == "__main__":
    main()
