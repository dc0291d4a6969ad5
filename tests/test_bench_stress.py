"""The stress benchmark reads per-test outcomes from JUnit XML the way pytest writes it (no runs here)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_stress.py"

# the shape pytest --junitxml writes: a pass, a failure, a skip, a pass with a teardown error, a class
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
  <testcase classname="tests.emulator.test_board_button_led" name="test_a_short_hold_erases_nothing" time="1.2"/>
  <testcase classname="tests.wifi.test_air_faults" name="test_home_ap_appears_late[netns]" time="0.0">
    <skipped type="pytest.skip" message="netns backend unavailable here: not root">skip text</skipped>
  </testcase>
  <testcase classname="tests.emulator.test_board_cloud_client" name="test_pings" time="2.0">
    <failure message="AssertionError: heartbeat timeout at 61 s&#10;second line">trace</failure>
  </testcase>
  <testcase classname="tests.lab.test_journal" name="test_rows" time="0.1"/>
  <testcase classname="tests.lab.test_journal" name="test_rows" time="0.1">
    <error message="failed on teardown with &quot;OSError&quot;">trace</error>
  </testcase>
  <testcase classname="tests.cloud.test_store.TestDevices" name="test_insert" time="0.1"/>
</testsuite></testsuites>
"""


@functools.cache
def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_stress", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_stress"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_parse_junit_counts_outcomes_per_node_id(tmp_path: Path) -> None:
    bench = load_script()
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)

    result = bench.parse_junit(path)

    assert result.outcomes == {
        "tests/emulator/test_board_button_led.py::test_a_short_hold_erases_nothing": "passed",
        "tests/wifi/test_air_faults.py::test_home_ap_appears_late[netns]": "skipped",
        "tests/emulator/test_board_cloud_client.py::test_pings": "failed",
        "tests/lab/test_journal.py::test_rows": "error",  # the teardown error outranks its pass
        "tests/cloud/test_store.py::TestDevices::test_insert": "passed",
    }
    assert [result.count(k) for k in ("passed", "failed", "error", "skipped")] == [2, 1, 1, 1]
    assert result.messages["tests/emulator/test_board_cloud_client.py::test_pings"] == (
        "AssertionError: heartbeat timeout at 61 s"
    )
    assert "not root" in result.messages["tests/wifi/test_air_faults.py::test_home_ap_appears_late[netns]"]


def test_a_skipped_named_test_is_not_proven(tmp_path: Path) -> None:
    bench = load_script()
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    run = bench.Run("unit", 1, 0, 1.0, 0.0, bench.parse_junit(path))

    outcomes = bench.named_outcomes([run])

    assert outcomes == {
        "tests/emulator/test_board_button_led.py::test_a_short_hold_erases_nothing": ["passed"],
        "tests/emulator/test_board_cloud_client.py::test_unanswered_pings_every_6_s_then_heartbeat_timeout_at_58_s": [
            "missing"
        ],
        "tests/wifi/test_air_faults.py::test_home_ap_appears_late[netns]": ["skipped"],
    }
    assert bench.unproven([run]) == [
        "tests/emulator/test_board_cloud_client.py::test_unanswered_pings_every_6_s_then_heartbeat_timeout_at_58_s",
        "tests/wifi/test_air_faults.py::test_home_ap_appears_late[netns]",
    ]
    assert bench.unproven([]) == []  # no unit runs: nothing claimed
    assert not run.ok  # a failure and an error in the file, although pytest's exit code says 0
