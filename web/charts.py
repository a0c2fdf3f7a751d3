"""Small line charts drawn as inline SVG on the server: the dashboard's curves and activity need no
JavaScript library, look the same in a screenshot as on screen, and scale with their container
(a viewBox, no fixed pixel size)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colours that stay apart for the common kinds of colour blindness (Okabe-Ito).
BLUE, ORANGE, GREEN, PURPLE = "#0072b2", "#e69f00", "#009e73", "#7048e8"

# Draw a chart at about the size it is shown, so its 11 px text reads as 11 px on screen.
WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 42, 24
LEGEND_Y = 30
FONT = 11


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    color: str = BLUE
    fill: bool = False  # shade the area under the line
    legend: str | None = None  # instead of the name and the latest value


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def _label(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_domain: tuple[float, float] | None = None,
    y_min: float | None = 0.0,
    x_format: Callable[[float], str] = _label,
    value_format: Callable[[float], str] = _label,
    empty: str = "No data yet",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """One or more series over a shared x axis. The legend names each series with its latest
    value (what a person watching a run wants to read); with no points it says ``empty``."""
    drawn = [s for s in series if s.points]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text class="chart-title" x="{LEFT}" y="14" font-size="{FONT + 1}" font-weight="600" '
        f'fill="#1d2330">{escape(title)}</text>',
    ]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    if not drawn:
        out.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#f6f7f9" '
            f'stroke="#e3e6ec"/><text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2 + 4}" '
            f'font-size="{FONT + 1}" text-anchor="middle" fill="#5b6475">{escape(empty)}</text></svg>'
        )
        return mark_safe("".join(out))  # every text above went through escape()

    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    x0, x1 = x_domain or (min(xs), max(xs))
    if x1 <= x0:
        x1 = x0 + 1
    y_ticks = nice_ticks(min(ys) if y_min is None else min(y_min, *ys), max(ys))
    y0, y1 = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return round(LEFT + (x - x0) / (x1 - x0) * plot_w, 1)

    def py(y: float) -> float:
        return round(TOP + plot_h - (y - y0) / (y1 - y0) * plot_h, 1)

    for tick in y_ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(tick)}" y2="{py(tick)}" stroke="#e3e6ec"/>'
            f'<text x="{LEFT - 6}" y="{py(tick) + 4}" font-size="{FONT}" text-anchor="end" '
            f'fill="#5b6475">{escape(value_format(tick))}</text>'
        )
    for x, anchor in ((x0, "start"), ((x0 + x1) / 2, "middle"), (x1, "end")):
        out.append(
            f'<text x="{px(x)}" y="{height - 6}" font-size="{FONT}" text-anchor="{anchor}" '
            f'fill="#5b6475">{escape(x_format(x))}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#adb5bd"/>'
    )
    # The legend is a row under the title: a swatch, the name and the latest value per series.
    legend_x = LEFT
    for s in drawn:
        text = s.legend or f"{s.name} {value_format(s.points[-1][1])}"
        out.append(
            f'<rect x="{legend_x}" y="{LEGEND_Y - 8}" width="9" height="9" rx="2" fill="{s.color}"/>'
            f'<text x="{legend_x + 13}" y="{LEGEND_Y}" font-size="{FONT}" fill="#1d2330">'
            f"{escape(text)}</text>"
        )
        legend_x += 13 + round(0.62 * FONT * len(text)) + 14  # about 0.6 em per character
    for s in drawn:
        coords = " ".join(f"{px(x)},{py(y)}" for x, y in s.points)
        if s.fill and len(s.points) > 1:
            base = py(max(y0, 0.0))
            out.append(
                f'<polygon points="{px(s.points[0][0])},{base} {coords} {px(s.points[-1][0])},{base}" '
                f'fill="{s.color}" fill-opacity="0.15" stroke="none"/>'
            )
        if len(s.points) == 1:
            ((x, y),) = s.points
            out.append(f'<circle cx="{px(x)}" cy="{py(y)}" r="3" fill="{s.color}"/>')
        else:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2" '
                f'stroke-linejoin="round" stroke-linecap="round"/>'
            )
    out.append("</svg>")
    return mark_safe("".join(out))  # every text above went through escape()
