"""How much memory decoding uploads may take: a byte budget per process, and one decode per core.

A small file can declare an enormous canvas (a 311 KB PNG of zeros declaring 8944 x 8944 RGBA
decodes to 320 MB), so what an upload costs is worked out from its header before any pixel is
decoded (toolkit.imaging.master.decode_cost), and:
- an upload that could not be decoded within the whole budget on its own is refused (Invalid, 422,
  naming its size) before decoding;
- the others wait their turn until their bytes fit next to the decodes already running, and at
  most one decode per core runs at a time. Waiting uploads wait in arrival order; none is refused
  for being busy.
The budget is per process: `serve --workers 4` has four.

Freed pixel memory is handed back to the system as each large decode ends, before the next one
starts, and again when its upload is stored (release_memory): glibc keeps freed blocks of large
images in its heaps, one heap per thread, so a server that decoded four big uploads in four
threads would otherwise hold four peaks, and keep them; malloc_trim returns them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from toolkit.errors import N_, Invalid

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Returning memory to the system costs a walk over the heaps: only after decodes of this much.
TRIM_AFTER_BYTES = 16 * MB

TOO_LARGE_TO_DECODE = N_(
    "The image is %(width)s × %(height)s pixels and would take %(need)s MB of memory to process; "
    "the limit is %(limit)s MB. Upload a smaller version (at most about %(suggest)s megapixels)."
)
TOO_LARGE_TO_DECODE_FRAMES = N_(
    "The image is %(width)s × %(height)s pixels in %(frames)s frames and would take %(need)s MB "
    "of memory to process; the limit is %(limit)s MB. Upload a smaller version or fewer frames."
)


def cores() -> int:
    """The processors this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _malloc_trim() -> Callable[[], None] | None:
    """glibc's malloc_trim(0), or None where there is no glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


_release_memory = _malloc_trim()


class DecodeBudget:
    """Bytes of decoded pixels that the decodes running in this process may hold together.

    hold(need) waits until need fits next to what the running decodes hold and a core is free,
    in arrival order; check(need) refuses what could never fit.
    """

    def __init__(self, limit_bytes: int, *, slots: int | None = None) -> None:
        if limit_bytes < 1:
            raise ValueError("the decode budget must be positive")
        self.limit = limit_bytes
        self.slots = slots or cores()
        self._cond = threading.Condition()
        self._used = 0
        self._running = 0
        self._queue: deque[object] = deque()
        self._freed_since_trim = 0

    @property
    def used(self) -> int:
        """Bytes held by the decodes running now."""
        with self._cond:
            return self._used

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def check(self, need: int, *, width: int, height: int, frames: int = 1) -> None:
        """Invalid (422) naming the image's size when need could never fit in the budget."""
        if need <= self.limit:
            return
        sizes = {"width": width, "height": height, "need": -(-need // MB), "limit": self.limit // MB}
        if frames > 1:
            raise Invalid(TOO_LARGE_TO_DECODE_FRAMES, frames=frames, **sizes)
        # What would fit, in whole megapixels, as a hint: the need grows with the pixel count.
        suggest = max(1, int(width * height * self.limit / need / 1_000_000))
        raise Invalid(TOO_LARGE_TO_DECODE, suggest=suggest, **sizes)

    @contextmanager
    def hold(self, need: int) -> Iterator[None]:
        """Run the body once need bytes fit and a core is free; waits (in arrival order), never refuses.

        Call check() first: a need larger than the whole budget is admitted alone, so it cannot
        wait for ever.
        """
        need = max(0, need)
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._fits(need)):
                    self._cond.wait()
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._used += need
            self._running += 1
            # The next in line may fit as well.
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._used -= need
                self._running -= 1
                self._freed_since_trim += need
            # The decode's pixels are free now: give them back before the next decode starts, which
            # may run in another thread and so in another of glibc's heaps.
            if need >= TRIM_AFTER_BYTES:
                self.release_memory()
            with self._cond:
                self._cond.notify_all()

    def release_memory(self) -> bool:
        """Hand freed memory back to the system (glibc's malloc_trim) if large decodes ended since
        the last time; whether it did. hold() calls it as a large decode ends; call it again once
        a decode's results are stored and everything else it needed is free."""
        with self._cond:
            due = self._freed_since_trim >= TRIM_AFTER_BYTES
            if due:
                self._freed_since_trim = 0
        if due and _release_memory is not None:
            _release_memory()
            return True
        return False

    def _fits(self, need: int) -> bool:
        if self._running >= self.slots:
            return False
        return self._running == 0 or self._used + need <= self.limit
