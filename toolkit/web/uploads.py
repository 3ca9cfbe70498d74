"""Receiving a file upload without holding it in memory.

Starlette's request.form() would read the whole body before anyone could check its size, so upload
routes parse the multipart body themselves, chunk by chunk as it arrives: the file part goes to a
temporary file while its sha256 and size are computed, and the request is refused with 413 as soon
as it passes the limit, without reading the rest. Small text fields (title, tags, csrf_token) are
kept in memory under a small cap.

CSRF: the access guard checks the X-CSRF-Token header when there is one (fetch/XHR uploads). A
plain HTML form cannot send headers, so routes made with route(..., streams_body=True) leave the
check to this parser, which compares the form's csrf_token field with the cookie and refuses the
request when it does not match; the file only ever reached a temporary file by then.

Spool: the temporary files live in a folder the portal owns (spool_dir()), never loose in /tmp, so
what a killed process leaves behind is found again: sweep_spool() removes files untouched for an
hour, at start and then at most every SPOOL_SWEEP_SECONDS while uploads arrive. A file being written
is touched by every write, and a finished upload is stored within seconds, so none of them is that
old. With a folder store the spool is <store>/.spool: the same disk the operator sized for the
uploads anyway (not a RAM-backed /tmp), and a dot-folder the store never lists as objects. With S3
it is toolkit-spool-<hash of the store> in the system temp folder, private to the user running the
portal (or TOOLKIT_SPOOL_DIR for either).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from toolkit.assets import UploadedFile
from toolkit.errors import N_, BadRequest, Forbidden, Invalid, TooLarge
from toolkit.portal import Portal
from toolkit.store.local import LocalStore
from toolkit.web.access import csrf_cookie_of
from toolkit.web.sessions import CSRF_FIELD, csrf_matches

log = logging.getLogger(__name__)

FILE_FIELD = "file"
MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 32
# Multipart boundaries, part headers and the small fields travel with the file; a body may be this
# much larger than the file limit before it is refused by its Content-Length alone.
ENVELOPE_BYTES = MAX_FIELDS * (MAX_FIELD_BYTES // 4)
# File bytes are handed to a worker thread (hash and disk write) in batches of about this size.
_FLUSH_BYTES = 1024 * 1024

TOO_LARGE = N_("The file is larger than %(limit)s MB.")

SPOOL_FOLDER = ".spool"  # inside a folder store: hidden from its listings like .tmp
SPOOL_PREFIX = "upload-"
SPOOL_MAX_AGE_SECONDS = 3600.0
SPOOL_SWEEP_SECONDS = 900.0
_sweeps: dict[Path, float] = {}
_sweeps_lock = threading.Lock()


def spool_dir(portal: Portal) -> Path:
    """Where uploads wait while they arrive: TOOLKIT_SPOOL_DIR, else <store>/.spool for a folder
    store, else toolkit-spool-<hash of the store's address> in the system temp folder."""
    if portal.settings.spool_dir:
        return Path(portal.settings.spool_dir).expanduser().resolve()
    store = getattr(portal.store, "inner", portal.store)
    if isinstance(store, LocalStore):
        return store.root / SPOOL_FOLDER
    digest = hashlib.sha256(portal.store.endpoint.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"toolkit-spool-{digest}"


def _prepare(folder: Path) -> Path:
    """Make the folder (private to this user) when missing. In a folder everyone may write to (the
    system temp folder), refuse one that someone else made or that points elsewhere: they could
    swap an upload between its check and its use."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    shared_parent = os.stat(folder.parent).st_mode & stat.S_IWOTH
    if shared_parent and (stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid()):
        raise RuntimeError(
            f"the upload spool {folder} belongs to someone else; set TOOLKIT_SPOOL_DIR to a private folder"
        )
    return folder


def sweep_spool(portal: Portal, *, max_age_seconds: float = SPOOL_MAX_AGE_SECONDS) -> int:
    """Remove what killed uploads left in the spool (files untouched for max_age_seconds).

    Called at start; safe while other instances on the same host upload into the same folder,
    since their files are touched by every write. Returns how many files it removed.
    """
    folder = _prepare(spool_dir(portal))
    with _sweeps_lock:
        _sweeps[folder] = time.monotonic()
    cutoff = time.time() - max_age_seconds
    removed = 0
    for entry in os.scandir(folder):
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
    if removed:
        log.info("removed %d abandoned upload(s) from %s", removed, folder)
    return removed


def _spool_for_upload(portal: Portal) -> Path:
    """The spool, swept again when the last sweep of this process is SPOOL_SWEEP_SECONDS old."""
    folder = _prepare(spool_dir(portal))
    with _sweeps_lock:
        last = _sweeps.get(folder)
        due = last is None or time.monotonic() - last > SPOOL_SWEEP_SECONDS
        if due:
            _sweeps[folder] = time.monotonic()
    if due:
        sweep_spool(portal)
    return folder


@dataclass
class Received:
    """A received upload: the file in a temporary file (deleted by close()) and the text fields."""

    file: UploadedFile | None
    fields: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.file.path)


class _Sink:
    """The file part: bytes hashed and written to a temporary file in a worker thread."""

    def __init__(self, filename: str, spool: Path) -> None:
        self.filename = filename
        self.spool = spool
        self.digest = hashlib.sha256()
        self.size = 0
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.handle: IO[bytes] | None = None
        self.path: Path | None = None

    def _write(self, chunks: list[bytes]) -> None:
        if self.handle is None:
            fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=self.spool)
            self.handle = os.fdopen(fd, "wb")
            self.path = Path(name)
        for chunk in chunks:
            self.digest.update(chunk)
            self.handle.write(chunk)

    async def flush(self) -> None:
        chunks, self.pending, self.pending_size = self.pending, [], 0
        await run_in_threadpool(self._write, chunks)

    async def finish(self) -> UploadedFile:
        await self.flush()
        assert self.handle is not None and self.path is not None
        await run_in_threadpool(self.handle.close)
        return UploadedFile(self.path, self.size, self.digest.hexdigest(), self.filename)

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class _Parts:
    """Callbacks for python-multipart's streaming parser: which part we are in and where its bytes go."""

    def __init__(
        self, max_bytes: int, limit_mb: int, csrf_cookie: str | None, csrf_in_body: bool, spool: Path
    ) -> None:
        self.spool = spool
        self.max_bytes = max_bytes
        self.limit_mb = limit_mb
        self.csrf_cookie = csrf_cookie
        self.csrf_in_body = csrf_in_body
        self.fields: dict[str, str] = {}
        self.sink: _Sink | None = None
        self.ended = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._in_file = False
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = ""
        self._in_file = False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            if self.sink is not None:
                raise Invalid(N_("Send one file per upload."))
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self.sink = _Sink(filename, self.spool)
            self._in_file = True
        elif len(self.fields) >= MAX_FIELDS:
            raise Invalid(N_("The upload has too many fields."))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self.sink is not None
            self.sink.size += end - start
            if self.sink.size > self.max_bytes:
                raise TooLarge(TOO_LARGE, limit=self.limit_mb)
            self.sink.pending.append(data[start:end])
            self.sink.pending_size += end - start
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise Invalid(N_("The field %(name)s is too long."), name=self._name[:40])

    def on_part_end(self) -> None:
        if not self._in_file and self._name:
            try:
                self.fields[self._name] = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(N_("Form fields must be UTF-8 text.")) from None
            if self._name == CSRF_FIELD:
                # Forms put the token first, so a forged post is refused before its file is read.
                self.check_csrf()
        self._in_file = False

    def check_csrf(self) -> None:
        if self.csrf_in_body and not csrf_matches(self.csrf_cookie, self.fields.get(CSRF_FIELD)):
            raise Forbidden(
                N_("This form has expired or did not come from this portal. Reload the page and try again.")
            )

    def on_end(self) -> None:
        self.ended = True


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest(N_("Send the file as multipart/form-data in a field named 'file'."))
    return boundary


async def receive_upload(request: Request, *, max_mb: int) -> Received:
    """Read a multipart upload as it streams in; the caller must close() the result.

    TooLarge (413) when the file passes max_mb (before reading the body when Content-Length says
    so already), Forbidden when a form post carries no valid csrf_token, BadRequest for a body that
    is not multipart/form-data.
    """
    max_bytes = max_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise TooLarge(TOO_LARGE, limit=max_mb)
    csrf_in_body = bool(getattr(request.state, "csrf_in_body", False))
    spool = await run_in_threadpool(_spool_for_upload, request.state.portal)
    parts = _Parts(max_bytes, max_mb, csrf_cookie_of(request), csrf_in_body, spool)
    parser = MultipartParser(_boundary(request), parts.callbacks())  # type: ignore[arg-type]
    received_bytes = 0
    try:
        async with contextlib.aclosing(request.stream()) as stream:
            try:
                async for chunk in stream:
                    received_bytes += len(chunk)
                    if received_bytes > max_bytes + ENVELOPE_BYTES:
                        raise TooLarge(TOO_LARGE, limit=max_mb)
                    try:
                        parser.write(chunk)
                    except MultipartParseError:
                        raise BadRequest(N_("The upload is not valid multipart/form-data.")) from None
                    if parts.sink is not None and parts.sink.pending_size >= _FLUSH_BYTES:
                        await parts.sink.flush()
            except ClientDisconnect:
                # The person cancelled or lost the connection: nothing to store, nothing to log.
                raise BadRequest(N_("The upload was interrupted before it was complete.")) from None
        parser.finalize()
        if not parts.ended:
            raise BadRequest(N_("The upload ended before it was complete."))
        parts.check_csrf()
        upload = await parts.sink.finish() if parts.sink is not None else None
    except BaseException:
        if parts.sink is not None:
            await run_in_threadpool(parts.sink.discard)
        raise
    return Received(upload, parts.fields)
