"""Lab strength: run the built-in suite once per named firmware defect; which scenarios catch which defect.

Every defect that applies to the profile must be caught by at least one scenario (a failing scenario), and the
faithful firmware must pass them all (skips, with their reasons, are counted apart). A defect that cannot show
on the profile's boards (`Defect.applies_to`: an LED defect on a board without an LED) is listed as n/a with the
reason. Prints the defect-detection table and exits 1 if an applicable defect goes undetected.

    python3 benchmarks/bench_defects.py            # all defects, -n 2
    python3 benchmarks/bench_defects.py --defect forgets-last-error
    python3 benchmarks/bench_defects.py --profile edgent-esp8266   # the suite on another board family
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from provlab.emulator.defects import Defect
from provlab.emulator.profile import PROFILES

DEFAULT_PROFILE = "edgent-esp32"  # the lab's default boards

SCENARIOS = Path(__file__).resolve().parent.parent / "provlab" / "scenarios"


def run_suite(defect: str | None, workers: int, profile: str | None = None) -> tuple[list[str], int, int, float]:
    """(failed scenario ids, scenarios run, scenarios skipped, wall seconds) for one suite run."""
    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder) / "junit.xml"
        args = [sys.executable, "-m", "pytest", str(SCENARIOS), "-q", "-p", "no:cacheprovider"]
        args += ["--artifacts", str(Path(folder) / "ev"), f"--junitxml={junit}"]
        if workers:
            args += ["-n", str(workers)]
        if defect:
            args += ["--defect", defect]
        if profile:
            args += ["--profile", profile]
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, cwd=folder)
        elapsed = time.perf_counter() - started
        failed, total, skipped = [], 0, 0
        for case in ET.parse(junit).getroot().iter("testcase"):
            total += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
    return failed, total, skipped, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defect", action="append", help="only these defects (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", help="run the suite on boards of this firmware profile (default: the lab's)")
    args = parser.parse_args()
    defects = args.defect or [d.value for d in Defect]
    profile = PROFILES[args.profile or DEFAULT_PROFILE]()

    baseline, total, skipped, elapsed = run_suite(None, args.workers, args.profile)
    on = f" on {profile.name}"
    ran = total - skipped
    print(
        f"faithful firmware{on}: {ran - len(baseline)}/{ran} scenarios pass, {skipped} skipped with a reason "
        f"({elapsed:.1f} s)"
    )
    for name in baseline:
        print(f"  FAILS WITHOUT ANY DEFECT: {name}")
    print()
    print(f"{'defect':38s} caught by")
    undetected, applicable = [], 0
    for name in defects:
        reason = Defect.parse(name).applies_to(profile)
        if reason is not None:
            print(f"{name:38s} n/a  {reason}")
            continue
        applicable += 1
        failed, _, _, elapsed = run_suite(name, args.workers, args.profile)
        caught = sorted(set(failed) - set(baseline))
        if not caught:
            undetected.append(name)
        print(f"{name:38s} {len(caught):2d}  {', '.join(caught) or 'NOT DETECTED'}  ({elapsed:.1f} s)")
    print()
    not_applicable = len(defects) - applicable
    print(f"{applicable - len(undetected)}/{applicable} applicable defects detected{on} ({not_applicable} n/a)")
    sys.exit(1 if undetected or baseline else 0)


if __name__ == "__main__":
    main()
