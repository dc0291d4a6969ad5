"""The emulated Blynk.NCP board: the host MCU's `Edgent_NCP` sketch and the NCP it drives over a UART.

Two programs share one power rail, modelled as one main task:

* the host (SAMD21) runs `Edgent_NCP.ino` on `BlynkEdgentNCP.h`: its lines are what the board's USB serial
  (the pty) shows. It talks to the NCP only through `NcpLink`: real RPC messages in real UART frames
  (`provlab.protocol.ncp`), which cross only when both ends run the same baud and the NCP is there;
* the NCP (NINA-W102) answers those calls and, once `blynk.initialize` arrived, runs the provisioning and cloud
  state machine of `EdgentFirmware` (SoftAP, `/config`, cloud login). Its own log goes to its UART0, which
  nobody reads on these boards: it is kept in `ncp_log`, not written to the pty. Its state changes reach the
  host as `client.blynkStateChange` messages, which the host prints as `State: …`.

What the NCP does beyond the protocol is chosen in `provlab.protocol.choices` (the `NCP_*` block).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from provlab.emulator.banner import logo_text
from provlab.emulator.defects import Behaviour
from provlab.emulator.families.ncp import NcpProfile
from provlab.emulator.firmware import MIN_POLL_WALL_S, EdgentFirmware, TransitionRecord
from provlab.emulator.flash import PowerLost
from provlab.emulator.hardware import BoardHardware
from provlab.emulator.transitions import Target, Trigger, check
from provlab.protocol import choices
from provlab.protocol import ncp as rpc
from provlab.protocol.serial_log import format_log_line
from provlab.protocol.states import EdgentState

log = logging.getLogger("provlab.emulator.ncp")

S = EdgentState
NCP_LOG_KEPT = 64 * 1024  # bytes of the NCP's own log kept (its tail), for tests and evidence

NCP_STATE: dict[EdgentState, rpc.BlynkState] = {
    S.WAIT_CONFIG: rpc.BlynkState.CONFIG,
    S.CONFIGURING: rpc.BlynkState.CONFIG,
    S.SWITCH_TO_STA: rpc.BlynkState.CONNECTING_NET,
    S.CONNECTING_NET: rpc.BlynkState.CONNECTING_NET,
    S.CONNECTING_CLOUD: rpc.BlynkState.CONNECTING_CLOUD,
    S.RUNNING: rpc.BlynkState.CONNECTED,
    S.OTA_UPGRADE: rpc.BlynkState.OTA_UPGRADE,
    S.ERROR: rpc.BlynkState.ERROR,
}
"""What the NCP reports for each state of its provisioning machine (RESET_CONFIG and INIT report nothing)."""


def wire_micros(frame_bytes: int, baud: int) -> int:
    """Time on an 8N1 line (10 bits a byte) for `frame_bytes`, in microseconds."""
    return round(frame_bytes * 10 * 1_000_000 / baud)


class NcpLink:
    """The host's `SerialNina` and the NCP's UART: bytes cross when both ends run at the same speed."""

    def __init__(
        self, to_ncp: Callable[[bytes], bytes], to_host: Callable[[rpc.Message], None], millis: Callable[[], int]
    ) -> None:
        self._to_ncp = to_ncp
        self._to_host = to_host
        self._millis = millis
        self._host_rx = rpc.FrameDecoder()
        self.host_baud = 0
        self.ncp_baud = 0  # 0: nothing listens (the NCP is absent or not running)
        self.seq = 0
        self.last_rx_ms = 0
        """`rpc_get_last_rx()`'s reference: when the host last received a message."""

    def _received(self, data: bytes) -> list[rpc.Message]:
        messages = [rpc.parse_message(payload) for payload in self._host_rx.feed(data)]
        if messages:
            self.last_rx_ms = self._millis()
        return messages

    def reset(self, ncp_baud: int) -> None:
        self.host_baud, self.ncp_baud, self.seq = 0, ncp_baud, 0
        self._host_rx = rpc.FrameDecoder()
        self.last_rx_ms = self._millis()

    @property
    def in_sync(self) -> bool:
        return self.ncp_baud != 0 and self.host_baud == self.ncp_baud

    def send_to_host(self, payload: bytes) -> None:
        """A ONEWAY from the NCP: the host's `rpc_run()` handles it (if it can read the line at all)."""
        if self.in_sync:
            for message in self._received(rpc.frame(payload)):
                self._to_host(message)

    def oneway(self, uid: int, args: bytes = b"") -> None:
        """A ONEWAY from the host (`virtualWrite`): delivered if the NCP can read the line, never answered."""
        if self.in_sync:
            self._to_ncp(rpc.frame(rpc.oneway(uid, args)))

    def invoke(self, uid: int, args: bytes = b"") -> tuple[int, rpc.Message | None, int]:
        """One INVOKE: (status, the RESULT or None, microseconds it took on the wire when it was answered)."""
        self.seq = (self.seq + 1) & 0xFFFF or 1
        out = rpc.frame(rpc.invoke(uid, self.seq, args))
        if not self.in_sync:
            return rpc.Status.ERROR_TIMEOUT, None, 0
        baud = self.host_baud
        answer = self._to_ncp(out)
        for message in self._received(answer):
            if message.op is rpc.Op.RESULT and message.seq == self.seq:
                micros = wire_micros(len(out) + len(answer), baud) + choices.NCP_PING_TURNAROUND_US
                return message.status or 0, message, micros
            self._to_host(message)
        return rpc.Status.ERROR_TIMEOUT, None, 0


