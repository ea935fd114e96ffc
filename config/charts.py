"""Small server-rendered SVG charts for the admin dashboard: no JavaScript, no library, no CDN.

Each renderer returns safe markup: a ``<figure>`` holding an ``<svg role="img">`` with a
``<title>`` and a ``<desc>`` (what a screen reader announces), a ``<title>`` on every point, bar
and segment (what a pointer shows on hover), and the same figures as a table in a ``<details>``
(the text fallback). Every text is escaped. The output depends only on the arguments, so tests
can compare it; ``chart_id`` keeps element ids unique on the page.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Series colours in order, for series that bring none.
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#ca8a04", "#0891b2", "#db2777", "#4b5563")

Number = int | float

WIDTH = 560
LEGEND_BAND = 26
FONT = 'font-family="inherit" font-size="11"'


@dataclass(frozen=True)
class Series:
    """One named sequence of values, one per label; None is a gap (no value that day)."""

    name: str
    values: Sequence[Number | None]
    color: str = ""


def fmt(value: Number | None) -> str:
    """A figure as people read it: thousands separated, one decimal only when there is one."""
    if value is None:
        return "\u2013"  # an en dash: no figure
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _c(coordinate: float) -> str:
    """A coordinate with at most one decimal, without a trailing ``.0`` (stable, compact output)."""
    text = f"{coordinate:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(lo: Number, hi: Number, count: int = 4, *, integer: bool = True) -> list[Number]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering ``lo..hi``.

    An empty span is widened so that the axis still has a scale: 0..1 for zeros, else from zero.
    """
    if lo > hi:
        lo, hi = hi, lo
    if lo == hi:
        if lo == 0:
            hi = 1
        elif lo > 0:
            lo = 0
        else:
            hi = 0
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multiples if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.floor(lo / step) * step
    steps = math.ceil(round((hi - first) / step, 9))
    ticks = [round(first + i * step, 9) for i in range(steps + 1)]
    return [int(t) if float(t).is_integer() else t for t in ticks]


def _colour(series: Series, index: int) -> str:
    return series.color or PALETTE[index % len(PALETTE)]


def _legend(series: Sequence[Series], *, x: float) -> str:
    if len(series) < 2:
        return ""
    parts = ['<g class="legend">']
    for index, one in enumerate(series):
        parts.append(
            f'<rect x="{_c(x)}" y="8" width="10" height="10" rx="2" fill="{escape(_colour(one, index))}"/>'
            f'<text x="{_c(x + 14)}" y="17" {FONT} fill="currentColor">{escape(one.name)}</text>'
        )
        x += 24 + 6.5 * len(one.name)
    parts.append("</g>")
    return "".join(parts)


def _table(x_label: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    head = "".join(f'<th scope="col">{escape(one.name)}</th>' for one in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{fmt(one.values[i])}</td>" for one in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return (
        '<details class="chart-data"><summary>Data table</summary>'
        f'<table><thead><tr><th scope="col">{escape(x_label)}</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )


def _figure(chart_id: str, kind: str, title: str, description: str, body: str, height: float, table: str) -> SafeString:
    cid = escape(chart_id)
    return mark_safe(  # noqa: S308 - every text above went through escape()
        f'<figure class="chart chart-{kind}" id="{cid}">'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_c(height)}" width="100%" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" class="chart-svg">'
        f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(description)}</desc>'
        f"{body}</svg>{table}</figure>"
    )


def _empty(chart_id: str, kind: str, title: str, message: str) -> SafeString:
    body = (
        f'<text class="chart-empty" x="{WIDTH // 2}" y="60" text-anchor="middle" {FONT} '
        f'fill="currentColor" fill-opacity="0.6">{escape(message)}</text>'
    )
    return _figure(chart_id, kind, title, message, body, 110, "")


def _has_values(series: Sequence[Series]) -> bool:
    return any(value is not None for one in series for value in one.values)


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"Series {one.name!r} has {len(one.values)} values for {len(labels)} labels.")


