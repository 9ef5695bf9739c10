"""The OCPI 2.3.0 objects against the official 2.3.0 examples, and their leniency.

Every file in ``tests/examples/2.3.0`` must have a rule below: a new example without one fails.
The known defects of the examples are in tests/examples/NOTICE.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ocpi.common import DisplayText
from hub.ocpi.envelope import Envelope
from hub.ocpi.locations import Hours
from hub.ocpi.tariffs import TariffRestrictions
from hub.ocpi.v230.cdrs import CDR
from hub.ocpi.v230.credentials import Credentials
from hub.ocpi.v230.locations import EVSE, Connector, EVSEParking, Location
from hub.ocpi.v230.payments import (
    FinancialAdviceConfirmation,
    NewTerminal,
    Terminal,
    TerminalActivation,
)
from hub.ocpi.v230.sessions import Session
from hub.ocpi.v230.tariffs import Tariff
from hub.ocpi.v230.tokens import Token
from hub.ocpi.validation import InvalidInputError, check_patch, decode
from hub.ocpi.versions import Version, VersionDetails

EXAMPLES = Path(__file__).parent.parent / "examples" / "2.3.0"


def whole(kind: Any) -> Callable[[bytes], None]:
    """A complete object: it decodes, and encodes back to the same JSON (no field is lost)."""

    def check(raw: bytes) -> None:
        obj = decode(raw, kind)
        assert msgspec.to_builtins(obj) == json.loads(raw)

    return check


def enveloped(kind: Any) -> Callable[[bytes], None]:
    def check(raw: bytes) -> None:
        envelope = decode(raw, Envelope)
        assert envelope.status_code == 1000
        whole(kind)(bytes(envelope.data))

    return check


def patch(kind: type[msgspec.Struct]) -> Callable[[bytes], None]:
    def check(raw: bytes) -> None:
        assert check_patch(raw, kind) == json.loads(raw)

    return check


def fragment(kind: type[msgspec.Struct]) -> Callable[[bytes], None]:
    """Some fields of ``kind`` shown on their own (not a whole object, not a PATCH)."""

    def check(raw: bytes) -> None:
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}
        body = json.loads(raw)
        assert body
        for name, value in body.items():
            converted = msgspec.convert(value, fields[name], strict=True)
            assert msgspec.to_builtins(converted) == value

    return check


def invalid(kind: type[msgspec.Struct], field_path: str) -> Callable[[bytes], None]:
    """A known-invalid example (NOTICE.md): it fails, naming ``field_path``."""

    def check(raw: bytes) -> None:
        with pytest.raises(InvalidInputError) as failure:
            decode(raw, kind)
        assert failure.value.field_path == field_path
        assert "missing required field" in failure.value.message

    return check


def tariff_with_restrictions(raw: bytes) -> None:
    whole(Tariff)(raw)
    restrictions = [e.restrictions for e in decode(raw, Tariff).elements if e.restrictions]
    assert restrictions and all(isinstance(r, TariffRestrictions) for r in restrictions)


def location_with_parking(raw: bytes) -> None:
    """A whole Location; the EVSEs' ``parking`` lists parking ids where §8.4.13 has
    EVSEParking objects (NOTICE.md): read as written, and each id names a parking place."""
    whole(Location)(raw)
    location = decode(raw, Location)
    places = {p.id for p in location.parking_places or []}
    referenced = [p for e in location.evses or [] for p in e.parking or []]
    assert referenced
    assert all((p if isinstance(p, str) else p.parking_id) in places for p in referenced)


def cdr_with_untaxed_tariff(raw: bytes) -> None:
    """A whole CDR; its tariff lacks ``tax_included`` (NOTICE.md), which a Tariff on its own
    must have."""
    whole(CDR)(raw)
    tariff = json.loads(raw)["tariffs"][0]
    assert "tax_included" not in tariff
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(tariff, Tariff)


def captured(raw: bytes) -> None:
    """A FinancialAdviceConfirmation whose ``total_costs`` is in the 2.2.1 Price shape, as in
    every payments example of the spec (NOTICE.md)."""
    whole(FinancialAdviceConfirmation)(raw)
    assert decode(raw, FinancialAdviceConfirmation).total_costs.excl_vat is not None


# First match wins (re.fullmatch on the file name).
RULES: list[tuple[str, Callable[[bytes], None]]] = [
    (r"location_put_example_add_evse\.json", invalid(EVSE, "$.connectors[0].power_type")),
    (r"location_patch_example_location\.json", patch(Location)),
    (r"location_patch_example_(remove_evse|status)\.json", patch(EVSE)),
    (r"location_patch_example_tariff\.json", patch(Connector)),
    (r"location_hours_.*\.json", whole(Hours)),
    (r"location_(regularhours|energymix)_example.*\.json", fragment(Location)),
    (r"location_example(_parking_garage_opening_hours)?\.json", location_with_parking),
    (r"location_example.*\.json", whole(Location)),
    (r"payment_financial_advice_confirmation_.*\.json", captured),
    (r"payment_terminal_activate\.json", whole(TerminalActivation)),
    (r"payment_terminal_create(_minimal)?\.json", whole(NewTerminal)),
    # A PATCH without the last_updated 2.3.0 requires of one (NOTICE.md): its fields are
    # Terminal fields all the same.
    (r"payment_terminal_location_assignment\.json", fragment(Terminal)),
    # A PUT without terminal_id: only a fragment of a Terminal (NOTICE.md).
    (r"payment_terminal_put_update\.json", invalid(Terminal, "$.terminal_id")),
    (r"payment_terminal_example_.*\.json", whole(Terminal)),
    (r"session_patch_.*\.json", patch(Session)),
    (r"session_example.*\.json", whole(Session)),
    (r"cdr_example.*\.json", cdr_with_untaxed_tariff),
    (r"tariff_put_example\.json", invalid(Tariff, "$.last_updated")),
    (r"tariffrestriction_example_.*\.json", tariff_with_restrictions),
    (r"tariff_.*\.json", whole(Tariff)),
    (r"token_patch_.*\.json", patch(Token)),
    (r"token_.*\.json", whole(Token)),
    (r"credentials_example.*\.json", whole(Credentials)),
    (r"type_displaytext_example\.json", whole(DisplayText)),
    (r"transport_and_format_get_token_example\.json", enveloped(Token)),
    (r"transport_and_format_get_token_list_example\.json", enveloped(list[Token])),
    (r"transport_and_format_version_details_example\.json", enveloped(VersionDetails)),
    (r"transport_and_format_version_info_example\.json", enveloped(list[Version])),
    (r"version_details_example.*\.json", whole(VersionDetails)),
    (r"versions_info_example\.json", whole(list[Version])),
]


def rule_for(name: str) -> Callable[[bytes], None] | None:
    return next((check for pattern, check in RULES if re.fullmatch(pattern, name)), None)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_official_example(name: str) -> None:
    check = rule_for(name)
    assert check is not None, f"no rule for the example {name}: add one to RULES"
    check((EXAMPLES / name).read_bytes())


def test_every_rule_is_used() -> None:
    names = [p.name for p in EXAMPLES.glob("*.json")]
    for pattern, _ in RULES:
        assert any(re.fullmatch(pattern, n) for n in names), f"unused rule {pattern}"


def load(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_bytes())


# --- leniency: unknown fields and OpenEnum values (2.3.0 §4.1.8, §17.3) ------------------------


def test_unknown_fields_and_open_enum_values_are_accepted() -> None:
    body = load("location_example.json")
    body["x_vendor"] = {"anything": [1]}
    body["parking_type"] = "ROOFTOP"
    body["facilities"] = ["NEW_FACILITY"]
    evse = body["evses"][0]
    evse["capabilities"].append("NEW_CAPABILITY")
    evse["parking_restrictions"] = ["EMPLOYEES", "FLEET_ONLY"]
    evse["parking"] = [{"parking_id": "1", "evse_position": "LEFT", "x_more": 1}]
    connector = evse["connectors"][0]
    connector["standard"] = "MCS"
    connector["capabilities"] = ["ISO_15118_20_PLUG_AND_CHARGE", "SOMETHING_NEW"]
    body["parking_places"][0]["vehicle_types"] = ["CARGO_BIKE"]
    location = decode(json.dumps(body).encode(), Location)
    assert location.evses is not None
    assert location.evses[0].parking == [EVSEParking(parking_id="1", evse_position="LEFT")]
    assert location.evses[0].connectors[0].capabilities == [
        "ISO_15118_20_PLUG_AND_CHARGE",
        "SOMETHING_NEW",
    ]
    assert location.parking_type == "ROOFTOP"

    token = {**load("token_example_2_full_rfid.json"), "type": "EMAID", "x_extra": True}
    assert decode(json.dumps(token).encode(), Token).type == "EMAID"


# --- strictness: required fields and types ----------------------------------------------------


def failure(body: Any, kind: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        decode(json.dumps(body).encode(), kind)
    return caught.value


def test_a_tariff_must_say_whether_taxes_are_included() -> None:
    tariff = load("tariff_1_simple_2hour.json")
    del tariff["tax_included"]
    assert failure(tariff, Tariff).field_path == "$.tax_included"


def test_a_cost_in_the_221_shape_is_not_a_230_price() -> None:
    session = load("session_example_2_short_finished.json")
    session["total_cost"] = {"excl_vat": 8.5, "incl_vat": 9.35}
    assert failure(session, Session).field_path == "$.total_cost.before_taxes"


def test_a_tax_amount_is_a_number() -> None:
    cdr = load("cdr_example.json")
    cdr["tariffs"][0]["tax_included"] = "NO"
    cdr["total_cost"]["taxes"][0]["amount"] = "0.40"
    assert failure(cdr, CDR).field_path == "$.total_cost.taxes[0].amount"


def test_a_parking_place_needs_its_vehicle_types() -> None:
    body = load("location_example.json")
    del body["parking_places"][0]["vehicle_types"]
    assert failure(body, Location).field_path == "$.parking_places[0].vehicle_types"


def test_hub_party_id_is_five_letters_or_digits() -> None:
    credentials = {**load("credentials_example.json"), "hub_party_id": "NLHUB"}
    assert decode(json.dumps(credentials).encode(), Credentials).hub_party_id == "NLHUB"
    assert failure({**credentials, "hub_party_id": "NL-HUB"}, Credentials).field_path == (
        "$.hub_party_id"
    )


def test_financial_advice_total_costs_need_a_net_amount() -> None:
    advice = load("payment_financial_advice_confirmation_create.json")
    advice["total_costs"] = {"before_taxes": 4.0, "taxes": [{"name": "VAT", "amount": 0.4}]}
    assert decode(json.dumps(advice).encode(), FinancialAdviceConfirmation)
    advice["total_costs"] = {"incl_vat": 4.4}
    assert failure(advice, FinancialAdviceConfirmation).field_path == "$.total_costs"


def test_a_terminal_needs_its_id_except_when_activated() -> None:
    activation = load("payment_terminal_activate.json")
    del activation["terminal_id"]
    assert decode(json.dumps(activation).encode(), TerminalActivation).terminal_id is None
    assert failure(activation, Terminal).field_path == "$.terminal_id"
    assert failure({"address": "Street 1"}, NewTerminal).field_path == "$.terminal_id"
