"""MQTT device API: connects/s and publishes/s with 1,000 devices, the stub against Mosquitto, one client.

The same load client measures both servers in one run: the cloud stub's MQTT device API (in this process,
time_scale 1.0, a real SQLite file) and a Mosquitto this script starts on a loopback port (Debian's
`mosquitto`). The devices run in a second process with plain non-blocking sockets and a selector (no
asyncio: the generator must cost far less than the servers it measures). Phases, per server:

1. connects: N devices send CONNECT (username `device`, password = token) at once and wait for CONNACK;
   for the stub the first round activates N fresh tokens (group commit), later rounds (`--rounds`) log in
   again (token cache); between rounds every device sends DISCONNECT and closes.
2. publishes: with all N connected, every device pipelines `--per-device` QoS 0 PUBLISHes, each to its own
   datastream (`ds/V0`, `ds/V1`, …, so each one is a row of its own in the store), then a PINGREQ, then
   DISCONNECT and close. The rate is messages / time until the server answered every PINGREQ (the stub
   applies each PUBLISH to the store before it reads the next packet) — for Mosquitto, until a subscriber
   to `ds/#` received them all, whichever is later.

How a connect round is timed, and what limits it: the client opens sockets with 100 connects in flight and
the round lasts from its first `socket()` to the last CONNACK; connects/s = devices / that time. The client
and the server share this machine's cores, so a round's rate also depends on what else runs; the `stub CPU`
per connect (process time of the stub's process during the round: accept, transport, CONNECT, token check,
journal, presence, CONNACK, and its share of the 0.1 s write-behind flush) is the steadier figure, and the
client's own CPU per connect is printed next to it. Mosquitto, measured with the same client in the same run,
is the reference for what the client can drive: while Mosquitto's rate is well above the stub's, the client
is not what limits the stub. The first stub round activates fresh tokens (a group commit per event-loop
turn) and is reported on its own; the median is over the re-login rounds.

Last, the stub fronts that Mosquitto (`--mqtt-broker`) and the publish round runs once more: a subscriber to
`provlab/+/up/#` at Mosquitto must receive every message the devices sent to the stub.

"Lost": stub — PUBLISHes without their row in SQLite, counted after every device disconnected and the stub
flushed (read with a second SQLite connection); Mosquitto — messages the `ds/#` subscriber did not get
(QoS 0; Mosquitto configured with unlimited queues). Mosquitto checks no tokens (anonymous clients allowed):
that is the cost of authentication the stub pays and Mosquitto does not.

    python3 benchmarks/bench_mqtt.py                   # 1000 devices x 100 messages, 3 connect rounds
    python3 benchmarks/bench_mqtt.py --devices 200 --per-device 50
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mpc
import os
import selectors
import shutil
import socket
import sqlite3
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provlab.cloud.mosquitto import Mosquitto, mosquitto_binary
from provlab.cloud.mqtt_bridge import MqttBridge
from provlab.cloud.stub import CloudStub
from provlab.protocol import mqtt_packets as mp

TEMPLATE = "TMPL0PROVLAB"
CONNECT_TARGET = 5_000.0
PUBLISH_TARGET = 50_000.0
LIMIT_S = 60.0


# --- the devices (second process) --------------------------------------------------------------------
class Fleet:
    def __init__(self, tokens: list[str]) -> None:
        self.connects = [mp.connect("device", t.encode(), keep_alive=600) for t in tokens]
        self.sockets: list[socket.socket] = []

    def connect_all(self, port: int, concurrency: int) -> dict[str, float]:
        """Connect every device, send CONNECT, wait for its CONNACK (4 bytes)."""
        selector = selectors.DefaultSelector()
        pending = list(range(len(self.connects)))[::-1]
        got: dict[int, bytes] = {}
        done: list[socket.socket] = []
        refused = in_flight = 0
        cpu, start = time.process_time(), time.perf_counter()
        while (pending or in_flight) and time.perf_counter() - start < LIMIT_S:
            while pending and in_flight < concurrency:
                index = pending.pop()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                selector.register(sock, selectors.EVENT_WRITE, index)
                in_flight += 1
            for key, events in selector.select(timeout=1.0):
                sock, index = key.fileobj, key.data
                assert isinstance(sock, socket.socket)
                if events & selectors.EVENT_WRITE:
                    sock.send(self.connects[index])
                    selector.modify(sock, selectors.EVENT_READ, index)
                    got[index] = b""
                    continue
                try:
                    data = sock.recv(64)
                except OSError:
                    data = b""
                got[index] += data
                if not data or len(got[index]) >= 4:
                    selector.unregister(sock)
                    in_flight -= 1
                    if got[index][:4] == mp.connack(mp.ACCEPTED):
                        done.append(sock)
                    else:
                        refused += 1
                        sock.close()
        elapsed = time.perf_counter() - start
        selector.close()
        self.sockets = done
        return {"connected": len(done), "refused": refused, "seconds": elapsed, "cpu": time.process_time() - cpu}

    def disconnect_all(self) -> dict[str, float]:
        for sock in self.sockets:
            try:
                sock.setblocking(True)
                sock.sendall(mp.DISCONNECT_PACKET)
            except OSError:
                pass
            sock.close()
        self.sockets = []
        return {}

    def publish_all(self, per_device: int, subscriber_port: int, topic_filter: str = "ds/#") -> dict[str, float]:
        """Pipeline `per_device` PUBLISHes and a PINGREQ on every connected device; wait for every PINGRESP
        and, with a `subscriber_port`, for a subscriber to `topic_filter` there to receive every message."""
        subscriber = _subscriber(subscriber_port, topic_filter) if subscriber_port else None
        blobs = [
            b"".join(mp.publish(f"ds/V{k}", f"{i}-{k}".encode()) for k in range(per_device)) + mp.PINGREQ_PACKET
            for i in range(len(self.sockets))
        ]
        total = per_device * len(self.sockets)
        selector = selectors.DefaultSelector()
        splitters = {}
        cpu, start = time.process_time(), time.perf_counter()
        for sock, blob in zip(self.sockets, blobs, strict=True):
            sock.setblocking(True)
            sock.sendall(blob)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            splitters[sock.fileno()] = mp.PacketSplitter()
        sent_at = time.perf_counter()
        if subscriber is not None:
            subscriber.setblocking(False)
            selector.register(subscriber, selectors.EVENT_READ)
            splitters[subscriber.fileno()] = mp.PacketSplitter()
        pongs = received = other = 0
        pong_at = sub_at = start
        while time.perf_counter() - start < LIMIT_S:
            if pongs == len(self.sockets) and (subscriber is None or received >= total):
                break
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    continue
                splitter = splitters[sock.fileno()]
                splitter.feed(data)
                while (found := splitter.next_packet()) is not None:
                    if sock is subscriber:
                        if found[0] >> 4 == mp.PUBLISH:
                            received += 1
                            sub_at = time.perf_counter()
                    elif found[0] == 0xD0:
                        pongs += 1
                        pong_at = time.perf_counter()
                    else:
                        other += 1
        ended = time.perf_counter()
        selector.close()
        if subscriber is not None:
            subscriber.close()
        self.disconnect_all()
        complete = pongs == len(self.sockets) and (subscriber is None or received >= total)
        return {
            "sent": total,
            "pongs": pongs,
            "received": received,
            "other": other,
            "send_seconds": sent_at - start,
            "seconds": (max(pong_at, sub_at) if complete else ended) - start,
            "cpu": time.process_time() - cpu,
        }


def _subscriber(port: int, topic_filter: str) -> socket.socket:
    """A plain MQTT client subscribed to `topic_filter` (blocking until its SUBACK)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    hello = mp.connect(None, None, client_id="bench-subscriber", keep_alive=600)
    sock.sendall(hello + mp.subscribe(1, [(topic_filter, 0)]))
    splitter, seen = mp.PacketSplitter(), []
    while len(seen) < 2:
        splitter.feed(sock.recv(4096))
        while (found := splitter.next_packet()) is not None:
            seen.append(found[0])
    if seen != [0x20, 0x90]:
        raise RuntimeError(f"subscriber got packets {seen} instead of CONNACK, SUBACK")
    return sock


