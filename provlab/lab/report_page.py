"""report.html: one self-contained page per run (inline CSS and JS, no network).

The header says where and how the run happened (date, command, provlab and Python versions, host, the
boards with kind, MAC and firmware, the Wi-Fi backend, the clock). One row per test: suite, scenario,
board, outcome, duration, the failure message (with the board's last lines when the message has none) and
links to its evidence. Every link is relative to the report's own folder, so the page works wherever the
run's folders are opened or copied together. Rows filter by outcome, board, suite and text, and sort by any
column.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from provlab.lab.journal import mask_value

BOARD_TAIL_LINES = 12
"""How many of a board's last log lines a failed row shows when its message carries none."""
PROBLEMS = ("failed", "error")
"""Outcomes listed first."""
_LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d\.\d+)\+00:00 ")
_FIRMWARE_LINE = re.compile(r"Firmware:\s+(\S+)")


@dataclass(frozen=True)
class BoardInfo:
    """One board as the header lists it."""

    name: str
    kind: str
    """`emulated` or `real`."""
    mac: str = ""
    firmware: str = ""
    """Profile and version, e.g. `edgent-esp32 0.1.0`."""
    port: str = ""


@dataclass
class RunInfo:
    """Where and how the run happened, for the report's header."""

    started: str = ""
    command: str = ""
    provlab_version: str = ""
    python: str = ""
    host: str = ""
    wifi: str = ""
    clock: str = ""
    boards: dict[str, BoardInfo] = field(default_factory=dict)
    """By name and MAC (the same name in two labs is one board when the MAC agrees)."""


class Row(Protocol):
    """What the page needs of one test's result (`summary.ScenarioResult`)."""

    nodeid: str
    outcome: str
    duration: float
    evidence: str
    reason: str
    board: str
    message: str


def _rel(target: Path, base: Path) -> str:
    """`target` as a link from a page in `base` (both made absolute from the current folder first)."""
    return Path(os.path.relpath(target.absolute(), base.absolute())).as_posix()


def suite_of(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return path.split("/")[-2] if "/" in path else ""


def board_tail(folder: Path, lines: int = BOARD_TAIL_LINES) -> str:
    """The last `lines` lines of each board log in `folder`, the host date cut off the time stamps."""
    parts = []
    for log in sorted(folder.glob("board-*.log")):
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"{log.name}:\n" + "\n".join("  " + _LOG_STAMP.sub(r"\1 ", line) for line in tail))
    return "\n".join(parts)


def firmware_in_log(folder: Path, board: str) -> str:
    """The firmware version the board's boot banner printed (`Firmware: 0.1.0 (build …)`), or ''."""
    log = folder / f"{board}.log"
    if not log.is_file():
        return ""
    match = _FIRMWARE_LINE.search(log.read_text(encoding="utf-8", errors="replace"))
    return match.group(1) if match else ""


def _links(row: Row, base: Path) -> str:
    if not row.evidence:
        return ""
    folder = Path(row.evidence)
    links = []
    for name, label in (("timeline.html", "timeline"), ("", "folder"), ("steps.jsonl", "steps")):
        target = folder / name if name else folder
        if target.exists():
            links.append(f'<a href="{html.escape(_rel(target, base))}">{label}</a>')
    for log in sorted(folder.glob("board-*.log")):
        links.append(f'<a href="{html.escape(_rel(log, base))}">{html.escape(log.stem)} log</a>')
    return " ".join(links)


def _detail(row: Row) -> str:
    """The failure message (and the board's last lines when the message has none), or the skip reason."""
    if row.outcome in PROBLEMS and row.message:
        text = str(mask_value("", row.message))
        tail = ""
        if row.evidence and "lines from the board" not in text:
            lines = board_tail(Path(row.evidence))
            if lines:
                tail = f'<div class="tail-h">last board lines</div><pre class="tail">{html.escape(lines)}</pre>'
        first, _, rest = text.partition("\n")
        more = f'<pre class="more">{html.escape(rest)}</pre>' if rest.strip() else ""
        return f'<div class="failure"><div class="msg">{html.escape(first)}</div>{more}{tail}</div>'
    if row.reason:
        return f'<div class="reason">{html.escape(row.reason)}</div>'
    return ""


