"""What the stub does with a device's MQTT PUBLISH (spec §7 uplinks), answering on downlink topics."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from provlab.cloud import datastreams
from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.mqtt_connection import MqttConnection
from provlab.cloud.mqtt_topics import Uplink, UplinkTopic, parse_uplink
from provlab.cloud.rate_limits import QuotaVerdict
from provlab.cloud.records import Datastream, DataType

# info/mcu JSON keys -> the info keys of the binary protocol (so `Device.info` reads the same either way)
INFO_MCU_KEYS = {"tmpl": "tmpl", "ver": "fw", "build": "build", "type": "fw-type", "rxbuff": "buff-in"}


class UplinkError(ValueError):
    """A PUBLISH the stub cannot use; its message goes to the device on `downlink/diag`."""


class MqttUplink:
    """Applies uplinks of one broker to the gateway."""

    def __init__(self, gateway: DeviceGateway) -> None:
        self.gateway = gateway

    def handle(self, conn: MqttConnection, topic: str, payload: bytes, now: float) -> bool:
        """Apply one PUBLISH; False when the message quota dropped it."""
        verdict = conn.quota.admit(now)
        if verdict is not QuotaVerdict.ADMIT:
            if verdict is QuotaVerdict.DROP_AND_NOTIFY:
                self._journal(conn, "quota_exceeded", limit_per_s=self.gateway.quota_limits.messages)
                conn.publish("downlink/diag", b"Message quota exceeded; messages are dropped.")
            return False
        parsed = parse_uplink(topic)
        try:
            text = payload.decode("utf-8")
            self._apply(conn, parsed, text)
        except UnicodeDecodeError:
            self._refuse(conn, topic, "payload is not UTF-8 text")
        except UplinkError as exc:
            self._refuse(conn, topic, str(exc))
        return True

    def _refuse(self, conn: MqttConnection, topic: str, why: str) -> None:
        self._journal(conn, "bad_uplink", topic=topic, error=why)
        conn.publish("downlink/diag", f"{topic}: {why}".encode())

    def _journal(self, conn: MqttConnection, kind: str, **detail: object) -> None:
        self.gateway.store.events.add(kind, conn.device.id, {"peer": conn.peer, "transport": "mqtt", **detail})

    def _stream(self, conn: MqttConnection, name: str) -> Datastream:
        template = self.gateway.template(conn.device)
        stream = datastreams.by_name(template, name) if template else None
        if stream is None:
            raise UplinkError(f"no datastream named {name!r} in template {conn.device.template_id}")
        return stream

    def _write(self, conn: MqttConnection, stream: Datastream, values: list[str]) -> None:
        typed = stream.data_type is not DataType.STRING  # any text is a String value
        if typed and not all(datastreams.value_fits(stream, v) for v in values):
            raise UplinkError(f"value {values!r} does not match datastream {stream.name!r} ({stream.data_type.value})")
        self.gateway.pin_from_device(conn.device.id, stream.pin, values)

    def _apply(self, conn: MqttConnection, parsed: UplinkTopic, text: str) -> None:
        kind, name, device_id = parsed.kind, parsed.name, conn.device.id
        if kind is Uplink.DATASTREAM:
            self._write(conn, self._stream(conn, name), text.split("\0"))
        elif kind is Uplink.BATCH:
            items = _json(text, dict)
            for key, value in items.items():
                values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
                self._write(conn, self._stream(conn, key), values)
        elif kind is Uplink.DATASTREAM_TIMESTAMPED:
            points = _points(_json(text, list))
            if points:
                latest = max(points, key=lambda p: p[0])
                self._write(conn, self._stream(conn, name), [latest[1]])
        elif kind is Uplink.DATASTREAM_ERASE:
            self.gateway.store.pins.erase(device_id, self._stream(conn, name).pin)
        elif kind is Uplink.DATASTREAM_PROPERTY:
            self._journal(conn, "property_set", datastream=name)
        elif kind is Uplink.INFO_MCU:
            self._info(conn, _json(text, dict))
        elif kind is Uplink.EVENT:
            template = self.gateway.template(conn.device)
            if template is not None and template.event_codes and name not in template.event_codes:
                raise UplinkError(f"event code {name!r} is not in template {template.id}")
            self.gateway.event_from_device(device_id, name, text)
        elif kind is Uplink.META:
            self.gateway.meta_from_device(device_id, name, text)
        elif kind is Uplink.GET_DS:
            for wanted in filter(None, (n.strip() for n in text.split(","))):
                self._send_value(conn, self._stream(conn, wanted))
        elif kind is Uplink.GET_DS_ALL:
            template = self.gateway.template(conn.device)
            for pin in self.gateway.store.pins.all(device_id):
                stream = datastreams.by_pin(template, pin) if template else None
                if stream is not None:
                    self._send_value(conn, stream)
        elif kind is Uplink.GET_META:
            meta = self.gateway.store.devices.meta(device_id)
            for field in filter(None, (n.strip() for n in text.split(","))):
                if field in meta:
                    conn.publish(f"downlink/meta/{field}", meta[field].encode())
        elif kind is Uplink.GET_UTC:
            conn.publish("downlink/utc/all/json", json.dumps(_utc_now()).encode())
        elif kind is Uplink.GET_LOCATION:
            raise UplinkError("the stub has no location for this device")
        else:
            raise UplinkError(f"unknown topic {name!r}")

    def _send_value(self, conn: MqttConnection, stream: Datastream) -> None:
        value = self.gateway.store.pins.read(conn.device.id, stream.pin)
        if value is not None:
            conn.publish(f"downlink/ds/{stream.name}", value.encode())

    def _info(self, conn: MqttConnection, data: dict[str, Any]) -> None:
        info = {INFO_MCU_KEYS.get(k, k): str(v) for k, v in data.items()}
        info.setdefault("dev", "mqtt")
        self.gateway.info_from_device(conn.device.id, info)
        announced = info.get("tmpl")
        if announced is not None and announced != conn.device.template_id:
            self._journal(conn, "template_mismatch", announced=announced, template_id=conn.device.template_id)


def _json(text: str, shape: type[Any]) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        raise UplinkError(f"payload is not JSON: {text[:40]!r}") from None
    except RecursionError:
        raise UplinkError("payload is JSON nested too deeply") from None
    if not isinstance(value, shape):
        raise UplinkError(f"expected a JSON {shape.__name__}, got {type(value).__name__}")
    return value


def _points(items: list[Any]) -> list[tuple[float, str]]:
    """`[[ts, value], …]` as (ts, value text); anything else is an UplinkError."""
    points = []
    for item in items:
        ok = isinstance(item, list) and len(item) == 2 and isinstance(item[0], (int, float))
        if not ok or isinstance(item[0], bool) or isinstance(item[1], (list, dict)):
            raise UplinkError(f"expected [[timestamp, value], …], got an item {str(item)[:40]!r}")
        points.append((float(item[0]), str(item[1])))
    return points


def _utc_now() -> dict[str, Any]:
    now = _dt.datetime.now(_dt.timezone.utc)
    return {
        "tz_name": "UTC",
        "tz_rule": "UTC0",
        "tz_offset": 0,
        "dst_offset": 0,
        "time": int(now.timestamp() * 1000),
        "iso8601": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
