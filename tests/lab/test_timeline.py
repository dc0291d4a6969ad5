"""timeline.html merges the board log, phone and cloud journals on one clock, escaped and ordered."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from provlab.lab.timeline import collect, write_timeline


def test_streams_are_merged_in_time_order_and_escaped(tmp_path: Path) -> None:
    (tmp_path / "board-1.log").write_text(
        "2026-11-26T04:00:00.100+00:00 [10] INIT => WAIT_CONFIG\n"
        "2026-11-26T04:00:00.400+00:00 [310] <script>alert(1)</script>\n"
    )
    (tmp_path / "steps.jsonl").write_text(
        json.dumps(
            {
                "ts": 1795665600.2,
                "kind": "step",
                "id": 1,
                "name": "join_ap",
                "subject": "phone",
                "start": 1795665600.2,
                "end": 1795665600.25,
                "outcome": "ok",
                "args": {},
            }
        )
        + "\n"
    )
    (tmp_path / "cloud.jsonl").write_text(
        json.dumps({"ts": 1795665600.3, "kind": "device_online", "device_id": 1}) + "\n"
    )
    entries = collect(tmp_path)
    assert [e.source for e in entries] == ["board-1", "phone", "cloud", "board-1"]
    assert entries[0].kind == "state" and entries[1].kind == "step"
    page = write_timeline(tmp_path, "t").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    rows = page[page.index('<table id="rows">') :]
    assert rows.index("INIT =&gt; WAIT_CONFIG") < rows.index(">join_ap</span>") < rows.index(">device_online<")
    # values read as key: value, each row links the line of the raw file it came from
    assert '<span class="k">device_id</span>: 1</span>' in rows
    assert '<a href="cloud.jsonl.html#L1" title="line 1 of cloud.jsonl">cloud.jsonl:1</a>' in rows
    assert '<a href="board-1.log.html#L2" title="line 2 of board-1.log">board-1.log:2</a>' in rows


def test_each_raw_file_gets_a_line_view_its_rows_link_into(tmp_path: Path) -> None:
    """A browser opens a text file at its top whatever the fragment: `board-1.log.html#L2` is line 2, anchored."""
    (tmp_path / "board-1.log").write_text(
        "2026-11-26T04:00:00.100+00:00 [10] INIT => WAIT_CONFIG\n"
        "2026-11-26T04:00:00.400+00:00 [310] <b>not markup</b>\n"
    )
    (tmp_path / "phone.jsonl").write_text(json.dumps({"ts": 1795665600.3, "kind": "join_ap"}) + "\n")
    write_timeline(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.html")) == ["board-1.log.html", "phone.jsonl.html", "timeline.html"]
    view = (tmp_path / "board-1.log.html").read_text()
    assert '<a href="board-1.log">the raw file</a>' in view and '<a href="timeline.html">timeline</a>' in view
    line_2 = view[view.index('<tr id="L2">') :].split("</tr>")[0]
    assert "[310] &lt;b&gt;not markup&lt;/b&gt;" in line_2 and '<a href="#L2">2</a>' in line_2
    assert "INIT =&gt; WAIT_CONFIG" in view[view.index('<tr id="L1">') :].split("</tr>")[0]
    phone = (tmp_path / "phone.jsonl.html").read_text()
    assert html.escape((tmp_path / "phone.jsonl").read_text().strip()) in phone
    timeline = (tmp_path / "timeline.html").read_text()
    for link in re.findall(r'<td class="raw"><a href="([^"]+)"', timeline):
        view_name, _, anchor = link.partition("#")
        assert (tmp_path / view_name).is_file() and f'<tr id="{anchor}">' in (tmp_path / view_name).read_text()


def test_steps_are_spans_nested_under_their_parent_with_their_outcome(tmp_path: Path) -> None:
    def step(id_: int, parent: int | None, name: str, start: float, end: float, outcome: str, error: str = "") -> str:
        record = {"ts": start, "kind": "step", "id": id_, "parent": parent, "name": name, "subject": "board-1"}
        record |= {"start": start, "end": end, "outcome": outcome, "error": error or None, "args": {"timeout": 5}}
        return json.dumps(record)

    lines = [
        step(2, 1, "expect", 10.5, 11.0, "failed", "expected 'RUNNING' within 5 s"),
        step(1, None, "provision", 10.0, 12.0, "failed", "expected 'RUNNING' within 5 s"),
        step(3, None, "power_off", 12.0, 12.0, "skipped", "no power relay"),
    ]
    (tmp_path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    entries = collect(tmp_path)
    assert [(e.text.split("(")[0], e.depth, e.kind, e.ts, e.end) for e in entries] == [
        ("provision", 0, "error", 10.0, 12.0),
        ("expect", 1, "error", 10.5, 11.0),
        ("power_off", 0, "skipped", 12.0, 12.0),
    ]
    assert entries[1].text == "expect(timeout: 5) failed 0.500 s: expected 'RUNNING' within 5 s"
    page = write_timeline(tmp_path).read_text()
    # on board-1's lane: expect is a span 0.5 s into the run, 0.5 s long, one row below provision
    assert 'class="span error" href="#e1" data-s="0.500000" data-e="1.000000" style="top:32px"' in page
    # the expectation that gave up is marked where it did (its parent failed with it: not marked)
    assert page.count('class="fail-mark"') == 1
    assert '<a class="fail-mark" href="#e1" data-s="1.000000"' in page


def test_board_states_are_bands_and_the_banner_is_folded(tmp_path: Path) -> None:
    stamp = "2026-11-26T04:00:0{}.000+00:00 "
    banner = ["    ___  __", "   / _ )/ /", " Device:    Blynk Device-1W7R", " Firmware:  0.1.0 (build x)"]
    lines = [stamp.format(0) + "[0] ", *(stamp.format(0) + line for line in banner)]
    lines += [stamp.format(1) + ">[0] INIT => WAIT_CONFIG", stamp.format(3) + "[3000] WAIT_CONFIG => RUNNING"]
    lines += [stamp.format(4) + "[4000] still running"]
    (tmp_path / "board-1.log").write_text("\n".join(lines) + "\n")
    entries = collect(tmp_path)
    assert [e.text for e in entries][:2] == [
        "[0] ",
        "boot banner (4 lines): Device:    Blynk Device-1W7R; Firmware:  0.1.0 (build x)",
    ]
    assert entries[1].folded == tuple(banner) and entries[1].line == 2
    page = write_timeline(tmp_path).read_text()
    assert "<details><summary>boot banner (4 lines)" in page
    # bands: WAIT_CONFIG from +1 s to +3 s, RUNNING from +3 s to the end (+4 s), each in its colour
    assert 'class="band" data-s="1.000000" data-e="3.000000" style="background:#fdd663"' in page
    assert 'class="band" data-s="3.000000" data-e="4.000000" style="background:#81c995"' in page
