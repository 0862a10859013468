"""The per-site plot as hand-written inline SVG: no plotting library, no script, nothing fetched.

Every site is one `<circle class="site …">` (selected ones `site selected <class>`), and the
`<svg>` carries `data-sites` / `data-selected`, so a test or a browser can count what is drawn.
The output is well-formed XML as well as HTML.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from service.reports.model import Site, SiteResults
from service.reports.text import count, fmt

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 16, 52
#: −log10 of the smallest p-value drawn: a reported p of exactly 0 sits at the top, not at infinity.
P_FLOOR = 1e-12


@dataclass(frozen=True)
class Axis:
    """A value axis: `place` maps a raw value into [lo, hi] (None when it cannot be drawn)."""

    lo: float
    hi: float
    ticks: list[tuple[float, str]]
    place: Callable[[float], float | None]


def nice_step(span: float, target: int = 6) -> float:
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def linear_axis(values: list[float]) -> Axis:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    step = nice_step(hi - lo)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [(lo + i * step, fmt(round(lo + i * step, 10))) for i in range(round((hi - lo) / step) + 1)]
    return Axis(lo, hi, ticks, lambda v: v)


def decade_axis(values: list[float], place: Callable[[float], float | None], label: Callable[[int], str],
                minimum: float | None = None) -> Axis:
    """An axis in whole decades (log10 space), labelled in the original units."""
    placed = [p for p in (place(v) for v in values) if p is not None] or [0.0]
    lo = math.floor(min(placed)) if minimum is None else minimum
    hi = max(math.ceil(max(placed)), lo + 1)
    stride = max(1, math.ceil((hi - lo) / 8))
    return Axis(lo, hi, [(k, label(k)) for k in range(int(lo), int(hi) + 1, stride)], place)


def p_axis(values: list[float]) -> Axis:
    """p-values drawn as −log10(p): small p high up; ticks read 1, 0.1, 0.01, …"""
    return decade_axis(values, lambda v: -math.log10(max(v, P_FLOOR)) if v >= 0 else None,
                       lambda k: fmt(10.0 ** -k), minimum=0)


def log_axis(values: list[float]) -> Axis:
    """Ratios on a log10 axis (evidence ratios, Bayes factors); non-positive values are not drawable."""
    return decade_axis(values, lambda v: math.log10(v) if v > 0 else None, lambda k: fmt(10.0 ** k))


def symlog(value: float) -> float:
    return math.copysign(math.log10(1 + abs(value)), value)


def symlog_axis(values: list[float]) -> Axis:
    """Signed log10(1 + |v|): rate differences (β − α) span 0.01 to 1000 in one gene.

    Ticks at 0, ±10, ±100, … (and ±1 when the axis is short enough for it to stand apart from 0).
    """
    lo = min(0, math.floor(min(symlog(v) for v in values)))
    hi = max(1, math.ceil(max(symlog(v) for v in values)))
    stride = max(1, math.ceil((hi - lo) / 8))
    first = 0 if hi - lo <= 3 else 1
    magnitudes = [10.0 ** j for j in range(first, hi - lo + 1) if j % stride == 0]
    candidates = [0.0] + [sign * m for m in magnitudes for sign in (1, -1)]
    ticks = sorted((symlog(v), fmt(v)) for v in candidates if lo <= symlog(v) <= hi)
    return Axis(lo, hi, ticks, symlog)


AXES = {"linear": linear_axis, "p": p_axis, "log": log_axis, "symlog": symlog_axis}


def site_plot(results: SiteResults, method_name: str) -> str:
    spec, sites = results.spec, results.sites
    line = results.threshold if spec.threshold_line and results.threshold is not None else None
    values = [s.y for s in sites if s.y is not None] + ([line] if line is not None else [])
    if spec.y_scale in ("linear", "symlog"):
        values.append(0.0)
    axis = AXES.get(spec.y_scale, linear_axis)(values or [0.0])
    numbers = [s.number for s in sites]
    x_lo, x_hi = min(numbers + [1]), max(numbers + [2])

    def x(number: float) -> float:
        return LEFT + (number - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT)

    def y(placed: float) -> float:
        return HEIGHT - BOTTOM - (placed - axis.lo) / (axis.hi - axis.lo) * (HEIGHT - TOP - BOTTOM)

    title = f"{method_name}: {spec.y_label} per site"
    selected = len(results.selected)
    parts = [
        (f'<svg class="site-plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
         f'aria-label="{escape(title)}" data-sites="{len(sites)}" data-selected="{selected}">'),
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(count(len(sites), 'site'))}, {selected} selected (highlighted).</desc>",
        x_axis(x, x_lo, x_hi),
        y_axis(axis, y, spec.y_label),
    ]
    if line is not None and axis.place(line) is not None:
        at = y(axis.place(line))
        label = f"{spec.threshold.label} {spec.threshold.relation} {fmt(line)}"
        parts.append(f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>'
                     f'<text class="threshold-label" x="{WIDTH - RIGHT - 4}" y="{at - 4:.1f}" '
                     f'text-anchor="end">{escape(label)}</text>')
    radius = 3 if len(sites) <= 500 else 2 if len(sites) <= 2000 else 1.2
    parts.append('<g class="sites">')
    for site in sorted(sites, key=lambda s: s.selected is not None):  # selected drawn on top
        parts.append(point(site, x(site.number), y, axis, radius, spec.y_label))
    parts.append("</g></svg>")
    return "".join(parts)


def point(site: Site, cx: float, y: Callable[[float], float], axis: Axis, radius: float, y_label: str) -> str:
    placed = axis.place(site.y) if site.y is not None else None
    classes = ["site"] + (["selected", site.selected] if site.selected else []) + (["missing"] if placed is None else [])
    cy = y(min(max(placed, axis.lo), axis.hi) if placed is not None else axis.lo)
    tip = f"Site {site.number}: {y_label} = {fmt(site.y)}" + (f" ({site.selected})" if site.selected else "")
    return (f'<circle class="{escape(" ".join(classes))}" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}">'
            f"<title>{escape(tip)}</title></circle>")


def x_axis(x: Callable[[float], float], lo: int, hi: int) -> str:
    base = HEIGHT - BOTTOM
    step = max(1, round(nice_step(hi - lo)))
    first = math.ceil(lo / step) * step
    ticks = "".join(f'<line x1="{x(n):.1f}" x2="{x(n):.1f}" y1="{base}" y2="{base + 5}"/>'
                    f'<text x="{x(n):.1f}" y="{base + 18}" text-anchor="middle">{n}</text>'
                    for n in range(max(first, lo), hi + 1, step))
    return (f'<g class="axis x-axis"><line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>{ticks}'
            f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">Site</text></g>')


def y_axis(axis: Axis, y: Callable[[float], float], label: str) -> str:
    ticks = "".join(f'<line x1="{LEFT - 5}" x2="{LEFT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                    f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                    f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(text)}</text>'
                    for v, text in axis.ticks)
    middle = (TOP + HEIGHT - BOTTOM) / 2
    return (f'<g class="axis y-axis"><line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>{ticks}'
            f'<text class="axis-label" transform="translate(16 {middle:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(label)}</text></g>')
