"""The registry behind firmware profiles, Wi-Fi airs and cloud transports: names in, entries out, no surprises."""

from __future__ import annotations

import pytest

from provlab.protocol.registry import DuplicateName, Registry, UnknownName


def _colours() -> Registry[int]:
    registry: Registry[int] = Registry("colour")
    registry.register("red", 1)
    registry.register("green", 2)
    return registry


def test_a_registered_name_gives_its_entry_and_names_keep_registration_order() -> None:
    colours = _colours()
    assert colours["green"] == 2
    assert colours.names() == ("red", "green") == tuple(colours)
    assert "red" in colours and "blue" not in colours and len(colours) == 2


def test_an_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownName) as caught:
        _colours()["blue"]
    assert str(caught.value) == "colour 'blue' is not one of red, green"
    assert (caught.value.name, caught.value.known) == ("blue", ("red", "green"))


def test_a_second_registration_under_a_name_is_refused_and_keeps_the_first() -> None:
    colours = _colours()
    with pytest.raises(DuplicateName, match="colour 'red' is registered already"):
        colours.register("red", 9)
    assert colours["red"] == 1


@pytest.mark.parametrize("name", ["", " red", "red "])
def test_names_are_non_empty_and_unpadded(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty and have no surrounding spaces"):
        _colours().register(name, 3)


def test_registered_makes_an_entry_choosable_inside_the_block_only() -> None:
    colours = _colours()
    with colours.registered("blue", 3) as entry:
        assert entry == 3 and colours["blue"] == 3 and colours.names() == ("red", "green", "blue")
    assert "blue" not in colours
    with pytest.raises(UnknownName, match="colour 'blue' is not one of red, green"):
        colours.unregister("blue")
