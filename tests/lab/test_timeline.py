"""timeline.html merges the board log, phone and cloud journals on one clock, escaped and ordered."""

from __future__ import annotations

import json
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
    assert page.index("INIT =&gt; WAIT_CONFIG") < page.index("join_ap() ok 0.050 s") < page.index("device_online")


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
    assert entries[1].text == "expect(timeout=5) failed 0.500 s: expected 'RUNNING' within 5 s"
    page = write_timeline(tmp_path).read_text()
    assert '<div style="left:25.00%;width:25.00%"></div>' in page  # expect: 0.5 s into a 2 s run, 0.5 s long
