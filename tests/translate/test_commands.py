"""Commands 2.1.1 <-> 2.2.1: requests both ways, the synchronous CommandResponse and the
asynchronous result (2.1.1 CommandResponse <-> 2.2.1 CommandResult). The spec publishes no
command examples, so the requests below are built from its tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ocpi import commands as v221
from hub.ocpi.v211 import commands as v211
from hub.translate.commands import (
    LOSSES,
    not_supported,
    request_down,
    request_up,
    response_down,
    response_up,
    result_down,
    result_up,
)
from hub.translate.losses import Withheld
from hub.translate.tokens import token_up

EXAMPLES = Path(__file__).parent.parent / "examples"
OWNER = {"country_code": "DE", "party_id": "TNM"}
URL = "https://emsp.example.com/ocpi/emsp/2.0/commands/START_SESSION/1234"


def token_211() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / "2.1.1" / "token_example.json").read_text())
    return loaded


def requests_211() -> dict[str, dict[str, Any]]:
    return {
        "RESERVE_NOW": {
            "response_url": URL,
            "token": token_211(),
            "expiry_date": "2026-12-01T15:00:00Z",
            "reservation_id": 14,
            "location_id": "LOC1",
            "evse_uid": "3256",
        },
        "START_SESSION": {
            "response_url": URL,
            "token": token_211(),
            "location_id": "LOC1",
            "evse_uid": "3256",
        },
        "STOP_SESSION": {"response_url": URL, "session_id": "101"},
        "UNLOCK_CONNECTOR": {
            "response_url": URL,
            "location_id": "LOC1",
            "evse_uid": "3256",
            "connector_id": "1",
        },
    }


@pytest.mark.parametrize("command", sorted(v211.COMMAND_TYPES))
def test_a_211_request_goes_up_to_a_valid_221_request_and_back(command: str) -> None:
    original = requests_211()[command]
    msgspec.convert(original, v211.COMMAND_REQUESTS[command])
    translated = request_up(command, original, **OWNER)
    assert not isinstance(translated, Withheld)
    msgspec.convert(translated, v221.COMMAND_REQUESTS[command])
    number = original.get("reservation_id")
    assert request_down(command, translated, reservation_number=number) == original
    if "token" in original:
        assert translated["token"] == token_up(original["token"], **OWNER)


def test_a_221_start_session_loses_connector_and_authorization_reference() -> None:
    start = request_up("START_SESSION", requests_211()["START_SESSION"], **OWNER)
    assert not isinstance(start, Withheld)
    request = {**start, "connector_id": "1", "authorization_reference": "ref-1"}
    msgspec.convert(request, v221.StartSession)
    translated = request_down("START_SESSION", request)
    assert translated == requests_211()["START_SESSION"]
    declared = {loss.field for loss in LOSSES if loss.direction == "down"}
    assert {"START_SESSION.connector_id", "START_SESSION.authorization_reference"} <= declared


def test_reserve_now_needs_the_hubs_number_for_the_reservation_id() -> None:
    request = request_up("RESERVE_NOW", requests_211()["RESERVE_NOW"], **OWNER)
    assert not isinstance(request, Withheld)
    assert request["reservation_id"] == "14"
    assert isinstance(request_down("RESERVE_NOW", request), Withheld)
    translated = request_down(
        "RESERVE_NOW", {**request, "reservation_id": "abc"}, reservation_number=7
    )
    assert not isinstance(translated, Withheld)
    assert translated["reservation_id"] == 7


def test_cancel_reservation_does_not_reach_a_211_cpo() -> None:
    request = {"response_url": URL, "reservation_id": "abc"}
    assert isinstance(request_down("CANCEL_RESERVATION", request), Withheld)
    answer = not_supported(timeout=30)
    msgspec.convert(answer, v221.CommandResponse)
    assert answer["result"] == "NOT_SUPPORTED"
    assert isinstance(request_up("CANCEL_RESERVATION", request, **OWNER), Withheld)


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        ({"result": "ACCEPTED"}, "ACCEPTED"),
        ("ACCEPTED", "ACCEPTED"),  # the original 2.1.1 tag's bare string
        ({"result": "TIMEOUT"}, "REJECTED"),
        ({"result": "UNKNOWN_SESSION"}, "UNKNOWN_SESSION"),
        ({"result": "NOT_SUPPORTED"}, "NOT_SUPPORTED"),
    ],
)
def test_a_211_synchronous_answer_goes_up_with_the_hubs_timeout(
    answer: dict[str, Any] | str, result: str
) -> None:
    if not isinstance(answer, str):
        msgspec.convert(answer, v211.CommandResponse)
    translated = response_up(answer, timeout=30)
    assert not isinstance(translated, Withheld)
    msgspec.convert(translated, v221.CommandResponse)
    assert (translated["result"], translated["timeout"]) == (result, 30)
    assert ("message" in translated) == (result == "REJECTED")
    assert response_down(translated) == {"result": result}


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        ({"result": "ACCEPTED"}, "ACCEPTED"),
        ("REJECTED", "REJECTED"),
        ({"result": "TIMEOUT"}, "TIMEOUT"),
        ({"result": "UNKNOWN_SESSION"}, "REJECTED"),
    ],
)
def test_a_211_asynchronous_response_becomes_a_221_command_result(
    answer: dict[str, Any] | str, result: str
) -> None:
    translated = result_up(answer)
    assert not isinstance(translated, Withheld)
    msgspec.convert(translated, v221.CommandResult)
    assert translated["result"] == result


@pytest.mark.parametrize("result", sorted(v221.COMMAND_RESULT_TYPES))
def test_a_221_command_result_becomes_a_211_command_response(result: str) -> None:
    translated = result_down({"result": result, "message": [{"language": "en", "text": "x"}]})
    if result == "CANCELED_RESERVATION":
        assert isinstance(translated, Withheld)
        return
    assert not isinstance(translated, Withheld)
    msgspec.convert(translated, v211.CommandResponse)
    assert translated["result"] in v211.COMMAND_RESPONSE_TYPES
    assert translated["result"] == (result if result in v211.COMMAND_RESPONSE_TYPES else "REJECTED")


def test_unknown_values_are_withheld_not_forwarded() -> None:
    assert isinstance(response_up({"result": "MAYBE"}, timeout=30), Withheld)
    assert isinstance(result_up("MAYBE"), Withheld)
    assert isinstance(response_down({"result": "MAYBE", "timeout": 1}), Withheld)
    assert isinstance(result_down({"result": "MAYBE"}), Withheld)
