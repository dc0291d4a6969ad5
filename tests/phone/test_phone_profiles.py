"""Phone profiles: an iOS-like phone stays on the AP (P3); an Android-like one drops a network without internet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from phone_world import World, run_in_world

from provlab.lab.phone_profiles import PROFILES, PhoneProfile, profile_named


def _journal(world: World) -> list[dict[str, object]]:
    return [json.loads(line) for line in (world.folder / "phone.jsonl").read_text().splitlines()]


def test_ios_phone_stays_on_the_ap_and_does_not_take_the_drop_for_a_failure(air_kind: str, tmp_path: Path) -> None:
    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone("ios"), world.boards[0])
        assert enrollment.ok, (enrollment.failure, [(s.name, s.error) for s in enrollment.steps])
        assert enrollment.profile == "ios"
        assert enrollment.step("leave_ap").response == {"left": "ap_went_away"}
        assert enrollment.rejoins == 0

    run_in_world(air_kind, tmp_path, body)


def test_android_phone_is_dropped_from_the_ap_and_rejoins_bound(air_kind: str, tmp_path: Path) -> None:
    eager = PhoneProfile("android", drops_no_internet_after_s=0.0)  # validation fails at once

    async def body(world: World) -> None:
        phone = world.phone()
        phone.profile = eager
        enrollment = await world.provision(phone, world.boards[0])
        assert enrollment.ok, (enrollment.failure, [(s.name, s.error) for s in enrollment.steps])
        assert enrollment.rejoins == 1
        kinds = [r["kind"] for r in _journal(world)]
        assert "no_internet" in kinds and "os_dropped_network" in kinds and "rejoin" in kinds
        assert kinds.index("os_dropped_network") < kinds.index("rejoin")

    run_in_world(air_kind, tmp_path, body)


def test_android_phone_with_the_default_delay_still_provisions(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone("android"), world.boards[0])
        assert enrollment.ok and enrollment.profile == "android"

    run_in_world("sim", tmp_path, body)


def test_profiles_are_named() -> None:
    assert set(PROFILES) == {"generic", "ios", "android"}
    assert profile_named("ios").leaves_ap_after_config is False
    assert profile_named("android").drops_no_internet_after_s is not None
    with pytest.raises(ValueError, match="not one of android, generic, ios"):
        profile_named("symbian")
