"""Load and fault harness: real portal processes on a real S3 server, with faults injected on demand.

Used by tests/test_load_faults.py (seconds, in `make test`) and bench/bench_load.py (minutes, in
`make bench`). Everything runs on loopback and stops by itself:

- moto's S3 server runs as its own process; a small TCP proxy in front of it (FaultProxy, in a
  process of its own too) can take the store down (listener closed, open connections reset, so
  clients are refused at once, like an outage) and bring it back with moto's state intact, and can
  delay every request to make a slow store.
- Rig creates the bucket, seeds people, images, posts and share links through an in-process
  Portal, and runs portal instances as `python -m toolkit serve --workers N` subprocesses that it
  can kill hard (SIGKILL to the whole process group) and start again.
- LoadGenerator sends an open-loop mixed workload spread over the instances in rotation and
  records per endpoint counts, errors and latencies; what it creates goes into the rig's Ledger.
- Rig.check_integrity compares the ledger with what the bucket holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import boto3
import httpx
from botocore.exceptions import ClientError
from PIL import Image, ImageDraw

from toolkit.assets import UploadedFile
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.web.access import session_codec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parent.parent
SECRET = "load-test-secret-" + "k" * 32
BUCKET_PREFIX = "portal"
# Share clicks come from another person each (one person counts once per link and day), also
# across the load generators of one run.
_PEOPLE = itertools.count()
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
OUTAGE_CODE = "store_unavailable"
OUTAGE_MESSAGE = "The storage service is not reachable right now. Try again in a moment."
RENDER_QUERY = "preset=linkedin-landscape&format=jpeg"
CHUNK = 64 * 1024
# boto3 needs credentials to sign requests; moto accepts any. Never a developer's real ones.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def photo(seed: int, size: tuple[int, int]) -> bytes:
    """A JPEG with colour fields and shapes, distinct for every seed."""
    rng = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(width // 20, width // 5)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def small_upload(seed: int) -> bytes:
    """A small JPEG of noise: cheap to process, and its bytes (so its sha256) differ for every seed."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (96, 64), rng.randbytes(96 * 64 * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


# The store and the faults in front of it


class MotoServer:
    """moto's S3 server in its own process, so the portals and the load generator never share its GIL."""

    def __init__(self, log: IO[bytes]) -> None:
        self.port = free_port()
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **AWS_ENV},
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port) or self._exited(), 60, "the S3 server to listen")
        if self._exited():
            raise RuntimeError("the S3 server stopped at start-up; see its log")

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def stop(self) -> None:
        if self._process is not None:
            _stop_group(self._process, timeout=10)
            self._process = None


