"""Usage charts for the console, drawn on the server as SVG (no script, no CDN): one bar per
hour or day for the tokens issued, a thinner bar beside it for what was refused (failed
authentications and denied decisions), and the same numbers as a table
(``templates/usage_chart.html``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keyloft.domain.timefmt import zone
from keyloft.domain.usage import DAY, HOUR, Bucket

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 44, 22, 8
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    tokens_y: float
    tokens_height: float
    refused_x: float
    refused_y: float
    refused_height: float
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Row:
    start: str
    tokens: int
    failures: int
    allowed: int
    denied: int


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    caption: str
    summary: str
    """What the chart shows in one sentence: its accessible name."""
    bars: list[Bar]
    ticks: list[Tick]
    top: int
    rows: list[Row]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    plot_top: int = TOP


def _label(bucket: Bucket, interval: str, timezone: str) -> str:
    local = bucket.start.astimezone(zone(timezone))
    return local.strftime("%Y-%m-%d %H:%M") if interval == HOUR else local.strftime("%Y-%m-%d")


def _ceiling(value: int) -> int:
    """A round top for the axis, at least ``value`` (and at least 1)."""
    top = 1
    while top < value:
        for step in (2, 5, 10):
            if top * step >= value:
                return top * step
        top *= 10
    return top


def chart(
    chart_id: str, caption: str, buckets: Sequence[Bucket], interval: str, timezone: str
) -> Chart:
    peak = max((max(b.tokens, b.failures + b.denied) for b in buckets), default=0)
    top = _ceiling(peak)
    slot = PLOT_WIDTH / max(len(buckets), 1)
    bars: list[Bar] = []
    rows: list[Row] = []
    ticks: list[Tick] = []
    every = max(1, len(buckets) // 7)
    for index, bucket in enumerate(buckets):
        label = _label(bucket, interval, timezone)
        refused = bucket.failures + bucket.denied
        x = LEFT + index * slot
        tokens_height = PLOT_HEIGHT * bucket.tokens / top
        refused_height = PLOT_HEIGHT * refused / top
        bars.append(
            Bar(
                x=round(x + slot * 0.1, 2),
                width=round(max(slot * 0.55, 0.5), 2),
                tokens_y=round(TOP + PLOT_HEIGHT - tokens_height, 2),
                tokens_height=round(tokens_height, 2),
                refused_x=round(x + slot * 0.65, 2),
                refused_y=round(TOP + PLOT_HEIGHT - refused_height, 2),
                refused_height=round(refused_height, 2),
                title=f"{label}: {bucket.tokens} tokens, {refused} refused",
            )
        )
        rows.append(Row(label, bucket.tokens, bucket.failures, bucket.allowed, bucket.denied))
        if index % every == 0 and x <= LEFT + PLOT_WIDTH - 40:  # a label that fits
            ticks.append(Tick(round(x, 2), label[5:10] if interval == HOUR else label[5:]))
    tokens = sum(b.tokens for b in buckets)
    refused = sum(b.failures + b.denied for b in buckets)
    per = "hour" if interval == HOUR else "day"
    summary = (
        f"{caption}: bars per {per}; {tokens} tokens issued and {refused} refused "
        f"(failed authentications and denied decisions) in all; the table below holds the "
        "numbers."
    )
    return Chart(chart_id, caption, summary, bars, ticks, top, rows)


CAPTIONS = {HOUR: "Last 7 days, by hour", DAY: "Last 90 days, by day"}


def client_charts(usage: Sequence[tuple[str, Sequence[Bucket]]], timezone: str) -> list[Chart]:
    """A client's page's charts, one per interval its view holds."""
    return [
        chart(f"usage-{interval}", CAPTIONS[interval], buckets, interval, timezone)
        for interval, buckets in usage
    ]
