"""Tariffs, Sessions and CDRs 2.3.0 <-> 2.2.1 (and on to 2.1.1): Price, tax_included and
PriceLimit on the official examples, and each declared loss."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from hub.ocpi import cdrs as cdrs_221
from hub.ocpi import sessions as sessions_221
from hub.ocpi import tariffs as tariffs_221
from hub.ocpi.v211 import cdrs as cdrs_211
from hub.ocpi.v211 import sessions as sessions_211
from hub.ocpi.v211 import tariffs as tariffs_211
from hub.ocpi.v230 import cdrs as cdrs_230
from hub.ocpi.v230 import sessions as sessions_230
from hub.ocpi.v230 import tariffs as tariffs_230
from hub.translate import cdrs as cdrs_to211
from hub.translate import sessions as sessions_to211
from hub.translate import tariffs as tariffs_to211
from hub.translate.losses import Direction, Rename230, Withheld
from hub.translate.v230 import cdrs, sessions, tariffs
from tests.translate.examples import load, names
from tests.translate.flatdiff import undeclared
from tests.translate.v230diff import changes, not_shown, undeclared_changes

# tests/examples/NOTICE.md: it lacks last_updated.
TARIFFS = [n for n in names("2.3.0", "tariff*.json") if n != "tariff_put_example.json"]
V221_TARIFFS = [n for n in names("2.2.1", "tariff*.json") if n != "tariff_put_example.json"]
GROSS_WITHOUT_VAT = "tariff_20_simple_north_american_inclusive.json"
SESSIONS = ("session_example_1_simple_start.json", "session_example_2_short_finished.json")
SESSION_PATCHES = (
    "session_patch_example_charging_period.json",
    "session_patch_example_total_cost.json",
)


def whole(result: dict[str, Any] | Withheld) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


def location_211() -> dict[str, Any]:
    """The 2.1.1 Location the hub keeps for LOC1, where the examples' sessions and CDR are."""
    location: dict[str, Any] = load("2.1.1", "session_example_2_short_finished.json")["location"]
    return location


# --- tariffs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TARIFFS)
def test_a_230_tariff_goes_down_and_comes_back(name: str) -> None:
    original = load("2.3.0", name)
    down = tariffs.tariff_down(original)
    if name == GROSS_WITHOUT_VAT:
        assert isinstance(down, Withheld)
        return
    down = whole(down)
    msgspec.convert(down, tariffs_221.Tariff)
    assert not undeclared_changes(original, down, "down", tariffs.LOSSES, tariffs.RENAMES)
    assert tariffs.tariff_up(down) == original  # every official one says tax_included NO
    on_211 = tariffs_to211.tariff_down(down)
    if not isinstance(on_211, Withheld):
        msgspec.convert(on_211, tariffs_211.Tariff)


@pytest.mark.parametrize("name", V221_TARIFFS)
def test_a_221_tariff_goes_up_as_net_and_comes_back_unchanged(name: str) -> None:
    original = load("2.2.1", name)
    up = tariffs.tariff_up(original)
    msgspec.convert(up, tariffs_230.Tariff)
    assert up["tax_included"] == "NO"
    assert not undeclared_changes(original, up, "up", tariffs.LOSSES, tariffs.RENAMES)
    assert up == load("2.3.0", name)  # exactly how the spec migrated its examples
    assert tariffs.tariff_down(up) == original


def test_a_gross_tariff_becomes_net_by_its_vat_rate() -> None:
    gross = copy.deepcopy(load("2.3.0", GROSS_WITHOUT_VAT))
    gross["elements"][0]["price_components"][0]["vat"] = 5.0
    gross["elements"].append(
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21.0, "step_size": 1}]}
    )
    down = whole(tariffs.tariff_down(gross))
    prices = [c["price"] for e in down["elements"] for c in e["price_components"]]
    assert prices == [2.0, 0.2479]  # 2.10 / 1.05 and 0.30 / 1.21, to 4 decimals
    assert "tax_included" not in down
    # One component without a rate is enough to withhold it.
    gross["elements"][1]["price_components"][0].pop("vat")
    assert isinstance(tariffs.tariff_down(gross), Withheld)


def test_tax_not_applicable_prices_are_copied_and_unknown_values_are_withheld() -> None:
    tariff = {**load("2.3.0", "tariff_1_simple_2hour.json"), "tax_included": "N/A"}
    assert whole(tariffs.tariff_down(tariff))["elements"] == tariff["elements"]
    assert isinstance(tariffs.tariff_down({**tariff, "tax_included": "MAYBE"}), Withheld)


