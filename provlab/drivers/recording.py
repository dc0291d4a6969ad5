"""Serial session recordings: what a board printed (and what the host sent), with host timing, in one file.

Format (JSON Lines, `*.serial.jsonl`): a header `{"format": "provlab-serial-recording", "version": 1, "name",
"port", "started", "time_scale", "masked"}`, then one record per piece, in order: `{"t": <host seconds since
start>, "rx": "<text>"}` (`"tx"` for what the host sent, `"note"` for host events such as a lost port); bytes
that are not UTF-8 are kept exactly as `"rx_b64"`/`"tx_b64"`. `time_scale` is the device-time factor the
session ran at, so a replay can convert host time back to device time.

Received bytes are written a line at a time (stamped when the line completed) so secrets can be masked on
whole lines: with `mask=True` (the default) tokens and Wi-Fi passwords are masked like in every log; bytes
masking does not touch are kept exactly, garbage included.

`Recording.load` also reads a SerialBoard log file (`board-N.log`, ISO host stamps) and plain text logs (the
`[millis]` stamps give the timing), so a failure seen anywhere can be replayed.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Literal

from provlab.protocol.serial_log import LogLine, mask_line, parse_line

FORMAT = "provlab-serial-recording"
VERSION = 1
NOTE_PREFIX = "## provlab: "
"""Starts a host note in a SerialBoard log file (after the stamp)."""
MAX_PENDING = 64 * 1024
Kind = Literal["rx", "tx", "note"]

_EOL = re.compile(rb"\r\n|\r|\n")
_BOARD_LOG = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)) (.*)$")
_SCALE_NOTE = re.compile(r"time_scale ([0-9.eE+-]+)")


class RecordingError(ValueError):
    """A file is not a recording this module can read."""


@dataclass(frozen=True)
class Chunk:
    """One recorded piece: host seconds since the start, direction, bytes (a note's text as UTF-8)."""

    t: float
    kind: Kind
    data: bytes


@dataclass
class Recording:
    """A recorded serial session."""

    chunks: list[Chunk] = field(default_factory=list)
    name: str = "board"
    port: str = ""
    started: str = ""
    time_scale: float = 1.0
    masked: bool = True

    def received(self) -> bytes:
        """Every byte the board sent, in order."""
        return b"".join(c.data for c in self.chunks if c.kind == "rx")

    def sent(self) -> bytes:
        return b"".join(c.data for c in self.chunks if c.kind == "tx")

    def notes(self) -> list[str]:
        return [c.data.decode("utf-8", "replace") for c in self.chunks if c.kind == "note"]

    def device_seconds(self, chunk: Chunk) -> float:
        """When `chunk` happened, in device seconds since the start."""
        return chunk.t / self.time_scale

    @property
    def duration(self) -> float:
        """Device seconds from the start to the last piece."""
        return self.device_seconds(self.chunks[-1]) if self.chunks else 0.0

    # --- files ----------------------------------------------------------------------------------------
    def header(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "port": self.port,
            "started": self.started,
            "time_scale": self.time_scale,
            "masked": self.masked,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps(self.header()) + "\n")
            for chunk in self.chunks:
                out.write(encode_chunk(chunk) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, millis_of: Callable[[LogLine], int | None] | None = None) -> Recording:
        """A recording file, a SerialBoard log file, or a plain text log (chosen by looking at it); `millis_of`
        reads a plain log's device stamps (see `from_text`)."""
        path = Path(path)
        raw = path.read_bytes()
        head = raw[:4096].decode("utf-8", "replace").lstrip()
        if head.startswith("{") and FORMAT in head.splitlines()[0]:
            return cls.from_jsonl(raw.decode("utf-8"), source=str(path))
        first = next((ln for ln in head.splitlines() if ln.strip()), "")
        if _BOARD_LOG.match(first):
            return cls.from_board_log(raw.decode("utf-8", "replace"), name=path.stem)
        return cls.from_text(raw, name=path.stem, millis_of=millis_of)

    @classmethod
    def from_jsonl(cls, text: str, source: str = "recording") -> Recording:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise RecordingError(f"{source}: empty, expected a {FORMAT} header line")
        try:
            header = json.loads(lines[0])
        except ValueError as exc:
            raise RecordingError(f"{source}: line 1 is not JSON: {exc}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise RecordingError(f"{source}: line 1 is not a {FORMAT} header: {lines[0][:120]!r}")
        if header.get("version") != VERSION:
            raise RecordingError(f"{source}: recording version {header.get('version')!r}, this reads {VERSION}")
        recording = cls(
            name=str(header.get("name", "board")),
            port=str(header.get("port", "")),
            started=str(header.get("started", "")),
            time_scale=float(header.get("time_scale", 1.0)),
            masked=bool(header.get("masked", True)),
        )
        for number, line in enumerate(lines[1:], start=2):
            try:
                recording.chunks.append(decode_chunk(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise RecordingError(f"{source}: line {number} is not a record: {exc}") from None
        return recording

    @classmethod
    def from_board_log(cls, text: str, name: str = "board", time_scale: float | None = None) -> Recording:
        """A SerialBoard log (`<ISO stamp> <line>`); its `opened …` note gives the time scale."""
        recording = cls(name=name, masked=True)
        start: float | None = None
        scale = time_scale
        for raw in text.splitlines():
            match = _BOARD_LOG.match(raw)
            if not match:
                continue
            stamp = datetime.fromisoformat(match[1].replace("Z", "+00:00")).timestamp()
            if start is None:
                start = stamp
                recording.started = match[1]
            body = match[2]
            if body.startswith(NOTE_PREFIX):
                note = body[len(NOTE_PREFIX) :]
                found = _SCALE_NOTE.search(note)
                if found and scale is None:
                    scale = float(found[1])
                recording.chunks.append(Chunk(stamp - start, "note", note.encode()))
                continue
            recording.chunks.append(Chunk(stamp - start, "rx", body.encode("utf-8") + b"\r\n"))
        recording.time_scale = scale or 1.0
        return recording

    @classmethod
    def from_text(
        cls,
        text: str | bytes,
        name: str = "log",
        line_gap: float = 0.001,
        millis_of: Callable[[LogLine], int | None] | None = None,
    ) -> Recording:
        """A plain log; lines are timed by their device stamps where those go forward (`[millis]`, or what
        `millis_of` reads, e.g. a log format's `device_millis` for ESP-IDF's `(millis)`), else `line_gap` device
        seconds apart. Line endings and bytes are kept as they are."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        recording = cls(name=name, masked=False)
        t = 0.0
        last_millis: int | None = None
        for piece in split_keeping_ends(data):
            line = parse_line(piece.decode("utf-8", "replace"))
            millis = millis_of(line) if millis_of is not None else line.millis
            if millis is not None and last_millis is not None and millis >= last_millis:
                t += (millis - last_millis) / 1000
            else:
                t += line_gap
            if millis is not None:
                last_millis = millis
            recording.chunks.append(Chunk(round(t, 6), "rx", piece))
        return recording


def split_keeping_ends(data: bytes) -> list[bytes]:
    """`data` cut after each line terminator (CRLF, LF, lone CR); a trailing piece without one is kept."""
    pieces: list[bytes] = []
    start = 0
    for eol in _EOL.finditer(data):
        pieces.append(data[start : eol.end()])
        start = eol.end()
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def encode_chunk(chunk: Chunk) -> str:
    record: dict[str, object] = {"t": round(chunk.t, 6)}
    if chunk.kind == "note":
        record["note"] = chunk.data.decode("utf-8", "replace")
    else:
        try:
            record[chunk.kind] = chunk.data.decode("utf-8")
        except UnicodeDecodeError:
            record[f"{chunk.kind}_b64"] = base64.b64encode(chunk.data).decode("ascii")
    return json.dumps(record, ensure_ascii=False)


def decode_chunk(record: dict[str, object]) -> Chunk:
    t = float(record["t"])  # type: ignore[arg-type]
    kind: Kind
    for kind in ("rx", "tx"):
        if kind in record:
            return Chunk(t, kind, str(record[kind]).encode("utf-8"))
        if f"{kind}_b64" in record:
            return Chunk(t, kind, base64.b64decode(str(record[f"{kind}_b64"])))
    if "note" in record:
        return Chunk(t, "note", str(record["note"]).encode("utf-8"))
    raise KeyError("no rx, tx or note field")


def mask_bytes(piece: bytes) -> bytes:
    """`piece` with secrets masked (`mask_line` on its text); bytes masking leaves alone stay as they were."""
    body = piece.rstrip(b"\r\n")
    text = body.decode("utf-8", "surrogateescape")
    masked = mask_line(text)
    if masked == text:
        return piece
    return masked.encode("utf-8", "surrogateescape") + piece[len(body) :]


class Recorder:
    """Writes a recording while a session runs (thread-safe: rx from the reader, tx from the writer)."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "board",
        port: str = "",
        time_scale: float = 1.0,
        mask: bool = True,
        started: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.mask = mask
        now = started if started is not None else datetime.now(timezone.utc).timestamp()
        self._t0 = now
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._out: IO[str] | None = self.path.open("w", encoding="utf-8")
        header = Recording(
            name=name,
            port=port,
            started=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
            time_scale=time_scale,
            masked=mask,
        ).header()
        self._out.write(json.dumps(header) + "\n")
        self._out.flush()

    def rx(self, data: bytes, now: float) -> None:
        with self._lock:
            self._pending += data
            pieces = split_keeping_ends(bytes(self._pending))
            complete = pieces if pieces and pieces[-1][-1:] in (b"\r", b"\n") else pieces[:-1]
            done = sum(len(p) for p in complete)
            if len(self._pending) - done > MAX_PENDING:  # a line without end: do not hold it all
                complete, done = pieces, len(self._pending)
            del self._pending[:done]
            for piece in complete:
                self._write(Chunk(now - self._t0, "rx", piece))

    def tx(self, data: bytes, now: float) -> None:
        with self._lock:
            self._write(Chunk(now - self._t0, "tx", data))

    def note(self, text: str, now: float) -> None:
        with self._lock:
            self._write(Chunk(now - self._t0, "note", text.encode("utf-8")))

    def _write(self, chunk: Chunk) -> None:
        if self._out is None:
            return
        if self.mask and chunk.kind != "note":
            chunk = Chunk(chunk.t, chunk.kind, mask_bytes(chunk.data))
        self._out.write(encode_chunk(chunk) + "\n")
        self._out.flush()

    def close(self, now: float | None = None) -> None:
        with self._lock:
            if self._pending:
                stamp = now if now is not None else datetime.now(timezone.utc).timestamp()
                self._write(Chunk(stamp - self._t0, "rx", bytes(self._pending)))
                self._pending.clear()
            if self._out is not None:
                self._out.close()
                self._out = None
