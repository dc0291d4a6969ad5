"""The virtual lab clock: time moves only when the whole lab waits, never while something can still run.

No test here compares wall time with device time: each checks what the lab's own events see.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Iterator

import pytest

from provlab.clock import virtual
from provlab.clock.virtual import ClockStalled, VirtualClock
from provlab.lab.runtime import EventLoopThread


@pytest.fixture
def lab_loop() -> Iterator[EventLoopThread]:
    clock = VirtualClock()
    clock.attach_driver()
    runner = EventLoopThread("test-virtual", clock)
    try:
        yield runner
    finally:
        runner.close()
        clock.detach_driver()


def test_a_long_sleep_ends_at_exactly_its_device_time(lab_loop: EventLoopThread) -> None:
    async def sleep_an_hour() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    assert lab_loop.run(sleep_an_hour(), 30) == 3600
    assert lab_loop.clock.now() == 3600


def test_timers_fire_in_order_at_their_own_times(lab_loop: EventLoopThread) -> None:
    async def timers() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        done = asyncio.Event()
        for name, delay in (("c", 50.0), ("a", 0.5), ("b", 10.0)):
            loop.call_later(delay, lambda n=name: fired.append((n, loop.time())))
        loop.call_later(60, done.set)
        await done.wait()
        return fired

    assert lab_loop.run(timers(), 30) == [("a", 0.5), ("b", 10.0), ("c", 50.0)]


def test_tcp_exchange_between_two_loops_takes_no_device_time(lab_loop: EventLoopThread) -> None:
    """A server on a second loop of the clock that answers after blocking its thread: the client's 1 s
    timeout never fires, because a loop that runs (or has a ready socket) keeps the clock standing."""
    clock = lab_loop.clock
    server_loop = EventLoopThread("test-server", clock)
    try:

        async def serve() -> int:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                while data := await reader.read(100):
                    time.sleep(0.02)  # the server's thread is busy: the host is loaded
                    writer.write(data.upper())
                    await writer.drain()
                writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            return int(server.sockets[0].getsockname()[1])

        port = server_loop.run(serve(), 30)

        async def client() -> list[bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answers = []
            for i in range(20):
                writer.write(f"ping {i}".encode())
                answers.append(await asyncio.wait_for(reader.read(100), 1.0))
            writer.close()
            return answers

        before = clock.now()
        assert lab_loop.run(client(), 60) == [f"PING {i}".encode() for i in range(20)]
        assert clock.now() == before
    finally:
        server_loop.close()


def test_the_clock_stands_while_the_driver_runs(lab_loop: EventLoopThread) -> None:
    fired = threading.Event()
    lab_loop.loop.call_soon_threadsafe(lambda: lab_loop.loop.call_later(1.0, fired.set))
    time.sleep(0.2)  # the driver is busy (not waiting through the clock): nothing may happen meanwhile
    assert not fired.is_set() and lab_loop.clock.now() == 0
    lab_loop.clock.sleep(1.0)  # the driver waits: now the timer is due, and runs before the driver goes on
    assert fired.is_set() and lab_loop.clock.now() == 1.0


def test_a_press_then_a_wait_is_exact_even_if_the_driver_is_slow_in_between(lab_loop: EventLoopThread) -> None:
    """The 9 s button hold of tests/emulator/test_board_button_led.py in miniature: a 10 s timer armed on
    the loop, the driver dawdles, waits 9 s, and cancels: the timer must not have fired."""
    fired: list[float] = []
    handle: list[asyncio.TimerHandle] = []

    async def press() -> None:
        loop = asyncio.get_running_loop()
        handle.append(loop.call_later(10.0, lambda: fired.append(loop.time())))

    lab_loop.run(press(), 30)
    time.sleep(0.05)
    lab_loop.clock.sleep(9.0)
    lab_loop.call(handle[0].cancel, 30)
    assert fired == [] and lab_loop.clock.now() == 9.0


def test_an_executor_job_holds_the_clock(lab_loop: EventLoopThread) -> None:
    async def race() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        async def job() -> None:
            await loop.run_in_executor(None, time.sleep, 0.1)
            order.append("job")

        async def timer() -> None:
            await asyncio.sleep(1.0)
            order.append("timer")

        await asyncio.gather(job(), timer())
        return order

    assert lab_loop.run(race(), 30) == ["job", "timer"]


def test_bytes_in_flight_on_a_pty_hold_the_clock(lab_loop: EventLoopThread) -> None:
    """A pty hands written bytes to its reader through a kernel work queue: a loop writing a line and a
    reader thread picking it up must see it before a 10 ms poll timer moves time on."""
    clock = lab_loop.clock
    channel = clock.channel("pty")
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    channel.attach()
    got: list[tuple[bytes, float]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([slave], [], [], 0.05)
            if ready:
                data = os.read(slave, 4096)
                got.append((data, clock.now()))
                channel.consumed(len(data))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:

        async def write_and_poll() -> float:
            loop = asyncio.get_running_loop()
            at = loop.time()
            channel.produced(6)
            channel.consumed(6 - os.write(master, b"line\r\n"))
            for _ in range(100):  # a firmware's 10 ms poll loop
                await asyncio.sleep(0.01)
            return at

        for _ in range(20):
            got.clear()
            written_at = lab_loop.run(write_and_poll(), 30)
            assert b"".join(data for data, _ in got) == b"line\r\n"
            assert {at for _, at in got} == {written_at}
    finally:
        stop.set()
        thread.join(5)
        os.close(master)
        os.close(slave)


def test_a_driver_wait_times_out_at_its_deadline(lab_loop: EventLoopThread) -> None:
    waiter = lab_loop.clock.deadline(5.0).waiter()
    assert waiter.wait() is False
    assert lab_loop.clock.now() == 5.0


def test_a_driver_woken_by_a_reader_thread_finds_the_clock_where_it_was(lab_loop: EventLoopThread) -> None:
    """A serial reader thread hands the driver a line: while the bytes are in flight the clock holds, and
    the driver's hold is back before the reader lets go of them."""
    clock = lab_loop.clock
    channel = clock.channel("serial")
    channel.attach()
    channel.produced(6)
    waiter = clock.deadline(5.0).waiter()

    def reader() -> None:
        waiter.wake()
        channel.consumed(6)

    threading.Timer(0.05, reader).start()
    assert waiter.wait() is True
    assert clock.now() == 0.0


