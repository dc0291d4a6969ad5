"""timeline.html: every stream of one test's evidence (air, boards, phone, cloud, the lab's steps) on one clock.

One self-contained page (inline CSS and JS, no network) in two parts:

* **swimlanes**: one lane per stream on one time axis (host wall time, the only clock every stream has).
  A board's lane shows its state bands, coloured per state, under its events; the lab's steps
  (`steps.jsonl`) are spans on their subject's lane, nested ones on a row below their parent, coloured by
  outcome. The failing expectation (the innermost failed step) is a red line across every lane where it
  gave up. Zoom with the buttons or the mouse wheel, drag to pan; lanes and rows filter together.
* **the event list**: one row per entry, values as `key: value`, the board's boot banner folded into one
  row, each row linking to the line it came from.

A browser opens a plain text file at its top whatever the link's `#fragment`, so each raw file gets a line
view next to it (`board-1.log.html`: every line numbered, `#L2` scrolled to mid-screen and highlighted, a link
to the raw file itself); a row's link is `board-1.log.html#L2`. The raw files stay as they are, the evidence.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

STATE_LINE = re.compile(r"\b([A-Z_]{4,}) => ([A-Z_]{4,})\b")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00) (.*)$")
LINE_HEAD = re.compile(r"^(>?\[\d+\]|## )")
"""How a board line that starts something looks (`[1234] …`, `>[0] …`, provlab's `## …` notes); lines
without it continue the one before (the boot banner's art and facts)."""
FOLD_AT = 3
"""Runs of at least this many continuation lines are folded into one row."""

STATE_COLOURS = {
    "INIT": "#dadce0",
    "WAIT_CONFIG": "#fdd663",
    "CONFIGURING": "#fcc934",
    "SWITCH_TO_STA": "#aecbfa",
    "CONNECTING_NET": "#8ab4f8",
    "CONNECTING_CLOUD": "#669df6",
    "RUNNING": "#81c995",
    "OTA_UPGRADE": "#d7aefb",
    "RESET_CONFIG": "#f6aea9",
    "ERROR": "#ee675c",
}


@dataclass(frozen=True)
class Entry:
    ts: float
    source: str
    """The lane: `board-1`, `phone`, `cloud`, `air`, `lab`."""
    text: str
    kind: str = ""
    """`state`, `step`, `error`, `skipped` or `` (a plain event)."""
    end: float | None = None
    """Where a span (a step) ends; None for a single event."""
    depth: int = 0
    """How many steps this one runs inside."""
    file: str = ""
    """The raw file the entry comes from (`board-1.log`, `steps.jsonl`, …)."""
    line: int = 0
    """Its line there (1-based)."""
    fields: tuple[tuple[str, str], ...] = ()
    """The record's values, readable (`key`, `value`), for `key: value` rendering."""
    folded: tuple[str, ...] = ()
    """Lines folded into this entry (the boot banner)."""
    state: str = ""
    """The state a board entered (state lines)."""
    error: str = ""
    """A failed or skipped step's message."""
    step: int = 0
    """A step's id in `steps.jsonl` (0 for anything else)."""
    parent: int | None = None
    """The id of the step it ran in."""


def readable(value: Any) -> str:
    """A JSON value as a person reads it: strings bare, dicts as `k: v, …`, lists comma-separated."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {readable(v)}" for k, v in value.items() if v not in (None, "", {}, [])) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(readable(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fields(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), readable(v)) for k, v in record.items() if v not in (None, "", {}, []))


def _flat(fields: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in fields)


def board_entries(path: Path) -> list[Entry]:
    """The board's log lines; a run of continuation lines (the boot banner) becomes one folded entry."""
    entries: list[Entry] = []
    pending: list[tuple[float, int, str]] = []

    def flush() -> None:
        if len(pending) >= FOLD_AT:
            facts = [line.strip() for _, _, line in pending if re.match(r"^\s*(Device|Firmware):", line)]
            summary = f"boot banner ({len(pending)} lines)" + (f": {'; '.join(facts)}" if facts else "")
            folded = tuple(line for _, _, line in pending)
            entries.append(Entry(pending[0][0], path.stem, summary, "", None, 0, path.name, pending[0][1], (), folded))
        else:
            for ts, number, line in pending:
                entries.append(Entry(ts, path.stem, line, "", None, 0, path.name, number))
        pending.clear()

    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        match = LOG_STAMP.match(raw)
        if not match:
            continue
        ts = datetime.fromisoformat(match.group(1)).timestamp()
        text = match.group(2)
        if not LINE_HEAD.match(text):
            pending.append((ts, number, text))
            continue
        flush()
        state = STATE_LINE.search(text)
        kind = "state" if state else ("error" if "error" in text.lower() or "failed" in text.lower() else "")
        entries.append(
            Entry(ts, path.stem, text, kind, None, 0, path.name, number, state=state.group(2) if state else "")
        )
    flush()
    return entries


def jsonl_entries(path: Path, source: str) -> list[Entry]:
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        ts = float(record.pop("ts", 0.0))
        kind = str(record.pop("kind", ""))
        fields = _fields(record)
        style = "error" if "fail" in kind or "timeout" in kind or "refused" in kind else ""
        style = style or ("state" if "online" in kind else "")
        entries.append(Entry(ts, source, f"{kind} {_flat(fields)}".strip(), style, None, 0, path.name, number, fields))
    return entries


STEP_KINDS = {"ok": "step", "failed": "error", "skipped": "skipped"}
OUTCOME_WORDS = {kind: outcome for outcome, kind in STEP_KINDS.items()}


def step_entries(path: Path) -> list[Entry]:
    """The steps of `steps.jsonl` as spans on their subject's lane, nested under their parent step."""
    records: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "step":
            records.append((number, record))
    parents = {record.get("id"): record.get("parent") for _, record in records}

    def depth(parent: object) -> int:
        seen = 0
        while parent is not None and seen < len(parents):
            parent, seen = parents.get(parent), seen + 1
        return seen

    entries = []
    for number, record in records:
        start = float(record.get("start") or record.get("ts") or 0.0)
        end = record.get("end")
        outcome = str(record.get("outcome", ""))
        args = _fields(record.get("args") or {})
        took = f" {float(end) - start:.3f} s" if end is not None else ""
        device = ""
        if record.get("device_start") is not None and record.get("device_end") is not None:
            device = f" ({float(record['device_end']) - float(record['device_start']):g} s device time)"
        text = f"{record.get('name')}({_flat(args)}) {outcome}{took}"
        error = str(record.get("error") or "")
        if error:
            text += f": {error}"
        shown = (*args, ("took", f"{took.strip()}{device}")) if took else args
        if record.get("response"):
            shown += (("response", readable(record["response"])),)
        kind = STEP_KINDS.get(outcome, "")
        source = str(record.get("subject") or "lab")
        span_end = None if end is None else float(end)
        entries.append(
            Entry(
                start,
                source,
                text,
                kind,
                span_end,
                depth(record.get("parent")),
                path.name,
                number,
                shown,
                error=error,
                step=int(record.get("id") or 0),
                parent=record.get("parent"),
            )
        )
    return entries


def collect(folder: Path) -> list[Entry]:
    entries: list[Entry] = []
    for log in sorted(folder.glob("board-*.log")):
        entries += board_entries(log)
    steps = folder / "steps.jsonl"
    if steps.is_file():
        entries += step_entries(steps)
    for name in ("phone", "cloud", "air"):
        path = folder / f"{name}.jsonl"
        if path.is_file():
            entries += jsonl_entries(path, name)
    return sorted(entries, key=lambda e: e.ts)


def lane_order(sources: set[str]) -> list[str]:
    """Air first, then the boards, the phones, the cloud and the lab's own steps."""

    def rank(source: str) -> tuple[int, str]:
        if source == "air":
            return (0, source)
        if source.startswith("board"):
            return (1, source.zfill(12))
        if source.startswith("phone"):
            return (2, source)
        if source == "cloud":
            return (3, source)
        return (4, source)

    return sorted(sources, key=rank)


@dataclass
class Band:
    state: str
    start: float
    end: float


def state_bands(entries: list[Entry], finish: float) -> dict[str, list[Band]]:
    """Per board, the states it was in: from each `A => B` line to the next one (or the end)."""
    bands: dict[str, list[Band]] = {}
    for entry in entries:
        if entry.state:
            lane = bands.setdefault(entry.source, [])
            if lane:
                lane[-1].end = entry.ts
            lane.append(Band(entry.state, entry.ts, finish))
    return bands


def failing_steps(entries: list[Entry]) -> list[Entry]:
    """The steps whose failure failed the test: innermost failed steps (no failed child) whose every
    enclosing step failed too. A failure a step recovered from (a phone's `wait_online` inside a
    `provision(check=False)` that went on) stays red on its lane but is not marked."""
    steps = {e.step: e for e in entries if e.step}
    failed_parents = {e.parent for e in steps.values() if e.kind == "error"}

    def carried(step: Entry) -> bool:
        parent = step.parent
        while parent is not None and parent in steps:
            if steps[parent].kind != "error":
                return False
            parent = steps[parent].parent
        return True

    return [e for e in steps.values() if e.kind == "error" and e.step not in failed_parents and carried(e)]


def _colour(state: str) -> str:
    if state in STATE_COLOURS:
        return STATE_COLOURS[state]
    return f"hsl({sum(map(ord, state)) * 47 % 360}, 60%, 80%)"


@dataclass
class _Page:
    start: float
    finish: float
    entries: list[Entry]
    lanes: list[str] = field(default_factory=list)


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def _lane_html(page: _Page, lane: str, bands: list[Band]) -> str:
    items = []
    rows = 0
    for band in bands:
        items.append(
            f'<div class="band" data-s="{band.start - page.start:.6f}" data-e="{band.end - page.start:.6f}" '
            f'style="background:{_colour(band.state)}" title="{_attr(band.state)}"><span>{html.escape(band.state)}'
            "</span></div>"
        )
    top = 22 if bands else 0
    for index, entry in enumerate(page.entries):
        if entry.source != lane:
            continue
        offset = entry.ts - page.start
        tip = _attr(entry.text if len(entry.text) < 400 else entry.text[:400] + "…")
        if entry.end is not None:
            rows = max(rows, entry.depth + 1)
            y = top + 14 + entry.depth * 18
            items.append(
                f'<a class="span {entry.kind}" href="#e{index}" data-s="{offset:.6f}" '
                f'data-e="{entry.end - page.start:.6f}" style="top:{y}px" title="{tip}">'
                f"<span>{html.escape(entry.text.split('(')[0])}</span></a>"
            )
        else:
            items.append(
                f'<a class="tick {entry.kind}" href="#e{index}" data-s="{offset:.6f}" style="top:{top}px" '
                f'title="{tip}"></a>'
            )
    height = top + 14 + rows * 18 + 4
    return (
        f'<div class="lane" data-lane="{_attr(lane)}"><div class="label">{html.escape(lane)}</div>'
        f'<div class="track" style="height:{height}px">{"".join(items)}</div></div>'
    )


def _row_html(page: _Page, index: int, entry: Entry) -> str:
    if entry.folded:
        body = (
            f"<details><summary>{html.escape(entry.text)}</summary><pre>{html.escape(chr(10).join(entry.folded))}"
            "</pre></details>"
        )
    elif entry.fields:
        name = entry.text.split("(")[0] if entry.file == "steps.jsonl" else entry.text.split(" ")[0]
        values = "".join(
            f'<span class="kv"><span class="k">{html.escape(k)}</span>: {html.escape(v)}</span>'
            for k, v in entry.fields
        )
        word = OUTCOME_WORDS.get(entry.kind, entry.kind)
        outcome = f' <span class="outcome {entry.kind}">{html.escape(word)}</span>' if entry.end is not None else ""
        error = f'<div class="err">{html.escape(entry.error)}</div>' if entry.error else ""
        body = f'<span class="what">{html.escape(name)}</span>{outcome} {values}{error}'
    else:
        body = html.escape(entry.text)
    indent = f' style="padding-left:{8 + 16 * entry.depth}px"' if entry.depth else ""
    where = f"{entry.file}:{entry.line}"
    return (
        f'<tr id="e{index}" class="{entry.kind}" data-lane="{_attr(entry.source)}" '
        f'data-s="{entry.ts - page.start:.6f}"><td class="t">+{entry.ts - page.start:.3f} s</td>'
        f'<td class="src">{html.escape(entry.source)}</td><td class="msg"{indent}>{body}</td>'
        f'<td class="raw"><a href="{_attr(line_link(entry.file, entry.line))}" '
        f'title="line {entry.line} of {_attr(entry.file)}">{html.escape(where)}</a></td></tr>'
    )


def line_view_name(raw: str) -> str:
    """The line view of the raw file `raw` (`board-1.log` -> `board-1.log.html`), in the same folder."""
    return f"{raw}.html"


def line_link(raw: str, line: int) -> str:
    """Where a browser shows line `line` of the raw file `raw`: its line view, at that line."""
    return f"{line_view_name(raw)}#L{line}"


def render_line_view(path: Path) -> str:
    """The raw file at `path` as a page: each line numbered, with the anchor `#L<n>`."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = "\n".join(
        f'<tr id="L{number}"><td class="n"><a href="#L{number}">{number}</a></td><td>{html.escape(line)}</td></tr>'
        for number, line in enumerate(lines, 1)
    )
    return LINE_VIEW.format(name=html.escape(path.name), raw=_attr(path.name), rows=rows)


def render(folder: Path, title: str | None = None, entries: list[Entry] | None = None) -> str:
    """The timeline page of the evidence in `folder` (its `entries`, when already collected)."""
    entries = collect(folder) if entries is None else entries
    start = entries[0].ts if entries else 0.0
    finish = max((max(e.ts, e.end or e.ts) for e in entries), default=start)
    page = _Page(start, finish, entries, lane_order({e.source for e in entries}))
    bands = state_bands(entries, finish)
    lanes = "".join(_lane_html(page, lane, bands.get(lane, [])) for lane in page.lanes)
    marks = []
    failures = []
    for step in failing_steps(entries):
        index = entries.index(step)
        first_line = step.error.splitlines()[0] if step.error else step.text
        name = step.text.split("(")[0]
        marks.append(
            f'<a class="fail-mark" href="#e{index}" data-s="{(step.end or step.ts) - start:.6f}" '
            f'title="{_attr(step.error)}"><span>✗ {html.escape(name)} on {html.escape(step.source)}</span></a>'
        )
        failures.append(
            f'<li><a href="#e{index}">{html.escape(name)} on {html.escape(step.source)}</a> gave up at '
            f"+{(step.end or step.ts) - start:.3f} s: {html.escape(first_line)}</li>"
        )
    boxes = " ".join(
        f'<label><input type="checkbox" name="lane" value="{_attr(s)}" checked> {html.escape(s)}</label>'
        for s in page.lanes
    )
    rows = "\n".join(_row_html(page, i, e) for i, e in enumerate(entries))
    failed = f'<ul id="failures">{"".join(failures)}</ul>' if failures else ""
    return PAGE.format(
        title=html.escape(title or folder.name),
        span=f"{finish - start:.3f}",
        failures=failed,
        checkboxes=boxes,
        lanes=lanes,
        marks="".join(marks),
        rows=rows,
        total=json.dumps(max(finish - start, 1e-3)),
    )


def write_timeline(folder: Path, title: str | None = None) -> Path:
    """`timeline.html` in `folder`, and the line view of each raw file it links to."""
    path = folder / "timeline.html"
    entries = collect(folder)
    path.write_text(render(folder, title, entries), encoding="utf-8")
    for raw in sorted({entry.file for entry in entries}):
        (folder / line_view_name(raw)).write_text(render_line_view(folder / raw), encoding="utf-8")
    return path


LINE_VIEW = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 1.2em; color: #202124; }}
h1 {{ font-size: 1.2em; margin: 0 0 .2em; }}
table {{ border-collapse: collapse; font-family: ui-monospace, monospace; font-size: 12px; }}
td {{ padding: 0 8px; vertical-align: top; white-space: pre-wrap; word-break: break-word; }}
td.n {{ text-align: right; color: #5f6368; user-select: none; }} td.n a {{ color: inherit; text-decoration: none; }}
tr {{ scroll-margin-top: 40vh; }}
tr:target {{ background: #fef7e0; outline: 2px solid #f9ab00; }}
</style></head><body>
<h1>{name}</h1>
<p><a href="{raw}">the raw file</a> · <a href="timeline.html">timeline</a></p>
<table id="lines"><tbody>
{rows}
</tbody></table>
</body></html>
"""


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>provlab timeline — {title}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 1.2em; color: #202124; }}
h1 {{ font-size: 1.25em; margin: 0 0 .3em; }}
#failures {{ color: #c5221f; font-weight: 600; margin: .3em 0 .6em; padding-left: 1.2em; }}
#failures a {{ color: inherit; }}
#controls {{ display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-bottom: .5em; }}
#controls button {{ min-width: 2.2em; }}
#lanes {{ position: relative; border: 1px solid #dadce0; user-select: none; }}
.lane {{ display: flex; border-bottom: 1px solid #eee; }}
.lane .label {{ width: 80px; flex: none; padding: 4px 6px; font-weight: 600; background: #f8f9fa;
  border-right: 1px solid #dadce0; }}
.track {{ position: relative; flex: 1; overflow: hidden; cursor: grab; }}
.band {{ position: absolute; top: 2px; height: 18px; overflow: hidden; font-size: 11px; white-space: nowrap;
  border-right: 1px solid #fff; box-sizing: border-box; }}
.band span {{ padding-left: 3px; }}
.tick {{ position: absolute; width: 2px; height: 10px; margin-top: 2px; background: #9aa0a6; }}
.tick.state {{ background: #188038; }} .tick.error {{ background: #d93025; height: 12px; width: 3px; }}
.span {{ position: absolute; height: 15px; min-width: 2px; background: #8ab4f8; border-radius: 2px;
  overflow: hidden; font-size: 11px; white-space: nowrap; color: #202124; text-decoration: none;
  box-sizing: border-box; border: 1px solid #1a73e8; }}
.span span {{ padding-left: 2px; }}
.span.error {{ background: #f6aea9; border-color: #d93025; }}
.span.skipped {{ background: #e8eaed; border-color: #9aa0a6; }}
.outcome.error {{ color: #c5221f; font-weight: 600; }} .outcome.step {{ color: #188038; }}
#axis {{ position: relative; height: 18px; margin-left: 93px; font-size: 11px; color: #5f6368; }}
#axis span {{ position: absolute; transform: translateX(-50%); }}
#marks {{ position: absolute; top: 0; bottom: 0; left: 93px; right: 0; pointer-events: none; overflow: hidden; }}
.fail-mark {{ position: absolute; top: 0; bottom: 0; border-left: 2px solid #d93025; pointer-events: auto;
  color: #c5221f; text-decoration: none; }}
.fail-mark span {{ position: absolute; top: 0; left: 3px; background: #fce8e6; padding: 0 3px; font-size: 11px;
  font-weight: 600; white-space: nowrap; }}
.hidden {{ display: none !important; }}
.dim {{ opacity: .15; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 1em; }}
td {{ padding: 2px 8px; vertical-align: top; border-bottom: 1px solid #eee; }}
td.t {{ color: #5f6368; white-space: nowrap; text-align: right; font-family: ui-monospace, monospace; }}
td.src {{ white-space: nowrap; font-weight: 600; }}
td.msg {{ font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }}
td.raw {{ white-space: nowrap; font-size: 11px; }}
.kv {{ margin-right: 12px; }} .k {{ color: #5f6368; }}
.what {{ font-weight: 600; margin-right: 6px; }}
.outcome {{ margin-right: 8px; }}
.err {{ color: #c5221f; white-space: pre-wrap; }}
tr.state td.msg {{ background: #e6f4ea; font-weight: 600; }}
tr.step td.msg {{ background: #e8f0fe; }}
tr.error td.msg {{ background: #fce8e6; }}
tr.skipped td.msg {{ background: #f1f3f4; }}
tr:target td, tr.picked td {{ outline: 2px solid #1a73e8; }}
details pre {{ margin: 2px 0; }}
</style></head><body>
<h1>{title}</h1>
<div>{span} s of host time on one axis.</div>
{failures}
<div id="controls">
<span><button id="zoom-in" title="zoom in">+</button> <button id="zoom-out" title="zoom out">−</button>
<button id="zoom-fit">fit</button> <span id="window"></span></span>
<span>{checkboxes}</span>
<label><input type="checkbox" id="problems"> problems only</label>
<label>text <input id="search" type="search" placeholder="filter rows"></label>
</div>
<div id="axis"></div>
<div id="lanes">{lanes}<div id="marks">{marks}</div></div>
<table id="rows"><tbody>
{rows}
</tbody></table>
<script>
(function () {{
  const total = {total};
  let v0 = 0, v1 = total;
  const tracks = Array.from(document.querySelectorAll('.track'));
  const place = () => {{
    const w = v1 - v0;
    for (const el of document.querySelectorAll('.band, .span, .tick, .fail-mark')) {{
      const s = Number(el.dataset.s), e = el.dataset.e === undefined ? s : Number(el.dataset.e);
      const out = e < v0 || s > v1;
      el.style.display = out ? 'none' : '';
      if (out) continue;
      const from = el.dataset.e === undefined ? s : Math.max(s, v0);  // a span cut at the edge keeps its label
      el.style.left = (100 * (from - v0) / w) + '%';
      if (el.dataset.e !== undefined) el.style.width = Math.max(100 * (Math.min(e, v1) - from) / w, 0.15) + '%';
    }}
    const axis = document.getElementById('axis');
    axis.innerHTML = '';
    const step = Math.pow(10, Math.floor(Math.log10(w / 5 || 1)));
    const every = [1, 2, 5, 10].map(k => k * step).find(k => w / k <= 10) || step * 10;
    for (let t = Math.ceil(v0 / every) * every; t <= v1; t += every) {{
      const label = document.createElement('span');
      label.style.left = (100 * (t - v0) / w) + '%';
      label.textContent = '+' + (every < 1 ? t.toFixed(String(every).split('.')[1].length) : t.toFixed(0)) + ' s';
      axis.appendChild(label);
    }}
    document.getElementById('window').textContent = '+' + v0.toFixed(3) + ' … +' + v1.toFixed(3) + ' s';
  }};
  const zoom = (factor, at) => {{
    const centre = at === undefined ? (v0 + v1) / 2 : at;
    const w = Math.min(Math.max((v1 - v0) * factor, total / 100000), total);
    v0 = Math.max(0, centre - (centre - v0) * w / (v1 - v0));
    v1 = Math.min(total, v0 + w);
    v0 = Math.max(0, v1 - w);
    place();
  }};
  document.getElementById('zoom-in').addEventListener('click', () => zoom(0.5));
  document.getElementById('zoom-out').addEventListener('click', () => zoom(2));
  document.getElementById('zoom-fit').addEventListener('click', () => {{ v0 = 0; v1 = total; place(); }});
  for (const track of tracks) {{
    track.addEventListener('wheel', ev => {{
      ev.preventDefault();
      const box = track.getBoundingClientRect();
      zoom(ev.deltaY < 0 ? 0.8 : 1.25, v0 + (v1 - v0) * (ev.clientX - box.left) / box.width);
    }}, {{ passive: false }});
    track.addEventListener('mousedown', ev => {{
      const box = track.getBoundingClientRect(), x0 = ev.clientX, a = v0, b = v1;
      const move = m => {{
        const dt = (b - a) * (x0 - m.clientX) / box.width;
        v0 = Math.min(Math.max(0, a + dt), total - (b - a)); v1 = v0 + (b - a); place();
      }};
      const up = () => {{ window.removeEventListener('mousemove', move); window.removeEventListener('mouseup', up); }};
      window.addEventListener('mousemove', move); window.addEventListener('mouseup', up);
    }});
  }}
  const rows = Array.from(document.querySelectorAll('#rows tr'));
  const filter = () => {{
    const lanes = new Set(Array.from(document.querySelectorAll('input[name=lane]:checked')).map(b => b.value));
    const problems = document.getElementById('problems').checked;
    const text = document.getElementById('search').value.toLowerCase();
    for (const lane of document.querySelectorAll('.lane'))
      lane.classList.toggle('hidden', !lanes.has(lane.dataset.lane));
    for (const row of rows) {{
      const ok = lanes.has(row.dataset.lane) && (!problems || row.classList.contains('error'))
        && (!text || row.textContent.toLowerCase().includes(text));
      row.classList.toggle('hidden', !ok);
    }}
    for (const item of document.querySelectorAll('.track a')) {{
      const row = document.getElementById(item.getAttribute('href').slice(1));
      item.classList.toggle('dim', !!row && row.classList.contains('hidden'));
    }}
  }};
  for (const el of document.querySelectorAll('#controls input')) {{
    el.addEventListener('input', filter); el.addEventListener('change', filter);
  }}
  for (const item of document.querySelectorAll('.track a, .fail-mark, #failures a')) {{
    item.addEventListener('click', () => {{
      for (const row of document.querySelectorAll('tr.picked')) row.classList.remove('picked');
      const row = document.getElementById(item.getAttribute('href').slice(1));
      if (row) row.classList.add('picked');
    }});
  }}
  place();
}})();
</script>
</body></html>
"""
