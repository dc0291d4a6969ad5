"""The conformance coverage table (docs/conformance.md) is current, and every observable spec section has a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.fixtures import spec_coverage

DOC = Path(__file__).resolve().parent.parent / "docs" / "conformance.md"


def test_generated_table_is_current() -> None:
    expected = spec_coverage.render(spec_coverage.scenario_sections())
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/conformance.md is stale: python3 -m provlab.fixtures.spec_coverage --write docs/conformance.md"
    )


def test_every_observable_section_has_a_scenario() -> None:
    table = spec_coverage.coverage(spec_coverage.scenario_sections())
    assert spec_coverage.gaps(table) == []
    observable = [s.number for s in spec_coverage.SECTIONS if s.unobservable is None]
    assert {"1.4", "2.3.1", "2.4", "2.5", "3.2", "3.3", "4.1", "5.3", "5.5", "6.6"} <= set(observable)


def test_markers_are_read_from_scenario_files(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.spec('2.4', '5.3')\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n"
    )
    assert spec_coverage.scenario_sections(tmp_path) == {"test_x.py::test_a": ["2.4", "5.3"]}


def test_a_section_the_table_does_not_know_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"9\.9"):
        spec_coverage.coverage({"test_x.py::test_a": ["9.9"]})


def test_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "conformance.md"
    stale.write_text("old\n")
    assert spec_coverage.main(["--check", str(stale)]) == 1
    assert spec_coverage.main(["--write", str(stale)]) == 0
    assert spec_coverage.main(["--check", str(stale)]) == 0
