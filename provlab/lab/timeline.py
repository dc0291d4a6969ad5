"""timeline.html: every stream of one test's evidence (boards, steps, phone, cloud, air) merged on one clock.

The lab's steps (`steps.jsonl`) are spans: a row at their start, indented under the step they ran in, with
their outcome, duration and a bar showing where they lie on the run's time axis.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

STATE_LINE = re.compile(r"\b([A-Z_]{4,}) => ([A-Z_]{4,})\b")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00) (.*)$")


@dataclass(frozen=True)
class Entry:
    ts: float
    source: str  # "board-1", "phone", "cloud", "air", "lab"
    text: str
    kind: str = ""  # "state", "step", "error", "skipped", ""
    end: float | None = None
    """Where a span (a step) ends; None for a single event."""
    depth: int = 0
    """How many steps this one runs inside."""


def board_entries(path: Path) -> list[Entry]:
    entries = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_STAMP.match(raw)
        if not match:
            continue
        ts = datetime.fromisoformat(match.group(1)).timestamp()
        text = match.group(2)
        kind = "state" if STATE_LINE.search(text) else ("error" if "error" in text.lower() else "")
        entries.append(Entry(ts, path.stem, text, kind))
    return entries


def jsonl_entries(path: Path, source: str) -> list[Entry]:
    entries = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        ts = float(record.pop("ts", 0.0))
        kind = str(record.pop("kind", ""))
        detail = ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "", {}, []))
        style = "error" if "fail" in kind or "timeout" in kind else ("state" if "online" in kind else "")
        entries.append(Entry(ts, source, f"{kind} {detail}".strip(), style))
    return entries


STEP_KINDS = {"ok": "step", "failed": "error", "skipped": "skipped"}


def step_entries(path: Path) -> list[Entry]:
    """The steps of `steps.jsonl` as spans on their subject's lane, nested under their parent step."""
    records = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "step":
            records.append(record)
    parents = {record.get("id"): record.get("parent") for record in records}

    def depth(parent: object) -> int:
        seen = 0
        while parent is not None and seen < len(parents):
            parent, seen = parents.get(parent), seen + 1
        return seen

    entries = []
    for record in records:
        start = float(record.get("start") or record.get("ts") or 0.0)
        end = record.get("end")
        outcome = str(record.get("outcome", ""))
        args = ", ".join(f"{k}={v}" for k, v in (record.get("args") or {}).items() if v not in (None, "", {}, []))
        took = f" {float(end) - start:.3f} s" if end is not None else ""
        text = f"{record.get('name')}({args}) {outcome}{took}"
        if record.get("error"):
            text += f": {record['error']}"
        kind = STEP_KINDS.get(outcome, "")
        source = str(record.get("subject") or "lab")
        span_end = None if end is None else float(end)
        entries.append(Entry(start, source, text, kind, span_end, depth(record.get("parent"))))
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


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>provlab timeline — {title}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ padding: 2px 8px; vertical-align: top; border-bottom: 1px solid #eee; font-family: ui-monospace, monospace; }}
td.t {{ color: #888; white-space: nowrap; text-align: right; }}
td.src {{ white-space: nowrap; font-weight: 600; }}
td.msg {{ white-space: pre-wrap; }}
td.span {{ width: 12em; position: relative; }}
td.span div {{ position: absolute; top: 5px; height: 8px; min-width: 2px; background: #1a73e8; }}
tr.error td.span div {{ background: #d93025; }} tr.skipped td.span div {{ background: #999; }}
tr.state td.msg {{ background: #e6f4ea; font-weight: 600; }}
tr.step td.msg {{ background: #e8f0fe; }}
tr.error td.msg {{ background: #fce8e6; }}
tr.skipped td.msg {{ background: #f1f3f4; }}
.lane-phone {{ color: #1a73e8; }} .lane-cloud {{ color: #8430ce; }} .lane-air {{ color: #b06000; }}
[class^="lane-board"] {{ color: #188038; }}
#filter {{ margin-bottom: 1em; }}
</style></head><body>
<h1>{title}</h1>
<div id="filter">{checkboxes}</div>
<table id="t"><tbody>
{rows}
</tbody></table>
<script>
for (const box of document.querySelectorAll('#filter input')) {{
  box.addEventListener('change', () => {{
    for (const row of document.querySelectorAll('tr[data-src="' + box.value + '"]'))
      row.style.display = box.checked ? '' : 'none';
  }});
}}
</script>
</body></html>
"""


def _span(entry: Entry, start: float, total: float) -> str:
    """A bar placing a step's span on the run's time axis (nothing for a single event)."""
    if entry.end is None:
        return ""
    left = 100 * (entry.ts - start) / total
    width = 100 * max(entry.end - entry.ts, 0.0) / total
    return f'<div style="left:{left:.2f}%;width:{width:.2f}%"></div>'


def render(folder: Path, title: str | None = None) -> str:
    entries = collect(folder)
    start = entries[0].ts if entries else 0.0
    finish = max((max(e.ts, e.end or e.ts) for e in entries), default=start)
    total = max(finish - start, 1e-6)
    sources = sorted({e.source for e in entries})
    rows = []
    for entry in entries:
        rows.append(
            f'<tr class="{entry.kind}" data-src="{html.escape(entry.source)}">'
            f'<td class="t">+{entry.ts - start:8.3f} s</td>'
            f'<td class="src lane-{html.escape(entry.source)}">{html.escape(entry.source)}</td>'
            f'<td class="span">{_span(entry, start, total)}</td>'
            f'<td class="msg">{"  " * entry.depth}{html.escape(entry.text)}</td></tr>'
        )
    boxes = " ".join(
        f'<label><input type="checkbox" value="{html.escape(s)}" checked> {html.escape(s)}</label>' for s in sources
    )
    return PAGE.format(title=html.escape(title or folder.name), checkboxes=boxes, rows="\n".join(rows))


def write_timeline(folder: Path, title: str | None = None) -> Path:
    path = folder / "timeline.html"
    path.write_text(render(folder, title), encoding="utf-8")
    return path
