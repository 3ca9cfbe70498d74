"""Geometry for small server-rendered SVG charts (no chart library, no script, no inline styles)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from toolkit.stats import DayPoint


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    value: int


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    day: str
    value: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class DailyChart:
    """Uses as bars and clicks as a line, one slot per day, on a shared scale."""

    width: int
    height: int
    left: int
    top: int
    bottom: float
    right: float
    bars: list[Bar]
    clicks: list[Dot]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    first: str
    last: str
    peak: int

    @property
    def line(self) -> str:
        return " ".join(f"{d.x:.1f},{d.y:.1f}" for d in self.clicks)


def nice_ceiling(value: int) -> int:
    """The next round number at or above value (1, 2, 5, 10, 20, 50, ...), for the top of an axis."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def daily_chart(points: Sequence[DayPoint], *, width: int = 900, height: int = 260) -> DailyChart:
    left, top, right_pad, bottom_pad = 44, 12, 12, 28
    plot_w = width - left - right_pad
    plot_h = height - top - bottom_pad
    bottom = top + plot_h
    peak = max([max(p.uses, p.clicks) for p in points] + [0])
    scale_top = nice_ceiling(peak)
    slot = plot_w / max(1, len(points))
    bars, dots = [], []
    for index, point in enumerate(points):
        x = left + index * slot
        bar_h = plot_h * point.uses / scale_top
        bars.append(Bar(x + slot * 0.15, bottom - bar_h, slot * 0.7, bar_h, point.day, point.uses))
        dots.append(Dot(x + slot / 2, bottom - plot_h * point.clicks / scale_top, point.day, point.clicks))
    # A middle line only where it falls on a whole number.
    shares = (0, 0.5, 1) if scale_top % 2 == 0 else (0, 1)
    y_ticks = [Tick(bottom - plot_h * share, str(int(scale_top * share))) for share in shares]
    step = max(1, math.ceil(len(points) / 6))
    x_ticks = [
        Tick(left + index * slot + slot / 2, points[index].day[5:])
        for index in range(0, len(points), step)
    ]
    return DailyChart(
        width=width,
        height=height,
        left=left,
        top=top,
        bottom=bottom,
        right=width - right_pad,
        bars=bars,
        clicks=dots,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        first=points[0].day if points else "",
        last=points[-1].day if points else "",
        peak=peak,
    )
