"""Firmware profiles, Wi-Fi airs and cloud transports are registries: a new one is one module plus one
registration, the lab uses it by name, and the config check lists it among the choices."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from provlab.clock.base import LabClock
from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import Behaviour
from provlab.emulator.mqtt_client import CloudClient
from provlab.emulator.profile import PROFILES, FirmwareProfile, edgent_esp32
from provlab.emulator.transports import TRANSPORTS, CloudTransport, binary_client
from provlab.lab.board_specs import parse_boards
from provlab.lab.config import LabConfig, LabConfigError, config_from_mapping
from provlab.lab.lab import Lab
from provlab.protocol.registry import DuplicateName, Registry
from provlab.wifi.sim import SimAir
from provlab.wifi.world import AIRS, Air


class PluginWorld:
    """What the plug-ins below built, so a test can see the lab went through them."""

    def __init__(self) -> None:
        self.airs: list[Air] = []
        self.clients: list[CloudClient] = []

    def air(self, run_id: str | None, clock: LabClock | None) -> Air:
        air = SimAir(clock)
        self.airs.append(air)
        return air

    def client(
        self,
        profile: FirmwareProfile,
        clock: DeviceClock,
        log: Callable[[str], None],
        *,
        behaviour: Behaviour,
        tls: ssl.SSLContext | None,
        on_change: Callable[[], None] | None,
    ) -> CloudClient:
        client = binary_client(profile, clock, log, behaviour=behaviour, tls=tls, on_change=on_change)
        self.clients.append(client)
        return client


def plugin_profile(
    template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object
) -> FirmwareProfile:
    """A build of our own: the ESP32 sketch at another version, talking over the plug-in transport."""
    base = edgent_esp32(template_id, template_name, **overrides)
    return dataclasses.replace(base, name="edgent-plugin", fw_version="0.9.1", transport="binary-plugin")


@pytest.fixture
def plugins() -> Iterator[PluginWorld]:
    world = PluginWorld()
    with ExitStack() as registered:
        registered.enter_context(AIRS.registered("sim-plugin", world.air))
        registered.enter_context(
            TRANSPORTS.registered("binary-plugin", CloudTransport(world.client, "binary_port", "tls_port"))
        )
        registered.enter_context(PROFILES.registered("edgent-plugin", plugin_profile))
        yield world


def test_a_registered_profile_air_and_transport_build_a_lab_that_provisions(
    plugins: PluginWorld, tmp_path: Path
) -> None:
    config = config_from_mapping({"wifi": "sim-plugin", "boards": {"emulated": 1, "profile": "edgent-plugin"}})
    with Lab(config, artifacts=tmp_path) as lab:
        assert lab.air is plugins.airs[0]
        board = lab.boards[0]
        assert board.profile_name == "edgent-plugin"
        board.expect(r"Firmware:\s+0\.9\.1", timeout=30)
        enrollment = lab.phone().provision(board)
        board.expect_state("RUNNING", timeout=120)
        device = lab.device_for(enrollment)
        assert device is not None and lab.is_online(device.id)
        assert len(plugins.clients) == 1 and plugins.clients[0].connected


def test_the_config_check_lists_registered_profiles_and_airs(plugins: PluginWorld) -> None:
    with pytest.raises(LabConfigError) as profile_error:
        config_from_mapping({"boards": {"profile": "edgent-esp64"}}, "provlab.toml")
    registered = PROFILES.names()
    assert registered[:2] == ("edgent-esp32", "edgent-esp32-mqtt") and registered[-1] == "edgent-plugin"
    assert str(profile_error.value) == (
        f"provlab.toml: boards.profile: 'edgent-esp64' is not one of {', '.join(registered)} "
        "(did you mean 'edgent-esp8266'?)"
    )
    with pytest.raises(LabConfigError) as wifi_error:
        config_from_mapping({"wifi": "lte"}, "provlab.toml")
    assert str(wifi_error.value) == (
        "provlab.toml: wifi: 'lte' is not one of sim, netns, sim-plugin, nor KIND:IFACE with KIND one of wpa, nm"
    )


def test_unregistered_plugins_are_refused_again() -> None:
    with pytest.raises(LabConfigError, match=r"'edgent-plugin' is not one of edgent-esp32, edgent-esp32-mqtt\b") as e:
        LabConfig(profile="edgent-plugin")
    assert str(e.value).endswith(f"is not one of {', '.join(PROFILES.names())}")
    with pytest.raises(LabConfigError, match=r"'sim-plugin' is not one of sim, netns, nor KIND:IFACE"):
        LabConfig(wifi="sim-plugin")


def test_a_profile_over_an_unregistered_transport_is_refused_listing_the_transports(plugins: PluginWorld) -> None:
    def pigeon(
        template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object
    ) -> FirmwareProfile:
        return dataclasses.replace(edgent_esp32(template_id, template_name), name="edgent-pigeon", transport="pigeon")

    with PROFILES.registered("edgent-pigeon", pigeon), pytest.raises(LabConfigError) as caught:
        LabConfig(profile="edgent-pigeon")
    assert str(caught.value) == (
        "lab config: boards.profile: 'edgent-pigeon' talks to the cloud over 'pigeon', which is not one of "
        "binary, mqtt, binary-plugin (the registered cloud transports)"
    )


def test_a_real_adapter_is_the_real_air_for_real_boards_only() -> None:
    """Issue 14 §7: `wifi = "wpa:IFACE"` is accepted as the lab's air, and refused with emulated boards (which have
    no radio on the real air) or without a cloud the real boards can reach."""
    with pytest.raises(LabConfigError) as caught:
        LabConfig(wifi="wpa:wlan0", cloud_url="http://127.0.0.1:9")
    assert str(caught.value).startswith(
        "lab config: boards.emulated: with wifi = 'wpa:wlan0' the air is the real one around this host"
    )
    _, attached = parse_boards("/dev/ttyUSB0")
    config = LabConfig(wifi="nm:wlan0", boards=0, attached=attached, cloud_url="http://127.0.0.1:9")
    assert config.wifi == "nm:wlan0" and config.phone_radio == {}


@pytest.mark.parametrize(
    ("registry", "name"),
    [(PROFILES, "edgent-esp32"), (AIRS, "sim"), (TRANSPORTS, "mqtt")],
    ids=["profiles", "airs", "transports"],
)
def test_a_second_registration_under_a_taken_name_is_refused(registry: Registry[Any], name: str) -> None:
    before = registry[name]
    with pytest.raises(DuplicateName, match=f"'{name}' is registered already"):
        registry.register(name, before)
    assert registry[name] is before
