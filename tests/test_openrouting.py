"""Open routing's pure parts: the ids the hub stores what it learned under, and how long it
keeps a reservation. The ids are in Redis: a change of their form forgets what was learned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.openrouting import (
    LONGEST_RESERVATION,
    RESERVATION_SLACK,
    profile_id,
    reservation_seconds,
    token_id,
)


def test_a_token_is_named_by_its_type_and_uid() -> None:
    assert token_id("0123ABCD", "RFID") == "RFID:0123ABCD"
    assert token_id("0123ABCD", "APP_USER") != token_id("0123ABCD", "RFID")


def test_a_charging_profile_is_named_by_the_cpo_and_its_session() -> None:
    assert profile_id(("NL", "CPA"), "SESSION-1") == "NL:CPA:SESSION-1"
    assert profile_id(("NL", "CPB"), "SESSION-1") != profile_id(("NL", "CPA"), "SESSION-1")


def _in(seconds: float, *, zone: bool = True) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + "Z" if zone else text


def test_a_reservation_is_kept_until_it_expires_and_a_little_longer() -> None:
    assert reservation_seconds(_in(3600)) == pytest.approx(3600 + RESERVATION_SLACK, abs=5)


def test_a_date_without_designator_is_utc() -> None:
    assert reservation_seconds(_in(3600, zone=False)) == pytest.approx(
        3600 + RESERVATION_SLACK, abs=5
    )


@pytest.mark.parametrize("expiry", [None, "", "tomorrow", _in(-3600)])
def test_an_absent_unreadable_or_past_expiry_keeps_only_the_slack(expiry: str | None) -> None:
    assert reservation_seconds(expiry) == RESERVATION_SLACK


def test_no_reservation_is_kept_longer_than_a_month() -> None:
    assert reservation_seconds("9999-12-31T23:59:59Z") == LONGEST_RESERVATION
