"""The OCPI 2.2.1 objects against the official examples, and the validation rules.

Every file in ``tests/examples/2.2.1`` must have a rule below: a new example without one fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ocpi.cdrs import CDR
from hub.ocpi.chargingprofiles import (
    ActiveChargingProfileResult,
    ChargingProfileResponse,
    SetChargingProfile,
)
from hub.ocpi.commands import (
    COMMAND_REQUESTS,
    COMMAND_TYPES,
    CommandResponse,
    CommandResult,
    ReserveNow,
    StartSession,
)
from hub.ocpi.common import DisplayText
from hub.ocpi.credentials import Credentials
from hub.ocpi.envelope import Envelope
from hub.ocpi.hubclientinfo import CONNECTION_STATUSES, ClientInfo
from hub.ocpi.locations import EVSE, Connector, Hours, Location
from hub.ocpi.sessions import ChargingPreferences, Session
from hub.ocpi.tariffs import Tariff, TariffRestrictions
from hub.ocpi.tokens import AuthorizationInfo, LocationReferences, Token
from hub.ocpi.validation import InvalidInputError, check_patch, decode
from hub.ocpi.versions import Version, VersionDetails

EXAMPLES = Path(__file__).parent.parent / "examples" / "2.2.1"


def whole(kind: Any) -> Callable[[bytes], None]:
    """A complete object: it decodes, and encodes back to the same JSON (no field is lost)."""

    def check(raw: bytes) -> None:
        obj = decode(raw, kind)
        assert msgspec.to_builtins(obj) == json.loads(raw)

    return check


def enveloped(kind: Any) -> Callable[[bytes], None]:
    """A whole response envelope whose ``data`` is a ``kind``."""

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
    """Some fields of ``kind`` shown on their own (no ``last_updated``, so not a PATCH)."""

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
        assert not failure.value.not_json
        assert "missing required field" in failure.value.message

    return check


def tariff_with_restrictions(raw: bytes) -> None:
    """``tariffrestriction_*`` files are whole Tariffs showing TariffRestrictions in use."""
    whole(Tariff)(raw)
    restrictions = [e.restrictions for e in decode(raw, Tariff).elements if e.restrictions]
    assert restrictions
    assert all(isinstance(r, TariffRestrictions) for r in restrictions)


# First match wins (re.fullmatch on the file name).
RULES: list[tuple[str, Callable[[bytes], None]]] = [
    # An EVSE PUT, but its connector lacks power_type (and more): the first missing field.
    (r"location_put_example_add_evse\.json", invalid(EVSE, "$.connectors[0].power_type")),
    (r"location_patch_example_location\.json", patch(Location)),
    # {"status": ...}: status is a field of the EVSE (PATCH .../{location_id}/{evse_uid}).
    (r"location_patch_example_(remove_evse|status)\.json", patch(EVSE)),
    # {"tariff_ids": [...]}: a field of the Connector (PATCH .../{evse_uid}/{connector_id}).
    (r"location_patch_example_tariff\.json", patch(Connector)),
    (r"location_hours_.*\.json", whole(Hours)),
    (r"location_(regularhours|energymix)_example.*\.json", fragment(Location)),
    (r"location_example.*\.json", whole(Location)),
    (r"session_patch_.*\.json", patch(Session)),
    (r"session_example.*\.json", whole(Session)),
    (r"cdr_example.*\.json", whole(CDR)),
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


# --- leniency: unknown fields and unknown enum values ----------------------------------------


def location_example() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "location_example.json").read_bytes())
    return body


def test_unknown_fields_and_enum_values_are_accepted() -> None:
    body = location_example()
    body["parking_places"] = [{"id": "P1"}]  # a 2.3.0 field
    evse = body["evses"][0]
    evse["x_vendor"] = {"anything": [1, 2]}
    evse["status"] = "NEW_STATUS"
    evse["capabilities"].append("NEW_CAPABILITY")
    evse["connectors"][0]["standard"] = "NEW_CONNECTOR_TYPE"
    evse["connectors"][0]["capabilities"] = ["ISO_15118_20_PLUG_AND_CHARGE"]
    body["parking_type"] = "NEW_PARKING_TYPE"
    location = decode(json.dumps(body).encode(), Location)
    assert location.evses is not None
    assert location.evses[0].connectors[0].standard == "NEW_CONNECTOR_TYPE"
    assert location.evses[0].status == "NEW_STATUS"
    assert location.parking_type == "NEW_PARKING_TYPE"


@pytest.mark.parametrize(
    "moment", ["2019-06-24T12:39:09Z", "2019-06-24T12:39:09", "2019-06-24T12:39:09.123Z"]
)
def test_datetimes_are_kept_as_sent(moment: str) -> None:
    body = location_example()
    body["last_updated"] = moment
    assert decode(json.dumps(body).encode(), Location).last_updated == moment


# --- strictness: types and required fields ---------------------------------------------------


def failure(body: Any, kind: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        decode(json.dumps(body).encode(), kind)
    assert not caught.value.not_json
    return caught.value


def test_coordinates_are_strings() -> None:
    body = location_example()
    body["coordinates"]["latitude"] = 52  # the spec's GeoLocation.latitude is string(10)
    error = failure(body, Location)
    assert error.field_path == "$.coordinates.latitude"
    assert "`$.coordinates.latitude`" in error.message
    assert "Expected `str`" in error.message


def test_a_wrong_type_deep_inside_is_named() -> None:
    body = location_example()
    body["evses"][0]["connectors"][0]["standard"] = 7
    error = failure(body, Location)
    assert error.field_path == "$.evses[0].connectors[0].standard"
    assert "`$.evses[0].connectors[0].standard`" in error.message


def test_int_fields_refuse_fractions() -> None:
    body = location_example()
    body["evses"][0]["connectors"][0]["max_voltage"] = 230.5
    assert failure(body, Location).field_path == "$.evses[0].connectors[0].max_voltage"


def test_a_missing_required_field_is_named() -> None:
    body = location_example()
    del body["evses"][1]["connectors"][0]["power_type"]
    error = failure(body, Location)
    assert error.field_path == "$.evses[1].connectors[0].power_type"
    assert "missing required field `power_type`" in error.message
    assert "`$.evses[1].connectors[0]`" in error.message


@pytest.mark.parametrize(("value", "ok"), [("NL", True), ("NLD", False), ("N", False)])
def test_country_code_length(value: str, ok: bool) -> None:
    body = location_example()
    body["country_code"] = value
    if ok:
        decode(json.dumps(body).encode(), Location)
    else:
        assert failure(body, Location).field_path == "$.country_code"


def test_party_id_length_in_a_cdr_token() -> None:
    body = json.loads((EXAMPLES / "cdr_example.json").read_bytes())
    body["cdr_token"]["party_id"] = "TOOLONG"
    assert failure(body, CDR).field_path == "$.cdr_token.party_id"


def test_other_lengths_are_not_enforced() -> None:
    body = location_example()
    body["id"] = "x" * 100  # CiString(36) in the spec
    body["address"] = "y" * 300  # string(45)
    decode(json.dumps(body).encode(), Location)


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"a": 1'])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidInputError) as caught:
        decode(raw, Location)
    assert caught.value.not_json


def test_not_an_object() -> None:
    error = failure([location_example()], Location)
    assert error.field_path == "$"


# --- PATCH -----------------------------------------------------------------------------------


def test_patch_without_last_updated_fails() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_patch(b'{"status": "AVAILABLE"}', EVSE)
    assert caught.value.field_path == "$.last_updated"
    assert "last_updated" in caught.value.message


def test_patch_with_a_wrongly_typed_field_fails() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_patch(b'{"kwh": "15", "last_updated": "2019-06-23T08:16:02Z"}', Session)
    assert caught.value.field_path == "$.kwh"
    assert "`$.kwh`" in caught.value.message


def test_patch_with_a_wrongly_typed_nested_field_fails() -> None:
    raw = json.dumps(
        {
            "charging_periods": [{"start_date_time": "2019-06-23T08:16:02Z", "dimensions": {}}],
            "last_updated": "2019-06-23T08:16:02Z",
        }
    ).encode()
    with pytest.raises(InvalidInputError) as caught:
        check_patch(raw, Session)
    assert caught.value.field_path == "$.charging_periods[0].dimensions"


def test_patch_may_not_null_a_required_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_patch(b'{"valid": null, "last_updated": "2019-06-19T02:11:11Z"}', Token)
    assert caught.value.field_path == "$.valid"


def test_patch_with_an_unknown_key_passes() -> None:
    raw = b'{"x_vendor": {"a": 1}, "valid": false, "last_updated": "2019-06-19T02:11:11Z"}'
    assert check_patch(raw, Token) == {
        "x_vendor": {"a": 1},
        "valid": False,
        "last_updated": "2019-06-19T02:11:11Z",
    }


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"1"])
def test_patch_must_be_an_object(raw: bytes) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_patch(raw, Token)
    assert caught.value.field_path == "$"
    assert not caught.value.not_json


def test_patch_that_is_not_json() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_patch(b"{", Token)
    assert caught.value.not_json


# --- objects without official examples -------------------------------------------------------

TOKEN = json.loads((EXAMPLES / "token_example_2_full_rfid.json").read_bytes())


def test_command_requests() -> None:
    assert set(COMMAND_REQUESTS) == COMMAND_TYPES
    start = {"response_url": "https://msp.example.com/cmd/1", "token": TOKEN, "location_id": "L1"}
    request = decode(json.dumps(start).encode(), COMMAND_REQUESTS["START_SESSION"])
    assert isinstance(request, StartSession)
    assert request.token.uid == TOKEN["uid"]
    reserve = {**start, "expiry_date": "2020-01-01T00:00:00Z"}
    error = failure(reserve, ReserveNow)
    assert error.field_path == "$.reservation_id"
    for kind in COMMAND_REQUESTS.values():
        assert failure({}, kind).field_path == "$.response_url"


def test_command_response_and_result() -> None:
    text = [{"language": "en", "text": "Busy"}]
    response = decode(b'{"result": "ACCEPTED", "timeout": 30}', CommandResponse)
    assert response.timeout == 30
    assert response.message is None
    result = decode(
        json.dumps({"result": "EVSE_OCCUPIED", "message": text}).encode(), CommandResult
    )
    assert result.message == [DisplayText(language="en", text="Busy")]
    assert failure({"result": "ACCEPTED"}, CommandResponse).field_path == "$.timeout"


def test_charging_profiles() -> None:
    profile = {
        "charging_rate_unit": "W",
        "charging_profile_period": [{"start_period": 0, "limit": 11000}],
    }
    body = {"charging_profile": profile, "response_url": "https://scsp.example.com/cp/1"}
    set_profile = decode(json.dumps(body).encode(), SetChargingProfile)
    assert set_profile.charging_profile.charging_profile_period is not None
    assert set_profile.charging_profile.charging_profile_period[0].limit == 11000.0
    active = {"start_date_time": "2020-01-01T00:00:00Z", "charging_profile": profile}
    result = decode(
        json.dumps({"result": "ACCEPTED", "profile": active}).encode(),
        ActiveChargingProfileResult,
    )
    assert result.profile is not None
    assert decode(b'{"result": "TOO_OFTEN", "timeout": 5}', ChargingProfileResponse).timeout == 5
    bad = {**body, "charging_profile": {**profile, "charging_profile_period": [{"limit": 1}]}}
    error = failure(bad, SetChargingProfile)
    assert error.field_path == "$.charging_profile.charging_profile_period[0].start_period"


def test_client_info() -> None:
    body = {
        "party_id": "ALL",
        "country_code": "NL",
        "role": "CPO",
        "status": "CONNECTED",
        "last_updated": "2019-06-24T12:39:09Z",
    }
    info = decode(json.dumps(body).encode(), ClientInfo)
    assert info.status in CONNECTION_STATUSES
    assert msgspec.to_builtins(info) == body
    assert failure({**body, "party_id": "ALLEGO"}, ClientInfo).field_path == "$.party_id"


def test_tokens_authorization() -> None:
    references = decode(b'{"location_id": "LOC1", "evse_uids": ["E1"]}', LocationReferences)
    assert references.evse_uids == ["E1"]
    body = {"allowed": "ALLOWED", "token": TOKEN, "location": {"location_id": "LOC1"}}
    info = decode(json.dumps(body).encode(), AuthorizationInfo)
    assert info.location is not None
    assert failure({**body, "token": {}}, AuthorizationInfo).field_path == "$.token.country_code"


def test_charging_preferences() -> None:
    prefs = decode(b'{"profile_type": "FAST", "energy_need": 20}', ChargingPreferences)
    assert prefs.energy_need == 20.0
    assert failure({"energy_need": 20}, ChargingPreferences).field_path == "$.profile_type"