def test_a_thread_outside_the_lab_does_not_hold_the_clock(lab_loop: EventLoopThread) -> None:
    """The other side of the rule: a thread the clock knows nothing of cannot keep it standing."""
    waiter = lab_loop.clock.deadline(5.0).waiter()
    late = threading.Timer(0.5, waiter.wake)
    late.start()
    try:
        assert waiter.wait() is False
        assert lab_loop.clock.now() == 5.0
    finally:
        late.cancel()


def test_a_held_clock_stalls_with_a_message_naming_the_holder(
    lab_loop: EventLoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(virtual, "STALL_WALL_S", 0.2)
    with lab_loop.clock.hold("a serial reader handling a line"), pytest.raises(ClockStalled) as stalled:
        lab_loop.clock.sleep(1.0)
    assert "a serial reader handling a line" in str(stalled.value)


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_loopback_delivers_before_send_returns(kind: socket.SocketKind) -> None:
    """The assumption the clock makes about sockets between its loops (see provlab/clock/virtual.py):
    on loopback, bytes are in the receiver's queue by the time send() returns."""
    if kind == socket.SOCK_STREAM:
        listener = socket.create_server(("127.0.0.1", 0))
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
        listener.close()
    else:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.connect(receiver.getsockname())
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) if kind == socket.SOCK_STREAM else None
    try:
        for i in range(2000):
            sender.send(b"x" * (1 + i % 1400))
            readable, _, _ = select.select([receiver], [], [], 0)
            assert readable, f"message {i} was not readable right after send()"
            receiver.recv(65536)
    finally:
        sender.close()
        receiver.close()


def test_waiting_out_the_rest_of_a_deadline_ends_even_when_the_rest_is_below_the_clock_resolution() -> None:
    """`while remaining > 0: sleep(min(step, remaining))` (the firmware's connect loop) must end: a future timer
    is never due before the clock moves, however small the rest and however large `now`."""
    clock = VirtualClock(start=1_000_000.0)
    loop = clock.new_loop()
    try:

        async def wait_out() -> int:
            deadline = loop.time() + 50.0
            turns = 0
            while (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(0.1, remaining, 1e-15 if turns == 3 else 1.0))
                turns += 1
                assert turns < 1000, f"stuck {remaining!r} s before the deadline"
            return turns

        turns = loop.run_until_complete(wait_out())
        assert 500 <= turns < 1000 and clock.now() >= 1_000_050.0
    finally:
        loop.close()
