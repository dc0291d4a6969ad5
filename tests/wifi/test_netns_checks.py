"""Where the netns backend cannot run, it says why (these run everywhere, root or not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provlab.wifi.netns import namespace
from provlab.wifi.netns.runs import namespace_name, run_of


@pytest.fixture
def fresh_check() -> Iterator[None]:
    namespace.unavailable_reason.cache_clear()
    yield
    namespace.unavailable_reason.cache_clear()


def test_a_non_root_user_is_told_it_needs_root(monkeypatch: pytest.MonkeyPatch, fresh_check: None) -> None:
    monkeypatch.setattr(namespace.os, "geteuid", lambda: 1000)
    reason = namespace.unavailable_reason()
    assert reason is not None and "needs root" in reason and "--wifi sim" in reason


def test_a_refused_unshare_is_reported(monkeypatch: pytest.MonkeyPatch, fresh_check: None) -> None:
    import subprocess

    monkeypatch.setattr(namespace.os, "geteuid", lambda: 0)
    monkeypatch.setattr(namespace.shutil, "which", lambda name: f"/usr/bin/{name}")

    def refuse(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "unshare: unshare failed: Operation not permitted")

    monkeypatch.setattr(namespace.subprocess, "run", refuse)
    reason = namespace.unavailable_reason()
    assert reason is not None and "Operation not permitted" in reason


def test_names_carry_the_run_id() -> None:
    name = namespace_name("a1b2c3", "board-7")
    assert name == "provlab-a1b2c3-board-7"
    assert run_of(name) == "a1b2c3"
    assert run_of("provlab-probe123") is None and run_of("someone-elses") is None