def fleet_process(pipe: Connection, tokens: list[str]) -> None:
    fleet = Fleet(tokens)
    while True:
        command, args = pipe.recv()
        if command == "connect":
            pipe.send(fleet.connect_all(*args))
        elif command == "disconnect":
            pipe.send(fleet.disconnect_all())
        elif command == "publish":
            pipe.send(fleet.publish_all(*args))
        elif command == "stop":
            pipe.send(fleet.disconnect_all())
            return


# --- the servers (this process) ----------------------------------------------------------------------
async def ask(pipe: Connection, command: str, *args: Any) -> dict[str, float]:
    pipe.send((command, args))
    return await asyncio.to_thread(pipe.recv)  # type: ignore[no-any-return]


def line(label: str, value: float, unit: str, detail: str = "") -> None:
    print(f"  {label:<34} {value:10,.0f} {unit:<11} {detail}")


async def until(check: Any, limit_s: float = 30.0) -> bool:
    deadline = time.perf_counter() + limit_s
    while not check():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def run_server(
    name: str, pipe: Connection, port: int, args: argparse.Namespace, stub: CloudStub | None, sub_port: int
) -> dict[str, float]:
    """Connect rounds and one publish round against one server; prints its lines, returns its rates."""
    print(f"{name}:")
    rates: list[float] = []
    for round_ in range(args.rounds + (1 if stub is not None else 0)):
        cpu = time.process_time()
        result = await ask(pipe, "connect", port, args.concurrency)
        server_cpu = time.process_time() - cpu
        assert result["connected"] == args.devices, f"{name}: {result}"
        rate = result["connected"] / result["seconds"]
        costs = f"stub CPU {server_cpu / args.devices * 1e6:.0f} us/connect, " if stub is not None else ""
        costs += f"client CPU {result['cpu'] / args.devices * 1e6:.0f} us/connect"
        if stub is not None and round_ == 0:
            line(
                "first connects (token activation)",
                rate,
                "connects/s",
                f"({stub.gateway.counters['group_commits']} group commits; {costs})",
            )
        else:
            rates.append(rate)
            line(f"  round {round_ + (0 if stub is not None else 1)}", rate, "connects/s", f"({costs})")
        if stub is not None:
            assert len(stub.presence) == args.devices, f"{len(stub.presence)} online"
        await ask(pipe, "disconnect")
        if stub is not None:
            assert await until(lambda: len(stub.presence) == 0), "devices still online after DISCONNECT"
        else:
            await asyncio.sleep(0.5)
    connects = statistics.median(rates)
    line(
        "connects", connects, "connects/s", f"(median of {len(rates)} rounds of {args.devices}, best {max(rates):,.0f})"
    )
    result = await ask(pipe, "connect", port, args.concurrency)
    assert result["connected"] == args.devices
    await asyncio.sleep(0.3)
    cpu = time.process_time()
    sent = await ask(pipe, "publish", args.per_device, sub_port)
    server_cpu = time.process_time() - cpu
    publishes = sent["sent"] / sent["seconds"]
    if stub is not None:
        assert await until(lambda: len(stub.presence) == 0), "devices still online after DISCONNECT"
        stub.store.flush()
        with sqlite3.connect(stub.store.path) as other:
            rows = other.execute("SELECT pin, value FROM pin_values").fetchall()
        stored = sum(1 for pin, value in rows if value.rsplit("-", 1)[-1] == pin[1:])
        lost = int(sent["sent"]) - stored
        per_msg = server_cpu / sent["sent"] * 1e6
        how = f"stored {stored:,} of {int(sent['sent']):,} rows in SQLite; stub CPU {per_msg:.1f} us/msg"
    else:
        lost = int(sent["sent"] - sent["received"])
        how = f"subscriber got {int(sent['received']):,} of {int(sent['sent']):,}"
    line(
        "publishes (QoS 0, pipelined)",
        publishes,
        "msgs/s",
        f"({int(sent['pongs'])} PINGRESPs; {how}; client sent all in {sent['send_seconds']:.2f} s)",
    )
    line("lost", lost, "messages")
    return {"connects": connects, "publishes": publishes, "lost": lost}


