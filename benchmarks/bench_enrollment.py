"""Walking-skeleton enrollment: phone provisions one emulated board until the cloud sees it online.

Prints the median wall time of `phone.provision()` (join AP → board_info → token → wifi_scan → /config →
leave → online), plus lab start-up and the firmware's own share, over N fresh labs. The phone is logged in
before the clock starts, as the app is long before a user adds a device (the login, a password check of
~12 ms CPU in the stub, is measured and printed apart). Target (issue 17, point 2): ≤ 20 ms per enrollment.

    python3 benchmarks/bench_enrollment.py --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from provlab.lab.lab import Lab, LabConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clock", choices=("auto", "virtual", "wall"), default="auto")
    parser.add_argument("--time-scale", type=float, default=0.01, help="wall clock only")
    args = parser.parse_args()

    startup, enroll, to_running, device_s, login = [], [], [], [], []
    described = ""
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            with Lab(LabConfig(boards=1, time_scale=args.time_scale, clock=args.clock), artifacts=folder) as lab:
                described = lab.clock.describe()
                board = lab.boards[0]
                board.expect_state("WAIT_CONFIG", timeout=60)
                board.expect("AP URL:  blynk.setup", timeout=60)
                phone = lab.phone()
                t_login = time.perf_counter()
                lab.loop.run(phone.phone.login(), 30)
                t1 = time.perf_counter()
                login.append(t1 - t_login)
                d1 = lab.clock.now()
                enrollment = phone.provision(board)
                t2 = time.perf_counter()
                device_s.append(lab.clock.now() - d1)
                board.expect_state("RUNNING", timeout=60)
                assert enrollment.ok
                startup.append(t1 - t0)
                enroll.append(t2 - t1)
                to_running.append(enrollment.duration)

    # Firmware delays inside one enrollment, in device seconds: 1.0 + 0.1 (SWITCH_TO_STA); they cost wall time
    # only on a wall clock (the virtual clock jumps over them).
    firmware_floor = 1.1 * args.time_scale if described.startswith("wall") else 0.0
    print(f"walking-skeleton enrollment, {args.runs} runs, {described}")
    print(f"  lab start to AP up   median {statistics.median(startup) * 1000:8.1f} ms")
    print(
        f"  phone.provision()    median {statistics.median(enroll) * 1000:8.1f} ms"
        f"   (min {min(enroll) * 1000:.1f}, max {max(enroll) * 1000:.1f})"
    )
    print(f"  of which firmware-mandated delays {firmware_floor * 1000:.1f} ms (wall)")
    median = statistics.median(enroll) * 1000
    verdict = "PASS" if median <= 20.0 else "FAIL"
    print(f"  target ≤ 20 ms per enrollment (virtual clock): {verdict} ({median:.1f} ms)")
    print(f"  phone login before it  median {statistics.median(login) * 1000:8.1f} ms (not in the enrollment)")
    print(f"  device time of one enrollment: median {statistics.median(device_s):.2f} s")


if __name__ == "__main__":
    main()
