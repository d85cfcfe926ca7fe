"""Server-rendered SVG line chart of a team's employee index E and customer index C.

Pure: data in, SVG text out, no I/O. Windows are placed on a time axis (a missing window
leaves a visible jump), a suppressed employee side (fewer than k respondents) breaks the E
line and is shaded, and the windows that raised alerts carry a marker coloured by severity.
Every piece of text that came from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Final

__all__ = [
    "CUSTOMER_COLOUR",
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "EMPLOYEE_COLOUR",
    "SEVERITY_COLOURS",
    "AlertMark",
    "WindowPoint",
    "format_time",
    "render_chart",
]

DEFAULT_WIDTH: Final = 860
DEFAULT_HEIGHT: Final = 320
EMPLOYEE_COLOUR: Final = "#7b3fa0"
CUSTOMER_COLOUR: Final = "#1f6fb4"
SUPPRESSED_COLOUR: Final = "#8a8a8a"
SEVERITY_COLOURS: Final = {"critical": "#c62828", "warning": "#d98200", "info": "#2e7d32"}
_OTHER_SEVERITY: Final = "#555555"
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 44, 18, 40, 34
_MAX_X_LABELS: Final = 6


@dataclass(frozen=True, slots=True)
class WindowPoint:
    """One closed team-window: C, and E unless the employee side was suppressed."""

    window_start: int  # epoch ms
    customer_index: float | None
    employee_index: float | None
    employee_suppressed: bool = False


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert raised on one window, drawn as a marker over it."""

    window_start: int  # epoch ms, the window it belongs to
    kind: str
    severity: str
    label: str  # tooltip text (plain words)