class _Frame:
    """A vertical value axis (left) over a row of labelled slots (bottom), with gridlines."""

    def __init__(self, lo: Number, hi: Number, *, height: int, y_label: str, integer: bool):
        self.ticks = nice_ticks(lo, hi, integer=integer)
        self.lo, self.hi = self.ticks[0], self.ticks[-1]
        self.left = 58 if y_label else 44
        self.right, self.top, self.bottom = WIDTH - 12, LEGEND_BAND + 4, height - 36
        self.y_label = y_label
        self.height = height

    def y(self, value: Number) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * (self.bottom - self.top)

    def axes(self, x_label: str) -> str:
        parts = ['<g class="axes">']
        for tick in self.ticks:
            y = _c(self.y(tick))
            opacity = "0.5" if tick == 0 else "0.15"
            parts.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y}" y2="{y}" stroke="currentColor" '
                f'stroke-opacity="{opacity}"/>'
                f'<text x="{self.left - 6}" y="{y}" dy="0.32em" text-anchor="end" {FONT} '
                f'fill="currentColor">{fmt(tick)}</text>'
            )
        if self.y_label:
            middle = _c((self.top + self.bottom) / 2)
            parts.append(
                f'<text class="axis-label" x="12" y="{middle}" transform="rotate(-90 12 {middle})" '
                f'text-anchor="middle" {FONT} fill="currentColor">{escape(self.y_label)}</text>'
            )
        if x_label:
            parts.append(
                f'<text class="axis-label" x="{_c((self.left + self.right) / 2)}" y="{self.height - 4}" '
                f'text-anchor="middle" {FONT} fill="currentColor">{escape(x_label)}</text>'
            )
        parts.append("</g>")
        return "".join(parts)

    def x_ticks(self, positions: Sequence[float], tick_labels: Sequence[str]) -> str:
        every = max(1, math.ceil(len(tick_labels) / 8))
        last = len(tick_labels) - 1
        shown = [i for i in range(len(tick_labels)) if i % every == 0]
        if last not in shown and last - shown[-1] >= every / 2:
            shown.append(last)
        parts = ['<g class="x-ticks">']
        parts.extend(
            f'<text x="{_c(positions[i])}" y="{self.bottom + 15}" text-anchor="middle" {FONT} '
            f'fill="currentColor">{escape(tick_labels[i])}</text>'
            for i in shown
        )
        parts.append("</g>")
        return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    tick_labels: Sequence[str] | None = None,
    x_label: str = "",
    y_label: str = "",
    label_name: str = "",
    integer: bool = True,
    height: int = 230,
) -> SafeString:
    """One line per series over ``labels`` (dates, say), a dot with a tooltip at each value."""
    _check(labels, series)
    if not labels or not _has_values(series):
        return _empty(chart_id, "line", title, "No data to chart yet.")
    values = [v for one in series for v in one.values if v is not None]
    frame = _Frame(min(0, *values), max(0, *values), height=height, y_label=y_label, integer=integer)
    span = frame.right - frame.left
    xs = [frame.left + (i / (len(labels) - 1) * span if len(labels) > 1 else span / 2) for i in range(len(labels))]
    parts = [frame.axes(x_label), frame.x_ticks(xs, tick_labels or labels), _legend(series, x=frame.left)]
    for index, one in enumerate(series):
        colour = escape(_colour(one, index))
        parts.append(f'<g class="series" data-series="{escape(one.name)}">')
        run: list[str] = []
        for i, value in enumerate([*one.values, None]):
            if value is not None:
                run.append(f"{_c(xs[i])},{_c(frame.y(value))}")
            elif run:
                if len(run) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round" '
                        f'points="{" ".join(run)}"/>'
                    )
                run = []
        parts.extend(
            f'<circle class="point" cx="{_c(xs[i])}" cy="{_c(frame.y(value))}" r="2.5" fill="{colour}">'
            f"<title>{escape(labels[i])} · {escape(one.name)}: {fmt(value)}</title></circle>"
            for i, value in enumerate(one.values)
            if value is not None
        )
        parts.append("</g>")
    summaries = []
    for one in series:
        present = [i for i, value in enumerate(one.values) if value is not None]
        if present:
            first, last = present[0], present[-1]
            known = [one.values[i] for i in present]
            summaries.append(
                f"{one.name}: {fmt(one.values[first])} on {labels[first]}, {fmt(one.values[last])} on {labels[last]}, "
                f"lowest {fmt(min(known))}, highest {fmt(max(known))}."
            )
    points = f"{len(labels)} point{'s' if len(labels) != 1 else ''}"
    description = f"Line chart of {points} from {labels[0]} to {labels[-1]}. {' '.join(summaries)}"
    return _figure(
        chart_id, "line", title, description, "".join(parts), height, _table(label_name or x_label, labels, series)
    )


