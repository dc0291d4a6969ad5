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
