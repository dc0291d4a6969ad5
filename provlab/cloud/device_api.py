"""The HTTP device API (spec §8): `/external/api/…` with the device token as the `token` query parameter.

Errors answer HTTP 400 with `{"error":{"message":"…"}}` and the exact message texts of the spec. Writes
through `update` and `batch/update` are stored and pushed down to the device when it is online.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from provlab.cloud import datastreams
from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.records import Datastream, Device, Template
from provlab.cloud.store import TokenRefused
from provlab.protocol import choices
from provlab.protocol.numbers import ascii_decimal

GATEWAY_KEY = web.AppKey("gateway", DeviceGateway)

INVALID_TOKEN = "Invalid token."
NO_TOKEN = "No token provided."
WRONG_PIN = "Wrong pin format."
WRONG_TYPE = "Value doesn't match the Datastream data type."
NO_DATASTREAM = "No datastream setup for that pin."
WRONG_DATASTREAM_ID = "Wrong dataStreamId format."
NO_EVENT_CODE = "Event code is not provided."
UNKNOWN_EVENT = "Can't find Event with this code in Product template"
WRONG_METAFIELD = "Wrong metaField format."
NO_METAFIELD = "MetaField doesn't exist."
WRONG_VALUE = "Wrong value"
BAD_PARAMS = "Request with incorrect parameters"

PROVISION_INFO_PARAMS = {
    "build": "build",
    "ver": "fw",
    "type": "type",
    "fwType": "fw-type",
    "blVer": "bl-ver",
    "boType": "bo-type",
}


class ApiError(Exception):
    """An HTTP device API refusal: answered with `status` and `{"error":{"message": message}}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": {"message": message}}), content_type="application/json"
    )


Handler = Callable[[web.Request, DeviceGateway, Device], Awaitable[web.Response]]


def _with_device(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Resolve `token` to a device first; every endpoint answers the same errors for a bad token."""

    async def wrapped(request: web.Request) -> web.Response:
        gateway = request.app[GATEWAY_KEY]
        token = request.query.get("token", "")
        if not token:
            return error_response(400, NO_TOKEN)
        device = gateway.store.devices.for_token(token)
        if device is None:
            return error_response(400, INVALID_TOKEN)
        try:
            return await handler(request, gateway, device)
        except ApiError as exc:
            return error_response(exc.status, exc.message)

    return wrapped


def _template(gateway: DeviceGateway, device: Device) -> Template:
    template = gateway.template(device)
    if template is None:
        raise ApiError(f"Requested dataStream doesn't exist in the product {device.template_id}")
    return template


def _datastream_by_id(template: Template, raw: str) -> Datastream:
    number = ascii_decimal(raw)
    if number is None:
        raise ApiError(WRONG_DATASTREAM_ID)
    found = datastreams.by_id(template, number)
    if found is None:
        raise ApiError(f"Requested dataStream doesn't exist in the product {template.name}")
    return found


def _datastream_by_pin(template: Template, raw: str) -> Datastream:
    pin = datastreams.pin_key(raw)
    if pin is None:
        raise ApiError(WRONG_PIN)
    found = datastreams.by_pin(template, pin)
    if found is None:
        raise ApiError(NO_DATASTREAM)
    return found


def _pin_params(query: MultiMapping[str]) -> list[str]:
    return [key for key in dict.fromkeys(query) if key not in ("token", "dataStreamId", "value", "pin")]


def _checked(stream: Datastream, values: list[str]) -> list[str]:
    if not values or any(not datastreams.value_fits(stream, v) for v in values):
        raise ApiError(WRONG_TYPE)
    return values


def _value_text(stored: str) -> str:
    parts = stored.split("\0")
    return parts[0] if len(parts) == 1 else json.dumps(parts)


# --- reads ---------------------------------------------------------------------------------------------
@_with_device
async def get(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    template = _template(gateway, device)
    query = request.query
    if "dataStreamId" in query:
        streams = [_datastream_by_id(template, query["dataStreamId"])]
    else:
        keys = _pin_params(query)
        if not keys:
            raise ApiError(BAD_PARAMS)
        streams = [_datastream_by_pin(template, key) for key in keys]
    values = {s.pin: gateway.store.pins.read(device.id, s.pin) or "" for s in streams}
    if len(values) == 1:
        return web.Response(text=_value_text(next(iter(values.values()))), content_type="text/plain")
    if choices.HTTP_GET_MULTI_PIN_AS_JSON_OBJECT:
        body = {pin: datastreams.typed(_stream(template, pin), v) if v else "" for pin, v in values.items()}
        return web.json_response(body)
    return web.Response(text="\n".join(values.values()), content_type="text/plain")


def _stream(template: Template, pin: str) -> Datastream:
    return datastreams.by_pin(template, pin) or Datastream(-1, pin, pin.upper())


@_with_device
async def get_all(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    template = _template(gateway, device)
    stored = gateway.store.pins.all(device.id)
    return web.json_response({pin: datastreams.typed(_stream(template, pin), v) for pin, v in stored.items()})


@_with_device
async def is_hardware_connected(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    online = gateway.presence.is_online(device.id)
    return web.Response(text="true" if online else "false", content_type="application/json")


# --- writes --------------------------------------------------------------------------------------------
@_with_device
async def update(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    template = _template(gateway, device)
    query = request.query
    if "dataStreamId" in query:
        stream = _datastream_by_id(template, query["dataStreamId"])
        values = query.getall("value", [])
    elif "pin" in query:
        stream = _datastream_by_pin(template, query["pin"])
        values = query.getall("value", [])
    else:
        keys = _pin_params(query)
        if len(keys) != 1:
            raise ApiError(BAD_PARAMS)
        stream = _datastream_by_pin(template, keys[0])
        values = query.getall(keys[0])
    gateway.write_to_device(device, stream.pin, _checked(stream, list(values)))
    return web.Response(status=200)


@_with_device
async def batch_update(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    template = _template(gateway, device)
    if request.method == "POST":
        stream = _datastream_by_pin(template, request.query.get("pin", ""))
        try:
            points = await request.json()
            latest = max(points, key=lambda p: p[0])
            value = str(latest[1])
        except (ValueError, TypeError, IndexError, KeyError):
            raise ApiError(BAD_PARAMS) from None
        gateway.write_to_device(device, stream.pin, _checked(stream, [value]))
        return web.Response(status=200)
    writes = [
        (_datastream_by_pin(template, key), list(request.query.getall(key))) for key in _pin_params(request.query)
    ]
    if not writes:
        raise ApiError(BAD_PARAMS)
    checked = [(stream, _checked(stream, values)) for stream, values in writes]
    for stream, values in checked:
        gateway.write_to_device(device, stream.pin, values)
    return web.Response(status=200)


@_with_device
async def update_property(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    template = _template(gateway, device)
    stream = _datastream_by_pin(template, request.query.get("pin", ""))
    props = {k: v for k, v in request.query.items() if k not in ("token", "pin")}
    if not props:
        raise ApiError(BAD_PARAMS)
    gateway.store.events.add("property_set", device.id, {"pin": stream.pin, "properties": sorted(props)})
    return web.Response(status=200)


@_with_device
async def log_event(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    code = request.query.get("code", "")
    if not code:
        raise ApiError(NO_EVENT_CODE)
    template = _template(gateway, device)
    if template.event_codes and code not in template.event_codes:
        raise ApiError(UNKNOWN_EVENT)
    gateway.event_from_device(device.id, code, request.query.get("description", ""))
    return web.Response(status=200)


def _meta_field(template: Template, query: MultiMapping[str]) -> str:
    if "metaFieldId" in query:
        number = ascii_decimal(query["metaFieldId"])
        if number is None:
            raise ApiError(WRONG_METAFIELD)
        found = next((m for m in template.metafields if m.id == number), None)
        if found is None:
            raise ApiError(NO_METAFIELD)
        return found.name
    name = query.get("metaFieldName", "")
    if not name:
        raise ApiError(WRONG_METAFIELD)
    if template.metafields and all(m.name != name for m in template.metafields):
        raise ApiError(NO_METAFIELD)
    return name


@_with_device
async def device_meta(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    name = _meta_field(_template(gateway, device), request.query)
    return web.Response(text=gateway.store.devices.meta(device.id).get(name, ""), content_type="text/plain")


@_with_device
async def device_meta_update(request: web.Request, gateway: DeviceGateway, device: Device) -> web.Response:
    name = _meta_field(_template(gateway, device), request.query)
    if "value" not in request.query:
        raise ApiError(WRONG_VALUE)
    gateway.meta_from_device(device.id, name, request.query["value"])
    return web.Response(status=200)


async def provision(request: web.Request) -> web.Response:
    """Completes Wi-Fi provisioning over HTTP: activates a dynamic token like a first device login."""
    gateway = request.app[GATEWAY_KEY]
    query = request.query
    token = query.get("token", "")
    if not token:
        return error_response(400, NO_TOKEN)
    issued = gateway.store.tokens.get(token)
    template_id = query.get("templateId", "")
    if issued is not None and template_id and template_id != issued.template_id:
        return error_response(400, BAD_PARAMS)
    if not template_id:
        return error_response(400, BAD_PARAMS)
    try:
        device = gateway.store.devices.login(token)
    except TokenRefused:
        return error_response(400, INVALID_TOKEN)
    info: dict[str, Any] = dict(device.info)
    info.update({key: query[param] for param, key in PROVISION_INFO_PARAMS.items() if param in query})
    info.setdefault("tmpl", template_id)
    gateway.store.devices.set_info(device.id, {k: str(v) for k, v in info.items()})
    gateway.store.events.add("provisioned_over_http", device.id, {"template_id": template_id})
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    prefix = "/external/api"
    app.router.add_get(f"{prefix}/get", get)
    app.router.add_get(f"{prefix}/getAll", get_all)
    app.router.add_get(f"{prefix}/update", update)
    app.router.add_get(f"{prefix}/batch/update", batch_update)
    app.router.add_post(f"{prefix}/batch/update", batch_update)
    app.router.add_get(f"{prefix}/update/property", update_property)
    app.router.add_get(f"{prefix}/isHardwareConnected", is_hardware_connected)
    app.router.add_get(f"{prefix}/logEvent", log_event)
    app.router.add_get(f"{prefix}/device/meta", device_meta)
    app.router.add_get(f"{prefix}/device/meta/update", device_meta_update)
    app.router.add_get(f"{prefix}/provision", provision)
