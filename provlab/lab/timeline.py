"""timeline.html: every stream of one test's evidence (boards, phone, cloud, air) merged on one clock."""

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
    source: str  # "board-1", "phone", "cloud", "air"
    text: str
    kind: str = ""  # "state", "step", "error", ""


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
        if source == "phone" and kind == "step_end":
            text = f"step {record.get('step')} {record.get('outcome')} ({record.get('duration_s')} s)"
            if record.get("error"):
                text += f": {record['error']}"
            entries.append(Entry(ts, source, text, "step" if record.get("outcome") == "ok" else "error"))
            continue
        detail = ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "", {}, []))
        style = "error" if "fail" in kind or "timeout" in kind else ("state" if "online" in kind else "")
        entries.append(Entry(ts, source, f"{kind} {detail}".strip(), style))
    return entries


def collect(folder: Path) -> list[Entry]:
    entries: list[Entry] = []
    for log in sorted(folder.glob("board-*.log")):
        entries += board_entries(log)
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
tr.state td.msg {{ background: #e6f4ea; font-weight: 600; }}
tr.step td.msg {{ background: #e8f0fe; }}
tr.error td.msg {{ background: #fce8e6; }}
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


def render(folder: Path, title: str | None = None) -> str:
    entries = collect(folder)
    start = entries[0].ts if entries else 0.0
    sources = sorted({e.source for e in entries})
    rows = []
    for entry in entries:
        rows.append(
            f'<tr class="{entry.kind}" data-src="{html.escape(entry.source)}">'
            f'<td class="t">+{entry.ts - start:8.3f} s</td>'
            f'<td class="src lane-{html.escape(entry.source)}">{html.escape(entry.source)}</td>'
            f'<td class="msg">{html.escape(entry.text)}</td></tr>'
        )
    boxes = " ".join(
        f'<label><input type="checkbox" value="{html.escape(s)}" checked> {html.escape(s)}</label>' for s in sources
    )
    return PAGE.format(title=html.escape(title or folder.name), checkboxes=boxes, rows="\n".join(rows))


def write_timeline(folder: Path, title: str | None = None) -> Path:
    path = folder / "timeline.html"
    path.write_text(render(folder, title), encoding="utf-8")
    return path
