"""Tokens and Commands 2.3.0 <-> 2.2.1 (Tokens on to 2.1.1): the official examples, EMAID and
unknown OpenEnum values withheld."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from hub.ocpi import tokens as tokens_221
from hub.ocpi.v211 import tokens as tokens_211
from hub.translate import tokens as tokens_to211
from hub.translate.losses import Withheld
from hub.translate.v230 import commands, tokens
from tests.translate.examples import load, names

TOKENS = [n for n in names("2.3.0", "token_*.json") if "patch" not in n]
NOW = "2026-12-01T13:00:00Z"


def whole(result: dict[str, Any] | Withheld) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


@pytest.mark.parametrize("name", TOKENS)
def test_a_230_token_goes_down_and_up_unchanged_and_on_to_211(name: str) -> None:
    original = load("2.3.0", name)
    down = whole(tokens.token_down(original))
    msgspec.convert(down, tokens_221.Token)
    assert down == original == load("2.2.1", name)
    assert tokens.token_up(down) == original
    on_211 = whole(tokens_to211.token_down(down))
    msgspec.convert(on_211, tokens_211.Token)


def test_the_official_token_patch_goes_down_and_up_unchanged() -> None:
    fragment = load("2.3.0", "token_patch_example.json")
    assert tokens.token_patch_down(fragment) == fragment
    assert tokens.token_patch_up(fragment) == fragment


@pytest.mark.parametrize("kind", ["EMAID", "BIOMETRIC"])
def test_a_token_of_a_type_221_lacks_is_withheld(kind: str) -> None:
    token = {**load("2.3.0", TOKENS[0]), "type": kind}
    assert isinstance(tokens.token_down(token), Withheld)
    assert isinstance(tokens.token_patch_down({"type": kind, "last_updated": NOW}), Withheld)
    info = {"allowed": "ALLOWED", "token": token}
    assert isinstance(tokens.authorization_info_down(info), Withheld)


def test_an_authorization_goes_down_and_up_unchanged() -> None:
    info = {
        "allowed": "ALLOWED",
        "token": load("2.3.0", TOKENS[0]),
        "location": {"location_id": "LOC1", "evse_uids": ["3256"]},
        "authorization_reference": "ref-1",
        "x_vendor": 1,
    }
    down = whole(tokens.authorization_info_down(info))
    assert down == {k: v for k, v in info.items() if k != "x_vendor"}
    assert tokens.authorization_info_up(down) == down
    assert isinstance(tokens.authorization_info_down({**info, "allowed": "MAYBE"}), Withheld)


def test_unknown_and_extension_fields_never_cross() -> None:
    token = {**load("2.3.0", TOKENS[0]), "x_vendor": {"a": 1}}
    assert "x_vendor" not in whole(tokens.token_down(token))
    assert "x_vendor" not in tokens.token_up(token)


# --- commands ---------------------------------------------------------------------------------


def start_session() -> dict[str, Any]:
    return {
        "response_url": "https://emsp.example.com/ocpi/2.3.0/commands/START_SESSION/1",
        "token": load("2.3.0", TOKENS[0]),
        "location_id": "LOC1",
        "evse_uid": "3256",
        "connector_id": "1",
        "authorization_reference": "ref-1",
    }


def test_a_command_request_goes_down_and_up_unchanged() -> None:
    request = start_session()
    down = whole(commands.request_down("START_SESSION", {**request, "x_vendor": 1}))
    assert down == request
    assert commands.request_up("START_SESSION", down) == request
    stop = {"response_url": request["response_url"], "session_id": "S1"}
    assert commands.request_down("STOP_SESSION", stop) == stop


def test_an_unknown_command_or_an_emaid_token_is_withheld() -> None:
    assert isinstance(commands.request_down("CHARGE_FASTER", start_session()), Withheld)
    emaid = {**start_session(), "token": {**load("2.3.0", TOKENS[0]), "type": "EMAID"}}
    assert isinstance(commands.request_down("START_SESSION", emaid), Withheld)


def test_responses_and_results_go_down_and_up_unchanged() -> None:
    message = [{"language": "en", "text": "ok"}]
    response = {"result": "ACCEPTED", "timeout": 30, "message": message}
    assert commands.response_down(response) == response
    assert commands.response_up(response) == response
    result = {"result": "CANCELED_RESERVATION"}
    assert commands.result_down(result) == result
    assert commands.result_up(result) == result


def test_a_response_or_result_221_cannot_read_is_withheld() -> None:
    assert isinstance(commands.response_down({"result": "QUEUED", "timeout": 30}), Withheld)
    assert isinstance(commands.result_down({"result": "PARTIALLY_DONE"}), Withheld)