def _row(row: Row, base: Path) -> str:
    suite = suite_of(row.nodeid)
    name = row.nodeid.split("::")[-1]
    return (
        f'<tr class="result {html.escape(row.outcome)}" data-outcome="{html.escape(row.outcome)}" '
        f'data-board="{html.escape(row.board)}" data-suite="{html.escape(suite)}">'
        f"<td>{html.escape(suite)}</td>"
        f'<td class="scenario"><span class="name" title="{html.escape(row.nodeid)}">{html.escape(name)}</span>'
        f"{_detail(row)}</td>"
        f"<td>{html.escape(row.board)}</td>"
        f'<td class="outcome">{html.escape(row.outcome)}</td>'
        f'<td class="num" data-value="{row.duration:.6f}">{row.duration:.2f} s</td>'
        f'<td class="links">{_links(row, base)}</td></tr>'
    )


def _header(info: RunInfo) -> str:
    facts = [
        ("date", info.started),
        ("command", info.command),
        ("provlab", info.provlab_version),
        ("Python", info.python),
        ("host", info.host),
        ("Wi-Fi", info.wifi or "-"),
        ("clock", info.clock or "-"),
    ]
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    boards = "".join(
        f"<tr><td>{html.escape(b.name)}</td><td>{html.escape(b.kind)}</td><td>{html.escape(b.mac or '-')}</td>"
        f"<td>{html.escape(b.firmware or '-')}</td><td>{html.escape(b.port or '-')}</td></tr>"
        for b in info.boards.values()
    )
    table = (
        '<table id="boards"><thead><tr><th>board</th><th>kind</th><th>MAC</th><th>firmware</th><th>port</th></tr>'
        f"</thead><tbody>{boards}</tbody></table>"
        if boards
        else "<p>no board</p>"
    )
    return f'<dl id="run">{items}</dl>{table}'


def _choices(name: str, values: list[str]) -> str:
    options = "".join(f'<option value="{html.escape(v)}">{html.escape(v or "(none)")}</option>' for v in values)
    return f'<label>{name} <select id="f-{name}"><option value="*">all</option>{options}</select></label>'