async def run_fronted(pipe: Connection, port: int, args: argparse.Namespace, stub: CloudStub, broker: str) -> None:
    """The publish round again, with the stub fronting the broker (`--mqtt-broker`): a subscriber to
    `provlab/+/up/#` at the broker must get every message the devices sent to the stub."""
    print(f"cloud stub fronting Mosquitto (--mqtt-broker {broker}):")
    assert stub.mqtt is not None
    bridge = MqttBridge(broker, stub.mqtt, stub.gateway)
    await bridge.start()
    stub.mqtt.bridge = bridge
    try:
        result = await ask(pipe, "connect", port, args.concurrency)
        assert result["connected"] == args.devices
        await asyncio.sleep(0.3)
        broker_port = urlsplit(broker).port
        cpu = time.process_time()
        sent = await ask(pipe, "publish", args.per_device, broker_port, "provlab/+/up/#")
        per_msg = (time.process_time() - cpu) / sent["sent"] * 1e6
        relayed = f"subscriber at Mosquitto got {int(sent['received']):,} of {int(sent['sent']):,};"
        relayed += f" stub CPU {per_msg:.1f} us/msg"
        line("publishes relayed (QoS 0)", sent["sent"] / sent["seconds"], "msgs/s", f"({relayed})")
        line("lost", sent["sent"] - sent["received"], "messages", f"(bridge dropped {bridge.dropped})")
        assert await until(lambda: len(stub.presence) == 0), "devices still online after DISCONNECT"
    finally:
        stub.mqtt.bridge = None
        await bridge.stop()


