"""Share-image rendering speed: ours (from the master's tiles) against plain Pillow (from the original).

Run with `.venv/bin/python bench/bench_render.py`. Inputs are generated into a temporary folder at
start: photo-like JPEGs (smooth colour fields, hard edges and sensor-like grain, so file sizes and
decode costs are those of camera files) and PNGs with transparency. "upload" is what an upload
costs once (master and tiles); every rendition after that starts from the tiles.
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageOps

# Run as a script from a checkout, where the toolkit package is not necessarily installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.imaging.master import make_master  # noqa: E402
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS, get_preset  # noqa: E402
from toolkit.imaging.render import Look, render_share_image  # noqa: E402

RUNS = 15
WARM_UP = 2
MASTER_RUNS = 3
TARGET_MS = 60.0
TARGET_SPEEDUP = 10.0
LOOK = Look()
HEADLINE = "Proud to share what our team built this year"


@dataclass(frozen=True)
class Input:
    label: str
    path: Path


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A camera-like RGB picture: smooth colour fields, hard-edged shapes and grain."""
    rnd = random.Random(seed)
    width, height = size
    fields = [Image.effect_noise((max(2, width // 80), max(2, height // 80)), 64) for _ in range(3)]
    img = Image.merge("RGB", fields).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(80):
        x, y, r = rnd.randrange(width), rnd.randrange(height), rnd.randrange(width // 50, width // 8)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rnd))
    for _ in range(250):
        points = (rnd.randrange(width), rnd.randrange(height), rnd.randrange(width), rnd.randrange(height))
        draw.line(points, fill=_colour(rnd), width=rnd.randrange(1, 9))
    grain = Image.merge("RGB", [Image.effect_noise(size, 12) for _ in range(3)])
    return ImageChops.add(img, grain, offset=-128)


def _colour(rnd: random.Random) -> tuple[int, int, int]:
    return rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)


def cutout(size: tuple[int, int]) -> Image.Image:
    """An RGBA product shot: a picture inside an ellipse, transparent around it."""
    img = photo(size, seed=3).convert("RGBA")
    mask = Image.new("L", size, 0)
    width, height = size
    ImageDraw.Draw(mask).ellipse((width // 10, height // 10, width * 9 // 10, height * 9 // 10), fill=255)
    img.putalpha(mask)
    return img


def logo_png() -> bytes:
    """A 600x200 logo with transparency."""
    img = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, 599, 199), radius=40, fill=(0, 82, 147, 230))
    draw.ellipse((30, 30, 170, 170), fill=(255, 255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_inputs(folder: Path) -> list[Input]:
    """Write the benchmark originals into folder."""
    baseline = folder / "camera-24mp.jpg"
    photo((6000, 4000), seed=1).save(baseline, "JPEG", quality=90)
    progressive = folder / "camera-18mp-progressive.jpg"
    photo((5184, 3456), seed=2).save(progressive, "JPEG", quality=92, progressive=True)
    transparent = folder / "cutout.png"
    cutout((1000, 800)).save(transparent, "PNG")
    large_transparent = folder / "cutout-large.png"
    cutout((4000, 3000)).save(large_transparent, "PNG")
    return [
        Input("6000x4000 baseline JPEG", baseline),
        Input("5184x3456 progressive JPEG", progressive),
        Input("1000x800 RGBA PNG", transparent),
        Input("4000x3000 RGBA PNG", large_transparent),
    ]


def plain_pillow(path: Path, logo: Image.Image, size: tuple[int, int]) -> bytes:
    """What an image server does without a master: decode the original, fit, paste the logo, encode."""
    with Image.open(path) as original:
        upright = ImageOps.exif_transpose(original)
        fitted = ImageOps.fit(upright, size, Image.Resampling.LANCZOS)
    if fitted.mode != "RGB":
        fitted = fitted.convert("RGB")
    margin = round(size[0] * 0.03)
    fitted.paste(logo, (size[0] - margin - logo.width, size[1] - margin - logo.height), logo)
    buf = io.BytesIO()
    fitted.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def timings_ms(action: Callable[[], object], runs: int = RUNS, warm_up: int = WARM_UP) -> list[float]:
    """Wall times of action in milliseconds, after warm-up runs."""
    for _ in range(warm_up):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def median_ms(action: Callable[[], object], runs: int = RUNS, warm_up: int = WARM_UP) -> float:
    """Median wall time of action in milliseconds, after warm-up runs."""
    return statistics.median(timings_ms(action, runs, warm_up))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    """Run the benchmark and print its tables with a PASS or MISS per target."""
    started = time.perf_counter()
    landscape = get_preset(DEFAULT_PRESET)
    logo = logo_png()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        print("Generating inputs ...", flush=True)
        inputs = make_inputs(Path(tmp))
        with Image.open(io.BytesIO(logo)) as decoded:
            server_logo = decoded.convert("RGBA")
        server_logo.thumbnail((round(landscape.width * LOOK.watermark_scale), landscape.height))

        print(f"\nlinkedin-landscape JPEG with logo; medians of {RUNS} runs after {WARM_UP} warm-up runs\n")
        header = f"{'input':28} {'file':>8} {'upload':>8} {'baseline':>10} {'ours':>8} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        sources: dict[str, bytes] = {}
        speedups: dict[str, float] = {}
        for item in inputs:
            upload_ms = median_ms(partial(make_master, item.path), runs=MASTER_RUNS, warm_up=0)
            source = make_master(item.path).tiles
            sources[item.label] = source
            size = (landscape.width, landscape.height)
            baseline_ms = median_ms(partial(plain_pillow, item.path, server_logo, size))
            ours_ms = median_ms(partial(render_share_image, source, landscape, "jpeg", look=LOOK, logo=logo))
            speedups[item.label] = baseline_ms / ours_ms
            file_mb = item.path.stat().st_size / 1e6
            print(
                f"{item.label:28} {file_mb:6.1f}MB {upload_ms:6.0f}ms {baseline_ms:8.1f}ms"
                f" {ours_ms:6.1f}ms {speedups[item.label]:6.1f}x",
                flush=True,
            )

        print("\nEvery preset from every input, JPEG with logo: median ms, without / with headline\n")
        short = [item.label.split(" ", 1)[0] + (" PNG" if "PNG" in item.label else "") for item in inputs]
        header = f"{'preset':20} {'size':>10}" + "".join(f" {label:>15}" for label in short)
        print(header)
        print("-" * len(header))
        worst = 0.0
        for preset in PRESETS.values():
            cells = []
            for item in inputs:
                render = partial(
                    render_share_image, sources[item.label], preset, "jpeg", look=LOOK, logo=logo
                )
                plain = median_ms(render)
                titled = median_ms(partial(render, headline=HEADLINE))
                worst = max(worst, plain, titled)
                cells.append(f"{plain:6.1f} / {titled:5.1f}")
            print(
                f"{preset.name:20} {preset.width:>4}x{preset.height:<5}" + "".join(f" {c:>15}" for c in cells)
            )

        progressive = inputs[1].label
        source = sources[progressive]
        print(f"\nOther formats from the {progressive} (median ms; no target)\n")
        for fmt in ("webp", "png"):
            timings = []
            for preset in (landscape, get_preset("instagram-story")):
                render = partial(render_share_image, source, preset, fmt, look=LOOK, logo=logo)
                timings.append(f"{preset.name} {median_ms(render, runs=5):.0f}")
            print(f"  {fmt:5} " + ", ".join(timings))

        print(
            "\nRenditions per second on all cores: every preset in turn, from threads like a server's pool\n"
        )
        for threads in (1, 2):
            rate = renditions_per_second(source, logo, threads)
            print(f"  {threads} thread{'s' if threads > 1 else ' '}  {rate:5.1f}/s")

    speedup_ok = speedups[progressive] >= TARGET_SPEEDUP
    print()
    print(
        f"{verdict(worst <= TARGET_MS)}  ours <= {TARGET_MS:.0f} ms median for every preset and input"
        f" (slowest {worst:.1f} ms)"
    )
    print(
        f"{verdict(speedup_ok)}  >= {TARGET_SPEEDUP:.0f}x faster than plain Pillow on the {progressive}"
        f" ({speedups[progressive]:.1f}x)"
    )
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


def renditions_per_second(source: bytes, logo: bytes, threads: int, per_thread: int = 16) -> float:
    """How many different renditions threads make per second together."""
    presets = list(PRESETS.values())

    def work(offset: int) -> None:
        for i in range(per_thread):
            render_share_image(source, presets[(offset + i) % len(presets)], "jpeg", look=LOOK, logo=logo)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
