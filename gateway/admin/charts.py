"""Bar charts as inline SVG, drawn on the server: the usage page needs no chart library and
no script (the CSP allows none inline). This module computes the geometry; the template
(templates/admin/gateway/usagerecord/chart.html) writes the elements. Colours come from
classes (static/gateway/usage.css), so dark mode and print can change them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 480, 200  # the viewBox, about the size it is shown at: its text stays legible
LEFT, RIGHT, TOP, BOTTOM = 44, 6, 10, 24  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # the colour: series-N in usage.css
    title: str  # the tooltip: day, key, value


@dataclass(frozen=True)
class Tick:
    at: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the end labels stay inside the chart


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[int, str]]
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


def number(value: float) -> str:
    """Short for an axis: 950, 12k, 3.4M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            short = f"{value / size:.1f}".removesuffix(".0")
            return f"{short}{suffix}"
    return f"{value:g}"


def _nice_top(peak: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above the peak."""
    if peak <= 0:
        return 1
    power = 10 ** len(str(int(peak))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= peak:
            return step * power
    return 10 * power


def stacked_bars(
    *, title: str, days: list[date], series: list[tuple[str, list[int]]], unit: str
) -> Chart:
    """One bar per day, the series stacked in it bottom up, in the order given."""
    totals = [sum(values[i] for _, values in series) for i in range(len(days))]
    top = _nice_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8, 0.5)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        base = 0
        for n, (key, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            height = value / top * plot_h
            y = TOP + plot_h - (base + value) / top * plot_h
            bars.append(
                Bar(
                    x=round(LEFT + i * slot + (slot - bar_w) / 2, 2),
                    y=round(y, 2),
                    width=round(bar_w, 2),
                    height=round(max(height, 0.5), 2),
                    series=n,
                    title=f"{day.isoformat()} · {key}: {value:,} {unit}",
                )
            )
            base += value
    y_ticks = [
        Tick(at=round(TOP + plot_h - fraction * plot_h, 2), label=number(top * fraction))
        for fraction in (0, 0.5, 1)
    ]
    # The first, middle and last day: enough to read any bar's date from its position.
    picks = sorted({0, len(days) // 2, len(days) - 1}) if days else []
    x_ticks = [
        Tick(
            at=round(
                LEFT + i * slot + (0 if i == 0 else slot if i == len(days) - 1 else slot / 2), 2
            ),
            label=days[i].strftime("%d %b"),
            anchor="start" if i == 0 else "end" if i == len(days) - 1 else "middle",
        )
        for i in picks
    ]
    return Chart(
        title=title,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=[(n, key) for n, (key, _) in enumerate(series)],
        empty=not any(totals),
    )
