"""CDRs 2.1.1 <-> 2.2.1: the official 2.2.1 CDR and the 2.1.1 spec's CDR example."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec

from hub.ocpi import cdrs as v221
from hub.ocpi.v211 import cdrs as v211
from hub.translate import tariffs
from hub.translate.cdrs import LOSSES, RENAMES, cdr_down, cdr_up
from hub.translate.losses import Direction, Withheld
from tests.translate.flatdiff import (
    differences,
    down_renames,
    undeclared,
    unexercised,
    up_renames,
)

RENAMES_UP = up_renames(RENAMES)
RENAMES_DOWN = down_renames(RENAMES)

EXAMPLES = Path(__file__).parent.parent / "examples"
TOKEN = {
    "country_code": "DE",
    "party_id": "TNM",
    "uid": "012345678",
    "type": "RFID",
    "contract_id": "DE8ACC12E46L89",
}
CPO = {"country_code": "BE", "party_id": "BEC"}


def example(version: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / version / name).read_text())
    return loaded


def location_211() -> dict[str, Any]:
    """The 2.1.1 Location the hub keeps for LOC1 (the one the official 2.1.1 sessions carry)."""
    location: dict[str, Any] = example("2.1.1", "session_example_2_short_finished.json")["location"]
    return location


# The CDR of 2.1.1 mod_cdrs.md §3.1 "Example of a CDR", corrected: the original has a trailing
# comma and a price written as a string, so it is not valid JSON nor a valid CDR.
CDR_211: dict[str, Any] = {
    "id": "12345",
    "start_date_time": "2015-06-29T21:39:09Z",
    "stop_date_time": "2015-06-29T23:37:32Z",
    "auth_id": "DE8ACC12E46L89",
    "auth_method": "WHITELIST",
    "location": location_211(),
    "currency": "EUR",
    "tariffs": [
        {
            "id": "12",
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "TIME", "price": 2.00, "step_size": 300}]}],
            "last_updated": "2015-02-02T14:15:01Z",
        }
    ],
    "charging_periods": [
        {
            "start_date_time": "2015-06-29T21:39:09Z",
            "dimensions": [{"type": "TIME", "volume": 1.973}],
        }
    ],
    "total_cost": 4.00,
    "total_energy": 15.342,
    "total_time": 1.973,
    "last_updated": "2015-06-29T22:01:13Z",
}


# The CDR functions take the Tariffs translation as parameters (the CPO owns the CDR's tariffs).
def tariff_up(tariff: dict[str, Any]) -> dict[str, Any] | Withheld:
    return tariffs.tariff_up(tariff, (CPO["country_code"], CPO["party_id"]))


tariff_down = tariffs.tariff_down


# "tariffs[] changed" only points at the Tariffs table, whose own rows name the changes.
POINTERS = {loss for loss in LOSSES if (loss.field, loss.kind) == ("tariffs[]", "changed")}
OWN = tuple(loss for loss in LOSSES if loss not in POINTERS)


def own(found: set[tuple[str, str]], direction: Direction) -> set[tuple[str, str]]:
    """The differences this module answers for: inside ``tariffs[]``, what the Tariffs
    translation's table declares is its business; the rest (a whole tariff left out) is ours."""
    prefix = "tariffs[]."
    inner = {(kind, path.removeprefix(prefix)) for kind, path in found if path.startswith(prefix)}
    theirs = inner - undeclared(inner, tariffs.LOSSES, direction)
    return found - {(kind, prefix + path) for kind, path in theirs}


def up(cdr: dict[str, Any]) -> dict[str, Any]:
    result = cdr_up(cdr, token=TOKEN, tariff_up=tariff_up, **CPO)
    assert not isinstance(result, Withheld), result
    return result


def down(cdr: dict[str, Any]) -> dict[str, Any]:
    result = cdr_down(cdr, location=location_211(), tariff_down=tariff_down)
    assert not isinstance(result, Withheld), result
    return result


def test_the_211_cdr_goes_up_to_a_valid_221_cdr_and_back() -> None:
    msgspec.convert(CDR_211, v211.CDR)
    translated = up(CDR_211)
    msgspec.convert(translated, v221.CDR)
    assert translated["cdr_location"]["evse_id"] == "BE-BEC-E041503003"
    assert down(translated) == CDR_211
    found = differences(CDR_211, translated, RENAMES_UP)
    assert ("dropped", "location.type") in found
    assert undeclared(own(found, "up"), OWN, "up") == set()


