#!/usr/bin/env -S python3 -S
"""A fake `nmcli`: the commands the `nm` backend runs, answered the way NetworkManager 1.4x does.

State (access points, the active connection, a log of every call) lives in the JSON file named by
$PROVLAB_FAKE_NMCLI_STATE, so a test sets up the air and reads back what the backend did.
Error texts and exit codes are nmcli's: 10 for "No network with SSID", 4 for failed activation.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

STATE = os.environ["PROVLAB_FAKE_NMCLI_STATE"]


def load() -> dict[str, Any]:
    with open(STATE, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
        return data


def save(state: dict[str, Any]) -> None:
    tmp = STATE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, STATE)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def main(argv: list[str]) -> int:
    state = load()
    state["log"].append(["nmcli", *(a if a != state.get("mask", "") else "***" for a in argv)])
    fields: list[str] = []
    args = list(argv)
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in ("-f", "--fields"):
            fields = args.pop(0).split(",")
        elif option in ("-e", "--escape", "-w", "--wait"):
            args.pop(0)
    try:
        return dispatch(state, args, fields)
    finally:
        save(state)


def dispatch(state: dict[str, Any], args: list[str], fields: list[str]) -> int:
    aps = state["aps"]
    if not state.get("running", True):
        print("Error: NetworkManager is not running.", file=sys.stderr)
        return 8
    if args == ["general"] and fields == ["RUNNING"]:
        print("running")
        return 0
    if args == ["general", "permissions"]:
        granted = state.get("permissions", {"org.freedesktop.NetworkManager.network-control": "yes"})
        print("\n".join(f"{name}:{value}" for name, value in granted.items()))
        return 0
    if args == ["device"]:
        devices = state.get("devices", [["lo", "loopback", "unmanaged"]])
        print("\n".join(":".join(row) for row in devices))
        return 0
    if args[:3] == ["device", "wifi", "list"]:
        for ap in aps:
            row = {
                "SSID": ap["ssid"],
                "BSSID": ap["bssid"],
                "CHAN": str(ap["chan"]),
                "SIGNAL": str(ap["signal"]),
                "SECURITY": ap["security"] or "--",
                "ACTIVE": "yes" if state.get("active") == ap["ssid"] else "no",
            }
            print(":".join(escape(row[f]) for f in fields))
        return 0
    if args[:3] == ["device", "wifi", "connect"]:
        ssid = args[3]
        options = dict(zip(args[4::2], args[5::2], strict=False))
        ap = next((a for a in aps if a["ssid"] == ssid), None)
        if ap is None:
            print(f"Error: No network with SSID '{ssid}' found.", file=sys.stderr)
            return 10
        if ap.get("psk") and options.get("password") != ap["psk"]:
            print("Error: Connection activation failed: (7) Secrets were required, but not provided.", file=sys.stderr)
            return 4
        state["active"] = ssid
        state["connections"][options.get("name", ssid)] = ssid
        print(
            f"Device '{options.get('ifname')}' successfully activated with '6d1f8f8e-0000-4000-8000-{len(ssid):012d}'."
        )
        return 0
    if args[:2] == ["device", "show"]:
        ap = next((a for a in aps if a["ssid"] == state.get("active")), None)
        values = {"GENERAL.HWADDR": "02:00:00:AA:BB:CC"}
        lines = []
        for name in fields:
            if name == "IP4.ADDRESS" and ap:
                lines.append(f"IP4.ADDRESS[1]:{ap['address']}")
            elif name == "IP4.GATEWAY":
                lines.append(f"IP4.GATEWAY:{ap['gateway'] if ap else ''}")
            elif name == "IP4.DNS" and ap:
                lines += [f"IP4.DNS[{i}]:{d}" for i, d in enumerate(ap["dns"], 1)]
            elif name in values:
                lines.append(f"{name}:{escape(values[name])}")
        print("\n".join(lines))
        return 0
    if args[:2] == ["connection", "delete"]:
        name = args[2]
        if name not in state["connections"]:
            print(f"Error: unknown connection '{name}'.", file=sys.stderr)
            return 10
        ssid = state["connections"].pop(name)
        if state.get("active") == ssid:
            state["active"] = None
        print(f"Connection '{name}' (6d1f8f8e-0000-4000-8000-000000000000) successfully deleted.")
        return 0
    print(f"Error: argument '{args[0] if args else ''}' not understood.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