class NcpFirmware(EdgentFirmware):
    """The host sketch plus the NCP firmware on one board (`NcpProfile`)."""

    profile: NcpProfile
    factory_profile: NcpProfile

    def __init__(
        self,
        hardware: BoardHardware,
        profile: NcpProfile,
        *,
        behaviour: Behaviour,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(hardware, profile, behaviour=behaviour, tls=tls)
        hardware.serial.on_receive = self._host_serial_input  # the sketch never reads Serial
        self.ncp_log = bytearray()
        """What the NCP printed on its own UART0 (not on the board's USB serial)."""
        self.link = NcpLink(self._ncp_receive, self._host_receive, self.clock.millis)
        self.host_state = rpc.BlynkState.UNKNOWN
        self.ncp_running = False
        """The NCP got `blynk.initialize` and runs its state machine."""
        self._ncp_rx = rpc.FrameDecoder()
        self._ncp_reported: rpc.BlynkState | None = None
        self._ncp_reboot = False
        self._host_reinit = False
        self._host_wake = asyncio.Event()
        self.ncp_plugged = profile.ncp_present
        """The module answers at all (a fault may pull it: `unplug_ncp()`)."""
        self.firmware_info: tuple[str, str, str, str] = (
            profile.firmware_type,
            profile.fw_version,
            profile.build,
            profile.blynk_version,
        )
        self.config_timeout_s = 0
        self.led_config: list[tuple[str, tuple[int, ...]]] = []

    # --- the host's serial port ---------------------------------------------------------------------
    def host_log(self, text: str) -> None:
        """`BLYNK_LOG` on the host: `[millis] text` + CRLF on the board's USB serial."""
        self.hw.serial.write(format_log_line(self.clock.millis(), text))

    def log(self, text: str) -> None:
        """The NCP's `BLYNK_LOG`: on the NINA's UART0, which these boards do not route anywhere."""
        self.ncp_log += format_log_line(self.clock.millis(), text)
        if len(self.ncp_log) > NCP_LOG_KEPT:
            del self.ncp_log[: len(self.ncp_log) - NCP_LOG_KEPT]

    def _host_serial_input(self, data: bytes) -> None:
        """`Edgent_NCP.ino` has no console: what is typed is never read."""

    def on_button(self, pressed: bool) -> None:
        """No button is wired to either chip by these builds."""

    # --- the NCP's RPC server ---------------------------------------------------------------------------
    def _ncp_receive(self, data: bytes) -> bytes:
        out = bytearray()
        for payload in self._ncp_rx.feed(data):
            try:
                message = rpc.parse_message(payload)
            except rpc.MessageError:
                continue  # "messages with an unknown opcode should be ignored"
            if message.op is rpc.Op.ONEWAY and message.uid == rpc.Uid.BLYNK_VIRTUAL_WRITE:
                self._ncp_virtual_write(rpc.Reader(message.body))
            if message.op is rpc.Op.INVOKE and message.seq is not None and message.uid is not None:
                status, rets, after = self._ncp_call(message.uid, rpc.Reader(message.body))
                out += rpc.frame(rpc.result(message.seq, status, rets))
                if after is not None:
                    after()
        return bytes(out)

    def _ncp_call(self, uid: int, args: rpc.Reader) -> tuple[int, bytes, Callable[[], None] | None]:
        ok = rpc.boolean(True)
        try:
            if uid == rpc.Uid.NCP_PING:
                return rpc.Status.OK, b"", None
            if uid == rpc.Uid.HW_SET_UART_BAUD_RATE:
                baud = args.u32()
                return rpc.Status.OK, ok, lambda: setattr(self.link, "ncp_baud", baud)
            if uid == rpc.Uid.BLYNK_GET_NCP_VERSION:
                return rpc.Status.OK, rpc.c_string(self.profile.ncp_version) + ok, None
            if uid == rpc.Uid.BLYNK_SET_CONFIG_TIMEOUT:
                self.config_timeout_s = args.u16()
                return rpc.Status.OK, ok, None
            if uid == rpc.Uid.BLYNK_SET_FIRMWARE_INFO:
                self.firmware_info = (args.string(), args.string(), args.string(), args.string())
                return rpc.Status.OK, ok, None
            if uid == rpc.Uid.HW_INIT_RGB:
                pins = (args.u16(), args.u16(), args.u16(), int(args.boolean()))
                self.led_config.append(("rgb", pins))
                return rpc.Status.OK, ok, None
            if uid == rpc.Uid.HW_SET_LED_BRIGHTNESS:
                self.led_config.append(("brightness", (args.u8(),)))
                return rpc.Status.OK, ok, None
            if uid == rpc.Uid.BLYNK_GET_STATE:
                current = NCP_STATE.get(self.state) if self.ncp_running else None
                return rpc.Status.OK, rpc.u8(current or rpc.BlynkState.NOT_INITIALIZED), None
            if uid == rpc.Uid.BLYNK_INITIALIZE:
                template = (args.string(), args.string())
                return rpc.Status.OK, ok, lambda: self._ncp_initialize(*template)
        except rpc.MessageError:
            return rpc.Status.ERROR_ARGS_R, b"", None
        return rpc.Status.ERROR_UID, b"", None

    def _ncp_virtual_write(self, args: rpc.Reader) -> None:
        """`blynk.virtualWrite`: to the cloud while connected (dropped otherwise, UNCONFIRMED)."""
        try:
            pin, value = args.u16(), args.binary()
        except rpc.MessageError:
            return
        if self.ncp_running and self.client.connected:
            self.client.virtual_write(pin, *(v.decode("utf-8", "replace") for v in value.split(b"\0")))

    def _ncp_initialize(self, template_id: str, template_name: str) -> None:
        """`blynk.initialize`: the NCP loads its config and starts provisioning or connecting."""
        if self.ncp_running:
            return
        self.ncp_running = True
        self._load_app()
        self.client.info_body = self._info_body()
        self.config_load()
        self.enter_first_state()

    def set_state(self, new: EdgentState) -> None:
        super().set_state(new)
        reported = NCP_STATE.get(self.state)
        if self.ncp_running and reported is not None and reported is not self._ncp_reported:
            self._ncp_reported = reported
            self.link.send_to_host(rpc.oneway(rpc.Uid.CLIENT_BLYNK_STATE_CHANGE, rpc.u8(reported)))

    def transition(self, trigger: Trigger, target: Target) -> None:
        """A reboot of the table restarts the NCP alone (the host stays up and re-initializes it)."""
        if isinstance(target, EdgentState):
            super().transition(trigger, target)
            return
        check(self.state, trigger, target)
        self.history.append(TransitionRecord(self.clock.millis(), self.state, trigger, target))
        self._ncp_reboot = True
        self._poke()

    def _info_body(self) -> bytes:
        fw_type, _version, build, blynk = self.firmware_info
        p = self.profile
        return rpc.ncp_info(
            p.ncp_version, fw_type, build, blynk, p.heartbeat_s, p.buff_in, p.ncp_device, tmpl=p.template_id
        )

    # --- the host's RPC client side ------------------------------------------------------------------------
    def _host_receive(self, message: rpc.Message) -> None:
        """`rpc_run()` on the host: the NCP's ONEWAYs (state changes, events)."""
        if message.op is not rpc.Op.ONEWAY:
            return
        reader = rpc.Reader(message.body)
        if message.uid == rpc.Uid.CLIENT_BLYNK_STATE_CHANGE:
            state = rpc.BlynkState(reader.u8())
            previous, self.host_state = self.host_state, state
            if state is previous:
                return
            if previous is rpc.BlynkState.CONNECTED:
                self.host_log(rpc.DISCONNECTED)
            self.host_log(rpc.state_line(state))
            if state is rpc.BlynkState.CONNECTED:
                self.host_log(rpc.CONNECTED)
        elif message.uid == rpc.Uid.CLIENT_PROCESS_EVENT and reader.u8() == rpc.Event.NCP_REBOOTING:
            self._host_reinit = True
            self._host_wake.set()

    async def _call(
        self, uid: int, args: bytes = b"", timeout_ms: int = rpc.RPC_TIMEOUT_DEFAULT_MS
    ) -> tuple[int, bytes]:
        status, message, micros = self.link.invoke(uid, args)
        await self.clock.sleep((micros if message is not None else timeout_ms * 1000) / 1_000_000)
        return status, message.body if message is not None else b""

    async def _ping(self) -> int | None:
        """`rpc_ncp_ping()`: the microseconds it took, None when it timed out."""
        status, message, micros = self.link.invoke(rpc.Uid.NCP_PING)
        if message is None or status != rpc.Status.OK:
            await self.clock.sleep(rpc.PING_TIMEOUT_MS / 1000)
            return None
        await self.clock.sleep(micros / 1_000_000)
        return micros

    async def _ncp_connect(self) -> bool:
        """`ncpConnect(BLYNK_NCP_BAUD)` (BlynkEdgentNCP.h:220-255)."""
        target = self.profile.ncp_target_baud
        for baud in (*rpc.INITIAL_BAUDS, target):
            self.link.host_baud = baud
            micros = await self._ping()
            if micros is None:
                continue
            self.host_log(rpc.ncp_responding_line(baud, micros))
            if baud == target:
                return True
            status, rets = await self._call(rpc.Uid.HW_SET_UART_BAUD_RATE, rpc.u32(target))
            if status == rpc.Status.OK and rpc.Reader(rets).boolean():
                self.link.host_baud = target
                await self.clock.sleep(rpc.BAUD_SWITCH_DELAY_MS / 1000)
                micros = await self._ping()
                if micros is not None:
                    self.host_log(rpc.ncp_responding_line(target, micros))
                    return True
                self.host_log(rpc.ncp_not_responding_line(target))
        return False

    async def _ncp_connect_within(self, timeout_ms: int) -> bool:
        start = self.clock.millis()
        while self.clock.millis() - start < timeout_ms:
            if await self._ncp_connect():
                return True
            await self.clock.sleep(rpc.INIT_RETRY_DELAY_MS / 1000)
        return False

    async def _ncp_setup(self) -> bool:
        """`ncpSetup()`: firmware info, the board's LED, then `blynk.initialize` (the NCP starts)."""
        p = self.factory_profile
        info = (p.firmware_type, p.fw_version, p.build, p.blynk_version)
        await self._call(rpc.Uid.BLYNK_SET_FIRMWARE_INFO, b"".join(rpc.c_string(v) for v in info))
        if p.rgb_led is not None:
            r, g, b, anode = p.rgb_led
            await self._call(rpc.Uid.HW_INIT_RGB, rpc.u16(r) + rpc.u16(g) + rpc.u16(b) + rpc.boolean(anode))
            await self._call(rpc.Uid.HW_SET_LED_BRIGHTNESS, rpc.u8(128))
        args = rpc.c_string(p.template_id) + rpc.c_string(p.template_name)
        status, rets = await self._call(rpc.Uid.BLYNK_INITIALIZE, args, rpc.INITIALIZE_TIMEOUT_MS)
        return status == rpc.Status.OK and rpc.Reader(rets).boolean()

    async def _host_setup(self) -> bool:
        """`setup()` of Edgent_NCP.ino; False where it returns early (no NCP, bad template)."""
        p = self.factory_profile
        self.write_serial("\r\n")  # Serial.println()
        await self.clock.sleep(rpc.SERIAL_MONITOR_DELAY_MS / 1000)
        self.host_log(rpc.main_firmware_line(p.fw_version))
        self.host_log(rpc.build_line(p.build))
        self.host_log(logo_text(p))  # initNCP() -> printBanner()
        if not await self._ncp_connect_within(rpc.INIT_NCP_TIMEOUT_MS):
            for line in rpc.CANNOT_COMMUNICATE:
                self.host_log(line)
            return False
        status, rets = await self._call(rpc.Uid.BLYNK_GET_NCP_VERSION)
        version = rpc.Reader(rets).string() if status == rpc.Status.OK else "unknown"
        self.host_log(rpc.ncp_firmware_line(version))
        await self._call(rpc.Uid.BLYNK_SET_CONFIG_TIMEOUT, rpc.u16(rpc.SKETCH_CONFIG_TIMEOUT_S))
        if not p.template_ok:  # Blynk.begin()
            self.host_log(rpc.INVALID_TEMPLATE)
            return False
        return await self._ncp_setup()

    # --- power-up to power-down ---------------------------------------------------------------------------
    def main(self) -> Coroutine[Any, Any, None]:
        return self._board_lifetime()

    def _ncp_power_up(self) -> None:
        self.state = S.INIT
        self.ncp_running = False
        self._ncp_reported = None
        self._ncp_rx = rpc.FrameDecoder()
        self.led_config.clear()
        self.link.ncp_baud = self.profile.ncp_initial_baud if self.ncp_plugged else 0  # its UART restarts too
        self.client.reset()

    async def _board_lifetime(self) -> None:
        try:
            self.boots += 1
            self.clock.reboot()
            self.host_state = rpc.BlynkState.UNKNOWN
            self._ncp_reboot = self._host_reinit = False
            self.link.reset(0)
            self._ncp_power_up()
            self._refresh_led()
            configured = await self._host_setup()
            # the two CPUs: the NCP's loop is this power-up's main task (the firmware's waits check that), the
            # host's loop a task that ends with it
            host = asyncio.get_running_loop().create_task(self._host_loop(configured), name=f"{self.hw.name}-host")
            try:
                await self._ncp_loop()
            finally:
                host.cancel()
        except asyncio.CancelledError:
            raise
        except PowerLost:
            return
        except Exception:
            log.exception("%s: firmware crashed", self.hw.name)
            self.write_serial("\r\nHardFault: emulated firmware raised an exception\r\n")
            raise

    # --- the host's loop(): `timer.run(); Blynk.run();` -----------------------------------------------------
    async def _host_loop(self, configured: bool) -> None:
        """`Blynk.run()` (BlynkEdgentNCP.h:416-436) and the sketch's 10 s `virtualWrite(V0, millis() / 1000)`.

        After 30 s without anything from the NCP the host asks `getState` on every pass; an answer of
        NOT_INITIALIZED, or 10 unanswered asks in a row, re-initializes the NCP (which only works once `begin()`
        ran: a board whose setup returned early never re-initializes). `RPC_EVENT_NCP_REBOOTING` does too.
        """
        fails = 0
        next_publish = self.clock.millis() + rpc.PUBLISH_INTERVAL_MS if configured else None
        while True:
            if self._host_reinit:
                self._host_reinit = False
                await self._ncp_reinit(configured)
                fails = 0
                continue
            now = self.clock.millis()
            if next_publish is not None and now >= next_publish:
                next_publish += rpc.PUBLISH_INTERVAL_MS
                value = rpc.binary(str(now // 1000).encode())
                self.link.oneway(rpc.Uid.BLYNK_VIRTUAL_WRITE, rpc.u16(0) + value)
                continue
            if now - self.link.last_rx_ms > rpc.IDLE_CHECK_MS:
                status, rets = await self._call(rpc.Uid.BLYNK_GET_STATE)
                if status == rpc.Status.OK:
                    fails = 0
                    if rpc.Reader(rets).u8() == rpc.BlynkState.NOT_INITIALIZED:
                        await self._ncp_reinit(configured)
                else:
                    fails += 1
                    if fails >= rpc.PING_FAILS_BEFORE_REINIT:
                        await self._ncp_reinit(configured)
                        fails = 0
                await self.clock.sleep(rpc.LOOP_DELAY_MS / 1000)
                continue
            due = [self.link.last_rx_ms + rpc.IDLE_CHECK_MS + 1]
            if next_publish is not None:
                due.append(next_publish)
            self._host_wake.clear()
            wall = self.clock.lab_clock.loop_seconds((min(due) - now) / 1000, MIN_POLL_WALL_S)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._host_wake.wait(), wall)

    async def _ncp_reinit(self, configured: bool) -> None:
        """`ncpReinit()`: nothing without a template (setup returned early); else 10 s of `ncpConnect()`."""
        if not configured:
            return
        self.host_log(rpc.REINITIALIZING)
        if await self._ncp_connect_within(rpc.INIT_NCP_TIMEOUT_MS):
            await self._ncp_setup()

    # --- the NCP's loop ------------------------------------------------------------------------------------
    async def _ncp_loop(self) -> None:
        while self.hw.running:
            if self._ncp_reboot:
                await self._reboot_ncp()
            elif self.ncp_running:
                await self._run_state()
            else:
                await self._wait(None)

    async def _reboot_ncp(self) -> None:
        """The NCP restarts alone: it tells the host (`RPC_EVENT_NCP_REBOOTING`), which re-initializes it."""
        self._ncp_reboot = False
        self.link.send_to_host(rpc.oneway(rpc.Uid.CLIENT_PROCESS_EVENT, rpc.u8(rpc.Event.NCP_REBOOTING)))
        await self._wifi_off()
        self._ncp_power_up()
        self._refresh_led()

    # --- faults -------------------------------------------------------------------------------------------
    async def unplug_ncp(self) -> None:
        """The module stops answering (pulled, hung, held in reset): its radio goes, the host hears nothing."""
        self.ncp_plugged = False
        await self._wifi_off()
        self._ncp_power_up()
        self._refresh_led()
        self._poke()

    def plug_ncp(self) -> None:
        """The module is back: it boots NOT_INITIALIZED at its initial baud and waits for the host."""
        self.ncp_plugged = True
        self._ncp_power_up()