def render_report(rows: list[Row], info: RunInfo, path: Path, title: str = "provlab report") -> str:
    """The page for `rows`, its links relative to `path`'s folder."""
    base = path.parent
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    outcome_boxes = "".join(
        f'<label class="{html.escape(k)}"><input type="checkbox" name="outcome" value="{html.escape(k)}" checked> '
        f"{html.escape(k)} ({n})</label> "
        for k, n in sorted(counts.items())
    )
    boards = sorted({b.strip() for row in rows for b in row.board.split(",")})
    suites = sorted({suite_of(row.nodeid) for row in rows})
    filters = (
        f'<div id="filters">{outcome_boxes}{_choices("board", boards)} {_choices("suite", suites)} '
        '<label>text <input id="f-text" type="search" placeholder="scenario or message"></label> '
        f'<span id="shown">{len(rows)} of {len(rows)} shown</span></div>'
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no scenarios ran"
    return PAGE.format(
        title=html.escape(title),
        summary=html.escape(summary),
        header=_header(info),
        filters=filters,
        rows="\n".join(_row(row, base) for row in sorted(rows, key=lambda r: r.outcome not in PROBLEMS)),
        total=json.dumps(len(rows)),
    )


def write_report(rows: list[Row], info: RunInfo, path: Path, title: str = "provlab report") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(rows, info, path, title), encoding="utf-8")
    return path


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #202124; }}
h1 {{ font-size: 1.4em; margin: 0 0 .2em; }}
#summary {{ font-weight: 600; margin-bottom: .8em; }}
dl#run {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 .8em; }}
dl#run dt {{ color: #5f6368; }} dl#run dd {{ margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e0e0e0; text-align: left; vertical-align: top; }}
#boards {{ margin-bottom: 1em; font-size: 13px; }} #boards td {{ font-family: ui-monospace, monospace; }}
#filters {{ margin: .6em 0; display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }}
#shown {{ color: #5f6368; }}
#results {{ width: 100%; }}
#results th {{ cursor: pointer; user-select: none; background: #f1f3f4; position: sticky; top: 0; }}
#results th.asc::after {{ content: " \\25B2"; }} #results th.desc::after {{ content: " \\25BC"; }}
td.num {{ text-align: right; white-space: nowrap; }}
td.outcome {{ font-weight: 600; }}
tr.passed td.outcome {{ color: #188038; }}
tr.failed td.outcome, tr.error td.outcome {{ color: #c5221f; }}
tr.skipped td.outcome, tr.xfailed td.outcome {{ color: #b06000; }}
.failure {{ margin-top: 4px; }}
.failure .msg {{ color: #c5221f; font-weight: 600; white-space: pre-wrap; }}
pre {{ margin: 4px 0; padding: 6px 8px; background: #f8f9fa; border-left: 3px solid #dadce0;
      font-size: 12px; white-space: pre-wrap; max-height: 22em; overflow: auto; }}
.tail-h {{ color: #5f6368; font-size: 12px; margin-top: 4px; }}
.reason {{ color: #b06000; font-size: 13px; }}
td.links a {{ margin-right: 8px; white-space: nowrap; }}
</style></head><body>
<h1>{title}</h1>
<div id="summary">{summary}</div>
{header}
{filters}
<table id="results"><thead><tr><th data-col="0">suite</th><th data-col="1">scenario</th><th data-col="2">board</th>
<th data-col="3">outcome</th><th data-col="4" data-num="1">duration</th><th>evidence</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<script>
(function () {{
  const rows = Array.from(document.querySelectorAll('#results tbody tr.result'));
  const total = {total};
  function apply() {{
    const outcomes = new Set(Array.from(document.querySelectorAll('input[name=outcome]:checked')).map(b => b.value));
    const board = document.getElementById('f-board').value;
    const suite = document.getElementById('f-suite').value;
    const text = document.getElementById('f-text').value.toLowerCase();
    let shown = 0;
    for (const row of rows) {{
      const boards = row.dataset.board.split(',').map(s => s.trim());
      const ok = outcomes.has(row.dataset.outcome) && (board === '*' || boards.includes(board))
        && (suite === '*' || row.dataset.suite === suite)
        && (!text || row.textContent.toLowerCase().includes(text));
      row.hidden = !ok;
      if (ok) shown++;
    }}
    document.getElementById('shown').textContent = shown + ' of ' + total + ' shown';
  }}
  for (const el of document.querySelectorAll('#filters input, #filters select')) {{
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  }}
  const body = document.querySelector('#results tbody');
  for (const th of document.querySelectorAll('#results th[data-col]')) {{
    th.addEventListener('click', () => {{
      const col = Number(th.dataset.col);
      const dir = th.classList.contains('asc') ? -1 : 1;
      for (const other of document.querySelectorAll('#results th')) other.classList.remove('asc', 'desc');
      th.classList.add(dir === 1 ? 'asc' : 'desc');
      const key = row => {{
        const cell = row.cells[col];
        if (th.dataset.num) return Number(cell.dataset.value);
        const name = cell.querySelector('.name');
        return (name ? name.textContent : cell.textContent).toLowerCase();
      }};
      rows.sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
      for (const row of rows) body.appendChild(row);
    }});
  }}
}})();
</script>
</body></html>
"""
