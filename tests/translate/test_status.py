"""Status codes toward and from 2.1.1 platforms."""

from __future__ import annotations

import pytest

from hub.translate.status import CODES_211, Status, status_down, status_up


@pytest.mark.parametrize("code", sorted(CODES_211))
def test_codes_211_knows_pass_unchanged(code: int) -> None:
    status = Status(200, code, "as it was")
    assert status_down(status) == status
    assert status_up(status) == status


@pytest.mark.parametrize(
    ("http_status", "code", "expected"),
    [
        (404, 2004, 2000),
        (404, 4001, 2000),
        (502, 4000, 3000),
        (504, 4002, 3000),
        (502, 4003, 3000),
        (200, 1900, 1000),
        (400, 2901, 2000),
        (500, 3999, 3000),
        (502, 4901, 3000),
    ],
)
def test_codes_211_lacks_become_the_generic_code_and_keep_the_original_in_the_message(
    http_status: int, code: int, expected: int
) -> None:
    translated = status_down(Status(http_status, code, "detail"))
    assert translated.http_status == http_status
    assert translated.code == expected
    assert translated.code in CODES_211
    assert translated.message is not None
    assert str(code) in translated.message
    assert translated.message.endswith("detail")


def test_an_unknown_token_says_so() -> None:
    translated = status_down(Status(404, 2004, None))
    assert translated == Status(404, 2000, "Unknown Token (OCPI 2004)")


def test_a_commands_unresolved_location_is_an_unknown_location() -> None:
    translated = status_down(Status(404, 4001, "no CPO has LOC9"), command_location=True)
    assert translated.code == 2003


def test_a_211_404_to_an_authorization_is_an_unknown_token() -> None:
    assert status_up(Status(404, 2000, None), authorization=True) == Status(
        404, 2004, "Unknown Token"
    )
    assert status_up(Status(404, 2000, "gone")) == Status(404, 2000, "gone")
