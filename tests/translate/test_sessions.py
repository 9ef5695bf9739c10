"""Sessions 2.1.1 <-> 2.2.1 on the official examples: up, down, round trips, declared losses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ocpi import sessions as v221
from hub.ocpi.v211 import sessions as v211
from hub.translate.losses import Direction, Withheld
from hub.translate.sessions import (
    LOSSES,
    RENAMES,
    session_down,
    session_patch_down,
    session_patch_up,
    session_up,
)
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
V211 = ("session_example_1_simple_start.json", "session_example_2_short_finished.json")
V221 = V211
PATCHES = ("session_patch_example_charging_period.json", "session_patch_example_total_cost.json")

# The token the hub knows for the examples' auth_id, and the CPO of the 2.1.1 examples' URL.
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
    """The 2.1.1 Location the hub keeps for LOC1 (the one the 2.1.1 examples carry)."""
    location: dict[str, Any] = example("2.1.1", V211[0])["location"]
    return location


def up(session: dict[str, Any], token: dict[str, Any] | None = TOKEN) -> dict[str, Any]:
    result = session_up(session, token=token, **CPO)
    assert not isinstance(result, Withheld), result
    return result


def down(session: dict[str, Any], location: dict[str, Any] | None = None) -> dict[str, Any]:
    result = session_down(session, location=location or location_211())
    assert not isinstance(result, Withheld), result
    return result


@pytest.mark.parametrize("name", V211)
def test_a_211_session_goes_up_to_a_valid_221_session_and_back(name: str) -> None:
    original = example("2.1.1", name)
    msgspec.convert(original, v211.Session)
    translated = up(original)
    msgspec.convert(translated, v221.Session)
    assert translated["cdr_token"] == TOKEN
    assert (translated["location_id"], translated["evse_uid"]) == ("LOC1", "3256")
    assert down(translated, original["location"]) == original


@pytest.mark.parametrize("name", V211)
def test_going_up_differs_exactly_as_declared(name: str) -> None:
    original = example("2.1.1", name)
    found = differences(original, up(original), RENAMES_UP)
    assert found, "the example shows some declared loss"
    assert undeclared(found, LOSSES, "up") == set()


@pytest.mark.parametrize("name", V221)
def test_a_221_session_goes_down_to_a_valid_211_session_and_back(name: str) -> None:
    original = example("2.2.1", name)
    translated = down(original)
    msgspec.convert(translated, v211.Session)
    assert translated["auth_id"] == original["cdr_token"]["contract_id"]
    back = session_up(
        translated,
        token=original["cdr_token"],
        country_code=original["country_code"],
        party_id=original["party_id"],
    )
    # Identity where no loss is declared: what differs is what going down loses.
    assert not isinstance(back, Withheld)
    assert undeclared(differences(original, back, {}), LOSSES, "down") == set()
    if name == V221[0]:
        assert back == original


@pytest.mark.parametrize("name", V221)
def test_going_down_differs_exactly_as_declared(name: str) -> None:
    original = example("2.2.1", name)
    assert undeclared(differences(original, down(original), RENAMES_DOWN), LOSSES, "down") == set()


def test_without_the_token_or_the_location_a_session_is_withheld_not_guessed() -> None:
    assert isinstance(session_up(example("2.1.1", V211[1]), token=None, **CPO), Withheld)
    other = {**TOKEN, "contract_id": "NL-OTHER"}
    assert isinstance(session_up(example("2.1.1", V211[1]), token=other, **CPO), Withheld)
    original = example("2.2.1", V221[1])
    assert isinstance(session_down(original, location=None), Withheld)
    elsewhere = {**original, "evse_uid": "no-such-evse"}
    assert isinstance(session_down(elsewhere, location=location_211()), Withheld)


def unsayable() -> dict[str, Any]:
    """A 2.2.1 session with everything 2.1.1 cannot say."""
    return {
        **example("2.2.1", V221[1]),
        "auth_method": "COMMAND",
        "status": "RESERVATION",
        "authorization_reference": "ref-1",
        "total_cost": {"excl_vat": 2.5, "incl_vat": 3.0},
        "charging_periods": [
            {
                "start_date_time": "2020-03-09T10:17:09Z",
                "tariff_id": "12",
                "dimensions": [{"type": "ENERGY", "volume": 1.5}, {"type": "POWER", "volume": 7}],
            },
            {
                "start_date_time": "2020-03-09T10:27:09Z",
                "dimensions": [{"type": "CURRENT", "volume": 8}],
            },
        ],
    }


def with_flat() -> dict[str, Any]:
    """A 2.1.1 session with FLAT dimensions, one beside energy and one alone in a period."""
    session = example("2.1.1", V211[1])
    session["charging_periods"][0]["dimensions"].append({"type": "FLAT", "volume": 1})
    session["charging_periods"].append(
        {"start_date_time": "2015-06-29T23:09:09Z", "dimensions": [{"type": "FLAT", "volume": 1}]}
    )
    return session


def test_what_211_cannot_say_is_mapped_as_declared() -> None:
    session = unsayable()
    translated = down(session)
    assert translated["auth_method"] == "AUTH_REQUEST"
    assert translated["status"] == "PENDING"
    assert translated["total_cost"] == 2.5
    assert translated["charging_periods"] == [
        {
            "start_date_time": "2020-03-09T10:17:09Z",
            "dimensions": [{"type": "ENERGY", "volume": 1.5}],
        }
    ]
    found = differences(session, translated, RENAMES_DOWN)
    assert {("changed", "auth_method"), ("changed", "status")} <= found
    assert ("dropped", "authorization_reference") in found
    assert undeclared(found, LOSSES, "down") == set()


def test_flat_dimensions_do_not_go_up() -> None:
    plain = up(example("2.1.1", V211[1]))["charging_periods"]
    assert up(with_flat())["charging_periods"] == plain


def test_every_declared_loss_happens() -> None:
    ups = [example("2.1.1", name) for name in V211] + [with_flat()]
    downs = [example("2.2.1", name) for name in V221] + [unsayable()]
    found: dict[Direction, set[tuple[str, str]]] = {
        "up": set().union(*(differences(s, up(s), RENAMES_UP) for s in ups)),
        "down": set().union(*(differences(s, down(s), RENAMES_DOWN) for s in downs)),
    }
    assert undeclared(found["up"], LOSSES, "up") == set()
    assert undeclared(found["down"], LOSSES, "down") == set()
    assert unexercised(found, LOSSES) == set()


def test_an_unknown_status_is_withheld_toward_211() -> None:
    session = {**example("2.2.1", V221[0]), "status": "SOMETHING_NEW"}
    assert isinstance(session_down(session, location=location_211()), Withheld)


@pytest.mark.parametrize("name", PATCHES)
def test_a_221_patch_goes_down_with_the_whole_period_list(name: str) -> None:
    kept = up(example("2.1.1", V211[1]))
    patch = example("2.2.1", name)
    translated = session_patch_down(patch, kept=kept)
    assert not isinstance(translated, Withheld), translated
    assert translated["total_cost"] == patch["total_cost"]["excl_vat"]
    if "charging_periods" in patch:
        assert len(translated["charging_periods"]) == len(kept["charging_periods"]) + 1
        assert session_patch_down(patch, kept=None) == Withheld(
            "the relayed charging periods are unknown: a 2.1.1 PATCH replaces them"
        )
    else:
        assert "charging_periods" not in translated


def test_a_211_patch_goes_up_with_last_updated_and_only_new_periods() -> None:
    kept = up(example("2.1.1", V211[1]))
    periods = example("2.1.1", V211[1])["charging_periods"]
    new = {
        "start_date_time": "2015-06-29T23:20:00Z",
        "dimensions": [{"type": "TIME", "volume": 0.1}],
    }
    patch = {"total_cost": 0.60, "charging_periods": [*periods, new]}
    translated = session_patch_up(patch, received="2026-12-01T13:00:00Z", kept=kept)
    assert translated == {
        "total_cost": {"excl_vat": 0.60},
        "charging_periods": [new],
        "last_updated": "2026-12-01T13:00:00Z",
    }
    rewritten = {"charging_periods": [new]}
    assert isinstance(session_patch_up(rewritten, received="x", kept=kept), Withheld)
    assert isinstance(session_patch_up({"auth_id": "X"}, received="x", kept=kept), Withheld)
