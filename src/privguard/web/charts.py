"""Charts for the console, computed on the server as plain geometry that the templates draw as
inline SVG: no script runs in the browser (the CSP allows none inline), nothing comes from a
CDN, and every chart has its numbers beside it as a table for screen readers.

Pure functions over numbers and labels; no database, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # key of the series (also its CSS class)
    category: str
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class ColumnChart:
    """Grouped columns: one group per category, one column per series."""

    width: int
    height: int
    plot_left: float
    plot_bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[Label, ...]
    series: tuple[str, ...]
    categories: tuple[str, ...]
    values: Mapping[str, tuple[int, ...]]

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """The chart as table rows: (category, one value per series)."""
        return [(c, [self.values[s][i] for s in self.series])
                for i, c in enumerate(self.categories)]


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round tick step (1, 2, 5 times a power of ten) so that ``ticks`` steps reach at least
    ``largest``."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def column_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    width: int = 420,
    height: int = 200,
    label_every: int = 1,
) -> ColumnChart:
    """Grouped columns scaled to a round maximum; every ``label_every``-th category labelled."""
    names = tuple(series)
    for name in names:
        if len(series[name]) != len(categories):
            raise ValueError(f"series {name!r} has {len(series[name])} values for "
                             f"{len(categories)} categories")
    left, right, top, bottom = 30.0, 8.0, 10.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max((v for s in names for v in series[s]), default=0)
    step = nice_step(largest)
    top_value = max(step * math.ceil(largest / step), step)
    group = plot_w / max(len(categories), 1)
    inner = group * 0.8
    col = inner / max(len(names), 1)
    bars = []
    for i, category in enumerate(categories):
        for j, name in enumerate(names):
            value = int(series[name][i])
            h = plot_h * value / top_value
            x = left + i * group + (group - inner) / 2 + j * col
            bars.append(Bar(round(x, 2), round(top + plot_h - h, 2), round(col * 0.9, 2),
                            round(h, 2), name, category, value))
    ticks = tuple(Tick(round(top + plot_h - plot_h * v / top_value, 2), v)
                  for v in range(0, top_value + 1, step))
    labels = tuple(Label(round(left + i * group + group / 2, 2), c)
                   for i, c in enumerate(categories) if i % label_every == 0)
    return ColumnChart(width, height, left, top + plot_h, tuple(bars), ticks, labels, names,
                       tuple(categories),
                       {s: tuple(int(v) for v in series[s]) for s in names})


@dataclass(frozen=True)
class HBar:
    y: float
    width: float
    label: str
    value: int


@dataclass(frozen=True)
class BarList:
    """Horizontal bars with their labels: for categories with long names."""

    width: int
    height: int
    label_width: int
    bars: tuple[HBar, ...]
    row: int


def bar_list(items: Sequence[tuple[str, int]], *, width: int = 420, row: int = 28,
             label_width: int = 170) -> BarList:
    largest = max((v for _, v in items), default=0) or 1
    room = width - label_width - 48
    bars = tuple(HBar(i * row, round(room * v / largest, 2), label, v)
                 for i, (label, v) in enumerate(items))
    return BarList(width, max(row * len(items), row), label_width, bars, row)


# ------------------------------------------------------------------------- time buckets
def week_starts(now: datetime, weeks: int, zone: ZoneInfo) -> list[date]:
    """The Mondays (in ``zone``) of the last ``weeks`` weeks, oldest first, this week last."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def per_week(moments: Iterable[datetime], starts: Sequence[date], zone: ZoneInfo) -> list[int]:
    """How many of ``moments`` fall in each week starting at ``starts`` (others ignored)."""
    index = {start: i for i, start in enumerate(starts)}
    counts = [0] * len(starts)
    for moment in moments:
        local = moment.astimezone(zone).date()
        i = index.get(local - timedelta(days=local.weekday()))
        if i is not None:
            counts[i] += 1
    return counts


def week_label(start: date) -> str:
    return start.strftime("%m-%d")
