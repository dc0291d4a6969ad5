"""Tearing a lab down honestly: every part is stopped even when one fails, and the failures are reported."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("provlab.lab")


@dataclass(frozen=True)
class TeardownFailure:
    """One part of the lab that did not stop, or one piece of evidence that was not written."""

    what: str
    error: Exception

    def __str__(self) -> str:
        return f"{self.what}: {type(self.error).__name__}: {self.error}"


class LabTeardownError(RuntimeError):
    """The lab was torn down as far as it could be, but some parts failed to stop or to be written."""

    def __init__(self, failures: list[TeardownFailure], evidence: Path) -> None:
        self.failures = tuple(failures)
        self.evidence = evidence
        listed = "\n".join(f"  - {failure}" for failure in failures)
        super().__init__(
            f"lab teardown: {len(failures)} step(s) failed; everything else was torn down:\n{listed}\n"
            f"  evidence: {evidence}"
        )


class Teardown:
    """Runs teardown steps one after the other; a step that raises is noted and the next one still runs."""

    def __init__(self) -> None:
        self.failures: list[TeardownFailure] = []

    @contextmanager
    def attempt(self, what: str) -> Iterator[None]:
        """Run the body as teardown step `what`; an `Exception` it raises is kept, not propagated."""
        try:
            yield
        except Exception as exc:
            log.warning("lab teardown: %s failed: %s: %s", what, type(exc).__name__, exc)
            self.failures.append(TeardownFailure(what, exc))

    def raise_failures(self, evidence: Path) -> None:
        """Raise `LabTeardownError` listing every failed step, if any failed."""
        if self.failures:
            raise LabTeardownError(self.failures, evidence)