class FaultProxy:
    """A TCP proxy in front of the S3 server that can play an outage or a slow store.

    Its event loop runs in its own thread so the faults it plays never depend on the caller's loop.
    It accepts connections itself (no asyncio.Server): closing a Server while a connection is
    being accepted leaks that connection's socket on Python 3.11, and a leaked socket is a client
    left hanging instead of refused.
    """

    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        # Added before every chunk the client sends, so every store request takes at least this long.
        self.latency = 0.0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="store-proxy", daemon=True)
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def _listening(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        self._thread.start()
        self.up()

    def up(self) -> None:
        """Listen again; moto kept every object meanwhile."""
        self._call(self._listen())

    def down(self) -> None:
        """Stop listening and reset every open connection: new connections are refused at once."""
        self._call(self._drop())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._drop())
            self._call(self._finish())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                await asyncio.sleep(0.05)
        listener.listen(1024)
        listener.setblocking(False)
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept, listener)

    def _accept(self, listener: socket.socket) -> None:
        """Take every waiting connection (a plain callback: nothing accepted can get lost)."""
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # BlockingIOError: none left
                return
            connection.setblocking(False)
            task = self._loop.create_task(self._serve(connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            self._loop.remove_reader(listener.fileno())
            # Connections still in the backlog are reset by the kernel when the listener closes.
            listener.close()
        for client, upstream in list(self._pipes):
            _reset(client)
            _reset(upstream)
        self._pipes.clear()

    async def _finish(self) -> None:
        """Let every connection task see its reset and end (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _serve(self, connection: socket.socket) -> None:
        if not self._listening():
            _reset_socket(connection)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset_socket(connection)
            return
        try:
            reader, writer = await asyncio.open_connection(sock=connection)
        except OSError:
            _reset_socket(connection)
            up_writer.close()
            return
        pipe = (writer, up_writer)
        if not self._listening():
            # Went down while this connection was being set up: it is reset like the others.
            _reset(writer)
            _reset(up_writer)
            return
        self.connections += 1
        self._pipes.add(pipe)
        try:
            await asyncio.gather(self._pump(reader, up_writer, slow=True), self._pump(up_reader, writer))
        finally:
            self._pipes.discard(pipe)
            for end in pipe:
                end.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool = False
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if slow and self.latency > 0:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            # The other side went away (or was reset by down()): the pipe is over.
            pass


def _reset_socket(sock: socket.socket) -> None:
    """Close with a TCP reset, as a crashed server's kernel would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ProxyProcess:
    """FaultProxy in a process of its own, driven over stdin: it never shares a GIL with the load
    generator, so a burst of store traffic through it does not show up as portal latency."""

    def __init__(self, upstream_port: int, log: IO[bytes]) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.loadkit", "proxy", str(upstream_port), str(self.port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._command("ping")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self._command("up")

    def down(self) -> None:
        self._command("down")

    def set_latency(self, seconds: float) -> None:
        self._command(f"latency {seconds}")

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self._command("close")
        _stop_group(self._process, timeout=10)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()

    def _command(self, line: str) -> None:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(line.encode() + b"\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline().strip()
        if answer != b"ok":
            raise RuntimeError(f"store proxy did not confirm {line!r}: {answer!r}")


def _proxy_main(upstream_port: int, port: int) -> None:
    """The proxy process: one command a line on stdin (up, down, latency S, close), 'ok' for each."""
    proxy = FaultProxy(upstream_port, port)
    proxy.start()
    for raw in sys.stdin:
        command, _, argument = raw.strip().partition(" ")
        if command == "up":
            proxy.up()
        elif command == "down":
            proxy.down()
        elif command == "latency":
            proxy.set_latency(float(argument))
        elif command == "close":
            proxy.close()
            print("ok", flush=True)
            return
        print("ok", flush=True)
    proxy.close()


# Portal instances


def _stop_group(process: subprocess.Popen[bytes], *, timeout: float, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class PortalInstance:
    """`python -m toolkit serve --workers N` in its own process group, like one host."""

    def __init__(self, index: int, env: dict[str, str], workers: int, log: IO[bytes]) -> None:
        self.index = index
        self.port = free_port()
        self.env = env | {"TOOLKIT_BASE_URL": f"http://127.0.0.1:{self.port}"}
        self.workers = workers
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "toolkit", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the health check answers 200 (the store answered a worker)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"portal instance {self.index} exited at start-up; see its log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"portal instance {self.index} not healthy after {timeout:.0f} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the server and every worker at once: nothing gets to flush or say goodbye."""
        if self.process is not None:
            _stop_group(self.process, timeout=10, sig=signal.SIGKILL)
            self.process = None
        wait_for(lambda: not port_open(self.port), 10, f"instance {self.index} to stop listening")

    def stop(self) -> None:
        """A graceful stop (SIGTERM): workers finish, flush their counters and exit."""
        if self.process is not None:
            _stop_group(self.process, timeout=30)
            self.process = None


# What the load generator did, for the integrity check


@dataclass(frozen=True)
class Edit:
    post_id: str
    title: str
    sent_at: float
    done_at: float
    version: str = ""


@dataclass(frozen=True)
class Use:
    """A request that counts one event (a click or a copy) on an instance."""

    metric: str
    instance: int
    done_at: float


@dataclass
class Ledger:
    """What the load generator believes it did to the store."""

    uploads: dict[str, str] = field(default_factory=dict)  # sha256 -> asset id, confirmed
    uncertain_uploads: set[str] = field(default_factory=set)  # no answer: may or may not exist
    edits: dict[str, list[Edit]] = field(default_factory=lambda: defaultdict(list))
    uncertain_edits: dict[str, list[Edit]] = field(default_factory=lambda: defaultdict(list))
    uses: list[Use] = field(default_factory=list)
    uncertain_uses: Counter[str] = field(default_factory=Counter)
    kills: list[tuple[int, float]] = field(default_factory=list)  # (instance, monotonic time)
    # Numbers for edit titles and upload contents, unique over every generator run on the rig.
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@dataclass(frozen=True)
class Seeded:
    """The content every run starts from."""

    marketing_tokens: tuple[str, ...]
    employee_tokens: tuple[str, ...]
    employee_cookies: tuple[str, ...]  # Cookie header values of signed-in employee sessions
    asset_ids: tuple[str, ...]
    post_ids: tuple[str, ...]  # approved, with images and links
    share_tokens: tuple[str, ...]
    edited_posts: tuple[str, ...]  # what the editors fight over
    quiet_post: str  # edited only by checks (the catch-up check after a restart)


@dataclass
class Integrity:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def ok(self, line: str) -> None:
        self.lines.append(f"ok    {line}")

    def fail(self, line: str) -> None:
        self.lines.append(f"FAIL  {line}")
        self.failures.append(line)

    def check(self, condition: bool, line: str) -> None:
        (self.ok if condition else self.fail)(line)

    @property
    def passed(self) -> bool:
        return not self.failures

    def report(self) -> str:
        return "\n".join(self.lines)


class Rig:
    """An S3 server behind a fault proxy, seeded content and portal instances on it."""

    def __init__(
        self,
        workdir: Path,
        *,
        instances: int = 2,
        workers: int = 2,
        refresh_seconds: float = 1.0,
        flush_seconds: float = 2.0,
        checkpoint_every: int = 10,
    ) -> None:
        self.workdir = workdir
        # Small, so checkpoints and the journal collection they trigger happen during the load.
        self.checkpoint_every = checkpoint_every
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.refresh_seconds = refresh_seconds
        self.flush_seconds = flush_seconds
        self.bucket = "load-" + hashlib.sha256(str(workdir).encode()).hexdigest()[:10]
        self._logs: list[IO[bytes]] = []
        self.moto = MotoServer(self._log("s3.log"))
        self.proxy: ProxyProcess | None = None
        self.instance_count = instances
        self.workers = workers
        self.instances: list[PortalInstance] = []
        self.in_rotation: list[bool] = []
        self.ledger = Ledger()
        self.seeded: Seeded | None = None
        self._s3: S3Client | None = None
        self.outages: list[tuple[float, float]] = []  # (down, up) monotonic; up = inf while down

    def _log(self, name: str) -> IO[bytes]:
        log = open(self.workdir / name, "ab")  # closed in close()
        self._logs.append(log)
        return log

    # Starting and stopping

    def start(self) -> None:
        for name, value in AWS_ENV.items():
            os.environ.setdefault(name, value)
        self.moto.start()
        self.proxy = ProxyProcess(self.moto.port, self._log("proxy.log"))
        self._s3 = boto3.client("s3", endpoint_url=self.moto.url, region_name="us-east-1")
        self._s3.create_bucket(Bucket=self.bucket)
        self.seeded = self._seed()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKIT_")}
        env |= AWS_ENV | {
            "TOOLKIT_STORE": f"s3://{self.bucket}/{BUCKET_PREFIX}",
            "TOOLKIT_S3_ENDPOINT_URL": self.proxy.url,
            "TOOLKIT_SECRET_KEY": SECRET,
            "TOOLKIT_REFRESH_SECONDS": str(self.refresh_seconds),
            "TOOLKIT_COUNTER_FLUSH_SECONDS": str(self.flush_seconds),
            "TOOLKIT_CHECKPOINT_EVERY": str(self.checkpoint_every),
            "PYTHONUNBUFFERED": "1",
        }
        for index in range(self.instance_count):
            instance = PortalInstance(index, env, self.workers, self._log(f"portal-{index}.log"))
            instance.start()
            self.instances.append(instance)
            self.in_rotation.append(False)
        for instance in self.instances:
            instance.wait_ready()
            self.in_rotation[instance.index] = True
        self._warm()

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.moto.stop()
        for log in self._logs:
            log.close()

    def __enter__(self) -> Rig:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def store_settings(self, instance_id: str) -> Settings:
        """Settings of an in-process instance on the rig's store (through the proxy)."""
        assert self.proxy is not None
        return Settings.from_env(
            {},
            store=f"s3://{self.bucket}/{BUCKET_PREFIX}",
            s3_endpoint_url=self.proxy.url,
            secret_key=SECRET,
            instance_id=instance_id,
        )

    def _seed(self) -> Seeded:
        """People, approved images, hashtags, approved posts and share links, via an in-process portal."""
        portal = Portal(self.store_settings("load-seed"))
        portal.start()
        try:
            editors = [
                portal.accounts.add(f"editor{n}@example.com", role="marketing", name=f"Editor {n}")
                for n in range(2)
            ]
            employees = [
                portal.accounts.add(
                    f"employee{n}@example.com", role="employee", name=f"Employee {n}", job_title="Engineer"
                )
                for n in range(4)
            ]
            tags = portal.hashtag_sets.create(
                {"name": "Company", "hashtags": ["#LoadTest", "#WeAreHiring"]}, editors[0]
            )
            assets = []
            for n in range(3):
                path = self.workdir / f"seed-{n}.jpg"
                data = photo(n, (1600, 1000))
                path.write_bytes(data)
                upload = UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), path.name)
                asset, _ = portal.assets.add_upload(upload, actor=editors[0], title=f"Seed photo {n}")
                portal.assets.update(
                    asset.id, {"status": "approved", "alt_text": f"Seed photo {n}"}, actor=editors[0]
                )
                assets.append(asset.id)
            posts = []
            for n in range(4):
                values = {
                    "title": f"Load post {n}",
                    "campaign": "Load",
                    "variants": [
                        {"language": "en", "tone": "warm", "text": f"Proud of our team, story {n}."},
                        {"language": "en", "tone": "short", "text": f"Story {n}: we did it."},
                    ],
                    "hashtag_set_ids": [tags.id],
                    "asset_id": assets[n % len(assets)],
                    "link": f"https://example.com/news/{n}",
                }
                post = portal.posts.create(values, editors[0])
                portal.posts.approve(post.id, editors[0])
                posts.append(post)
            share_tokens = [
                portal.sharing.link_for(portal.posts.require(post.id), employee).token
                for post in posts[:3]
                for employee in employees
            ]
            codec = session_codec(SECRET, portal.settings.session_days)
            cookies = tuple(
                f"toolkit_session={codec.encode(e.id, e.session_epoch)}; toolkit_csrf=load-csrf"
                for e in employees
            )
            return Seeded(
                marketing_tokens=tuple(portal.accounts.create_token(e, "load").secret for e in editors),
                employee_tokens=tuple(portal.accounts.create_token(e, "load").secret for e in employees),
                employee_cookies=cookies,
                asset_ids=tuple(assets),
                post_ids=tuple(p.id for p in posts),
                share_tokens=tuple(share_tokens),
                edited_posts=(posts[0].id, posts[1].id),
                quiet_post=posts[3].id,
            )
        finally:
            portal.close()

    def _warm(self) -> None:
        """Render each image once and let every worker see it, so 'cached renditions' are cached."""
        assert self.seeded is not None
        headers = {"authorization": f"Bearer {self.seeded.employee_tokens[0]}"}
        for instance in self.instances:
            for asset_id in self.seeded.asset_ids:
                for _ in range(2 * self.workers):
                    url = f"{instance.url}/api/v1/assets/{asset_id}/render?{RENDER_QUERY}"
                    httpx.get(url, headers=headers, timeout=60).raise_for_status()

    # Faults

    def store_down(self) -> None:
        assert self.proxy is not None
        self.outages.append((time.monotonic(), float("inf")))
        self.proxy.down()

    def store_up(self) -> None:
        assert self.proxy is not None
        self.proxy.up()
        down, _ = self.outages[-1]
        self.outages[-1] = (down, time.monotonic())

    def slow_store(self, seconds: float) -> None:
        """Add this much latency to every store request (0 to stop)."""
        assert self.proxy is not None
        self.proxy.set_latency(seconds)

    def kill(self, index: int) -> float:
        """Kill instance index hard and take it out of rotation (as a load balancer notices)."""
        at = time.monotonic()
        self.ledger.kills.append((index, at))
        self.in_rotation[index] = False
        self.instances[index].kill()
        return at

    def restart(self, index: int) -> None:
        """Start a killed instance again; it joins the rotation once healthy."""
        instance = self.instances[index]
        instance.start()
        instance.wait_ready()
        self.in_rotation[index] = True

    # Looking at the bucket directly (not through the proxy, so faults never hide the truth)

    @property
    def s3(self) -> S3Client:
        """A client straight to the S3 server (not through the proxy)."""
        assert self._s3 is not None
        return self._s3

    def _keys(self, prefix: str) -> Iterator[tuple[str, str]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        full = f"{BUCKET_PREFIX}/{prefix}"
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for item in page.get("Contents", []):
                yield item["Key"][len(BUCKET_PREFIX) + 1 :], item["ETag"].strip('"')

    def _read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=f"{BUCKET_PREFIX}/{key}")["Body"].read()
        return body

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=f"{BUCKET_PREFIX}/{key}")
        except ClientError:
            return False
        return True

    def counted(self, metric: str) -> int:
        """The sum of one metric over every instance's flushed counter objects."""
        total = 0
        for key, _ in self._keys("counters/"):
            counts = json.loads(self._read(key)).get("counts", {})
            total += sum(int(v) for k, v in counts.items() if k.split("|", 1)[0] == metric)
        return total

    def may_be_lost(self, metric: str) -> int:
        """Events of metric answered by an instance shortly before it was killed: not flushed yet.

        A worker flushes every interval; the last flush that completed before a kill took its
        snapshot at most two intervals (plus the time a flush takes) before it.
        """
        window = 2 * self.flush_seconds + 1.0
        return sum(
            1
            for use in self.ledger.uses
            if use.metric == metric
            and any(use.instance == i and at - window <= use.done_at <= at for i, at in self.ledger.kills)
        )

    def settle_counters(self, metric: str) -> int:
        """The count in the store once every live instance has flushed what it counted.

        Returns as soon as everything answered is there; otherwise once a few flush intervals have
        passed since the last counted request (what is missing then was lost), waiting longer only
        while the count is still below what may be lost.
        """
        answered = [use.done_at for use in self.ledger.uses if use.metric == metric]
        upper = len(answered) + self.ledger.uncertain_uses[metric]
        lower = len(answered) - self.may_be_lost(metric)
        settled = max(answered, default=0.0) + 2 * self.flush_seconds + 2
        give_up = max(settled, time.monotonic()) + 15
        while True:
            found = self.counted(metric)
            now = time.monotonic()
            if found >= upper or (now > settled and found >= lower) or now > give_up:
                return found
            time.sleep(0.25)

    def check_integrity(self) -> Integrity:
        """What the load generator believes it did against what the bucket holds."""
        result = Integrity()
        self._check_objects(result)
        self._check_uploads(result)
        self._check_edits(result)
        for metric in ("click", "copy"):
            self._check_counter(result, metric)
        self._check_instances_agree(result)
        self._check_journal(result)
        return result

    def _check_instances_agree(self, result: Integrity) -> None:
        """Every serving instance (each worker: asked repeatedly, the port spreads requests) holds
        every edited post at the version the bucket holds, once a refresh interval has passed."""
        assert self.seeded is not None
        time.sleep(2 * self.refresh_seconds + 0.5)
        headers = {"authorization": f"Bearer {self.seeded.marketing_tokens[0]}"}
        stale = []
        asked = 0
        for post_id in self.seeded.edited_posts:
            key = f"records/posts/{post_id}.json"
            version = dict(self._keys(key))[key]
            for instance, serving in zip(self.instances, self.in_rotation, strict=True):
                if not serving:
                    continue
                for _ in range(4 * self.workers):
                    asked += 1
                    seen = httpx.get(f"{instance.url}/api/v1/posts/{post_id}", headers=headers, timeout=30)
                    if seen.status_code != 200 or seen.json().get("version") != version:
                        stale.append(f"{post_id} on instance {instance.index}")
        result.check(
            not stale,
            f"every instance serves each edited post at the bucket's version ({asked} requests)"
            + (f"; stale: {', '.join(sorted(set(stale))[:5])}" if stale else ""),
        )

    def _check_journal(self, result: Integrity) -> None:
        """Checkpoints were written and the journal collected behind them while the load ran."""
        pointer = json.loads(self._read("checkpoints/latest.json"))
        first = next(self._keys("journal/"), None)
        first_seq = int(first[0][len("journal/") : -len(".json")]) if first else 0
        result.check(
            pointer["seq"] > 0 and first_seq > 1,
            f"checkpoint at journal position {pointer['seq']} ({pointer['records']} records); "
            f"journal collected up to {first_seq - 1}",
        )

    def _check_objects(self, result: Integrity) -> None:
        bad = []
        count = 0
        for prefix in ("records/", "counters/", "audit/"):
            for key, _ in self._keys(prefix):
                count += 1
                try:
                    if not isinstance(json.loads(self._read(key)), dict):
                        bad.append(key)
                except ValueError:
                    bad.append(key)
        result.check(
            not bad,
            f"{count} record, counter and audit objects are whole JSON objects"
            + (f"; unparseable: {', '.join(bad[:5])}" if bad else ""),
        )

    def _check_uploads(self, result: Integrity) -> None:
        assets: dict[str, dict[str, Any]] = {}
        for key, _ in self._keys("records/assets/"):
            assets[key.rsplit("/", 1)[1][: -len(".json")]] = json.loads(self._read(key))
        by_sha: dict[str, list[str]] = defaultdict(list)
        for asset_id, data in assets.items():
            by_sha[data.get("sha256", "")].append(asset_id)
        duplicated = {sha: ids for sha, ids in by_sha.items() if len(ids) > 1}
        result.check(not duplicated, f"{len(assets)} assets in the store, none with the same bytes twice")
        missing = [sha for sha, asset_id in self.ledger.uploads.items() if by_sha.get(sha) != [asset_id]]
        result.check(
            not missing,
            f"{len(self.ledger.uploads)} uploads the generator saw succeed exist exactly once, under their id"
            + (f"; missing or different: {len(missing)}" if missing else ""),
        )
        claims_wrong = [
            sha
            for sha, asset_id in self.ledger.uploads.items()
            if json.loads(self._read(f"records/asset-hashes/{sha}.json")).get("asset_id") != asset_id
        ]
        result.check(not claims_wrong, "each of their sha256 claims points at that asset")
        uncertain = self.ledger.uncertain_uploads - set(self.ledger.uploads)
        present = sum(1 for sha in uncertain if sha in by_sha)
        result.ok(
            f"{len(uncertain)} uploads without a clear answer (outage, kill): {present} stored, "
            f"{len(uncertain) - present} not; none twice"
        )
        dangling = []
        for asset_id, data in assets.items():
            keys = [data.get("original_key"), data.get("master_key"), *(data.get("thumbs") or {}).values()]
            dangling += [f"{asset_id}:{k}" for k in keys if not k or not self._exists(str(k))]
        result.check(
            not dangling,
            "every asset record's original, master and thumbnails exist"
            + (f"; missing: {', '.join(dangling[:5])}" if dangling else ""),
        )

    def _check_edits(self, result: Integrity) -> None:
        """Each post holds the edit that wrote its current version, and no confirmed edit is lost.

        Titles are unique per edit, so the stored title names the edit that wrote it. An edit that
        was sent after that one had been answered must have come later: if it was confirmed too,
        its write was lost.
        """
        wrong = []
        for post_id, edits in self.ledger.edits.items():
            data = json.loads(self._read(f"records/posts/{post_id}.json"))
            etag = dict(self._keys(f"records/posts/{post_id}.json"))[f"records/posts/{post_id}.json"]
            title = data.get("title")
            final = next((e for e in edits if e.title == title), None)
            if final is None:
                final = next(
                    (e for e in self.ledger.uncertain_edits.get(post_id, []) if e.title == title), None
                )
                if final is None:
                    wrong.append(f"{post_id}: {title!r} is no edit the generator made")
                    continue
            elif final.version.strip('"') != etag:
                wrong.append(f"{post_id}: {title!r} at version {etag}, its edit saw {final.version}")
            later = [e.title for e in edits if e.sent_at > final.done_at]
            if later:
                wrong.append(f"{post_id}: holds {title!r} but {later[-1]!r} was saved after it")
        total = sum(len(e) for e in self.ledger.edits.values())
        result.check(
            not wrong,
            f"{len(self.ledger.edits)} edited posts hold their last saved edit, at its version "
            f"({total} edits, no confirmed edit lost)" + (f"; wrong: {'; '.join(wrong)}" if wrong else ""),
        )

    def _check_counter(self, result: Integrity, metric: str) -> None:
        answered = sum(1 for use in self.ledger.uses if use.metric == metric)
        uncertain = self.ledger.uncertain_uses[metric]
        lost = self.may_be_lost(metric)
        found = self.settle_counters(metric)
        low, high = answered - lost, answered + uncertain
        result.check(
            low <= found <= high,
            f"{metric}: {found} counted in the store; {answered} answered"
            + (f", of which {lost} by a killed instance within its last flush interval" if lost else "")
            + (f", plus {uncertain} without an answer" if uncertain else "")
            + f" (allowed {low}..{high})",
        )


# The load generator


@dataclass
class EndpointStats:
    count: int = 0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # ms, of every answered request
    errors: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)

    def add(self, other: EndpointStats) -> None:
        self.count += other.count
        self.ok += other.ok
        self.latencies += other.latencies
        self.errors.update(other.errors)
        self.expected.update(other.expected)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True)
