"""Tariffs 2.1.1 <-> 2.2.1 on the official examples, and each declared loss on its own."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from hub.ocpi import tariffs as v221
from hub.ocpi.v211 import tariffs as v211
from hub.translate import tariffs as t
from hub.translate.losses import Withheld
from tests.translate.diffs import declared, differences, down_renames, undeclared, up_renames
from tests.translate.examples import load, names

OWNER = ("BE", "BEC")
NOW = "2026-12-01T13:00:00Z"
UP = [x for x in t.LOSSES if x.direction == "up"]
DOWN = [x for x in t.LOSSES if x.direction == "down"]
ALL = declared(t.LOSSES, t.RENAMES)
V221_TARIFFS = [
    n
    for n in names("2.2.1", "tariff*.json")
    # tests/examples/NOTICE.md: it lacks last_updated (see the test below).
    if n != "tariff_put_example.json"
]


def whole(result: dict[str, Any] | Withheld) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


@pytest.mark.parametrize("name", names("2.1.1", "tariff_*.json"))
def test_a_211_tariff_goes_up_and_comes_back_unchanged(name: str) -> None:
    original = load("2.1.1", name)
    up = t.tariff_up(original, OWNER)
    msgspec.convert(up, v221.Tariff)
    assert not undeclared(differences(original, up, up_renames(t.RENAMES)), declared(UP, t.RENAMES))
    assert t.tariff_down(up) == original


@pytest.mark.parametrize("name", V221_TARIFFS)
def test_a_221_tariff_goes_down_losing_only_what_is_declared(name: str) -> None:
    original = load("2.2.1", name)
    down = t.tariff_down(original)
    narrowing = {"reservation", "min_current", "max_current"}
    narrow = [e for e in original["elements"] if narrowing & e.get("restrictions", {}).keys()]
    if len(narrow) == len(original["elements"]):
        assert isinstance(down, Withheld)
        return
    down = whole(down)
    msgspec.convert(down, v211.Tariff)
    differing = differences(original, down, down_renames(t.RENAMES))
    assert not undeclared(differing, declared(DOWN, t.RENAMES))
    assert len(down["elements"]) == len(original["elements"]) - len(narrow)
    back = t.tariff_up(down, (original["country_code"], original["party_id"]))
    assert not undeclared(differences(original, back, {}), ALL)


def test_the_221_tariff_put_example_without_last_updated_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        t.tariff_down(load("2.2.1", "tariff_put_example.json"))


def v221_tariff() -> dict[str, Any]:
    return copy.deepcopy(load("2.2.1", "tariff_12_025kwh_min_price.json"))


def test_down_drops_what_2_1_1_lacks() -> None:
    tariff = v221_tariff()
    tariff.update(
        type="REGULAR",
        start_date_time="2019-01-01T00:00:00Z",
        end_date_time="2020-01-01T00:00:00Z",
        max_price={"excl_vat": 9.0},
    )
    down = whole(t.tariff_down(tariff))
    gone = {"country_code", "party_id", "type", "min_price", "max_price"}
    assert not (gone | {"start_date_time", "end_date_time"}) & down.keys()
    assert all("vat" not in c for e in down["elements"] for c in e["price_components"])
    assert [c["price"] for c in down["elements"][0]["price_components"]] == [
        c["price"] for c in tariff["elements"][0]["price_components"]
    ]


@pytest.mark.parametrize("restriction", [{"min_current": 6.0}, {"max_current": 16.0}])
def test_down_drops_elements_2_1_1_cannot_restrict(restriction: dict[str, Any]) -> None:
    tariff = v221_tariff()
    narrow = copy.deepcopy(tariff["elements"][0])
    narrow["restrictions"] = restriction
    tariff["elements"].insert(0, narrow)
    assert (
        whole(t.tariff_down(tariff))["elements"] == whole(t.tariff_down(v221_tariff()))["elements"]
    )
    tariff["elements"] = [narrow]
    assert isinstance(t.tariff_down(tariff), Withheld)


def test_the_energy_mix_is_renamed_both_ways() -> None:
    mix = {"is_green_energy": False, "environ_impact": [{"category": "NUCLEAR_WASTE", "amount": 1}]}
    down = whole(t.tariff_down({**v221_tariff(), "energy_mix": mix}))
    assert down["energy_mix"]["environ_impact"] == [{"source": "NUCLEAR_WASTE", "amount": 1.0}]
    assert t.tariff_up(down, OWNER)["energy_mix"] == mix


def test_a_211_patch_is_merged_into_the_stored_tariff() -> None:
    stored = t.tariff_up(load("2.1.1", "tariff_1_simple_2hour.json"), OWNER)
    alt = [{"language": "en", "text": "2 euro p/hour"}]
    merged = t.tariff_patch_up(stored, {"tariff_alt_text": alt}, received_at=NOW)
    assert merged == {**stored, "tariff_alt_text": alt, "last_updated": NOW}
    stamped = {"currency": "USD", "last_updated": "2016-01-01T00:00:00Z"}
    assert t.tariff_patch_up(stored, stamped, received_at=NOW) == {**stored, **stamped}


def test_unknown_fields_are_not_forwarded() -> None:
    tariff = load("2.1.1", "tariff_1_simple_2hour.json")
    tariff["x_extension"] = 1
    tariff["elements"][0]["price_components"][0]["vat"] = 21.0  # not a 2.1.1 field
    up = t.tariff_up(tariff, OWNER)
    assert "x_extension" not in up
    assert "vat" not in up["elements"][0]["price_components"][0]
    assert "x_extension" not in whole(t.tariff_down({**v221_tariff(), "x_extension": 1}))
