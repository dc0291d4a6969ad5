"""A registry: the names a user can choose (firmware profiles, Wi-Fi airs, cloud transports) and what each makes.

Adding a choice is one module plus one `register` call. Lookups of a name nothing is registered under fail
with the names that are (so a config error or a `--wifi` refusal lists today's choices, not a stale copy),
and a name is registered once: a second registration under it is refused rather than silently replacing
the first. Pure Python, no I/O: every layer may keep one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError):
    """A name nothing is registered under; the message lists the registered names."""

    def __init__(self, kind: str, name: str, known: tuple[str, ...]) -> None:
        super().__init__(name)
        self.kind = kind
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} is not one of {', '.join(self.known) or '(none registered)'}"


class DuplicateName(ValueError):
    """A second registration under a name that is taken."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} is registered already; register the new one under another name")
        self.kind = kind
        self.name = name


class Registry(Generic[T]):
    """Names (in registration order) mapped to entries, usually factories; `kind` names them in messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Make `entry` choosable as `name`; returns it, so a module can register and keep it in one line."""
        if not name or name != name.strip():
            raise ValueError(f"{self.kind} names are non-empty and have no surrounding spaces, got {name!r}")
        if name in self._entries:
            raise DuplicateName(self.kind, name)
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        entry = self[name]
        del self._entries[name]
        return entry

    @contextmanager
    def registered(self, name: str, entry: T) -> Iterator[T]:
        """`entry` is choosable as `name` inside the block only (a plug-in for one run, a test)."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self.unregister(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.kind, name, self.names()) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
