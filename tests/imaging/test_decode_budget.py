"""Decoding uploads within a byte budget: the cost comes from the header, what the budget cannot hold
is refused before a pixel is decoded, the rest wait their turn, and every upload is decoded once.

The attack (issue 14, item 6): a 0.5 MB PNG of zeros declaring 8944 x 8944 RGBA, under the pixel
limit, decoded to 320 MB twice and took 19.8 s and 700 MB; four at once 2.9 GB. Memory itself is
measured in bench/bench_uploads.py, not here.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.imaging.samples import animated_gif, detailed, encode, write
from toolkit.assets import DEFAULT_MAX_DECODE_MB
from toolkit.errors import Invalid
from toolkit.imaging import master as master_module
from toolkit.imaging.budget import MB, DecodeBudget
from toolkit.imaging.master import MASTER_MAX_EDGE, decode_cost, pixel_bytes, process_upload
from toolkit.settings import Settings

LIMIT = 80_000_000
HOSTILE = (8944, 8944)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int) -> bytes:
    """A complete, valid RGBA PNG of zeros: every row compressed once and repeated (a full flush
    makes each copy independent), so 8944 x 8944 takes 0.5 MB and milliseconds to make."""
    row = bytes(1 + width * 4)  # filter byte 0, then transparent black
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(row) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    adler = ((len(row) * height % 65521) << 16) | 1  # Adler-32 of nothing but zero bytes
    idat = b"\x78\xda" + block * height + end + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The decoders Pillow starts (one per decode of a frame), by name."""
    started: list[str] = []
    real = Image._getdecoder

    def counting(mode: str, decoder_name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(decoder_name)
        return real(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(Image, "_getdecoder", counting)
    yield started


def default_budget() -> DecodeBudget:
    return DecodeBudget(DEFAULT_MAX_DECODE_MB * MB)


def test_zero_png_is_a_whole_valid_image() -> None:
    data = zero_png(300, 200)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == (300, 200) and img.mode == "RGBA" and img.getextrema() == ((0, 0),) * 4
    assert len(zero_png(*HOSTILE)) < 600_000


def test_hostile_png_is_refused_from_its_header_without_decoding(tmp_path: Path, decodes: list[str]) -> None:
    path = write(tmp_path, "bomb.png", zero_png(*HOSTILE))
    assert HOSTILE[0] * HOSTILE[1] <= Settings().max_pixels  # the pixel limit alone lets it through
    started = time.perf_counter()
    with pytest.raises(Invalid) as refused:
        process_upload(path, max_pixels=LIMIT, budget=default_budget())
    assert time.perf_counter() - started < 2.0
    assert decodes == []
    assert refused.value.status == 422
    text = refused.value.text()
    assert "8944 × 8944 pixels" in text and f"the limit is {DEFAULT_MAX_DECODE_MB} MB" in text, text


def test_default_budget_is_the_settings_default() -> None:
    assert Settings().max_decode_mb == DEFAULT_MAX_DECODE_MB


def test_an_accepted_upload_is_decoded_once(tmp_path: Path, decodes: list[str]) -> None:
    path = write(tmp_path, "photo.png", encode(detailed((900, 600)), "PNG"))
    info, made = process_upload(path, max_pixels=LIMIT, budget=default_budget())
    # The original (PNG) is decoded once, for the checks and the master together; the thumbnails
    # are made from the master (JPEG), within the same turn of the budget.
    assert decodes == ["zip", "jpeg", "jpeg"]
    assert sorted(made.thumbs) == [320, 640]
    assert (info.content_type, info.width, info.height, info.frames) == ("image/png", 900, 600, 1)
    assert (made.width, made.height, made.content_type) == (900, 600, "image/jpeg")


def test_large_upload_keeps_its_declared_size_while_its_master_is_cut_down(tmp_path: Path) -> None:
    path = write(tmp_path, "wide.jpg", encode(detailed((3000, 1000)), "JPEG", quality=80))
    info, made = process_upload(path, max_pixels=LIMIT, budget=default_budget())
    assert (info.width, info.height) == (3000, 1000)  # not the decoder's reduced draft size
    assert max(made.width, made.height) == MASTER_MAX_EDGE


def test_refusal_names_the_size_and_what_would_fit(tmp_path: Path) -> None:
    path = write(tmp_path, "big.png", encode(detailed((1200, 800)), "PNG"))
    need = decode_cost("image/png", 1200, 800, "RGB")
    with pytest.raises(Invalid) as refused:
        process_upload(path, max_pixels=LIMIT, budget=DecodeBudget(need - 1))
    text = refused.value.text()
    assert "1200 × 800 pixels" in text and "megapixels" in text
    info, _ = process_upload(path, max_pixels=LIMIT, budget=DecodeBudget(need))
    assert info.width == 1200


def test_every_frame_counts_towards_the_budget(tmp_path: Path, decodes: list[str]) -> None:
    colours = [(10 * n, 200 - 5 * n, 40) for n in range(24)]
    path = write(tmp_path, "anim.gif", animated_gif((200, 150), colours))
    every_frame = 24 * 200 * 150 * pixel_bytes("P")
    first_frame = decode_cost("image/gif", 200, 150, "P")
    assert first_frame < every_frame
    # Enough for decoding the first frame, not for all frames together: refused, undecoded.
    with pytest.raises(Invalid) as refused:
        process_upload(path, max_pixels=LIMIT, budget=DecodeBudget(first_frame))
    assert "in 24 frames" in refused.value.text() and decodes == []
    info, _ = process_upload(path, max_pixels=LIMIT, budget=DecodeBudget(every_frame))
    assert info.frames == 24


def test_decode_cost_follows_what_is_decoded() -> None:
    png = decode_cost("image/png", 6000, 4000, "RGB")
    # A JPEG is decoded at a reduced draft size (here half), which is what it is costed at...
    draft = decode_cost("image/jpeg", 3000, 2000, "RGB", full_size=(6000, 4000))
    assert draft < png / 2
    # ... unless it is progressive: the decoder keeps every coefficient at full size.
    progressive = decode_cost("image/jpeg", 3000, 2000, "RGB", full_size=(6000, 4000), jpeg_samples=1.5)
    assert progressive > draft and progressive >= 6000 * 4000 * 3
    # Transparency is resized premultiplied (one more copy); a palette becomes RGBA first.
    assert decode_cost("image/png", 6000, 4000, "RGBA") == png + 6000 * 4000 * 4
    assert decode_cost("image/png", 6000, 4000, "P", key_colour=True) > png
    # The hostile PNG needs far more than the default budget; a 24 MP camera JPEG fits twice.
    assert decode_cost("image/png", *HOSTILE, "RGBA") > 2 * DEFAULT_MAX_DECODE_MB * MB
    assert 2 * draft <= DEFAULT_MAX_DECODE_MB * MB


def test_huge_webp_canvas_is_refused_before_the_reader_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A WebP header declaring 16000 x 16000 (Pillow's reader would allocate the canvas on open).
    head = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4
    head += (16000 - 1).to_bytes(3, "little") + (16000 - 1).to_bytes(3, "little")
    path = write(tmp_path, "big.webp", head + b"\x00" * 64)

    def refuse(*_: object) -> None:
        raise AssertionError("the WebP reader was opened")

    monkeypatch.setattr(master_module, "construct", refuse)
    with pytest.raises(Invalid) as refused:
        process_upload(path, max_pixels=10**9, budget=default_budget())
    assert "16000 × 16000 pixels" in refused.value.text()


# The budget itself: waiting, not refusing; in arrival order; one decode per core.


def _holder(
    budget: DecodeBudget, need: int, log: list[str], name: str
) -> tuple[threading.Thread, threading.Event]:
    """A thread that holds need bytes of budget until its event is set."""
    release = threading.Event()

    def run() -> None:
        with budget.hold(need):
            log.append(name)
            release.wait(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, release


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_decodes_that_do_not_fit_together_wait_and_are_not_refused() -> None:
    budget = DecodeBudget(100, slots=4)
    log: list[str] = []
    first, release_first = _holder(budget, 80, log, "first")
    _until(lambda: log == ["first"])
    second, release_second = _holder(budget, 50, log, "second")
    _until(lambda: budget.waiting == 1)
    assert log == ["first"] and budget.used == 80
    release_first.set()
    _until(lambda: log == ["first", "second"])
    assert budget.used == 50
    release_second.set()
    first.join(5)
    second.join(5)
    assert budget.used == 0 and budget.running == 0


def test_waiting_decodes_go_in_arrival_order() -> None:
    budget = DecodeBudget(100, slots=4)
    log: list[str] = []
    _, release_small = _holder(budget, 30, log, "small")
    _until(lambda: log == ["small"])
    big, release_big = _holder(budget, 90, log, "big")
    _until(lambda: budget.waiting == 1)
    # A later small one would fit now, but the big one came first: it waits behind it.
    late, release_late = _holder(budget, 20, log, "late")
    _until(lambda: budget.waiting == 2)
    release_small.set()
    _until(lambda: log == ["small", "big"])
    release_big.set()
    _until(lambda: log == ["small", "big", "late"])
    release_late.set()
    big.join(5)
    late.join(5)


def test_at_most_one_decode_per_core_runs() -> None:
    budget = DecodeBudget(1000, slots=2)
    log: list[str] = []
    holders = [_holder(budget, 1, log, str(n)) for n in range(3)]
    _until(lambda: len(log) == 2 and budget.waiting == 1)
    assert budget.running == 2
    holders[int(log[0])][1].set()
    _until(lambda: len(log) == 3)
    for thread, release in holders:
        release.set()
        thread.join(5)
    assert budget.running == 0


def test_a_decode_larger_than_the_budget_is_refused_by_check() -> None:
    budget = DecodeBudget(10 * MB)
    budget.check(10 * MB, width=1, height=1)
    with pytest.raises(Invalid):
        budget.check(10 * MB + 1, width=4000, height=3000)