class Answer:
    endpoint: str
    instance: int
    sent_at: float
    done_at: float
    response: httpx.Response | None
    failure: str = ""  # connection error or timeout, when there is no response

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 0


# Share of the open-loop rate per endpoint; uploads and edits run in loops of their own.
MIX: dict[str, int] = {
    "feed page": 28,
    "feed api": 12,
    "rendition": 22,
    "copy": 14,
    "copy surprise": 4,
    "share click": 15,
    "share gone": 2,
    "health": 3,
}
ENDPOINTS = [*MIX, "upload", "edit"]
# Requests that never need the store once an instance is warm: they must stay fast whatever it does.
IN_MEMORY = ("feed page", "feed api", "rendition", "copy", "share click")


class LoadGenerator:
    """An open-loop mixed workload at a target rate, spread over the instances in rotation."""

    def __init__(
        self,
        rig: Rig,
        rate: float,
        *,
        upload_every: float = 2.0,
        editors: int = 2,
        edit_pause: float = 0.5,
        timeout: float = 30.0,
        outage_grace: float = 3.0,
        max_in_flight: int = 256,
        seed: int = 7,
    ) -> None:
        assert rig.seeded is not None
        self.rig = rig
        self.seeded = rig.seeded
        self.rate = rate
        self.upload_every = upload_every
        self.editor_count = editors
        self.edit_pause = edit_pause
        self.timeout = timeout
        self.outage_grace = outage_grace
        # Past this many unanswered requests the rest are counted as not sent: a backlog without
        # bound would end up measuring the generator's own overload (thousands of connections in
        # one Python process), and the machine would not recover while the run lasts.
        self.max_in_flight = max_in_flight
        self.rng = random.Random(seed)
        self.phase = "load"
        self.stats: dict[tuple[str, str], EndpointStats] = defaultdict(EndpointStats)
        # Latencies (ms) per phase and instance, to tell a slow instance from a slow machine.
        self.by_instance: dict[tuple[str, int], list[float]] = defaultdict(list)
        self.dropped = 0
        self.lags: list[float] = []
        self.started = 0.0
        self.phase_times: list[tuple[str, float]] = []
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._round_robin = itertools.count()
        self._kinds = list(MIX)
        self._weights = list(MIX.values())

    # Running

    async def __aenter__(self) -> LoadGenerator:
        # No cookie jar: every request carries exactly the cookies it means to (a fresh browser per click).
        self._client = httpx.AsyncClient(
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=200),
            cookies=_NoCookies(),
            follow_redirects=False,
            headers={"user-agent": BROWSER},
        )
        self.started = time.monotonic()
        self.set_phase(self.phase)
        self._tasks = [asyncio.create_task(self._open_loop())]
        if self.upload_every > 0:
            self._tasks.append(asyncio.create_task(self._uploader()))
        for editor in range(self.editor_count):
            self._tasks.append(asyncio.create_task(self._editor(editor)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self.timeout + 5)
        assert self._client is not None
        await self._client.aclose()

    def set_phase(self, name: str) -> None:
        """Later requests are reported under this name (a fault, or normal load)."""
        self.phase = name
        self.phase_times.append((name, time.monotonic()))

    async def hold(self, seconds: float) -> None:
        """Let the load run for a while."""
        await asyncio.sleep(seconds)

    async def _open_loop(self) -> None:
        interval = 1.0 / self.rate
        due = time.perf_counter()
        while not self._stopping.is_set():
            now = time.perf_counter()
            if now - due > 1.0:
                # The generator itself fell a second behind (a starved machine): what it could not
                # send in time is reported as not sent, instead of a burst that never catches up.
                missed = int((now - due) / interval)
                self.dropped += missed
                due += missed * interval
            while due <= now:
                self.lags.append((now - due) * 1000)
                if len(self._in_flight) >= self.max_in_flight:
                    self.dropped += 1
                else:
                    kind = self.rng.choices(self._kinds, self._weights)[0]
                    task = asyncio.create_task(self._one(kind))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                due += interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    def _target(self) -> PortalInstance:
        live = [i for i in self.rig.instances if self.rig.in_rotation[i.index]]
        return live[next(self._round_robin) % len(live)]

    async def send(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        instance: PortalInstance | None = None,
        **kwargs: Any,
    ) -> Answer:
        """One request to an instance in rotation (or the one given), timed."""
        assert self._client is not None
        target = instance or self._target()
        sent = time.monotonic()
        try:
            response = await self._client.request(method, f"{target.url}{path}", **kwargs)
        except httpx.TimeoutException as exc:
            return Answer(
                endpoint, target.index, sent, time.monotonic(), None, f"timeout ({type(exc).__name__})"
            )
        except httpx.TransportError as exc:
            return Answer(
                endpoint, target.index, sent, time.monotonic(), None, f"connection ({type(exc).__name__})"
            )
        return Answer(endpoint, target.index, sent, time.monotonic(), response)

    # The workload

    def _employee(self) -> int:
        return self.rng.randrange(len(self.seeded.employee_tokens))

    def _bearer(self, token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    async def _one(self, kind: str) -> None:
        s = self.seeded
        who = self._employee()
        employee = self._bearer(s.employee_tokens[who])
        post = self.rng.choice(s.post_ids)
        if kind == "feed page":
            answer = await self.send(kind, "GET", "/", headers={"cookie": s.employee_cookies[who]})
            self.record(answer, ok=_good(answer, 200, lambda r: "Load post" in r.text))
        elif kind == "feed api":
            answer = await self.send(kind, "GET", "/api/v1/posts", headers=employee)
            self.record(answer, ok=_good(answer, 200, lambda r: r.json()["total"] >= 1))
        elif kind == "rendition":
            path = f"/api/v1/assets/{self.rng.choice(s.asset_ids)}/render?{RENDER_QUERY}"
            answer = await self.send(kind, "GET", path, headers=employee)
            self.record(answer, ok=_good(answer, 200, lambda r: r.content[:2] == b"\xff\xd8"))
        elif kind in ("copy", "copy surprise"):
            path = f"/api/v1/posts/{post}/copy" + ("?surprise=1" if kind == "copy surprise" else "")
            answer = await self.send(kind, "GET", path, headers=employee)
            self.record(answer, ok=_good(answer, 200, lambda r: "text" in r.json()), counts="copy")
        elif kind == "share click":
            # Each click from another person: one person is counted once per link and day.
            person = {"user-agent": f"{BROWSER} load/{next(_PEOPLE)}"}
            answer = await self.send(kind, "GET", f"/s/{self.rng.choice(s.share_tokens)}", headers=person)
            ok = _good(
                answer, 303, lambda r: r.headers.get("location", "").startswith("https://example.com/")
            )
            self.record(answer, ok=ok, counts="click")
        elif kind == "share gone":
            # A well-formed token nobody made: the instance must ask the store before answering 410.
            answer = await self.send(kind, "GET", f"/s/{'x' * 22}")
            self.record(answer, ok=_good(answer, 410))
        elif kind == "health":
            answer = await self.send(kind, "GET", "/api/v1/health")
            self.record(answer, ok=_good(answer, 200))
        else:
            raise ValueError(kind)

    async def _uploader(self) -> None:
        token = self.seeded.marketing_tokens[0]
        while not await self._pause(self.upload_every):
            await self.upload(token)

    async def upload(self, token: str, instance: PortalInstance | None = None) -> str | None:
        """Upload a fresh small JPEG; its sha256 goes into the ledger. The asset id, if answered."""
        data = small_upload(next(self.rig.ledger.numbers))
        sha = hashlib.sha256(data).hexdigest()
        answer = await self.send(
            "upload",
            "POST",
            "/api/v1/assets",
            instance=instance,
            headers=self._bearer(token),
            files={"file": (f"load-{sha[:8]}.jpg", data, "image/jpeg")},
            data={"title": f"Load upload {sha[:8]}", "tags": "load"},
        )
        ok = answer.status in (200, 201)
        if ok and answer.response is not None:
            body = answer.response.json()
            if body.get("sha256") == sha:
                self.rig.ledger.uploads[sha] = body["id"]
                self.record(answer, ok=True)
                return str(body["id"])
            ok = False
        self.rig.ledger.uncertain_uploads.add(sha)
        self.record(answer, ok=ok)
        return None

    async def _editor(self, editor: int) -> None:
        token = self.seeded.marketing_tokens[editor % len(self.seeded.marketing_tokens)]
        while not await self._pause(self.edit_pause * (0.5 + self.rng.random())):
            post_id = self.rng.choice(self.seeded.edited_posts)
            await self.edit(token, post_id, f"editor {editor}")

    async def edit(
        self,
        token: str,
        post_id: str,
        who: str,
        *,
        instance: PortalInstance | None = None,
        attempts: int = 20,
    ) -> str | None:
        """Retitle a post with If-Match, retrying a lost race with the fresh version. The title, if saved."""
        title = f"Load post edit {next(self.rig.ledger.numbers)} by {who}"
        for _ in range(attempts):
            current = await self.send(
                "edit", "GET", f"/api/v1/posts/{post_id}", instance=instance, headers=self._bearer(token)
            )
            if current.status != 200 or current.response is None:
                self.record(current, ok=False)
                return None
            answer = await self.send(
                "edit",
                "PATCH",
                f"/api/v1/posts/{post_id}",
                instance=instance,
                headers=self._bearer(token) | {"if-match": current.response.headers["etag"]},
                json={"title": title},
            )
            if answer.status == 412:
                # Another edit came first: the other editor's, maybe one this GET's instance had not
                # seen yet (instances converge within the refresh interval).
                self.record(answer, ok=False, expected="412 stale version, retried")
                continue
            if (
                answer.status == 200
                and answer.response is not None
                and answer.response.json()["title"] == title
            ):
                self.rig.ledger.edits[post_id].append(
                    Edit(
                        post_id,
                        title,
                        answer.sent_at,
                        answer.done_at,
                        answer.response.headers.get("etag", ""),
                    )
                )
                self.record(answer, ok=True)
                return title
            self.rig.ledger.uncertain_edits[post_id].append(
                Edit(post_id, title, answer.sent_at, answer.done_at)
            )
            self.record(answer, ok=False)
            return None
        return None

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless the run ends first; True when it has ended."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    # Judging answers

    def record(self, answer: Answer, *, ok: bool, counts: str = "", expected: str = "") -> None:
        """File the answer under its endpoint and phase: ok, an expected failure, or an error."""
        stats = self.stats[(self.phase, answer.endpoint)]
        stats.count += 1
        if answer.response is not None:
            stats.latencies.append((answer.done_at - answer.sent_at) * 1000)
            self.by_instance[(self.phase, answer.instance)].append(stats.latencies[-1])
        if counts:
            if ok:
                self.rig.ledger.uses.append(Use(counts, answer.instance, answer.done_at))
            elif answer.response is None or answer.status >= 500:
                # The instance may have counted it before the answer was lost.
                self.rig.ledger.uncertain_uses[counts] += 1
        if ok:
            stats.ok += 1
            return
        reason = expected or self._excuse(answer)
        if reason:
            stats.expected[reason] += 1
        else:
            stats.errors[answer.failure or f"HTTP {answer.status}"] += 1

    def _excuse(self, answer: Answer) -> str:
        """Why this failure is what the fault in play should cause, or '' when it is an error."""
        if answer.response is not None and answer.status == 503 and self._during_outage(answer):
            return "503 during store outage" if outage_message_ok(answer.response) else ""
        if answer.response is None or answer.status >= 500:
            for index, at in self.rig.ledger.kills:
                if index == answer.instance and answer.done_at >= at and answer.sent_at <= at + 1:
                    return "in flight on the killed instance"
        return ""

    def _during_outage(self, answer: Answer) -> bool:
        return any(
            answer.sent_at <= up + self.outage_grace and answer.done_at >= down
            for down, up in self.rig.outages
        )

    # Reporting

    def totals(self, phases: tuple[str, ...] | None = None) -> dict[str, EndpointStats]:
        merged: dict[str, EndpointStats] = {}
        for (phase, endpoint), stats in self.stats.items():
            if phases is None or phase in phases:
                merged.setdefault(endpoint, EndpointStats()).add(stats)
        return merged

    def errors(self, phases: tuple[str, ...] | None = None) -> int:
        return sum(s.error_count for s in self.totals(phases).values())

    def phase_seconds(self, name: str) -> float:
        """How long a phase lasted (all its stretches)."""
        seconds = 0.0
        marks = [*self.phase_times, ("", time.monotonic())]
        for (phase, start), (_, end) in itertools.pairwise(marks):
            if phase == name:
                seconds += end - start
        return seconds


def _good(answer: Answer, status: int, check: Callable[[httpx.Response], bool] | None = None) -> bool:
    """The answer has this status and passes the check on its body."""
    if answer.response is None or answer.status != status:
        return False
    try:
        return check is None or check(answer.response)
    except ValueError:
        return False


class _NoCookies(CookieJar):
    """A jar that keeps nothing, so every request carries exactly the cookies it is given: each share
    click comes from a fresh browser (the portal counts one click per browser and link a day)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def outage_message_ok(response: httpx.Response) -> bool:
    """A 503 that says plainly what is wrong: the JSON error shape under /api/, the page elsewhere."""
    if response.headers.get("retry-after") is None:
        return False
    if response.headers.get("content-type", "").startswith("application/json"):
        error = response.json().get("error", {})
        return bool(error.get("code") == OUTAGE_CODE and error.get("message") == OUTAGE_MESSAGE)
    return OUTAGE_MESSAGE in response.text


def table(stats: dict[str, EndpointStats], seconds: float) -> str:
    """Per endpoint: requests, rps, p50/p95/p99 ms, errors and expected failures."""
    heads = f"{'requests':>8} {'rps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    rows = [f"{'endpoint':<14} {heads}  expected"]
    total = EndpointStats()
    for name in [*ENDPOINTS, *sorted(set(stats) - set(ENDPOINTS))]:
        if name not in stats:
            continue
        s = stats[name]
        total.add(s)
        rows.append(_row(name, s, seconds))
    rows.append(_row("all", total, seconds))
    return "\n".join(rows)


def _row(name: str, s: EndpointStats, seconds: float) -> str:
    expected = ", ".join(f"{n} {why}" for why, n in s.expected.items())
    line = (
        f"{name:<14} {s.count:>8} {s.count / seconds if seconds else 0:>7.1f} "
        f"{percentile(s.latencies, 50):>8.1f} {percentile(s.latencies, 95):>8.1f} "
        f"{percentile(s.latencies, 99):>8.1f} {s.error_count:>6}  {expected}"
    )
    if s.errors:
        line += "\n" + " " * 16 + "errors: " + ", ".join(f"{n}x {why}" for why, n in s.errors.most_common())
    return line


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """A blocking rig call (kill, restart, proxy switch) without stopping the load generator's loop."""
    return await asyncio.to_thread(fn, *args)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(step)
    return await check()


# Faults under load, shared by the test and the bench


@dataclass
class FaultReport:
    """What a fault scenario saw besides the load generator's statistics."""

    name: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, condition: bool, fact: str) -> None:
        (self.facts if condition else self.problems).append(fact)


async def probe_outage_messages(gen: LoadGenerator) -> list[tuple[str, int, bool]]:
    """On every instance, an API call and a page that need the store: (what, status, message ok)."""
    seen = []
    for instance in gen.rig.instances:
        if not gen.rig.in_rotation[instance.index]:
            continue
        for what, path in (("JSON", "/api/v1/health"), ("HTML", f"/s/{'y' * 22}")):
            answer = await gen.send("probe", "GET", path, instance=instance)
            ok = answer.response is not None and answer.status == 503 and outage_message_ok(answer.response)
            seen.append((f"instance {instance.index} {what}", answer.status, ok))
    return seen


async def store_outage(gen: LoadGenerator, seconds: float, after: float) -> FaultReport:
    """The S3 server unreachable for a while under load, then back."""
    report = FaultReport(f"store outage ({seconds:g} s)")
    gen.set_phase("store outage")
    await run_blocking(gen.rig.store_down)
    await gen.hold(min(1.0, seconds / 2))
    for what, status, ok in await probe_outage_messages(gen):
        report.check(ok, f"{what}: {status} with the outage message")
    await gen.hold(max(0.0, seconds - min(1.0, seconds / 2)))
    await run_blocking(gen.rig.store_up)
    gen.set_phase("recovering")
    await gen.hold(gen.outage_grace)
    gen.set_phase("after outage")
    await gen.hold(after)
    outage = gen.totals(("store outage", "recovering"))
    expected = sum(s.expected["503 during store outage"] for s in outage.values())
    report.check(expected > 0, f"{expected} requests that needed the store answered 503 with the message")
    errors = gen.errors(("after outage",))
    report.check(errors == 0, f"{errors} errors after the store came back (+{gen.outage_grace:g} s grace)")
    return report


async def kill_and_restart(gen: LoadGenerator, index: int, down_seconds: float, after: float) -> FaultReport:
    """One instance killed hard under load, a record written meanwhile, the instance started again."""
    rig = gen.rig
    report = FaultReport(f"instance {index} killed hard")
    survivor = next(i for i in rig.instances if i.index != index)
    token = gen.seeded.marketing_tokens[0]
    post = gen.seeded.quiet_post
    gen.set_phase("instance down")
    await run_blocking(rig.kill, index)
    title = await gen.edit(token, post, "the survivor", instance=survivor)
    report.check(
        title is not None, f"instance {survivor.index} saved an edit while instance {index} was down"
    )
    await gen.hold(down_seconds)
    await run_blocking(rig.restart, index)
    gen.set_phase("instance restarted")
    restarted = rig.instances[index]

    async def shows(expected: str | None) -> bool:
        # Several answers in a row, so every worker of the instance is asked.
        for _ in range(2 * rig.workers + 2):
            answer = await gen.send(
                "check", "GET", f"/api/v1/posts/{post}", instance=restarted, headers=gen._bearer(token)
            )
            if not _good(answer, 200, lambda r: r.json()["title"] == expected):
                return False
        return True

    report.check(
        await shows(title), f"the restarted instance {index} shows the record written while it was down"
    )
    later = await gen.edit(token, post, "the survivor again", instance=survivor)
    caught_up = later is not None and await eventually(lambda: shows(later), 10 * rig.refresh_seconds + 10)
    report.check(caught_up, f"and picks up a later write on instance {survivor.index} by itself")
    await gen.hold(after)
    errors = gen.errors(("instance down", "instance restarted"))
    report.check(
        errors == 0, f"{errors} errors while it was down and after it came back (survivor served on)"
    )
    return report


async def slow_store(gen: LoadGenerator, latency: float, seconds: float) -> FaultReport:
    """Every store request delayed; what does not need the store must not notice."""
    report = FaultReport(f"slow store (+{latency * 1000:g} ms per store request, {seconds:g} s)")
    gen.set_phase("slow store")
    await run_blocking(gen.rig.slow_store, latency)
    await gen.hold(seconds)
    await run_blocking(gen.rig.slow_store, 0.0)
    gen.set_phase("after slow store")
    slow = gen.totals(("slow store",))
    errors = gen.errors(("slow store",))
    report.check(errors == 0, f"{errors} errors while the store was slow")
    memory = [lat for name in IN_MEMORY if name in slow for lat in slow[name].latencies]
    health = slow.get("health", EndpointStats()).latencies
    report.facts.append(
        f"in-memory requests p95 {percentile(memory, 95):.1f} ms (n={len(memory)}), "
        f"health (asks the store) p50 {percentile(health, 50):.0f} ms"
    )
    return report


async def loop_stays_free(gen: LoadGenerator, latency: float, slow_requests: int = 6) -> FaultReport:
    """While every store call is delayed, requests that need no store call finish before those that do.

    Judged by order, not by clock: if a store call ran on an event loop, everything else on that
    worker would wait for it.
    """
    rig = gen.rig
    report = FaultReport(f"event loop with +{latency:g} s per store request")
    token = gen.seeded.employee_tokens[0]
    await run_blocking(rig.slow_store, latency)
    try:
        finished: list[tuple[float, str, int]] = []

        async def timed(kind: str, instance: PortalInstance, path: str, headers: dict[str, str]) -> None:
            # A fresh connection each, so the requests spread over the workers like separate visitors.
            async with httpx.AsyncClient(
                timeout=10 * latency + 60, headers={"user-agent": BROWSER}
            ) as client:
                response = await client.get(f"{instance.url}{path}", headers=headers)
            finished.append((time.monotonic(), kind, response.status_code))

        # The health check pings the store on every call. ("Surprise me" used to be one of these;
        # it reads an in-memory tally now.)
        slow = [
            asyncio.create_task(timed("store", inst, "/api/v1/health", gen._bearer(token)))
            for inst in rig.instances
            for _ in range(slow_requests)
        ]
        await asyncio.sleep(min(0.5, latency / 4))
        fast = []
        for inst in rig.instances:
            for n in range(slow_requests):
                if n % 3 == 0:
                    fast.append(timed("memory", inst, "/", {"cookie": gen.seeded.employee_cookies[0]}))
                elif n % 3 == 1:
                    fast.append(timed("memory", inst, "/api/v1/posts", gen._bearer(token)))
                else:
                    fast.append(timed("memory", inst, "/static/css/portal.css", {}))
        await asyncio.gather(*fast)
        # Once one store request is done the order is decided: the others end later still. The
        # store turns fast again so they need not take every delayed call.
        await asyncio.wait(slow, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await run_blocking(rig.slow_store, 0.0)
    await asyncio.gather(*slow)
    last_fast = max(t for t, kind, _ in finished if kind == "memory")
    first_slow = min(t for t, kind, _ in finished if kind == "store")
    statuses = Counter((kind, status) for _, kind, status in finished)
    report.check(
        all(status == 200 for _, _, status in finished), f"every request answered 200 ({dict(statuses)})"
    )
    report.check(
        last_fast < first_slow,
        "every request that needs no store call finished before the first one that does",
    )
    return report


if __name__ == "__main__":
    if sys.argv[1:2] == ["proxy"]:
        _proxy_main(int(sys.argv[2]), int(sys.argv[3]))
