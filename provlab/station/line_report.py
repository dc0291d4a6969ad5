"""The line's yield from its database: first-pass and final yield, the failure Pareto, cycle-time percentiles, and
an HTML page with the charts (yield over time, Pareto, cycle-time histogram) as inline SVG.

First-pass yield: of the units whose first test finished (PASS, FAIL or ERROR), the share that passed it.
Final yield: of those units, the share whose last test passed (after the retests the plan allows).
Cycle times are wall seconds on the station (the line's throughput).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from provlab.station.line_db import LineDatabase, UnitRow
from provlab.station.record import UnitOutcome

JUDGED = {UnitOutcome.PASS.value, UnitOutcome.FAIL.value, UnitOutcome.ERROR.value}


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`: the smallest value with at least that share of
    the values at or below it (p50 of 1..10 is 5, p95 is 10). `ValueError` for no values or a share outside 0..1."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a percentile's share is 0..1, got {share}")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LineReport:
    units: int = 0
    tests: int = 0
    aborted: int = 0
    first_pass_yield: float | None = None
    final_yield: float | None = None
    pareto: list[tuple[str, int]] = field(default_factory=list)
    """(first failure, count), most frequent first."""
    cycle_times: list[float] = field(default_factory=list)
    yield_over_time: list[tuple[int, int, int]] = field(default_factory=list)
    """(bucket start ms, first tests in it, first passes in it)."""

    def cycle(self, share: float) -> float | None:
        return percentile(self.cycle_times, share) if self.cycle_times else None

    def lines(self) -> list[str]:
        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        def sec(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} s"

        out = [
            f"units {self.units}, tests {self.tests} ({self.aborted} aborted)",
            f"first-pass yield {pct(self.first_pass_yield)}, final yield {pct(self.final_yield)}",
            f"cycle time p50 {sec(self.cycle(0.5))}, p90 {sec(self.cycle(0.9))}, p95 {sec(self.cycle(0.95))}, "
            f"max {sec(max(self.cycle_times) if self.cycle_times else None)}",
        ]
        if self.pareto:
            total = sum(count for _, count in self.pareto)
            out.append("top failures (Pareto):")
            running = 0
            for name, count in self.pareto[:10]:
                running += count
                out.append(f"  {count:5d}  {running / total:6.1%}  {name}")
        return out


def build_report(rows: list[UnitRow], buckets: int = 12) -> LineReport:
    report = LineReport(tests=len(rows))
    by_unit: dict[str, list[UnitRow]] = {}
    for row in rows:
        by_unit.setdefault(row.dut_id, []).append(row)
        if row.outcome == UnitOutcome.ABORTED.value:
            report.aborted += 1
    judged_units = {dut: [r for r in tests if r.outcome in JUDGED] for dut, tests in by_unit.items()}
    judged_units = {dut: tests for dut, tests in judged_units.items() if tests}
    report.units = len(judged_units)
    if judged_units:
        firsts = [min(tests, key=lambda r: (r.attempt, r.start_ms)) for tests in judged_units.values()]
        lasts = [max(tests, key=lambda r: (r.attempt, r.start_ms)) for tests in judged_units.values()]
        report.first_pass_yield = sum(r.outcome == UnitOutcome.PASS.value for r in firsts) / len(firsts)
        report.final_yield = sum(r.outcome == UnitOutcome.PASS.value for r in lasts) / len(lasts)
        report.yield_over_time = _over_time(firsts, buckets)
    failures = Counter(
        r.first_failure or "?" for r in rows if r.outcome in (UnitOutcome.FAIL.value, UnitOutcome.ERROR.value)
    )
    report.pareto = failures.most_common()
    report.cycle_times = [r.cycle_s for r in rows if r.outcome in JUDGED and r.cycle_s is not None]
    return report


def _over_time(firsts: list[UnitRow], buckets: int) -> list[tuple[int, int, int]]:
    start = min(r.start_ms for r in firsts)
    end = max(r.end_ms or r.start_ms for r in firsts)
    width = max(1, math.ceil((end - start + 1) / buckets))
    counts = [[0, 0] for _ in range(buckets)]
    for row in firsts:
        index = min(buckets - 1, ((row.end_ms or row.start_ms) - start) // width)
        counts[index][0] += 1
        counts[index][1] += row.outcome == UnitOutcome.PASS.value
    return [(start + i * width, tested, passed) for i, (tested, passed) in enumerate(counts) if tested]


def report_for(db: LineDatabase) -> LineReport:
    return build_report(db.all_units())


# --- the HTML page ----------------------------------------------------------------------------------------------
W, H, PAD = 560, 220, 36


def _bars(values: list[float], labels: list[str], colour: str, top: float | None = None) -> str:
    if not values:
        return "<p>no data</p>"
    peak = top or max(values) or 1.0
    step = (W - 2 * PAD) / len(values)
    parts = [f'<svg width="{W}" height="{H + 40}" role="img">']
    parts.append(f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" stroke="#888"/>')
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = (H - PAD) * value / peak
        x = PAD + i * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{H - height:.1f}" width="{max(1.0, step - 4):.1f}" height="{height:.1f}" '
            f'fill="{colour}"><title>{html.escape(label)}: {value:g}</title></rect>'
        )
        if len(values) <= 16:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{H + 14}" font-size="9" text-anchor="middle">'
                f"{html.escape(label[:18])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: list[float], bins: int = 20) -> tuple[list[float], list[str]]:
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0.0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    return counts, [f"{low + i * width:.2f}-{low + (i + 1) * width:.2f} s" for i in range(bins)]


def write_html(report: LineReport, path: Path, title: str = "Line report") -> Path:
    import datetime as _dt

    def when(ms: int) -> str:
        return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%m-%d %H:%M:%S")

    yields = [passed / tested for _, tested, passed in report.yield_over_time]
    yield_labels = [f"{when(ms)} ({passed}/{tested})" for ms, tested, passed in report.yield_over_time]
    pareto = report.pareto[:12]
    counts, bins = _histogram(report.cycle_times) if report.cycle_times else ([], [])
    body = "\n".join(
        [
            f"<h1>{html.escape(title)}</h1>",
            "<pre>" + html.escape("\n".join(report.lines())) + "</pre>",
            "<h2>First-pass yield over time</h2>",
            _bars(yields, yield_labels, "#2a9d8f", top=1.0),
            "<h2>Failures (Pareto)</h2>",
            _bars([float(c) for _, c in pareto], [name for name, _ in pareto], "#e76f51"),
            "<h2>Cycle time (wall seconds)</h2>",
            _bars(counts, bins, "#264653"),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'>{body}</body></html>",
        encoding="utf-8",
    )
    return path
