"""Cloud transports: how an emulated firmware build reaches the cloud, chosen by its profile's `transport`.

`TRANSPORTS` maps a name to the client the board drives and the cloud ports it logs in on. A new transport
is a client module (one more `CloudClient`) plus one `TRANSPORTS.register(name, CloudTransport(...))`;
a profile with `transport=name` then uses it, and the lab points its boards at the matching port.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from provlab.emulator.clock import DeviceClock
from provlab.emulator.cloud_client import BlynkClient
from provlab.emulator.defects import FAITHFUL, Behaviour
from provlab.emulator.mqtt_client import CloudClient, MqttClient
from provlab.emulator.profile import FirmwareProfile
from provlab.protocol.registry import Registry


class CloudClientFactory(Protocol):
    def __call__(
        self,
        profile: FirmwareProfile,
        clock: DeviceClock,
        log: Callable[[str], None],
        *,
        behaviour: Behaviour,
        tls: ssl.SSLContext | None,
        on_change: Callable[[], None] | None,
    ) -> CloudClient: ...


@dataclass(frozen=True)
class CloudTransport:
    """One way a firmware build talks to the cloud."""

    client: CloudClientFactory
    plain_port: str
    """The cloud endpoint (a field of `provlab.cloud.stub.Endpoints`) boards log in on without TLS."""
    tls_port: str
    """The endpoint they log in on with TLS."""


def binary_client(
    profile: FirmwareProfile,
    clock: DeviceClock,
    log: Callable[[str], None],
    *,
    behaviour: Behaviour,
    tls: ssl.SSLContext | None,
    on_change: Callable[[], None] | None,
) -> CloudClient:
    """The Blynk library's binary protocol (spec §6)."""
    return BlynkClient(
        clock,
        log,
        b"",
        heartbeat_s=profile.heartbeat_s,
        max_body=profile.buff_in,
        behaviour=behaviour,
        tls=tls,
        on_change=on_change,
        secure_log=profile.family.secure_log,
    )


def mqtt_client(
    profile: FirmwareProfile,
    clock: DeviceClock,
    log: Callable[[str], None],
    *,
    behaviour: Behaviour,
    tls: ssl.SSLContext | None,
    on_change: Callable[[], None] | None,
) -> CloudClient:
    """The MQTT device API (spec §7), through paho-mqtt."""
    return MqttClient(clock, log, b"", max_body=profile.buff_in, behaviour=behaviour, tls=tls, on_change=on_change)


TRANSPORTS: Registry[CloudTransport] = Registry("cloud transport")
TRANSPORTS.register("binary", CloudTransport(binary_client, plain_port="binary_port", tls_port="tls_port"))
TRANSPORTS.register("mqtt", CloudTransport(mqtt_client, plain_port="mqtt_port", tls_port="mqtts_port"))


def cloud_client_for(
    profile: FirmwareProfile,
    clock: DeviceClock,
    log: Callable[[str], None],
    *,
    behaviour: Behaviour = FAITHFUL,
    tls: ssl.SSLContext | None = None,
    on_change: Callable[[], None] | None = None,
) -> CloudClient:
    """The cloud client the profile's firmware is built with (raises `UnknownName` listing the transports)."""
    transport = TRANSPORTS[profile.transport]
    return transport.client(profile, clock, log, behaviour=behaviour, tls=tls, on_change=on_change)
