"""What Wireshark makes of a capture: tshark's dissection of a pcap, reduced to what the lab checks.

Used by the tests and `benchmarks/bench_pcaps.py` to prove the `sim` capture is one Wireshark accepts
(no malformed packet, the expected frame types, EAPOL for WPA2 joins, advancing sequence numbers).
Needs Debian's `tshark` on PATH (`.ci/run` installs it).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TSHARK_TIMEOUT_S = 120
FIELDS = (
    "frame.number",
    "wlan.fc.type_subtype",
    "wlan.ta",
    "wlan.seq",
    "wlan.fixed.reason_code",
    "wlan_rsna_eapol.keydes.msgnr",
)
FRAME_TYPES = {
    0x00: "assoc_req",
    0x01: "assoc_resp",
    0x04: "probe_req",
    0x05: "probe_resp",
    0x08: "beacon",
    0x0B: "auth",
    0x0C: "deauth",
    0x20: "data",
}


class TsharkError(RuntimeError):
    """tshark is missing or could not read a capture."""


@dataclass
class PcapReport:
    """One capture as tshark dissected it."""

    path: Path
    frames: int = 0
    malformed: list[int] = field(default_factory=list)
    """Numbers of the frames tshark marks `_ws.malformed`."""
    kinds: Counter[str] = field(default_factory=Counter)
    deauth_reasons: list[int] = field(default_factory=list)
    eapol_messages: list[int] = field(default_factory=list)
    sequences: dict[str, list[int]] = field(default_factory=dict)
    """Sequence numbers per transmitter address, in capture order."""

    def sequence_goes_back(self) -> list[str]:
        """Transmitters whose sequence number ever failed to advance (modulo 4096)."""
        return [ta for ta, numbers in self.sequences.items() if any(b != (a + 1) % 4096 for a, b in _pairs(numbers))]


def _pairs(numbers: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(numbers))


def tshark_path() -> str | None:
    return shutil.which("tshark")


def _tshark(*args: str) -> str:
    exe = tshark_path()
    if exe is None:
        raise TsharkError("tshark is not on PATH (Debian package `tshark`; .ci/run installs it)")
    proc = subprocess.run([exe, "-n", *args], capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise TsharkError(f"tshark {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def dissect(path: str | Path) -> PcapReport:
    """Every frame of `path` through tshark: malformed ones, frame kinds, reasons, EAPOL, sequence numbers."""
    report = PcapReport(Path(path))
    field_args = [arg for name in FIELDS for arg in ("-e", name)]
    out = _tshark("-r", str(path), "-T", "fields", "-E", "separator=\t", *field_args)
    for line in out.splitlines():
        number, subtype, ta, seq, reason, msgnr = (line.split("\t") + [""] * len(FIELDS))[: len(FIELDS)]
        report.frames += 1
        if subtype:
            kind = FRAME_TYPES.get(int(subtype, 0), f"type_subtype_{subtype}")
            report.kinds[kind] += 1
        if reason:
            report.deauth_reasons.append(int(reason, 0))
        if msgnr:
            report.eapol_messages.append(int(msgnr))
            report.kinds["eapol"] += 1
        if ta and seq:
            report.sequences.setdefault(ta, []).append(int(seq))
        del number
    malformed = _tshark("-r", str(path), "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number")
    report.malformed = [int(n) for n in malformed.split()]
    return report
