"""Tokens and real-time authorization 2.1.1 <-> 2.2.1 on the official examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ocpi import tokens as v221
from hub.ocpi.v211 import tokens as v211
from hub.translate.losses import Direction, Withheld
from hub.translate.tokens import (
    LOSSES,
    RENAMES,
    authorization_info_down,
    authorization_info_up,
    location_references_down,
    location_references_up,
    token_down,
    token_patch_down,
    token_patch_up,
    token_up,
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
V221 = ("token_example_1_app_user.json", "token_example_2_full_rfid.json", "token_put_example.json")
OWNER = {"country_code": "DE", "party_id": "TNM"}


def example(version: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / version / name).read_text())
    return loaded


def down(token: dict[str, Any]) -> dict[str, Any]:
    result = token_down(token)
    assert not isinstance(result, Withheld), result
    return result


def test_the_211_token_goes_up_to_a_valid_221_token_and_back() -> None:
    original = example("2.1.1", "token_example.json")
    msgspec.convert(original, v211.Token)
    translated = token_up(original, **OWNER)
    msgspec.convert(translated, v221.Token)
    assert translated["contract_id"] == original["auth_id"]
    assert (translated["country_code"], translated["party_id"]) == ("DE", "TNM")
    assert down(translated) == original
    found = differences(original, translated, RENAMES_UP)
    assert found == {("synthesized", "country_code"), ("synthesized", "party_id")}
    assert undeclared(found, LOSSES, "up") == set()


@pytest.mark.parametrize("name", V221)
def test_a_221_token_goes_down_to_a_valid_211_token_and_up_again(name: str) -> None:
    original = example("2.2.1", name)
    translated = down(original)
    msgspec.convert(translated, v211.Token)
    found = differences(original, translated, RENAMES_DOWN)
    assert undeclared(found, LOSSES, "down") == set()
    back = token_up(
        translated, country_code=original["country_code"], party_id=original["party_id"]
    )
    # Identity where nothing is declared lost going down.
    assert undeclared(differences(original, back, {}), LOSSES, "down") == set()
    if name == "token_put_example.json":
        assert ("dropped", "group_id") in found


def test_app_and_ad_hoc_users_are_other_tokens_in_211() -> None:
    original = example("2.2.1", "token_example_1_app_user.json")
    assert down(original)["type"] == "OTHER"
    assert down({**original, "type": "AD_HOC_USER"})["type"] == "OTHER"
    assert isinstance(token_down({**original, "type": "EMAID"}), Withheld)


def test_patches_carry_last_updated_up_and_map_fields_both_ways() -> None:
    assert token_patch_up({"valid": False}, received="2026-12-01T13:00:00Z") == {
        "valid": False,
        "last_updated": "2026-12-01T13:00:00Z",
    }
    patch = example("2.2.1", "token_patch_example.json")
    assert token_patch_down(patch) == patch
    assert token_patch_up({"auth_id": "X", "last_updated": "t"}, received="r") == {
        "contract_id": "X",
        "last_updated": "t",
    }


def test_authorization_info_up_needs_the_hubs_token() -> None:
    token = token_up(example("2.1.1", "token_example.json"), **OWNER)
    info = {
        "allowed": "ALLOWED",
        "location": {"location_id": "LOC1", "evse_uids": ["3256"], "connector_ids": ["1"]},
        "info": {"language": "en", "text": "Welcome"},
    }
    msgspec.convert(info, v211.AuthorizationInfo)
    translated = authorization_info_up(info, token=token)
    assert not isinstance(translated, Withheld)
    msgspec.convert(translated, v221.AuthorizationInfo)
    assert translated["location"] == {"location_id": "LOC1", "evse_uids": ["3256"]}
    found = differences(info, translated, {})
    assert ("dropped", "location.connector_ids[]") in found
    assert undeclared(found, LOSSES, "up", prefix="authorization.") == set()
    assert isinstance(authorization_info_up(info, token=None), Withheld)


def test_authorization_info_down_keeps_allowed_location_and_info() -> None:
    token = token_up(example("2.1.1", "token_example.json"), **OWNER)
    info = {
        "allowed": "BLOCKED",
        "token": token,
        "location": {"location_id": "LOC1", "evse_uids": ["3256"]},
        "authorization_reference": "ref-1",
    }
    msgspec.convert(info, v221.AuthorizationInfo)
    translated = authorization_info_down(info)
    msgspec.convert(translated, v211.AuthorizationInfo)
    assert translated == {"allowed": "BLOCKED", "location": info["location"]}
    found = differences(info, translated, {})
    assert undeclared(found, LOSSES, "down", prefix="authorization.") == set()


def test_location_references_keep_what_both_versions_define() -> None:
    references = {"location_id": "LOC1", "evse_uids": ["3256"], "connector_ids": ["1"]}
    translated = location_references_up(references)
    assert translated == {"location_id": "LOC1", "evse_uids": ["3256"]}
    found = differences(references, translated, {})
    assert undeclared(found, LOSSES, "up", prefix="location_references.") == set()
    assert location_references_down({"location_id": "LOC1"}) == {"location_id": "LOC1"}


def test_every_declared_loss_happens() -> None:
    token = token_up(example("2.1.1", "token_example.json"), **OWNER)
    asked = {"location_id": "LOC1", "evse_uids": ["3256"], "connector_ids": ["1"]}
    answer_211 = {"allowed": "ALLOWED", "location": asked}
    answer_221 = {"allowed": "ALLOWED", "token": token, "authorization_reference": "ref-1"}
    answer_up = authorization_info_up(answer_211, token=token)
    assert not isinstance(answer_up, Withheld)

    def prefixed(prefix: str, found: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(kind, prefix + path) for kind, path in found}

    found: dict[Direction, set[tuple[str, str]]] = {
        "up": differences(example("2.1.1", "token_example.json"), token, RENAMES_UP)
        | prefixed("authorization.", differences(answer_211, answer_up, {}))
        | prefixed("location_references.", differences(asked, location_references_up(asked), {})),
        "down": set().union(
            *(
                differences(example("2.2.1", n), down(example("2.2.1", n)), RENAMES_DOWN)
                for n in V221
            )
        )
        | prefixed(
            "authorization.", differences(answer_221, authorization_info_down(answer_221), {})
        ),
    }
    assert undeclared(found["up"], LOSSES, "up") == set()
    assert undeclared(found["down"], LOSSES, "down") == set()
    assert unexercised(found, LOSSES) == set()


def test_fields_the_target_does_not_define_are_not_forwarded() -> None:
    token = {**example("2.1.1", "token_example.json"), "extension": "private"}
    assert "extension" not in token_up(token, **OWNER)
    assert "extension" not in down({**example("2.2.1", V221[0]), "extension": "private"})
    info = {"allowed": "ALLOWED", "info": {"language": "en", "text": "Hi", "colour": "red"}}
    assert authorization_info_down(info)["info"] == {"language": "en", "text": "Hi"}