def _stacks(values: Sequence[Number | None]) -> tuple[Number, Number]:
    """(sum of the positive values, sum of the negative values) of one bar."""
    present = [v for v in values if v is not None]
    return sum(v for v in present if v > 0), sum(v for v in present if v < 0)


def stacked_bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    tick_labels: Sequence[str] | None = None,
    x_label: str = "",
    y_label: str = "",
    label_name: str = "",
    integer: bool = True,
    height: int = 230,
) -> SafeString:
    """One vertical bar per label, the series stacked in it (negative values stack below zero)."""
    _check(labels, series)
    if not labels or not _has_values(series):
        return _empty(chart_id, "bars", title, "No data to chart yet.")
    stacks = [_stacks([one.values[i] for one in series]) for i in range(len(labels))]
    lo, hi = min(0, *(neg for _, neg in stacks)), max(0, *(pos for pos, _ in stacks))
    frame = _Frame(lo, hi, height=height, y_label=y_label, integer=integer)
    slot = (frame.right - frame.left) / len(labels)
    width = max(1.0, slot * 0.72)
    centres = [frame.left + slot * (i + 0.5) for i in range(len(labels))]
    parts = [frame.axes(x_label), frame.x_ticks(centres, tick_labels or labels), _legend(series, x=frame.left)]
    for i, label in enumerate(labels):
        items = [(one, index, one.values[i]) for index, one in enumerate(series)]
        summary = ", ".join(f"{one.name} {fmt(value)}" for one, _, value in items if value is not None)
        total = sum(value for _, _, value in items if value is not None)
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(summary)} (total {fmt(total)})</title>'
            f'<rect class="hit" x="{_c(centres[i] - slot / 2)}" y="{frame.top}" width="{_c(slot)}" '
            f'height="{frame.bottom - frame.top}" fill="transparent"/>'
        )
        up = down = 0
        for one, index, value in items:
            if not value:
                continue
            if value > 0:
                y0, y1 = frame.y(up + value), frame.y(up)
                up += value
            else:
                y0, y1 = frame.y(down), frame.y(down + value)
                down += value
            parts.append(
                f'<rect class="segment" x="{_c(centres[i] - width / 2)}" y="{_c(y0)}" width="{_c(width)}" '
                f'height="{_c(max(0.5, y1 - y0))}" fill="{escape(_colour(one, index))}">'
                f"<title>{escape(label)} · {escape(one.name)}: {fmt(value)}</title></rect>"
            )
        parts.append("</g>")
    totals = [pos + neg for pos, neg in stacks]
    peak = max(range(len(labels)), key=lambda i: (totals[i], -i))
    description = (
        f"Bar chart of {len(labels)} bars from {labels[0]} to {labels[-1]}, stacking "
        f"{', '.join(one.name for one in series)}. Total {fmt(sum(totals))}; "
        f"highest {labels[peak]} with {fmt(totals[peak])}."
    )
    return _figure(
        chart_id, "bars", title, description, "".join(parts), height, _table(label_name or x_label, labels, series)
    )