async def measure(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="provlab-bench-mqtt-"))
    stub = CloudStub(folder / "cloud.db")
    stub.seed()
    endpoints = await stub.start(tls_port=None, mqtts_port=None)
    assert endpoints.mqtt_port is not None
    tokens = [stub.issue_token(TEMPLATE).token for _ in range(args.devices)]
    ctx = mpc.get_context("spawn")
    pipe, child_end = ctx.Pipe()
    fleet = ctx.Process(target=fleet_process, args=(child_end, tokens), daemon=True)
    fleet.start()
    load = os.getloadavg()[0]
    print(
        f"MQTT benchmark: {args.devices} devices, {args.per_device} messages each, {os.cpu_count()} cores, "
        f"load average {load:.1f} at start"
    )
    mosquitto = Mosquitto() if mosquitto_binary() else None
    try:
        ours = await run_server("cloud stub (MQTT device API)", pipe, endpoints.mqtt_port, args, stub, 0)
        theirs = None
        if mosquitto is None:
            print("Mosquitto: not installed (apt-get install mosquitto), not measured")
        else:
            mosquitto.start()
            port = urlsplit(mosquitto.url).port
            assert port is not None
            theirs = await run_server("Mosquitto (no authentication)", pipe, port, args, None, port)
            await run_fronted(pipe, endpoints.mqtt_port, args, stub, mosquitto.url)
        print(f"  load average {os.getloadavg()[0]:.1f} at end (other work on this machine shares the cores)")
        print("summary:")
        print(f"  targets: stub >= {CONNECT_TARGET:,.0f} connects/s, >= {PUBLISH_TARGET:,.0f} publishes/s, 0 lost")
        verdict = "meets" if ours["connects"] >= CONNECT_TARGET else "misses"
        print(f"  stub connects    {ours['connects']:10,.0f}/s ({verdict} the target)", end="")
        print(
            f"; Mosquitto {theirs['connects']:,.0f}/s, ratio {ours['connects'] / theirs['connects']:.2f}"
            if theirs
            else ""
        )
        verdict = "meets" if ours["publishes"] >= PUBLISH_TARGET else "misses"
        print(f"  stub publishes   {ours['publishes']:10,.0f}/s ({verdict} the target)", end="")
        print(
            f"; Mosquitto {theirs['publishes']:,.0f}/s, ratio {ours['publishes'] / theirs['publishes']:.2f}"
            if theirs
            else ""
        )
        print(
            f"  stub lost        {ours['lost']:10,.0f}" + (f"; Mosquitto lost {theirs['lost']:,.0f}" if theirs else "")
        )
    finally:
        await ask(pipe, "stop")
        fleet.join(10)
        await stub.stop()
        if mosquitto is not None:
            mosquitto.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the stub's database holds every device's token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--per-device", type=int, default=100, help="PUBLISHes per device (<= 100: the stub's quota burst)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="connects in flight at once (Mosquitto listens with a backlog of 100)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="connect rounds measured per server")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(measure(args), 600))


if __name__ == "__main__":
    main()
