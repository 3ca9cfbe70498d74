"""Copy a whole portal from one store to another (e.g. the local folder to S3), verifiably.

Every object is copied as a stream and then verified by size and SHA-256 on the destination.
Objects already there and identical are skipped, so an interrupted run is simply run again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from toolkit import checkpoints, journal
from toolkit.store import ObjectMissing, Store
from toolkit.store.base import ObjectInfo


class VerificationFailed(Exception):
    pass


@dataclass
class Progress:
    total_objects: int = 0
    total_bytes: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_done: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.copied + self.skipped


NOT_COPIED = (journal.PREFIX, checkpoints.PREFIX)


def _identical(source: Store, target: Store, info: ObjectInfo) -> bool:
    existing = target.head(info.key)
    if existing is None or existing.size != info.size:
        return False
    return source.checksum(info.key) == target.checksum(info.key)


def migrate(
    source: Store, target: Store, *, report: Callable[[Progress, str], None] | None = None
) -> Progress:
    """Copy everything; raises VerificationFailed listing the keys that did not verify.

    The journal and checkpoints are not copied: they name the source's object versions, which
    mean nothing on the target. The target's first start lists its records once and writes its
    own checkpoint.
    """
    objects = [info for info in source.list("") if not info.key.startswith(NOT_COPIED)]
    target.delete(checkpoints.POINTER)
    progress = Progress(total_objects=len(objects), total_bytes=sum(i.size for i in objects))
    for info in objects:
        try:
            if _identical(source, target, info):
                progress.skipped += 1
            else:
                expected = source.checksum(info.key)
                stream, _ = source.open(info.key)
                with stream:
                    target.put(info.key, stream)
                if target.checksum(info.key) != expected:
                    progress.failed.append(info.key)
                else:
                    progress.copied += 1
        except ObjectMissing:
            # Deleted from the source while we ran (e.g. a purged asset): nothing to copy.
            progress.skipped += 1
        progress.bytes_done += info.size
        if report:
            report(progress, info.key)
    if progress.failed:
        raise VerificationFailed(", ".join(progress.failed))
    return progress


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def terminal_reporter(stream: TextIO | None = None) -> Callable[[Progress, str], None]:
    """A progress bar on a terminal; one line per 100 objects (and the last) otherwise."""
    out = stream or sys.stderr
    tty = out.isatty()

    def report(progress: Progress, key: str) -> None:
        share = progress.bytes_done / progress.total_bytes if progress.total_bytes else 1.0
        line = (
            f"{progress.done}/{progress.total_objects} objects, {_human(progress.bytes_done)}/"
            f"{_human(progress.total_bytes)} ({progress.copied} copied, {progress.skipped} already there)"
        )
        if tty:
            bar = "#" * int(share * 30)
            print(f"\r[{bar:<30}] {line}", end="", file=out, flush=True)
            if progress.done == progress.total_objects:
                print(file=out)
        elif progress.done % 100 == 0 or progress.done == progress.total_objects:
            print(line, file=out, flush=True)

    return report
