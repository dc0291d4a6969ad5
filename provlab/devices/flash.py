"""The board's flash: the 212-byte Edgent config blob kept in a file per board."""

from __future__ import annotations

import os
from pathlib import Path


class Flash:
    """NVS `blynk/config` as a file. Writes are atomic (write, fsync-free rename), as NVS is on ESP32."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> bytes | None:
        """The stored blob, or None when the key was never written (factory-fresh chip)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