def test_every_declared_tariff_loss_happens() -> None:
    found: dict[Direction, set[tuple[str, str]]] = {"down": set(), "up": set()}
    tariff = copy.deepcopy(load("2.3.0", "tariff_12_025kwh_min_price.json"))
    tariff.update(
        tax_included="YES",
        preauthorize_amount=50,
        energy_mix={
            "is_green_energy": True,
            "environ_impact": [
                {"category": "CARBON_DIOXIDE", "amount": 1},
                {"category": "PARTICULATES", "amount": 2},
            ],
        },
    )
    for element in tariff["elements"]:
        for component in element["price_components"]:
            component["vat"] = 10.0
    down = whole(tariffs.tariff_down(tariff))
    found["down"] = changes(tariff, down, "down", tariffs.RENAMES)
    assert not undeclared_changes(tariff, down, "down", tariffs.LOSSES, tariffs.RENAMES)
    original = load("2.2.1", "tariff_12_025kwh_min_price.json")
    found["up"] = changes(original, tariffs.tariff_up(original), "up", tariffs.RENAMES)
    assert not not_shown(found, tariffs.LOSSES)


# --- prices in sessions and CDRs --------------------------------------------------------------


@pytest.mark.parametrize("name", SESSIONS)
def test_a_230_session_goes_down_and_up_unchanged(name: str) -> None:
    original = load("2.3.0", name)
    down = sessions.session_down(original)
    msgspec.convert(down, sessions_221.Session)
    assert not undeclared_changes(original, down, "down", sessions.LOSSES, sessions.RENAMES)
    assert down == load("2.2.1", name)  # the spec's own migration, read backwards
    assert sessions.session_up(down) == original
    on_211 = whole(sessions_to211.session_down(down, location=location_211()))
    msgspec.convert(on_211, sessions_211.Session)


@pytest.mark.parametrize("name", SESSIONS)
def test_a_221_session_goes_up_and_down_unchanged(name: str) -> None:
    original = load("2.2.1", name)
    up = sessions.session_up(original)
    msgspec.convert(up, sessions_230.Session)
    assert not undeclared_changes(original, up, "up", sessions.LOSSES, sessions.RENAMES)
    assert up == load("2.3.0", name)
    assert sessions.session_down(up) == original


@pytest.mark.parametrize("name", SESSION_PATCHES)
def test_an_official_session_patch_goes_down_and_up_unchanged(name: str) -> None:
    fragment = load("2.3.0", name)
    down = sessions.session_patch_down(fragment)
    assert down == load("2.2.1", name)
    assert sessions.session_patch_up(down) == fragment


def test_several_taxes_become_one_incl_vat_and_an_emaid_token_reads_other() -> None:
    session = copy.deepcopy(load("2.3.0", "session_example_2_short_finished.json"))
    session["total_cost"] = {
        "before_taxes": 10.0,
        "taxes": [
            {"name": "GST", "percentage": 5.0, "amount": 0.5, "account_number": "123"},
            {"name": "QST", "percentage": 9.975, "amount": 0.9975},
        ],
    }
    session["cdr_token"]["type"] = "EMAID"
    down = sessions.session_down(session)
    assert down["total_cost"] == {"excl_vat": 10.0, "incl_vat": 11.4975}
    assert down["cdr_token"]["type"] == "OTHER"
    found: dict[Direction, set[tuple[str, str]]] = {
        "down": changes(session, down, "down", sessions.RENAMES),
        "up": set(),
    }
    assert not undeclared_changes(session, down, "down", sessions.LOSSES, sessions.RENAMES)
    back = sessions.session_up(down)
    assert back["total_cost"] == {
        "before_taxes": 10.0,
        "taxes": [{"name": "VAT", "amount": 1.4975}],
    }
    original = load("2.2.1", "session_example_2_short_finished.json")
    found["up"] = changes(original, sessions.session_up(original), "up", sessions.RENAMES)
    assert not not_shown(found, sessions.LOSSES)
    no_taxes = {**session, "total_cost": {"before_taxes": 2.5, "taxes": []}}
    assert sessions.session_down(no_taxes)["total_cost"] == {"excl_vat": 2.5}


# A CDR's tariffs are named as the Tariffs table names them, under ``tariffs[].``.
CDR_RENAMES = cdrs.RENAMES + tuple(
    Rename230("cdrs", f"tariffs[].{r.v221}", f"tariffs[].{r.v230}") for r in tariffs.RENAMES
)
INSIDE = "tariffs[]."