def test_the_221_cdr_goes_down_to_a_valid_211_cdr_and_up_again() -> None:
    original = example("2.2.1", "cdr_example.json")
    translated = down(original)
    msgspec.convert(translated, v211.CDR)
    # The CDR's own record of where it charged wins over the hub's current copy.
    assert translated["location"]["evses"][0]["evse_id"] == "BE*BEC*E041503003"
    assert translated["location"]["country"] == "BEL"
    assert translated["total_cost"] == 4.0
    found = differences(original, translated, RENAMES_DOWN)
    assert {("dropped", "total_time_cost.incl_vat"), ("dropped", "total_cost.incl_vat")} <= found
    assert undeclared(own(found, "down"), OWN, "down") == set()
    back = cdr_up(translated, token=original["cdr_token"], tariff_up=tariff_up, **CPO)
    assert not isinstance(back, Withheld)
    msgspec.convert(back, v221.CDR)
    assert undeclared(own(differences(original, back, {}), "down"), OWN, "down") == set()


def test_credit_cdrs_and_long_ids_are_withheld_toward_211() -> None:
    original = example("2.2.1", "cdr_example.json")
    credit = {**original, "credit": True, "credit_reference_id": "12345"}
    assert isinstance(cdr_down(credit, location=location_211(), tariff_down=tariff_down), Withheld)
    long_id = {**original, "id": "x" * 37}
    assert isinstance(cdr_down(long_id, location=location_211(), tariff_down=tariff_down), Withheld)


def test_without_the_token_or_the_location_a_cdr_is_withheld() -> None:
    assert isinstance(cdr_up(CDR_211, token=None, tariff_up=tariff_up, **CPO), Withheld)
    original = example("2.2.1", "cdr_example.json")
    assert isinstance(cdr_down(original, location=None, tariff_down=tariff_down), Withheld)
    moved = copy.deepcopy(original)
    moved["cdr_location"]["connector_id"] = "2"
    assert isinstance(cdr_down(moved, location=location_211(), tariff_down=tariff_down), Withheld)


def test_a_withheld_tariff_is_left_out_and_a_missing_evse_id_is_not_applicable() -> None:
    original = example("2.2.1", "cdr_example.json")
    # An element only for reservations cannot apply to a 2.1.1 session: the tariff is withheld.
    reserved = {
        **original["tariffs"][0]["elements"][0],
        "restrictions": {"reservation": "RESERVATION"},
    }
    original["tariffs"].append({**original["tariffs"][0], "id": "withheld", "elements": [reserved]})
    assert [t["id"] for t in down(original)["tariffs"]] == ["12"]
    without = copy.deepcopy(CDR_211)
    del without["location"]["evses"][0]["evse_id"]
    translated = up(without)
    assert translated["cdr_location"]["evse_id"] == "#NA"
    assert undeclared(own(differences(without, translated, RENAMES_UP), "up"), OWN, "up") == set()


def unsayable() -> dict[str, Any]:
    """The official 2.2.1 CDR with everything else 2.1.1 cannot say."""
    cdr = example("2.2.1", "cdr_example.json")
    cost = {"excl_vat": 1.0, "incl_vat": 1.1}
    cdr["cdr_location"]["state"] = "Oost-Vlaanderen"
    cdr["charging_periods"].append(
        {
            "start_date_time": "2015-06-29T23:30:00Z",
            "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 80}],
        }
    )
    cdr["charging_periods"][0]["dimensions"].append({"type": "MAX_POWER", "volume": 11})
    reserved = {**cdr["tariffs"][0]["elements"][0], "restrictions": {"reservation": "RESERVATION"}}
    cdr["tariffs"].append({**cdr["tariffs"][0], "id": "13", "elements": [reserved]})
    return {
        **cdr,
        "session_id": "101",
        "auth_method": "COMMAND",
        "authorization_reference": "ref-1",
        "signed_data": {
            "encoding_method": "OCMF",
            "signed_values": [{"nature": "Start", "plain_data": "x", "signed_data": "y"}],
        },
        "total_fixed_cost": cost,
        "total_energy_cost": cost,
        "total_parking_cost": cost,
        "total_reservation_cost": cost,
        "invoice_reference_id": "INV-1",
        "home_charging_compensation": False,
    }


def test_every_declared_loss_happens() -> None:
    msgspec.convert(unsayable(), v221.CDR)
    without = copy.deepcopy(CDR_211)
    del without["location"]["evses"][0]["evse_id"]
    without["charging_periods"][0]["dimensions"].append({"type": "FLAT", "volume": 1})
    without["charging_periods"].append(
        {"start_date_time": "2015-06-29T23:00:00Z", "dimensions": [{"type": "FLAT", "volume": 1}]}
    )
    ups = [CDR_211, without]
    downs = [example("2.2.1", "cdr_example.json"), unsayable()]
    found: dict[Direction, set[tuple[str, str]]] = {
        "up": set().union(*(differences(c, up(c), RENAMES_UP) for c in ups)),
        "down": set().union(*(differences(c, down(c), RENAMES_DOWN) for c in downs)),
    }
    assert undeclared(own(found["up"], "up"), OWN, "up") == set()
    assert undeclared(own(found["down"], "down"), OWN, "down") == set()
    assert unexercised(found, OWN) == set()
