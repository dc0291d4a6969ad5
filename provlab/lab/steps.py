"""The step journal: every action the lab takes, as a step with its subject, start, end and outcome.

A step is one thing the lab did to the world (power a board off, press its button, type on its console,
provision it with a phone, refuse the cloud's logins, let device time pass). `StepJournal.step()` records
one as a context manager; `@step("power_off")` records a method of a board or phone face. A step started
inside another one (a phone's `join_ap` inside its `provision`) is the other's child, also across the
lab's event-loop thread: the open step travels in a context variable, which `asyncio` copies into every
task it starts. The finished steps are written, secrets masked, to `steps.jsonl` in the evidence folder;
the timeline draws them as spans.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from provlab.lab.capabilities import MissingCapability
from provlab.lab.journal import Journal, mask_value

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

SKIP_EXCEPTIONS: tuple[type[BaseException], ...] = (MissingCapability,)
"""What a step raises when the lab cannot perform it: recorded as skipped, not failed (the pytest plugin
reports these as skips)."""


class Outcome(Enum):
    """Where a step stands: running until it ends, then ok, failed or skipped."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Step:
    """One action: what (`name`, `args`, masked), on what (`subject`), when (wall and device time),
    inside which other step (`parent`), how it ended (`outcome`, `error`) and what it saw (`response`)."""

    name: str
    started: float
    """Wall time (`time.time()`), for people reading the evidence."""
    subject: str = "lab"
    """A board's name, a phone's name, `cloud`, `air` or `lab`."""
    args: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    parent: int | None = None
    device_started: float | None = None
    """The lab clock's device seconds at the start, where the journal has a clock."""
    ended: float | None = None
    device_ended: float | None = None
    outcome: Outcome = Outcome.RUNNING
    error: str | None = None
    """The exception's message when the step failed or was skipped."""
    exception: str | None = None
    """The exception's type name."""
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Wall seconds the step took (0 while it runs)."""
        return 0.0 if self.ended is None else self.ended - self.started

    def record(self) -> dict[str, Any]:
        """The step as one `steps.jsonl` line (before masking)."""
        return {
            "id": self.id,
            "parent": self.parent,
            "name": self.name,
            "subject": self.subject,
            "args": self.args,
            "start": self.started,
            "end": self.ended,
            "device_start": self.device_started,
            "device_end": self.device_ended,
            "outcome": self.outcome.value,
            "error": self.error,
            "exception": self.exception,
            "response": plain(self.response),
        }


_OPEN_STEP: ContextVar[tuple[StepJournal, Step] | None] = ContextVar("provlab_open_step", default=None)


def plain(value: Any) -> Any:
    """`value` as JSON can hold it: enums by name, anything with a `name` (a board, a phone) by its name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, type) or inspect.isroutine(value):
        return value.__qualname__  # an event class, a `where=` predicate: its name, not its repr
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else repr(value)


class StepJournal:
    """Records steps and writes each finished one to `path` (`steps.jsonl`); None keeps them in memory.

    `clock` returns the lab clock's device seconds; without it steps carry wall time only.
    """

    def __init__(self, path: str | Path | None, clock: Callable[[], float] | None = None) -> None:
        self._journal = Journal(path)
        self.path = self._journal.path
        self.clock = clock
        self.steps: list[Step] = []
        """Every step started, in start order."""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _device_now(self) -> float | None:
        return None if self.clock is None else self.clock()

    @contextmanager
    def step(self, name: str, subject: str = "lab", /, **args: Any) -> Iterator[Step]:
        """Record the body as step `name` on `subject` with `args` (masked: tokens and passwords never whole).

        The body may fill `step.response`. An exception ends the step failed (skipped for a missing
        capability) with its message, and goes on."""
        __tracebackhide__ = True
        opened = _OPEN_STEP.get()
        parent = opened[1] if opened is not None and opened[0] is self else None
        with self._lock:
            step = Step(
                name,
                time.time(),
                subject,
                mask_value("", plain(args)),
                next(self._ids),
                parent.id if parent is not None else None,
                self._device_now(),
            )
            self.steps.append(step)
        reset = _OPEN_STEP.set((self, step))
        try:
            yield step
        except BaseException as exc:
            skipped = isinstance(exc, SKIP_EXCEPTIONS) or type(exc).__name__ == "Skipped"  # pytest.skip()
            step.outcome = Outcome.SKIPPED if skipped else Outcome.FAILED
            step.error = str(exc) or type(exc).__name__
            step.exception = type(exc).__name__
            raise
        else:
            step.outcome = Outcome.OK
        finally:
            _OPEN_STEP.reset(reset)
            step.ended = time.time()
            step.device_ended = self._device_now()
            self._journal.write("step", ts=step.started, **step.record())

    def close(self) -> None:
        self._journal.close()


class Journaled(Protocol):
    """What `@step` needs of the object whose method it records."""

    @property
    def name(self) -> str: ...

    @property
    def step_journal(self) -> StepJournal: ...


F = TypeVar("F", bound=Callable[..., Any])


class StepArgumentError(TypeError):
    """A scenario called a lab step with an argument of the wrong type (`timeout="30s"`)."""


NUMBER_ANNOTATIONS = frozenset({"float", "float | None", "int", "int | None"})


def _check_numbers(call: str, signature: inspect.Signature, arguments: dict[str, Any]) -> None:
    """Seconds and counts are numbers: a string or a bool there is the scenario's mistake, said plainly."""
    for key, value in arguments.items():
        annotation = signature.parameters[key].annotation
        if annotation not in NUMBER_ANNOTATIONS or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            unit = " of device seconds" if "timeout" in key or "seconds" in key or key == "within" else ""
            raise StepArgumentError(
                f"{call}: {key} must be a number{unit} (int or float), got {value!r} ({type(value).__name__})"
            )


def step(name: str) -> Callable[[F], F]:
    """Record every call of the decorated method of a `Journaled` object as step `name` on `self.name`,
    with the call's arguments (`**kwargs` spread out). Numeric parameters are checked (`StepArgumentError`),
    and the wrapper's frames are hidden from pytest tracebacks (`__tracebackhide__`): a failure shows the
    scenario's line and the lab's message, not provlab's plumbing."""

    def decorate(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def recorded(self: Journaled, /, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            _check_numbers(f"{self.name}.{method.__name__}()", signature, dict(list(bound.arguments.items())[1:]))
            arguments: dict[str, Any] = {}
            for key, value in list(bound.arguments.items())[1:]:  # after `self`
                if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                else:
                    arguments[key] = value
            with self.step_journal.step(name, self.name, **arguments):
                return method(self, *args, **kwargs)

        return cast(F, recorded)

    return decorate
