"""Fuzzing run: >= 100,000 generated inputs against every door of the stub and the board, each batch followed by
a health check that a well-formed client is still served. Prints crashes, hangs, 5xx, drops (and non-JSON 4xx).

Doors: the binary protocol (plain and TLS; framed messages in a logged-in session, and raw bytes on fresh
connections), the stub's HTTP (REST, OAuth2, device API: routes from its OpenAPI document), MQTT uplinks,
the board's SoftAP web server and its serial console. The stub runs in this process on a wall-clock loop
(time_scale 1.0); the board runs on a virtual lab clock. Generators and verdicts: `tests/fuzzkit.py`.

    python3 benchmarks/bench_fuzz.py                 # ~105,000 inputs
    python3 benchmarks/bench_fuzz.py --scale 0.05    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in ("tests", "tests/cloud", "tests/emulator"):
    sys.path.insert(0, str(ROOT / extra))

import fuzzkit  # noqa: E402
from fuzzkit import CrashWatch, Tally, Verdict  # noqa: E402

from provlab.cloud.rate_limits import LoginLimits, QuotaLimits  # noqa: E402
from provlab.cloud.stub import DEFAULT_ADMIN_PASSWORD, CloudStub  # noqa: E402
from provlab.cloud.tenancy_api import openapi_document  # noqa: E402

# inputs per door at --scale 1
PLAN = {
    "binary": 30_000,
    "binary-tls": 15_000,
    "binary-raw": 2_000,
    "http": 25_000,
    "mqtt": 20_000,
    "softap": 7_000,
    "console": 6_000,
}
BATCH = {"binary": 25, "binary-tls": 25, "mqtt": 20}


def _crashes(watch: CrashWatch, tally: Tally, door: str) -> None:
    for record in watch.take():
        tally.add(door, Verdict.CRASH, record, n=0)


async def cloud_phase(tally: Tally, scale: float, seed: int, tmp: Path) -> dict[str, float]:
    rng = random.Random(seed)
    stub = CloudStub(tmp / "cloud.db", quota_limits=QuotaLimits(messages=1e9), login_limits=LoginLimits(failures=10**9))
    stub.seed()
    endpoints = await stub.start()
    assert endpoints.tls_port is not None and endpoints.mqtt_port is not None
    client_tls = ssl.create_default_context(cafile=str(stub.certs.ca_file))
    routes = fuzzkit.fuzz_routes(openapi_document())
    routes += [
        ("GET", "/api/v1/lab/events"),
        ("GET", "/api/v1/lab/devices/{id}"),
        ("GET", "/api/v1/lab/info"),
        ("GET", "/api/v1/lab/tokens/{token}/device"),
        ("GET", "/api/v1/lab/users/{email}"),
    ]
    admin = stub.admin()
    bearer = stub.store.sessions.open(admin.id, time.time(), time.time() + 86400)
    http_token = stub.issue_token(fuzzkit.TEMPLATE_ID).token
    seconds: dict[str, float] = {}
    watch = CrashWatch()
    with watch.watching():
        try:
            for door, context, port in (
                ("binary", None, endpoints.binary_port),
                ("binary-tls", client_tls, endpoints.tls_port),
            ):
                started = time.perf_counter()
                probe = fuzzkit.BinaryProbe(port, stub.issue_token(fuzzkit.TEMPLATE_ID).token, ssl_context=context)
                assert await probe.open(), f"{door}: the fuzzing device could not log in"
                n = int(PLAN[door] * scale)
                while tally.inputs[door] < n:
                    frames = [fuzzkit.binary_frame(rng) for _ in range(BATCH[door])]
                    tally.add(door, await probe.probe(frames), frames[:3], n=len(frames))
                    _crashes(watch, tally, door)
                    if tally.inputs[door] % 2500 < BATCH[door]:
                        tally.health(door, await _binary_healthy(stub, port, context))
                await probe.close()
                tally.health(door, await _binary_healthy(stub, port, context))
                seconds[door] = time.perf_counter() - started
            started = time.perf_counter()
            raw_n = int(PLAN["binary-raw"] * scale)
            for first in range(0, raw_n, 100):  # 100 connections at a time: most wait for the login timeout
                batch = [
                    bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
                    for _ in range(min(100, raw_n - first))
                ]
                contexts = [client_tls if (first + i) % 4 == 3 else None for i in range(len(batch))]
                verdicts = await asyncio.gather(
                    *(
                        fuzzkit.binary_garbage(endpoints.tls_port if c else endpoints.binary_port, d, c)
                        for d, c in zip(batch, contexts, strict=False)
                    )
                )
                for data, verdict in zip(batch, verdicts, strict=False):
                    tally.add("binary-raw", verdict, data[:40])
                _crashes(watch, tally, "binary-raw")
            tally.health("binary-raw", await _binary_healthy(stub, endpoints.binary_port, None))
            seconds["binary-raw"] = time.perf_counter() - started

            started = time.perf_counter()
            for i in range(int(PLAN["http"] * scale)):
                request = fuzzkit.http_request(rng, routes, bearer, http_token)
                tally.add("http", await fuzzkit.probe_stub_http(endpoints.http_port, request), request[:300])
                _crashes(watch, tally, "http")
                if i % 1000 == 0:
                    tally.health("http", await fuzzkit.stub_http_healthy(endpoints.http_port, DEFAULT_ADMIN_PASSWORD))
            tally.health("http", await fuzzkit.stub_http_healthy(endpoints.http_port, DEFAULT_ADMIN_PASSWORD))
            seconds["http"] = time.perf_counter() - started

            started = time.perf_counter()
            before = len(stub.events("bad_uplink"))
            mqtt = fuzzkit.MqttProbe(endpoints.mqtt_port, stub.issue_token(fuzzkit.TEMPLATE_ID).token)
            assert await mqtt.open(), "mqtt: the fuzzing device could not connect"
            while tally.inputs["mqtt"] < int(PLAN["mqtt"] * scale):
                uplinks = [fuzzkit.mqtt_uplink(rng) for _ in range(BATCH["mqtt"])]
                tally.add("mqtt", await mqtt.probe(uplinks), uplinks[:3], n=len(uplinks))
                _crashes(watch, tally, "mqtt")
            await mqtt.settle(lambda: len(stub.events("bad_uplink")) - before)
            refused = len(stub.events("bad_uplink")) - before
            print(f"mqtt: {refused} uplinks refused, {mqtt.diag} downlink/diag received, {mqtt.connects} connects")
            if mqtt.diag < refused:
                tally.missing_diag = refused - mqtt.diag
            await mqtt.close()
            seconds["mqtt"] = time.perf_counter() - started
        finally:
            await stub.stop()
    return seconds


async def _binary_healthy(stub: CloudStub, port: int, context: ssl.SSLContext | None) -> bool:
    device = fuzzkit.BinaryProbe(port, stub.issue_token(fuzzkit.TEMPLATE_ID).token, ssl_context=context)
    try:
        return await device.open() and await device.probe([]) is Verdict.OK
    finally:
        await device.close()


def board_phase(tally: Tally, scale: float, seed: int, tmp: Path) -> dict[str, float]:
    import devrig

    from provlab.protocol.console import tokenize_console_line

    rng = random.Random(seed + 1)
    seconds: dict[str, float] = {}

    async def body() -> None:
        rig = await devrig.start_rig(tmp)
        watch = CrashWatch()
        with watch.watching():
            try:
                await rig.wait_ap()
                _, link = await devrig.join_ap(rig)
                host, port = link.endpoint("192.168.4.1", 80)
                local = (link.local_address, 0)

                async def healthy() -> bool:
                    answer = await fuzzkit.http_exchange(
                        host, port, b"GET /board_info.json HTTP/1.1\r\nHost: 192.168.4.1\r\n\r\n", local_addr=local
                    )
                    return answer.status == 200

                started = time.perf_counter()
                for i in range(int(PLAN["softap"] * scale)):
                    request = fuzzkit.softap_request(rng)
                    try:
                        answer = await fuzzkit.http_exchange(host, port, request, 30, local_addr=local)
                        verdict = fuzzkit.softap_verdict(request, answer)
                    except asyncio.TimeoutError:
                        verdict = Verdict.HANG
                    tally.add("softap", verdict, request[:200])
                    _crashes(watch, tally, "softap")
                    if i % 500 == 0:
                        tally.health("softap", await healthy())
                tally.health("softap", await healthy())
                seconds["softap"] = time.perf_counter() - started

                started = time.perf_counter()
                serial = rig.board.serial
                for _ in range(int(PLAN["console"] * scale)):
                    line = fuzzkit.console_line(rng, tokenize_console_line)
                    mark = len(rig.capture.data)
                    serial.inject(line + b"\r")  # type: ignore[attr-defined]
                    serial.inject(b"devinfo\r")  # type: ignore[attr-defined]
                    try:
                        await rig.wait_for(
                            lambda m=mark: (
                                b"TMPL" in rig.capture.data[m:]  # type: ignore[misc]
                                and rig.capture.data.endswith(b">")
                            ),
                            "devinfo after a fuzzed line",
                            120,
                        )
                        verdict = Verdict.OK
                    except AssertionError:
                        verdict = Verdict.HANG
                    tally.add("console", verdict, line[:100])
                    _crashes(watch, tally, "console")
                    del rig.capture.data[:-4096]
                tally.health("console", await healthy())
                seconds["console"] = time.perf_counter() - started
            finally:
                await rig.shutdown()

    devrig.run(body(), device_limit_s=10**7)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the plan to run")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="provlab-fuzz-") as tmp:
        started = time.perf_counter()
        seconds = asyncio.run(cloud_phase(tally, args.scale, args.seed, Path(tmp)))
        seconds |= board_phase(tally, args.scale, args.seed, Path(tmp) / "board")
        wall = time.perf_counter() - started
    print(f"{'door':<12} {'inputs':>8} {'seconds':>8}")
    for door, n in tally.inputs.items():
        print(f"{door:<12} {n:>8} {seconds.get(door, 0.0):>8.1f}")
    print(f"total inputs {tally.total} in {wall:.0f} s (seed {args.seed})")
    for verdict in (Verdict.CRASH, Verdict.HANG, Verdict.ERROR_5XX, Verdict.DROP, Verdict.NOT_JSON):
        print(f"{verdict.value:<9} {tally.count(verdict)}")
    print(f"failed health checks {sum(tally.unhealthy.values())}")
    print(f"MQTT refusals without downlink/diag {tally.missing_diag}")
    for example in tally.examples:
        print("  ", example)
    bad = sum(tally.count(v) for v in Verdict if v is not Verdict.OK)
    bad += sum(tally.unhealthy.values()) + tally.missing_diag
    print("verdict: PASS (every count 0)" if bad == 0 else f"verdict: FAIL ({bad} findings)")
    sys.exit(0 if bad == 0 else 1)


if __name__ == "__main__":
    main()