def cdr_undeclared(
    source: dict[str, Any], target: dict[str, Any], direction: Direction
) -> set[tuple[str, str]]:
    """What neither the CDRs table nor, inside ``tariffs[]``, the Tariffs table declares."""
    found = changes(source, target, direction, CDR_RENAMES)
    left = undeclared(found, cdrs.LOSSES, direction)
    inside = {(k, p.removeprefix(INSIDE)) for k, p in left if p.startswith(INSIDE)}
    outside = {(k, p) for k, p in left if not p.startswith(INSIDE)}
    return outside | undeclared(inside, tariffs.LOSSES, direction)


def taxed_cdr() -> dict[str, Any]:
    """cdr_example.json with its tariff's tax_included, which the original lacks (NOTICE.md)."""
    cdr: dict[str, Any] = copy.deepcopy(load("2.3.0", "cdr_example.json"))
    cdr["tariffs"][0]["tax_included"] = "NO"
    return cdr


def test_the_230_cdr_goes_down_without_its_untaxed_tariff() -> None:
    original = load("2.3.0", "cdr_example.json")
    down = whole(cdrs.cdr_down(original))
    msgspec.convert(down, cdrs_221.CDR)
    assert "tariffs" not in down  # gross or net is not known: never sent
    assert not cdr_undeclared(original, down, "down")
    expected = load("2.2.1", "cdr_example.json")
    dates = ("start_date_time", "end_date_time", "last_updated")
    assert down["total_cost"] == expected["total_cost"]
    assert {k: v for k, v in down.items() if k not in dates and k != "tariffs"} == {
        k: v for k, v in expected.items() if k not in dates and k != "tariffs"
    } | {"cdr_location": down["cdr_location"], "charging_periods": down["charging_periods"]}


def test_a_230_cdr_with_a_net_tariff_goes_down_and_up_unchanged_and_on_to_211() -> None:
    original = taxed_cdr()
    down = whole(cdrs.cdr_down(original))
    assert not cdr_undeclared(original, down, "down")
    assert cdrs.cdr_up(down) == original
    on_211 = cdrs_to211.cdr_down(
        down, location=location_211(), tariff_down=tariffs_to211.tariff_down
    )
    msgspec.convert(whole(on_211), cdrs_211.CDR)


def test_the_221_cdr_goes_up_and_down_unchanged() -> None:
    original = load("2.2.1", "cdr_example.json")
    up = cdrs.cdr_up(original)
    msgspec.convert(up, cdrs_230.CDR)
    assert not cdr_undeclared(original, up, "up")
    assert cdrs.cdr_down(up) == original


def test_every_declared_cdr_loss_happens() -> None:
    cdr = taxed_cdr()
    for name in cdrs.COSTS:
        cdr[name] = {"before_taxes": 1.0, "taxes": [{"name": "VAT", "amount": 0.21}]}
    cdr["cdr_token"]["type"] = "EMAID"
    gross = {**cdr["tariffs"][0], "id": "13", "tax_included": "YES"}
    gross["elements"] = copy.deepcopy(gross["elements"])
    gross["elements"][0]["price_components"][0].pop("vat")
    cdr["tariffs"].append(gross)  # withheld by Tariffs: left out of the CDR
    down = whole(cdrs.cdr_down(cdr))
    assert [t["id"] for t in down["tariffs"]] == ["12"]
    found: dict[Direction, set[tuple[str, str]]] = {"down": changes(cdr, down, "down", CDR_RENAMES)}
    assert not cdr_undeclared(cdr, down, "down")
    original = load("2.2.1", "cdr_example.json")
    for name in cdrs.COSTS:
        original[name] = {"excl_vat": 1.0, "incl_vat": 1.21}
    found["up"] = changes(original, cdrs.cdr_up(original), "up", CDR_RENAMES)
    # "tariffs[] changed" points at the Tariffs table, whose rows name those changes.
    own = tuple(x for x in cdrs.LOSSES if (x.field, x.kind) != ("tariffs[]", "changed"))
    assert not not_shown(found, own)


def test_a_cdr_at_a_connector_221_cannot_name_is_withheld() -> None:
    cdr = taxed_cdr()
    cdr["cdr_location"]["connector_standard"] = "MCS"
    assert isinstance(cdrs.cdr_down(cdr), Withheld)


def test_unknown_and_extension_fields_never_cross() -> None:
    session = {**load("2.3.0", SESSIONS[0]), "x_vendor": 1}
    session["total_cost"] = {**session["total_cost"], "x_tax": 2}
    down = sessions.session_down(session)
    assert "x_vendor" not in down and down["total_cost"] == {"excl_vat": 2.5}
    tariff = {**load("2.3.0", TARIFFS[0]), "x_vendor": 1}
    assert "x_vendor" not in whole(tariffs.tariff_down(tariff))
    assert "x_vendor" not in cdrs.cdr_up({**load("2.2.1", "cdr_example.json"), "x_vendor": 1})
