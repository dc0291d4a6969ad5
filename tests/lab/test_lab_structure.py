"""The Lab builds a world and asks its parts; it does not branch on what kind each part is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import provlab.lab.lab as lab_module

LAB_SOURCE = Path(lab_module.__file__).read_text(encoding="utf-8")


def test_the_lab_asks_one_cloud_interface_whether_the_stub_is_embedded_or_remote() -> None:
    """Embedded and remote clouds are `LabCloud`s (`lab/lab_cloud.py`): the Lab constructs neither itself and
    tests no attribute that says which one it has."""
    tree = ast.parse(LAB_SOURCE)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not {"RemoteCloud", "RemoteLabCloud", "EmbeddedCloud"} & names
    assert not {"_remote", "_stub"} & attributes
    assert "CloudStub(" not in LAB_SOURCE


def test_one_loop_thread_helper_runs_every_loop_provlab_keeps_beside_its_caller() -> None:
    """`clock/loop_thread.py` is the only module that runs a loop on a thread of its own (`run_forever`); the
    lab's loop, the netns infrastructure loop and the sim relays' spare loop are all `LoopThread`s."""
    package = Path(lab_module.__file__).resolve().parent.parent
    runners = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"(?<!super\(\))\.run_forever\b", path.read_text(encoding="utf-8"))
    )
    assert runners == ["clock/loop_thread.py"]
    tree = ast.parse(LAB_SOURCE)
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    called = {getattr(func, "id", getattr(func, "attr", "")) for func in calls}
    assert "EventLoopThread" in called and "new_event_loop" not in called
