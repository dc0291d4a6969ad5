"""The step journal: steps with subject, masked arguments, wall and device time, nesting and outcome."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from provlab.lab.capabilities import BoardOutOfReach
from provlab.lab.runtime import EventLoopThread
from provlab.lab.steps import Outcome, StepJournal, step

TOKEN = "Zx9QvR3kL0pT7mN2bC5dF8gH1jK4sW6y"  # 32 characters: the shape of an auth token


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_step_is_written_with_its_times_subject_masked_args_and_outcome(tmp_path: Path) -> None:
    device_now = iter([10.0, 12.5])
    journal = StepJournal(tmp_path / "steps.jsonl", clock=lambda: next(device_now))
    with journal.step("provision", "phone", token=TOKEN, wifi_pass="hunter2-hunter2", ssid="Home") as running:
        assert running.outcome is Outcome.RUNNING
        running.response = {"token": TOKEN}
    journal.close()
    [record] = _records(tmp_path / "steps.jsonl")
    assert record["name"] == "provision" and record["subject"] == "phone" and record["outcome"] == "ok"
    assert isinstance(record["start"], float) and isinstance(record["end"], float)
    assert record["start"] <= record["end"]
    assert (record["device_start"], record["device_end"]) == (10.0, 12.5)
    assert record["args"] == {"token": TOKEN[:4] + "…", "wifi_pass": "…", "ssid": "Home"}
    text = (tmp_path / "steps.jsonl").read_text()
    assert TOKEN not in text and "hunter2" not in text
    assert running.args["token"] != TOKEN  # masked in memory too: a repr in a failure message leaks nothing


def test_steps_nest_and_a_failure_keeps_its_message(tmp_path: Path) -> None:
    journal = StepJournal(tmp_path / "steps.jsonl")
    with pytest.raises(AssertionError, match="no RUNNING"), journal.step("provision", "phone") as outer:
        with journal.step("join_ap", "phone") as inner:
            pass
        with journal.step("wait_online", "phone"):
            raise AssertionError(f"no RUNNING within 5 s; last line: Blynk cloud: {TOKEN} @ 127.0.0.1")
    journal.close()
    by_name = {r["name"]: r for r in _records(tmp_path / "steps.jsonl")}
    assert by_name["provision"]["parent"] is None
    assert by_name["join_ap"]["parent"] == outer.id == by_name["wait_online"]["parent"]
    assert inner.outcome is Outcome.OK
    assert by_name["wait_online"]["outcome"] == "failed" and by_name["provision"]["outcome"] == "failed"
    assert by_name["wait_online"]["exception"] == "AssertionError"
    assert str(by_name["wait_online"]["error"]).startswith("no RUNNING within 5 s")
    assert TOKEN not in (tmp_path / "steps.jsonl").read_text()


def test_a_missing_capability_is_a_skipped_step() -> None:
    journal = StepJournal(None)
    with pytest.raises(BoardOutOfReach), journal.step("board_get", "phone"):
        raise BoardOutOfReach("board-2 is attached by serial")
    assert journal.steps[0].outcome is Outcome.SKIPPED and journal.steps[0].error == "board-2 is attached by serial"


def test_steps_on_the_lab_loop_nest_under_the_step_that_called_into_it() -> None:
    """The sync face opens a step in the test's thread; the async core's steps run on the loop thread."""
    journal = StepJournal(None)
    loop = EventLoopThread()
    callers: list[str] = []

    async def core() -> None:
        callers.append(threading.current_thread().name)
        with journal.step("join_ap", "phone"):
            await asyncio.sleep(0)
        await asyncio.gather(*(side(n) for n in range(2)))  # concurrent tasks: each its own nesting

    async def side(n: int) -> None:
        with journal.step(f"task-{n}", "phone"):
            await asyncio.sleep(0)
            with journal.step(f"task-{n}-inner", "phone"):
                await asyncio.sleep(0)

    try:
        with journal.step("provision", "phone") as outer:
            loop.run(core(), 10)
    finally:
        loop.close()
    assert callers == ["provlab-loop"]
    parent = {s.name: s.parent for s in journal.steps}
    ids = {s.name: s.id for s in journal.steps}
    assert parent["join_ap"] == outer.id and parent["task-0"] == outer.id and parent["task-1"] == outer.id
    assert parent["task-0-inner"] == ids["task-0"] and parent["task-1-inner"] == ids["task-1"]


def test_another_journals_open_step_is_no_parent() -> None:
    first, second = StepJournal(None), StepJournal(None)
    with first.step("outer"), second.step("inner"):
        pass
    assert second.steps[0].parent is None


class _Face:
    """A stand-in for a board face: something with a name and a step journal (not a protocol peer)."""

    def __init__(self, journal: StepJournal) -> None:
        self.name = "board-7"
        self.step_journal = journal

    @step("console")
    def console(self, line: str, timeout: float = 10.0, **extra: object) -> str:
        return line.upper()


def test_the_decorator_records_the_call_with_its_arguments() -> None:
    journal = StepJournal(None)
    line = f"connect {TOKEN} Home s3cretpass"
    assert _Face(journal).console(line, colour="red") == line.upper()
    [recorded] = journal.steps
    assert (recorded.name, recorded.subject, recorded.outcome) == ("console", "board-7", Outcome.OK)
    assert recorded.args["timeout"] == 10.0 and recorded.args["colour"] == "red"
    assert TOKEN not in str(recorded.args["line"]) and "s3cretpass" not in str(recorded.args["line"])