def format_time(epoch_ms: int, step_ms: int | None = None) -> str:
    """A UTC time label precise enough for windows ``step_ms`` apart."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    if step_ms is not None and step_ms >= 86_400_000:
        return moment.strftime("%Y-%m-%d")
    if step_ms is not None and step_ms >= 60_000:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S")


def render_chart(
    points: Sequence[WindowPoint],
    marks: Sequence[AlertMark] = (),
    *,
    k_anonymity: int = 5,
    title: str = "",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> str:
    """The SVG (one ``<svg>`` element) of E and C over ``points`` (any order), with ``marks``."""
    ordered = sorted(points, key=lambda p: p.window_start)
    heading = title or "Employee index E and customer index C"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="team-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{_e(heading)}">'
        f"<title>{_e(heading)}</title>"
    )
    if not ordered:
        return (
            f'{head}<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
            f'text-anchor="middle" fill="#555">No closed windows yet</text></svg>'
        )
    plot = _Plot(ordered, width, height)
    parts = [head, f"<desc>{_e(_describe(ordered, plot.step_ms))}</desc>"]
    parts += _axes(plot)
    suppressed = [p for p in ordered if p.employee_suppressed or p.employee_index is None]
    parts += _suppressed_bands(plot, suppressed, k_anonymity)
    parts += _series(plot, ordered, "employee", EMPLOYEE_COLOUR, "E")
    parts += _series(plot, ordered, "customer", CUSTOMER_COLOUR, "C")
    parts += _marks(plot, ordered, marks)
    parts += _legend(bool(suppressed), bool(marks), k_anonymity)
    parts.append("</svg>")
    return "".join(parts)


# -- layout ---------------------------------------------------------------------------------
class _Plot:
    """Scales from (time, index) to SVG coordinates."""

    def __init__(self, ordered: Sequence[WindowPoint], width: int, height: int) -> None:
        self.left, self.right = _MARGIN_LEFT, width - _MARGIN_RIGHT
        self.top, self.bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
        self.first, self.last = ordered[0].window_start, ordered[-1].window_start
        steps = [
            b.window_start - a.window_start for a, b in zip(ordered, ordered[1:], strict=False)
        ]
        self.step_ms = min((s for s in steps if s > 0), default=None)
        values = [
            v
            for p in ordered
            for v in (p.customer_index, p.employee_index)
            if v is not None and math.isfinite(v)
        ]
        self.low, self.high = _value_range(values)
        # Half a window of room at each end, so markers and bands of the edge windows fit.
        count = max(1, round((self.last - self.first) / self.step_ms)) if self.step_ms else 1
        self.slot = (self.right - self.left) / (count + 1)

    def x(self, epoch_ms: int) -> float:
        if self.last == self.first:
            return (self.left + self.right) / 2
        span = self.right - self.left - self.slot
        return self.left + self.slot / 2 + (epoch_ms - self.first) / (self.last - self.first) * span

    def y(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return self.bottom - fraction * (self.bottom - self.top)


def _value_range(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 100.0
    low = max(0.0, math.floor((min(values) - 5) / 10) * 10)
    high = min(100.0, math.ceil((max(values) + 5) / 10) * 10)
    while high - low < 20:
        low, high = max(0.0, low - 10), min(100.0, high + 10)
    return low, high


def _describe(ordered: Sequence[WindowPoint], step_ms: int | None) -> str:
    first = format_time(ordered[0].window_start, step_ms)
    last = format_time(ordered[-1].window_start, step_ms)
    return f"{len(ordered)} windows from {first} to {last} UTC"


def _axes(plot: _Plot) -> list[str]:
    parts = ['<g class="axes" font-size="11" fill="#555">']
    tick = 10 if plot.high - plot.low <= 50 else 20
    value = plot.low
    while value <= plot.high + 1e-9:
        y = plot.y(value)
        parts.append(
            f'<line x1="{plot.left}" x2="{plot.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e3e3" stroke-width="1"/>'
            f'<text x="{plot.left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>'
        )
        value += tick
    parts.append(
        f'<line x1="{plot.left}" x2="{plot.right}" y1="{plot.bottom}" y2="{plot.bottom}" '
        f'stroke="#999" stroke-width="1"/>'
    )
    parts += _x_labels(plot)
    parts.append("</g>")
    return parts


def _x_labels(plot: _Plot) -> list[str]:
    if plot.step_ms is None:
        times = [plot.first]
    else:
        count = round((plot.last - plot.first) / plot.step_ms) + 1
        every = max(1, math.ceil(count / _MAX_X_LABELS))
        times = [plot.first + i * plot.step_ms for i in range(0, count, every)]
    return [
        f'<text class="x-label" x="{plot.x(t):.1f}" y="{plot.bottom + 18}" '
        f'text-anchor="middle">{_e(format_time(t, plot.step_ms))}</text>'
        for t in times
    ]


# -- data -----------------------------------------------------------------------------------
def _suppressed_bands(
    plot: _Plot, suppressed: Sequence[WindowPoint], k_anonymity: int
) -> list[str]:
    note = _e(f"E hidden: fewer than {k_anonymity} respondents (k-anonymity)")
    width = max(4.0, plot.slot * 0.8)
    return [
        f'<rect class="suppressed" data-window="{p.window_start}" '
        f'x="{plot.x(p.window_start) - width / 2:.1f}" y="{plot.top}" width="{width:.1f}" '
        f'height="{plot.bottom - plot.top}" fill="{SUPPRESSED_COLOUR}" fill-opacity="0.15">'
        f"<title>{_e(format_time(p.window_start, plot.step_ms))} UTC: {note}</title></rect>"
        for p in suppressed
    ]


def _series(
    plot: _Plot, ordered: Sequence[WindowPoint], side: str, colour: str, letter: str
) -> list[str]:
    commands: list[str] = []
    circles: list[str] = []
    pen_down = False
    for point in ordered:
        value = point.employee_index if side == "employee" else point.customer_index
        if side == "employee" and point.employee_suppressed:
            value = None
        if value is None or not math.isfinite(value):
            pen_down = False  # a gap: the next point starts a new segment
            continue
        x, y = plot.x(point.window_start), plot.y(value)
        commands.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
        label = f"{letter} {value:.1f} — window {format_time(point.window_start, plot.step_ms)}"
        circles.append(
            f'<circle class="point point-{side}" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
            f'fill="{colour}"><title>{_e(label)} UTC</title></circle>'
        )
    if not commands:
        return []
    path = (
        f'<path class="series series-{side}" data-series="{side}" d="{" ".join(commands)}" '
        f'fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"/>'
    )
    return [f'<g class="series-{side}-group">', path, *circles, "</g>"]


def _marks(plot: _Plot, ordered: Sequence[WindowPoint], marks: Sequence[AlertMark]) -> list[str]:
    known = {p.window_start for p in ordered}
    parts: list[str] = []
    for mark in marks:
        if mark.window_start not in known:
            continue  # the window is outside the chart
        colour = SEVERITY_COLOURS.get(mark.severity, _OTHER_SEVERITY)
        x = plot.x(mark.window_start)
        top = plot.top - 4
        parts.append(
            f'<g class="alert-marker" data-kind="{_e(mark.kind)}" '
            f'data-severity="{_e(mark.severity)}" data-window="{mark.window_start}">'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot.bottom}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<path d="M{x - 6:.1f},{top - 9} L{x + 6:.1f},{top - 9} L{x:.1f},{top} Z" '
            f'fill="{colour}"/>'
            f"<title>{_e(mark.label)}</title></g>"
        )
    return parts


def _legend(suppressed: bool, marked: bool, k_anonymity: int) -> list[str]:
    items: list[tuple[str, str]] = [
        (
            f'<line x1="0" x2="18" y1="-4" y2="-4" stroke="{EMPLOYEE_COLOUR}" stroke-width="3"/>',
            "Employee index E",
        ),
        (
            f'<line x1="0" x2="18" y1="-4" y2="-4" stroke="{CUSTOMER_COLOUR}" stroke-width="3"/>',
            "Customer index C",
        ),
    ]
    if suppressed:
        items.append(
            (
                f'<rect x="0" y="-11" width="18" height="12" fill="{SUPPRESSED_COLOUR}" '
                f'fill-opacity="0.3"/>',
                f"gap in E: fewer than {k_anonymity} respondents",
            )
        )
    if marked:
        colour = SEVERITY_COLOURS["critical"]
        items.append((f'<path d="M3,-11 L15,-11 L9,-2 Z" fill="{colour}"/>', "alert"))
    parts = ['<g class="legend" font-size="12" fill="#222">']
    x = _MARGIN_LEFT
    for swatch, text in items:
        parts.append(
            f'<g class="legend-item" transform="translate({x},16)">{swatch}'
            f'<text x="24" y="0">{_e(text)}</text></g>'
        )
        x += 34 + int(len(text) * 6.6)
    parts.append("</g>")
    return parts


def _e(text: str) -> str:
    return escape(text, quote=True)
