"""Ids in URLs as opaque path segments (pure)."""

from __future__ import annotations

import pytest

from hub.ocpi.paths import decode_segments, encode_segments, join
from hub.ocpi.validation import InvalidInputError


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        ("", []),
        ("NL/CPA/LOC-1", ["NL", "CPA", "LOC-1"]),
        ("NL/CPA/LOC%201", ["NL", "CPA", "LOC 1"]),
        ("NL/CPA/a:b+c@d", ["NL", "CPA", "a:b+c@d"]),
        ("%4E%4C", ["NL"]),
        ("...", ["..."]),
        ("a.b", ["a.b"]),
    ],
)
def test_ids_are_decoded_once(raw: str, ids: list[str]) -> None:
    assert decode_segments(raw) == ids


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        ".",
        "NL/../x",
        "%2E%2E",
        "%2e",
        "a%2Fb",
        "a%5Cb",
        "a\\b",
        "%252E%252E",
        "a%25b",
        "a%00b",
        "a%0Ab",
        "a%7Fb",
        "caf%C3%A9",
        "NL//CPA",
        "NL/",
        "/NL",
    ],
)
def test_anything_but_an_opaque_id_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        decode_segments(raw)
    assert refused.value.field_path == "url"


@pytest.mark.parametrize(
    ("url", "ids", "joined"),
    [
        ("http://x/locations", [], "http://x/locations"),
        ("http://x/locations/", [], "http://x/locations/"),
        ("http://x/locations", ["NL", "CPA", "1"], "http://x/locations/NL/CPA/1"),
        ("http://x/locations/", ["NL", "CPA", "1"], "http://x/locations/NL/CPA/1"),
        ("http://x/t", ["a b", "c?d", "e#f"], "http://x/t/a%20b/c%3Fd/e%23f"),
    ],
)
def test_join(url: str, ids: list[str], joined: str) -> None:
    assert join(url, ids) == joined


@pytest.mark.parametrize("ids", [[".."], ["."], [""], ["a/b"], ["a\\b"], ["%2E"], ["caf\u00e9"]])
def test_join_never_takes_what_is_not_an_id(ids: list[str]) -> None:
    with pytest.raises(ValueError):
        join("http://x/locations", ids)


def test_encoding_round_trips() -> None:
    ids = ["NL", "CPA", "L 1:+@!$&'()*,;=~"]
    assert decode_segments(encode_segments(ids)) == ids
