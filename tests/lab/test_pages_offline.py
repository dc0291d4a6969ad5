"""The pages provlab leaves or serves load nothing from elsewhere: report.html, a real lab's timeline.html and
its line views, and the stub's /console reference no `http://`, `https://` or protocol-relative `//` resource
(a CI artifact opened offline, or on a lab host without internet, looks the same). The browser tests then
check the same pages make no request off loopback while they run (tests/browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from child_process import provlab_child

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.report_page import RunInfo, write_report
from provlab.lab.summary import ScenarioResult

_URL = r"""((?:[a-z][a-z0-9+.-]*:)?//[^"'`)\s>]*)"""
REFERENCES = (
    re.compile(r"""\b(?:src|href|action|formaction|srcset|poster|data|background)\s*=\s*["']?\s*""" + _URL, re.I),
    re.compile(r"""@import\s+(?:url\(\s*)?["']?\s*""" + _URL, re.I),
    re.compile(r"""\burl\(\s*["']?\s*""" + _URL, re.I),
    re.compile(r"""["'`]\s*""" + _URL, re.I),  # a script's string: fetch('https://…'), new WebSocket('ws://…')
)


def external_references(page: str) -> list[str]:
    """Every resource `page` names on another host: an absolute (`scheme://`) or protocol-relative URL in an
    attribute, a CSS `@import`/`url()` or a script's string literal. Relative paths, `#fragments` and `data:`
    are local."""
    return sorted({match.group(1) for pattern in REFERENCES for match in pattern.finditer(page)})


def test_the_check_finds_each_way_a_page_can_reach_out() -> None:
    page = """<link rel="stylesheet" href="https://cdn.example/a.css"><script src=//cdn.example/b.js></script>
    <style>@import "http://fonts.example/c.css"; body { background: url( 'https://img.example/d.png') }</style>
    <img srcset="https://img.example/e.png 2x"><form action="http://post.example/f"></form>
    <script>fetch(`https://api.example/g`); new WebSocket("ws://live.example/h")</script>"""
    assert external_references(page) == [
        "//cdn.example/b.js",
        "http://fonts.example/c.css",
        "http://post.example/f",
        "https://api.example/g",
        "https://cdn.example/a.css",
        "https://img.example/d.png",
        "https://img.example/e.png",
        "ws://live.example/h",
    ]
    local = """<a href="t/timeline.html">x</a> <a href="board-1.log.html#L2">y</a> <link rel="icon" href="data:,">
    <script>fetch('/api/v1/lab/console/state'); const x = 1;  // a comment</script> seen at http://127.0.0.1:80"""
    assert external_references(local) == []


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real lab's evidence: a board provisioned by the phone (every stream, so every lane and line view)."""
    folder = tmp_path_factory.mktemp("evidence") / "test_happy"
    with Lab(LabConfig(boards=1), artifacts=folder) as lab:
        lab.phone().provision(lab.boards[0])
        lab.boards[0].expect_state("RUNNING", timeout=60)
    return folder


def test_report_timeline_and_line_views_load_nothing_from_elsewhere(evidence: Path) -> None:
    failed = ScenarioResult(
        "suite/test_x.py::test_happy", "failed", 1.5, str(evidence), board="board-1", message="seen at https://x.y/"
    )
    report = write_report([failed], RunInfo(command="provlab run", host="here"), evidence.parent / "report.html")
    pages = [report, evidence / "timeline.html", *sorted(evidence.glob("*.*.html"))]
    assert {page.name for page in pages} >= {"report.html", "timeline.html", "board-1.log.html", "steps.jsonl.html"}
    for page in pages:
        assert external_references(page.read_text()) == [], page.name


def test_the_stub_console_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    with provlab_child("cloud", "serve", "--db", str(tmp_path / "cloud.db"), *ports, "--json") as stub:
        page = httpx.get(f"{stub['http_url']}/console", timeout=10)
    assert page.status_code == 200 and "<script>" in page.text
    assert external_references(page.text) == []