def horizontal_bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str = "",
    label_name: str = "",
    integer: bool = True,
    row_height: int = 24,
) -> SafeString:
    """One horizontal bar per label (a warehouse, a channel), the series stacked along it, its total at its end."""
    _check(labels, series)
    if not labels or not _has_values(series):
        return _empty(chart_id, "hbars", title, "No data to chart yet.")
    stacks = [_stacks([one.values[i] for one in series]) for i in range(len(labels))]
    ticks = nice_ticks(min(0, *(neg for _, neg in stacks)), max(0, *(pos for pos, _ in stacks)), integer=integer)
    lo, hi = ticks[0], ticks[-1]
    left, right, top = 150, WIDTH - 56, LEGEND_BAND + 4
    bottom = top + row_height * len(labels)
    height = bottom + (40 if x_label else 24)

    def x(value: Number) -> float:
        return left + (value - lo) / (hi - lo) * (right - left)

    parts = ['<g class="axes">']
    for tick in ticks:
        parts.append(
            f'<line x1="{_c(x(tick))}" x2="{_c(x(tick))}" y1="{top}" y2="{bottom}" stroke="currentColor" '
            f'stroke-opacity="{"0.5" if tick == 0 else "0.15"}"/>'
            f'<text x="{_c(x(tick))}" y="{bottom + 14}" text-anchor="middle" {FONT} fill="currentColor">'
            f"{fmt(tick)}</text>"
        )
    if x_label:
        parts.append(
            f'<text class="axis-label" x="{_c((left + right) / 2)}" y="{height - 4}" text-anchor="middle" {FONT} '
            f'fill="currentColor">{escape(x_label)}</text>'
        )
    parts.append("</g>")
    parts.append(_legend(series, x=left))
    bar = row_height * 0.66
    for i, label in enumerate(labels):
        middle = top + row_height * (i + 0.5)
        items = [(one, index, one.values[i]) for index, one in enumerate(series)]
        summary = ", ".join(f"{one.name} {fmt(value)}" for one, _, value in items if value is not None)
        total = sum(value for _, _, value in items if value is not None)
        shown = label if len(label) <= 24 else f"{label[:23]}…"
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(summary)} (total {fmt(total)})</title>'
            f'<rect class="hit" x="0" y="{_c(middle - row_height / 2)}" width="{WIDTH}" height="{row_height}" '
            f'fill="transparent"/>'
            f'<text x="{left - 6}" y="{_c(middle)}" dy="0.32em" text-anchor="end" {FONT} '
            f'fill="currentColor">{escape(shown)}</text>'
        )
        up = down = 0
        for one, index, value in items:
            if not value:
                continue
            if value > 0:
                x0, x1 = x(up), x(up + value)
                up += value
            else:
                x0, x1 = x(down + value), x(down)
                down += value
            parts.append(
                f'<rect class="segment" x="{_c(x0)}" y="{_c(middle - bar / 2)}" width="{_c(max(0.5, x1 - x0))}" '
                f'height="{_c(bar)}" fill="{escape(_colour(one, index))}">'
                f"<title>{escape(label)} · {escape(one.name)}: {fmt(value)}</title></rect>"
            )
        parts.append(
            f'<text class="total" x="{_c(x(up) + 4)}" y="{_c(middle)}" dy="0.32em" {FONT} '
            f'fill="currentColor">{fmt(total)}</text></g>'
        )
    totals = [pos + neg for pos, neg in stacks]
    peak = max(range(len(labels)), key=lambda i: (totals[i], -i))
    description = (
        f"Horizontal bar chart of {len(labels)} bars ({', '.join(one.name for one in series)}). "
        f"Total {fmt(sum(totals))}; largest {labels[peak]} with {fmt(totals[peak])}."
    )
    return _figure(chart_id, "hbars", title, description, "".join(parts), height, _table(label_name, labels, series))
