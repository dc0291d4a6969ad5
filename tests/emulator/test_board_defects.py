"""Named firmware defects (acceptance 8): each switched on alone changes exactly its one behaviour."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from devrig import TOKEN, MiniCloud, Rig, http, join_ap, provision, run, start_rig

from provlab.emulator.defects import FAITHFUL, Behaviour, Defect, behaviour_for
from provlab.protocol.commands import Command, Status
from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.edgent_http import BoardInfo
from provlab.protocol.frames import Frame
from provlab.protocol.states import EdgentState as S


def test_every_defect_is_named_documented_and_composable() -> None:
    assert len(Defect) >= 9
    for defect in Defect:
        assert defect.description and Defect.parse(defect.value) is defect
        behaviour = behaviour_for([defect])
        overridden = [name for name in vars(defect.behaviour) if not name.startswith("__") and name != "applies_to"]
        assert len(overridden) == 1, f"{defect} should change one decision point, changes {overridden}"
        assert isinstance(behaviour, Behaviour) and behaviour.defects == {defect}
    both = behaviour_for(["forgets-last-error", Defect.IGNORES_SERVER_PINGS])
    assert not both.records_last_error() and not both.answers_server_ping() and both.restarts_after_error()
    assert behaviour_for([]) is FAITHFUL
    with pytest.raises(ValueError, match="unknown firmware defect 'segfaults-on-tuesdays'; known: "):
        Defect.parse("segfaults-on-tuesdays")


async def read_board_info(rig: Rig) -> BoardInfo:
    await rig.wait_ap()
    station, link = await join_ap(rig, "reader")
    reply = await http(link, "GET", "/board_info.json")
    await station.leave()
    assert reply is not None
    return BoardInfo.parse(reply.body)


def test_accepts_31_char_token(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.ACCEPTS_31_CHAR_TOKEN,))
        reply = await provision(rig, 1, token=TOKEN[:31])
        assert reply.status == 200  # the faithful firmware answers 500 Configuration invalid
        await rig.wait_state(S.SWITCH_TO_STA)
        await rig.shutdown()

    run(body())


def test_ignores_ssid_manual(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.IGNORES_SSID_MANUAL,))
        await provision(rig, 1, ssidManual="Typed")
        await rig.wait_log("Connecting to WiFi: Home")
        await rig.shutdown()

    run(body())


def test_saves_config_before_validating(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.SAVES_CONFIG_BEFORE_VALIDATING,))
        reply = await provision(rig, 1, token="short")
        assert reply.status == 500
        stored = ConfigBlob.unpack((tmp_path / "board.nvs").read_bytes())
        assert stored.cloud_token == "short"  # the faithful firmware writes nothing (P7)
        await rig.shutdown()

    run(body())


def test_never_reboots_from_error(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.NEVER_REBOOTS_FROM_ERROR,))
        await provision(rig, 1, ssidManual="Nowhere")
        await rig.wait_state(S.ERROR)
        await rig.board.clock.sleep(30.0)
        assert rig.board.state is S.ERROR and rig.board.boots == 1
        assert "Restarting after error." not in rig.capture.log_texts()
        await rig.shutdown()

    run(body())


def test_resets_while_held(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path, defects=(Defect.RESETS_WHILE_HELD,))
        await provision(rig, port, save=True)
        await rig.wait_state(S.RUNNING)
        rig.board.press_button()
        await rig.wait_state(S.RESET_CONFIG, 60)
        assert rig.board.button.pressed  # still held: the faithful firmware waits for the release
        rig.board.release_button()
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_forgets_last_error(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.FORGETS_LAST_ERROR,))
        await provision(rig, 1, ssidManual="Nowhere")
        await rig.wait_log("Restarting after error.")
        await rig.wait_log("INIT => WAIT_CONFIG", count=2)
        assert (await read_board_info(rig)).last_error == 0  # the faithful firmware reports 701
        await rig.shutdown()

    run(body())


def test_keeps_ap_after_config(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, defects=(Defect.KEEPS_AP_AFTER_CONFIG,))
        await provision(rig, 1)
        await rig.wait_state(S.CONNECTING_CLOUD)
        assert rig.air.find(rig.board.ssid) is not None
        await rig.shutdown()

    run(body())


def test_retries_forever_on_invalid_token(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(login_status=Status.INVALID_TOKEN)
        port = await cloud.start()
        rig = await start_rig(tmp_path, defects=(Defect.RETRIES_FOREVER_ON_INVALID_TOKEN,))
        await provision(rig, port)
        await rig.wait_log("Invalid auth token", count=3)
        assert cloud.logins >= 3 and "Last error code: 703" not in rig.capture.log_texts()
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_ignores_server_pings(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path, defects=(Defect.IGNORES_SERVER_PINGS,))
        await provision(rig, port)
        await rig.wait_state(S.RUNNING)
        conn = cloud.current
        assert conn is not None
        conn.send(Frame(Command.PING, 321))
        conn.send(Frame(Command.HARDWARE, 322, b"zz"))  # answered (ILLEGAL_COMMAND): a marker after the PING
        await cloud.wait(lambda: any(f.msg_id == 322 for f in cloud.frames))
        await asyncio.sleep(0.01)
        assert not any(f.msg_id == 321 for f in cloud.frames)
        await rig.shutdown()
        await cloud.stop()

    run(body())
