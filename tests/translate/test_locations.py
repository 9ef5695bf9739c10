"""Locations 2.1.1 <-> 2.2.1 on the official examples, and each declared loss on its own."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.ocpi import locations as v221
from hub.ocpi.v211 import locations as v211
from hub.translate import locations as t
from hub.translate.losses import Withheld
from tests.translate.diffs import (
    covered,
    declared,
    differences,
    down_renames,
    undeclared,
    up_renames,
)
from tests.translate.examples import load, names

OWNER = ("BE", "BEC")
ZONE = "Europe/Brussels"
NOW = "2026-12-01T13:00:00Z"
UP = [x for x in t.LOSSES if x.direction == "up"]
DOWN = [x for x in t.LOSSES if x.direction == "down"]
ALL = declared(t.LOSSES, t.RENAMES)


def whole(result: dict[str, Any] | Withheld) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


# --- the official examples -------------------------------------------------------------------


@pytest.mark.parametrize("name", names("2.1.1", "location_*.json"))
def test_a_211_location_goes_up_losing_only_what_is_declared(name: str) -> None:
    original = load("2.1.1", name)
    up = whole(t.location_up(original, OWNER, time_zone=ZONE))
    msgspec.convert(up, v221.Location)
    assert not undeclared(differences(original, up, up_renames(t.RENAMES)), declared(UP, t.RENAMES))
    back = whole(t.location_down(up))
    assert not undeclared(differences(original, back, {}), ALL)


@pytest.mark.parametrize("name", names("2.1.1", "location_*.json"))
def test_a_211_location_with_a_time_zone_comes_back_unchanged(name: str) -> None:
    original = {**load("2.1.1", name), "time_zone": ZONE}
    assert t.location_down(whole(t.location_up(original, OWNER))) == original


@pytest.mark.parametrize("name", names("2.2.1", "location_example*.json"))
def test_a_221_location_goes_down_unless_unpublished(name: str) -> None:
    original = load("2.2.1", name)
    down = t.location_down(original)
    if not original["publish"]:
        assert isinstance(down, Withheld)
        return
    down = whole(down)
    msgspec.convert(down, v211.Location)
    differing = differences(original, down, down_renames(t.RENAMES))
    assert not undeclared(differing, declared(DOWN, t.RENAMES))
    owner = (original["country_code"], original["party_id"])
    back = whole(t.location_up(down, owner))
    assert not undeclared(differences(original, back, {}), ALL)


@pytest.mark.parametrize("name", names("2.2.1", "location_hours_*.json"))
def test_221_opening_hours_come_back_unchanged(name: str) -> None:
    hours = load("2.2.1", name)
    original = {**load("2.2.1", "location_example.json"), "opening_times": hours}
    back = whole(t.location_up(whole(t.location_down(original)), ("BE", "BEC")))
    assert back["opening_times"] == hours


@pytest.mark.parametrize(
    "name", [*names("2.2.1", "location_energymix_*.json"), "location_regularhours_example.json"]
)
def test_221_location_fragments_go_down_and_come_back(name: str) -> None:
    fragment = load("2.2.1", name)
    down = whole(t.location_patch_down(fragment))
    assert whole(t.location_patch_up(down, received_at=NOW)) == {**fragment, "last_updated": NOW}


@pytest.mark.parametrize(
    ("name", "down", "up"),
    [
        ("location_patch_example_location.json", t.location_patch_down, t.location_patch_up),
        ("location_patch_example_remove_evse.json", t.evse_patch_down, t.evse_patch_up),
        ("location_patch_example_status.json", t.evse_patch_down, t.evse_patch_up),
        ("location_patch_example_tariff.json", t.connector_patch_down, t.connector_patch_up),
    ],
)
def test_221_patches_go_down_and_come_back(name: str, down: Any, up: Any) -> None:
    patch = load("2.2.1", name)
    assert whole(up(whole(down(patch)), received_at=NOW)) == patch


def test_the_invalid_221_evse_example_is_refused() -> None:
    # tests/examples/NOTICE.md: its connector lacks power_type and more.
    with pytest.raises(msgspec.ValidationError):
        t.evse_down(load("2.2.1", "location_put_example_add_evse.json"))


# --- each loss on its own --------------------------------------------------------------------


def v221_location() -> dict[str, Any]:
    return copy.deepcopy(load("2.2.1", "location_example.json"))


def v211_location() -> dict[str, Any]:
    return copy.deepcopy(load("2.1.1", "location_example.json"))


def test_up_takes_the_owner_from_the_caller_and_publishes() -> None:
    up = whole(t.location_up(v211_location(), ("NL", "ABC"), time_zone=ZONE))
    assert (up["country_code"], up["party_id"], up["publish"]) == ("NL", "ABC", True)
    assert up["time_zone"] == ZONE


def test_up_keeps_the_location_time_zone_over_the_default() -> None:
    location = {**v211_location(), "time_zone": "Europe/Oslo"}
    assert whole(t.location_up(location, OWNER, time_zone=ZONE))["time_zone"] == "Europe/Oslo"


def test_up_without_any_time_zone_is_withheld() -> None:
    assert isinstance(t.location_up(v211_location(), OWNER), Withheld)


@pytest.mark.parametrize("where", ["location", "evse"])
def test_up_withholds_ids_longer_than_36(where: str) -> None:
    location = v211_location()
    if where == "location":
        location["id"] = "L" * 37
    else:
        location["evses"][0]["uid"] = "E" * 37
    assert isinstance(t.location_up(location, OWNER, time_zone=ZONE), Withheld)
    assert isinstance(t.evse_up({**location["evses"][0], "uid": "E" * 39}), Withheld)


@pytest.mark.parametrize(
    ("kind", "parking"), [("OTHER", None), ("UNKNOWN", None), ("ON_STREET", "ON_STREET")]
)
def test_up_maps_the_location_type(kind: str, parking: str | None) -> None:
    up = whole(t.location_up({**v211_location(), "type": kind}, OWNER, time_zone=ZONE))
    assert up.get("parking_type") == parking


def test_up_strips_charging_profile_capable() -> None:
    location = v211_location()
    location["evses"][0]["capabilities"] = ["CHARGING_PROFILE_CAPABLE", "RFID_READER"]
    up = whole(t.location_up(location, OWNER, time_zone=ZONE))
    assert up["evses"][0]["capabilities"] == ["RFID_READER"]


def test_up_renames_the_connector_fields() -> None:
    connector = v211_location()["evses"][0]["connectors"][0]
    up = whole(t.connector_up(connector))
    assert (up["max_voltage"], up["max_amperage"], up["tariff_ids"]) == (220, 16, ["11"])
    assert not {"voltage", "amperage", "tariff_id"} & up.keys()


def test_up_drops_connectors_and_evses_2_2_1_cannot_carry() -> None:
    location = v211_location()
    location["evses"][1]["connectors"][0]["standard"] = "NOT_A_STANDARD"
    up = whole(t.location_up(location, OWNER, time_zone=ZONE))
    assert [e["uid"] for e in up["evses"]] == ["3256"]
    assert isinstance(t.evse_up(location["evses"][1]), Withheld)
    assert isinstance(t.connector_up(location["evses"][1]["connectors"][0]), Withheld)


def test_up_completes_the_opening_hours() -> None:
    hours = {"regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "24:00"}]}
    up = whole(t.location_up({**v211_location(), "opening_times": hours}, OWNER, time_zone=ZONE))
    assert up["opening_times"] == {
        "regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "23:59"}],
        "twentyfourseven": False,
    }


def test_up_renames_the_environmental_impact_source() -> None:
    mix = {"is_green_energy": False, "environ_impact": [{"source": "CARBON_DIOXIDE", "amount": 3}]}
    up = whole(t.location_up({**v211_location(), "energy_mix": mix}, OWNER, time_zone=ZONE))
    assert up["energy_mix"]["environ_impact"] == [{"category": "CARBON_DIOXIDE", "amount": 3.0}]


def test_unknown_fields_and_values_are_not_forwarded() -> None:
    location = v211_location()
    location["x_extension"] = {"secret": 1}
    location["operator"]["x_extension"] = 2
    location["facilities"] = ["HOTEL", "SPACEPORT"]
    up = whole(t.location_up(location, OWNER, time_zone=ZONE))
    assert "x_extension" not in up and "x_extension" not in up["operator"]
    assert up["facilities"] == ["HOTEL"]
    down = whole(t.location_down({**v221_location(), "x_extension": 1}))
    assert "x_extension" not in down


def test_a_patch_up_gets_the_receive_time_only_when_it_has_none() -> None:
    assert t.evse_patch_up({"status": "CHARGING"}, received_at=NOW) == {
        "status": "CHARGING",
        "last_updated": NOW,
    }
    stamped = {"status": "CHARGING", "last_updated": "2015-01-01T00:00:00Z"}
    assert t.evse_patch_up(stamped, received_at=NOW) == stamped
    assert t.connector_patch_up({"voltage": 230, "tariff_id": "9"}, received_at=NOW) == {
        "max_voltage": 230,
        "tariff_ids": ["9"],
        "last_updated": NOW,
    }


def test_down_drops_what_2_1_1_lacks() -> None:
    location = v221_location()
    location["state"] = "Oost-Vlaanderen"
    location["publish_allowed_to"] = [{"uid": "X"}]
    location["parking_type"] = "ALONG_MOTORWAY"
    location["facilities"] = ["HOTEL", "METRO_STATION"]
    down = whole(t.location_down(location))
    assert not {"state", "publish", "publish_allowed_to", "country_code", "party_id"} & down.keys()
    assert down["type"] == "OTHER"
    assert down["facilities"] == ["HOTEL"]


def test_down_fills_type_and_postal_code() -> None:
    location = v221_location()
    del location["parking_type"], location["postal_code"]
    down = whole(t.location_down(location))
    assert (down["type"], down["postal_code"]) == ("UNKNOWN", "")


def test_down_formats_coordinates_with_six_decimals() -> None:
    location = v221_location()
    location["coordinates"] = {"latitude": "51.0475991", "longitude": "3.72994"}
    location["evses"][0]["coordinates"] = {"latitude": "-1.5", "longitude": "3.729944"}
    down = whole(t.location_down(location))
    assert down["coordinates"] == {"latitude": "51.047599", "longitude": "3.729940"}
    assert down["evses"][0]["coordinates"] == {"latitude": "-1.500000", "longitude": "3.729944"}


def test_down_maps_connectors() -> None:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_2_PHASE_SPLIT",
        "max_voltage": 230,
        "max_amperage": 32,
        "max_electric_power": 7360,
        "tariff_ids": ["A", "B", "C"],
        "last_updated": NOW,
    }
    regular = {"B": {"type": "REGULAR"}, "A": {"type": "AD_HOC_PAYMENT"}}
    assert t.connector_down(connector, tariffs=regular) == {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_1_PHASE",
        "voltage": 230,
        "amperage": 32,
        "tariff_id": "B",
        "last_updated": NOW,
    }
    assert whole(t.connector_down(connector))["tariff_id"] == "A"
    assert "tariff_id" not in whole(t.connector_down({**connector, "tariff_ids": []}))
    assert isinstance(t.connector_down({**connector, "standard": "NEMA_5_20"}), Withheld)


def test_down_drops_evses_left_without_connectors() -> None:
    location = v221_location()
    for connector in location["evses"][0]["connectors"]:
        connector["standard"] = "GBT_DC"
    down = whole(t.location_down(location))
    assert [e["uid"] for e in down["evses"]] == [e["uid"] for e in location["evses"][1:]]
    assert isinstance(t.evse_down(location["evses"][0]), Withheld)


def test_down_keeps_only_2_1_1_capabilities() -> None:
    location = v221_location()
    location["evses"][0]["capabilities"] = ["RESERVABLE", "CHIP_CARD_SUPPORT"]
    assert whole(t.location_down(location))["evses"][0]["capabilities"] == ["RESERVABLE"]


def test_down_writes_the_hours_choice() -> None:
    always = {"twentyfourseven": True, "regular_hours": [], "exceptional_closings": []}
    assert whole(t.location_patch_down({"opening_times": always})) == {
        "opening_times": {"twentyfourseven": True, "exceptional_closings": []}
    }
    never = {"twentyfourseven": False}
    assert t.location_patch_down({"opening_times": never}) == {
        "opening_times": {"regular_hours": []}
    }


@pytest.mark.parametrize("publish", [True, False])
def test_a_patch_of_publish_is_withheld_down(publish: bool) -> None:
    patch = {"publish": publish, "last_updated": NOW}
    assert isinstance(t.location_patch_down(patch), Withheld)


def test_every_declared_field_loss_happens() -> None:
    """The other way round: each row (but the unknown-values ones) is seen on the objects the
    tests above build, so the table holds nothing the code does not do."""
    hours = {"regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "24:00"}]}
    source = v211_location()
    source.update(type="OTHER", opening_times=hours)
    source["evses"][0]["capabilities"] = ["CHARGING_PROFILE_CAPABLE"]
    source["evses"][1]["connectors"][0]["power_type"] = "AC_9_PHASE"
    up = whole(t.location_up(source, OWNER, time_zone=ZONE))
    seen_up = differences(source, up, up_renames(t.RENAMES))
    seen_up |= differences(
        {"status": "X"}, whole(t.evse_patch_up({"status": "X"}, received_at=NOW)), {}
    )

    target = v221_location()
    target.update(state="X", publish_allowed_to=[{"uid": "X"}], facilities=["TRAM_STOP"])
    target["parking_type"] = "ON_DRIVEWAY"
    target["related_locations"] = [{"latitude": "1.1234567", "longitude": "2.1234567"}]
    target["coordinates"] = {"latitude": "1.1234567", "longitude": "2.1234567"}
    del target["postal_code"]
    target["opening_times"] = {"twentyfourseven": False}
    evse = target["evses"][0]
    evse.update(
        capabilities=["PED_TERMINAL"], coordinates={"latitude": "1.12345", "longitude": "2.12345"}
    )
    evse["connectors"][0].update(
        power_type="AC_2_PHASE", max_electric_power=1, tariff_ids=["1", "2"]
    )
    evse["connectors"][1]["standard"] = "CHAOJI"
    for connector in target["evses"][1]["connectors"]:
        connector["standard"] = "PANTOGRAPH_TOP_DOWN"
    down = whole(t.location_down(target))
    seen_down = differences(target, down, down_renames(t.RENAMES))
    no_parking = whole(t.location_down({**target, "parking_type": None}))
    seen_down |= differences(target, no_parking, down_renames(t.RENAMES))
    always = {"twentyfourseven": True, "regular_hours": []}
    seen_down |= differences(
        {"opening_times": always},
        whole(t.location_patch_down({"opening_times": always})),
        {},
    )

    for losses, seen in ((UP, seen_up), (DOWN, seen_down)):
        for loss in losses:
            if loss.kind == "withheld" or loss.field.startswith("("):
                continue
            fields = declared([loss], t.RENAMES)
            assert any(covered(path, fields) for path in seen), loss


def test_evse_and_connector_pushes_round_trip() -> None:
    evse = v211_location()["evses"][0]
    up = whole(t.evse_up(evse))
    msgspec.convert(up, v221.EVSE)
    assert t.evse_down(up) == evse
    connector = evse["connectors"][0]
    assert t.connector_down(whole(t.connector_up(connector))) == connector


def test_patches_that_cannot_be_carried_are_withheld() -> None:
    assert isinstance(t.evse_patch_up({"uid": "E" * 37}, received_at=NOW), Withheld)
    alien = {**v211_location()["evses"][0]["connectors"][0], "standard": "ALIEN"}
    assert isinstance(t.evse_patch_up({"connectors": [alien]}, received_at=NOW), Withheld)
    assert isinstance(t.connector_patch_up({"standard": "ALIEN"}, received_at=NOW), Withheld)
    chaoji = {**v221_location()["evses"][0]["connectors"][0], "standard": "CHAOJI"}
    assert isinstance(t.evse_patch_down({"connectors": [chaoji]}), Withheld)
    assert isinstance(t.connector_patch_down({"standard": "GBT_AC"}), Withheld)
    assert isinstance(t.connector_patch_down({"power_type": "AC_4_PHASE"}), Withheld)
    assert t.connector_patch_down({"power_type": "AC_2_PHASE"}) == {"power_type": "AC_1_PHASE"}


def test_a_coordinate_that_is_not_a_number_is_kept() -> None:
    fragment = {"coordinates": {"latitude": "north", "longitude": "3.1"}}
    assert t.location_patch_down(fragment) == {
        "coordinates": {"latitude": "north", "longitude": "3.100000"}
    }


_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=36)
_V211_CONNECTORS = st.fixed_dictionaries(
    {
        "id": _TEXT,
        "standard": st.sampled_from(sorted(v211.CONNECTOR_TYPES)),
        "format": st.sampled_from(sorted(v211.CONNECTOR_FORMATS)),
        "power_type": st.sampled_from(sorted(v211.POWER_TYPES)),
        "voltage": st.integers(0, 1000),
        "amperage": st.integers(0, 1000),
        "last_updated": st.just(NOW),
    },
    optional={"tariff_id": _TEXT, "terms_and_conditions": _TEXT},
)


@given(st.lists(_V211_CONNECTORS, min_size=1, max_size=3), st.sampled_from(sorted(v211.STATUSES)))
def test_any_211_evse_of_2_1_1_values_comes_back_unchanged(
    connectors: list[dict[str, Any]], status: str
) -> None:
    evse = {"uid": "1", "status": status, "connectors": connectors, "last_updated": NOW}
    assert t.evse_down(whole(t.evse_up(evse))) == evse
