"""Locations 2.3.0 <-> 2.2.1 (and on to 2.1.1) on the official examples, and each declared loss."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from hub.ocpi import locations as v221
from hub.ocpi.v211 import locations as v211
from hub.ocpi.v230 import locations as v230
from hub.translate import locations as to211
from hub.translate.losses import Direction, Withheld
from hub.translate.v230 import locations as t
from tests.translate.examples import load, names
from tests.translate.v230diff import changes, not_shown, undeclared_changes

WHOLE = [n for n in names("2.3.0", "location_example*.json")]
V221_WHOLE = [n for n in names("2.2.1", "location_example*.json")]
# Which PATCH function each official PATCH example is for (tests/ocpi/test_objects_230.py).
PATCHES = {
    "location_patch_example_location.json": (t.location_patch_down, t.location_patch_up),
    "location_patch_example_remove_evse.json": (t.evse_patch_down, t.evse_patch_up),
    "location_patch_example_status.json": (t.evse_patch_down, t.evse_patch_up),
    "location_patch_example_tariff.json": (t.connector_patch_down, t.connector_patch_up),
}
NEW_DATA = ("parking_places", "help_phone")


def whole(result: dict[str, Any] | Withheld) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


def has_230_data(location: dict[str, Any]) -> bool:
    evse_fields = {"parking", "accepted_service_providers"}
    return any(f in location for f in NEW_DATA) or any(
        evse_fields & e.keys() for e in location.get("evses", [])
    )


@pytest.mark.parametrize("name", WHOLE)
def test_a_230_location_goes_down_losing_only_what_is_declared_and_up_again(name: str) -> None:
    original = load("2.3.0", name)
    down = t.location_down(original)
    msgspec.convert(down, v221.Location)
    assert not undeclared_changes(original, down, "down", t.LOSSES)
    back = t.location_up(down)
    msgspec.convert(back, v230.Location)
    if has_230_data(original):
        assert not has_230_data(back)
    else:
        assert back == original


@pytest.mark.parametrize("name", V221_WHOLE)
def test_a_221_location_goes_up_and_comes_back_unchanged(name: str) -> None:
    original = load("2.2.1", name)
    up = t.location_up(original)
    assert up == original  # nothing of 2.2.1 changes in 2.3.0
    assert t.location_down(up) == original


@pytest.mark.parametrize("name", WHOLE)
def test_a_230_location_reaches_211_through_221(name: str) -> None:
    original = load("2.3.0", name)
    down = to211.location_down(t.location_down(original))
    if original["publish"] is False:
        assert isinstance(down, Withheld)
    else:
        msgspec.convert(whole(down), v211.Location)


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_an_official_patch_goes_down_and_up_unchanged(name: str) -> None:
    going_down, going_up = PATCHES[name]
    fragment = load("2.3.0", name)
    down = whole(going_down(fragment))
    assert down == fragment
    assert going_up(down) == fragment


def test_the_defective_evse_put_example_is_refused_not_translated() -> None:
    # tests/examples/NOTICE.md: its connector lacks power_type and more.
    with pytest.raises(msgspec.ValidationError):
        t.evse_down(load("2.3.0", "location_put_example_add_evse.json"))


def rich() -> dict[str, Any]:
    """location_example.json with every 2.3.0 datum and OpenEnum value 2.2.1 lacks."""
    location: dict[str, Any] = copy.deepcopy(load("2.3.0", "location_example.json"))
    location.update(
        help_phone="+31 20 000 0000",
        parking_type="ROOFTOP",
        facilities=["WIFI", "NEW_FACILITY"],
        # (the dropped entry last: flatdiff compares list items by index)
        publish_allowed_to=[{"uid": "R1", "type": "RFID"}, {"uid": "EM1", "type": "EMAID"}],
        images=[{"url": "https://x.example/1.jpg", "category": "PANORAMA", "type": "jpeg"}],
        operator={
            "name": "Op",
            "logo": {"url": "https://x.example/o.png", "category": "NEW", "type": "png"},
        },
        suboperator={
            "name": "Sub",
            "logo": {"url": "https://x.example/s.png", "category": "BRAND", "type": "png"},
        },
        owner={
            "name": "Own",
            "logo": {"url": "https://x.example/w.png", "category": "LOGO", "type": "png"},
        },
        energy_mix={
            "is_green_energy": True,
            "environ_impact": [
                {"category": "CARBON_DIOXIDE", "amount": 1},
                {"category": "PARTICULATES", "amount": 2},
            ],
        },
    )
    first, second = location["evses"]
    first["accepted_service_providers"] = ["Provider A"]
    first["capabilities"].append("BIDIRECTIONAL")
    first["parking_restrictions"] = ["EV_ONLY", "EMPLOYEES", "TAXIS", "TENANTS"]
    first["images"] = [{"url": "https://x.example/e.jpg", "category": "CABLE", "type": "jpeg"}]
    first["connectors"][0]["capabilities"] = ["ISO_15118_2_PLUG_AND_CHARGE"]
    mcs = {**first["connectors"][0], "id": "MCS1", "standard": "MCS"}
    first["connectors"].append(mcs)
    for connector in second["connectors"]:
        connector["standard"] = "SAE_J3400"
    return location


def test_every_declared_down_loss_happens_and_no_other() -> None:
    found: dict[Direction, set[tuple[str, str]]] = {"down": set(), "up": set()}
    original = rich()
    down = t.location_down(original)
    msgspec.convert(down, v221.Location)
    found["down"] |= changes(original, down, "down")
    assert not undeclared_changes(original, down, "down", t.LOSSES)
    assert [e["uid"] for e in down["evses"]] == [original["evses"][0]["uid"]]
    assert "MCS1" not in [c["id"] for c in down["evses"][0]["connectors"]]
    assert down["evses"][0]["parking_restrictions"] == ["EV_ONLY"]
    assert down["images"][0]["category"] == "OTHER"
    assert down["publish_allowed_to"] == [{"uid": "R1", "type": "RFID"}]
    assert down["facilities"] == ["WIFI"]
    assert "parking_type" not in down
    assert not not_shown(found, tuple(x for x in t.LOSSES if x.direction == "down"))


def test_an_evse_or_connector_2_2_1_cannot_name_is_withheld() -> None:
    evse = rich()["evses"][1]  # only SAE_J3400 connectors
    assert isinstance(t.evse_down(evse), Withheld)
    assert isinstance(t.evse_patch_down({"connectors": evse["connectors"]}), Withheld)
    assert isinstance(t.connector_down(evse["connectors"][0]), Withheld)
    assert isinstance(t.connector_patch_down({"standard": "MCS"}), Withheld)
    kept = whole(t.evse_down(rich()["evses"][0]))
    msgspec.convert(kept, v221.EVSE)
    assert "parking" not in kept and "accepted_service_providers" not in kept


def test_a_patch_of_only_230_data_keeps_last_updated() -> None:
    fragment = {"help_phone": "+31", "parking_places": [], "last_updated": "2026-01-01T00:00:00Z"}
    assert t.location_patch_down(fragment) == {"last_updated": "2026-01-01T00:00:00Z"}


def test_unknown_and_extension_fields_never_cross() -> None:
    location = {**load("2.3.0", "location_example.json"), "x_vendor": {"a": 1}}
    location["evses"][0]["x_evse"] = True
    down = t.location_down(location)
    assert "x_vendor" not in down and "x_evse" not in down["evses"][0]
    up = t.location_up({**load("2.2.1", "location_example.json"), "x_vendor": 1})
    assert "x_vendor" not in up
    assert "x_c" not in t.connector_patch_up({"x_c": 1, "last_updated": "2026-01-01T00:00:00Z"})
