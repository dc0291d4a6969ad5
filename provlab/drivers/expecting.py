"""The expect API every board driver offers, in the style of pytest-embedded, over a `LineStream`.

`expect(pattern)`, `expect_exact(text)`, `expect_event(kind)`, `expect_state("RUNNING")`, each with a timeout
in device time, `since=` (a `mark()`) and `not_matching=` (patterns that fail the wait at once when a line
matches them, e.g. a crash). `state`, `last_error`, `info` and `boots` are what the stream said last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar, Union

from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.line_stream import LineStream, ReceivedLine
from provlab.drivers.serial_errors import UnexpectedOutput
from provlab.protocol.serial_log import LogEvent, LogLine, StateChange
from provlab.protocol.states import EdgentState

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

E = TypeVar("E", bound=LogEvent)
Pattern = Union[str, "re.Pattern[str]"]
NotMatching = Union[Pattern, Sequence[Pattern], None]  # noqa: UP007
DEFAULT_TIMEOUT = 30.0


def compile_patterns(patterns: NotMatching) -> list[re.Pattern[str]]:
    if patterns is None:
        return []
    if isinstance(patterns, (str, re.Pattern)):
        patterns = [patterns]
    return [re.compile(p) if isinstance(p, str) else p for p in patterns]


class ExpectingBoard:
    """Mixin: a board whose printed lines flow through `self.stream`."""

    stream: LineStream

    # --- what the stream says ----------------------------------------------------------------------
    @property
    def state(self) -> EdgentState | None:
        """The state of the last `X => Y` line (INIT right after a boot), None before any."""
        return self.stream.state

    @property
    def last_error(self) -> int | None:
        """The code of the last `Last error code: 70x` line."""
        return self.stream.last_error

    @property
    def info(self) -> DeviceInfo:
        """Identity from the boot banner and `devinfo` replies seen so far."""
        return self.stream.info

    @property
    def boots(self) -> int:
        """Boots seen since the driver opened the port (ROM text or the library banner)."""
        return self.stream.boots

    @property
    def listeners(self) -> list[Callable[[ReceivedLine], None]]:
        return self.stream.listeners

    def mark(self) -> int:
        """A position in the stream; `expect_*(since=mark)` only looks at lines after it."""
        return self.stream.mark()

    def lines(self) -> list[ReceivedLine]:
        return self.stream.lines()

    # --- waiting -----------------------------------------------------------------------------------
    def _expect(
        self,
        what: str,
        match: Callable[[ReceivedLine], bool],
        timeout: float,
        since: int | None,
        not_matching: NotMatching,
    ) -> ReceivedLine:
        forbidden = compile_patterns(not_matching)
        stream = self.stream

        def guarded(item: ReceivedLine) -> bool:
            for pattern in forbidden:
                if pattern.search(item.line.raw):
                    raise UnexpectedOutput(what, pattern.pattern, item.line.raw, stream.tail(), stream.log_path)
            return match(item)

        return stream.scan(what, guarded if forbidden else match, timeout, since)

    def expect(
        self,
        pattern: Pattern,
        timeout: float = DEFAULT_TIMEOUT,
        since: int | None = None,
        *,
        not_matching: NotMatching = None,
    ) -> re.Match[str]:
        """The first line (from `since`) that `pattern` finds a match in (`re.search`)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        found: list[re.Match[str]] = []

        def match(item: ReceivedLine) -> bool:
            m = regex.search(item.line.raw)
            if m:
                found.append(m)
            return m is not None

        self._expect(f"a line matching {regex.pattern!r}", match, timeout, since, not_matching)
        return found[0]

    def expect_exact(
        self,
        text: str,
        timeout: float = DEFAULT_TIMEOUT,
        since: int | None = None,
        *,
        not_matching: NotMatching = None,
    ) -> LogLine:
        """The first line (from `since`) containing `text`."""
        item = self._expect(f"a line containing {text!r}", lambda i: text in i.line.raw, timeout, since, not_matching)
        return item.line

    def expect_event(
        self,
        kind: type[E] | E,
        timeout: float = DEFAULT_TIMEOUT,
        since: int | None = None,
        *,
        where: Callable[[E], bool] | None = None,
        not_matching: NotMatching = None,
    ) -> E:
        """The first event of type `kind` (or equal to the event `kind`, e.g. `LastError(701)`)."""
        if isinstance(kind, type):
            cls: type[LogEvent] = kind
            wanted: LogEvent | None = None
            what = f"a {cls.__name__} event"
        else:
            cls, wanted, what = type(kind), kind, f"the event {kind!r}"

        def match(item: ReceivedLine) -> bool:
            event = item.event
            if not isinstance(event, cls) or (wanted is not None and event != wanted):
                return False
            return where is None or where(event)  # type: ignore[arg-type]

        item = self._expect(what, match, timeout, since, not_matching)
        return item.event  # type: ignore[return-value]

    def expect_state(
        self,
        state: str | EdgentState,
        timeout: float = DEFAULT_TIMEOUT,
        since: int | None = None,
        *,
        not_matching: NotMatching = None,
    ) -> None:
        """Wait until the board enters `state`: a line `X => state` from `since` (default: the whole stream,
        like every `expect_*`), or, without `since`, the board being in `state` now.

        Pass `since=board.mark()` to wait for a new entry into a state the board was in before.
        """
        wanted = state if isinstance(state, EdgentState) else EdgentState.parse(state)
        if since is None and self.stream.state is wanted:
            return
        self._expect(
            f"state {wanted.value}",
            lambda i: isinstance(i.event, StateChange) and i.event.new is wanted,
            timeout,
            since,
            not_matching,
        )
