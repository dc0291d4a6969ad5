"""Every command explains itself: each --help in the command tree documents each option and promises nothing
"(later)", and `provlab run --help` offers every option the pytest plugin takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import click
import pytest
from click.testing import CliRunner

from provlab.cli import main, run
from provlab.fixtures import plugin
from provlab.protocol.firmware_image import build_app_image


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """`command` and every command under it, with the words that call it (`("cloud", "serve")`)."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(main))


def test_the_walk_reaches_nested_commands() -> None:
    assert {(), ("run",), ("cloud",), ("cloud", "serve"), ("cloud", "token")} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(("provlab", *path)))
def test_every_help_documents_every_option_and_promises_nothing_for_later(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "(later)" not in result.output
    command = COMMANDS[path]
    assert command.help or command.short_help, "the command says what it does"
    undocumented = [
        "/".join(param.opts) for param in command.params if isinstance(param, click.Option) and not param.help
    ]
    assert undocumented == []
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert re.search(rf"^\s+(-\w, )?{re.escape(param.opts[-1])}\b", result.output, re.M), param.opts


class _OptionNames:
    """Stands in for pytest's parser: records the names `pytest_addoption` registers."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _OptionNames:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.names += names


def test_run_help_offers_every_option_of_the_pytest_plugin() -> None:
    recorded = _OptionNames()
    plugin.pytest_addoption(cast(pytest.Parser, recorded))
    assert {"--defect", "--flash", "--profile", "--unmasked-pcap"} <= set(recorded.names)
    offered = {opt for param in run.params for opt in param.opts}
    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in recorded.names:
        assert name in offered, f"provlab run has no {name} (the pytest plugin's option)"
        assert re.search(rf"^\s+{re.escape(name)}\b", result.output, re.M), name
    assert "accepts-31-char-token" in result.output  # the defects are named where they are chosen


def test_run_hands_every_plugin_option_it_offers_on_to_pytest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offering an option is half of it: `provlab run` must also pass it to pytest (--port-wait once was not)."""
    recorded = _OptionNames()
    plugin.pytest_addoption(cast(pytest.Parser, recorded))
    image = tmp_path / "app.bin"
    image.write_bytes(build_app_image("3.1.4"))
    config = tmp_path / "provlab.toml"
    config.write_text("")
    values = {
        "--boards": "emu:1",
        "--wifi": "sim",
        "--clock": "wall",
        "--time-scale": "0.5",
        "--defect": "accepts-31-char-token",
        "--inventory": str(tmp_path / "inventory.yaml"),
        "--cloud-url": "http://127.0.0.1:9",
        "--provlab-config": str(config),
        "--artifacts": str(tmp_path / "evidence"),
        "--flash": str(image),
        "--port-wait": "3.0",
        "--unmasked-pcap": None,
        "--profile": "edgent-esp32",
    }
    missing = set(recorded.names) - set(values)
    assert not missing, f"give this test a value for {sorted(missing)}"
    handed: list[str] = []

    def fake_main(args: list[str], plugins: list[Any]) -> int:  # pytest itself is not run
        handed.extend(args)
        return 0

    monkeypatch.setattr(pytest, "main", fake_main)
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--collect-only"]
    for name, value in values.items():
        argv += [name] if value is None else [name, value]
    CliRunner().invoke(main, argv)
    for name in recorded.names:
        assert name in handed, f"provlab run takes {name} but does not hand it to pytest: {handed}"
        value = values[name]
        if value is not None and name not in ("--flash", "--artifacts"):  # those two are made absolute
            assert handed[handed.index(name) + 1] == value, (name, handed)
