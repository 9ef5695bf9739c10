"""Roaming agreements and rate limits as pure decisions (hub.policy)."""

from __future__ import annotations

import msgspec
import pytest

from hub.policy import (
    ANY_MODULE,
    Agreements,
    Policy,
    check_modules,
    limit_for,
    parse_limits,
    retry_after,
    visible,
)
from hub.rates import Rate
from hub.records import Agreement, Party

CPA = Party.of("NL", "CPA", "CPO")
CPB = Party.of("NL", "CPB", "CPO")
EMA = Party.of("DE", "EMA", "EMSP")
EMB = Party.of("DE", "EMB", "EMSP")
NSP = Party.of("BE", "NSP", "NSP")


def agreement(cpo: Party, partner: Party, *modules: str, extensions: bool = False) -> Agreement:
    return Agreement(
        id=f"{cpo.party_id}-{partner.party_id}-{len(modules)}-{extensions}",
        cpo=cpo.key,
        partner=partner.key,
        modules=tuple(modules) or None,
        extensions=extensions,
    )


def test_off_lets_every_party_reach_every_other() -> None:
    policy = Policy("off", Agreements.of([]))
    assert policy.allows(CPA, EMA, "locations")
    assert policy.reaches(CPA.key, EMB.key, module="tokens")


def test_required_needs_an_agreement_covering_the_module_in_either_order() -> None:
    policy = Policy(
        "required",
        Agreements.of([agreement(CPA, EMA), agreement(CPB, EMA, "locations", "tariffs")]),
    )
    assert policy.allows(CPA, EMA, "sessions") and policy.allows(EMA, CPA, "commands")
    assert policy.allows(CPB, EMA, "tariffs")
    assert not policy.allows(CPB, EMA, "sessions")
    assert not policy.allows(CPA, EMB, "locations")
    assert not policy.allows(CPA, CPB, "locations"), "two CPOs never have an agreement"
    assert policy.reaches(EMA.key, CPB.key, module="locations")
    assert not policy.reaches(EMB.key, CPB.key, module="locations")


def test_the_modules_of_two_agreements_of_one_pair_add_up() -> None:
    agreements = Agreements.of(
        [agreement(CPA, NSP, "locations"), agreement(CPA, NSP, "tariffs", "sessions")]
    )
    assert agreements.between(CPA.key, NSP.key, "tariffs")
    assert agreements.between(CPA.key, NSP.key, "locations")
    assert not agreements.between(CPA.key, NSP.key, "cdrs")
    # One for every module wins over a list.
    assert Agreements.of([agreement(CPA, NSP, "locations"), agreement(CPA, NSP)]).between(
        CPA.key, NSP.key, "cdrs"
    )


def test_partners_are_found_from_either_side_per_module() -> None:
    agreements = Agreements.of(
        [agreement(CPA, EMA), agreement(CPB, EMA, "locations"), agreement(CPA, EMB, "tokens")]
    )
    assert agreements.partners(EMA.key, "locations") == {CPA.key, CPB.key}
    assert agreements.partners(EMA.key, "sessions") == {CPA.key}
    assert agreements.partners(CPA.key, "tokens") == {EMA.key, EMB.key}
    assert agreements.partners(CPA.key, "locations") == {EMA.key}
    assert agreements.partners(NSP.key, "locations") == frozenset()


def test_extensions_need_an_agreement_that_says_so_in_either_direction() -> None:
    policy = Policy(
        "required",
        Agreements.of(
            [
                agreement(CPA, EMA, extensions=True),
                agreement(CPA, EMB),
                agreement(CPB, NSP, "tariffs", extensions=True),
            ]
        ),
    )
    assert policy.extensions(CPA.key, EMA.key) and policy.extensions(EMA.key, CPA.key)
    assert not policy.extensions(CPA.key, EMB.key), "an agreement without extensions"
    assert not policy.extensions(EMB.key, CPA.key)
    assert not policy.extensions(CPB.key, EMA.key), "no agreement at all"
    assert not policy.extensions(EMA.key, EMB.key), "two eMSPs never have an agreement"
    assert not policy.extensions(CPA.key, CPB.key)
    # The modules the agreement covers do not narrow it: allows() decides those.
    assert policy.extensions(NSP.key, CPB.key)
    assert not policy.allows(CPB, NSP, "sessions")


def test_one_agreement_of_a_pair_with_extensions_is_enough() -> None:
    agreements = Agreements.of(
        [agreement(CPA, EMA), agreement(CPA, EMA, "locations", extensions=True)]
    )
    assert agreements.extensions(CPA.key, EMA.key)
    assert not agreements.extensions(EMA.key, CPA.key), "Agreements asks CPO first"
    assert Policy("required", agreements).extensions(EMA.key, CPA.key)
    assert not Agreements.of([agreement(CPA, EMA)]).extensions(CPA.key, EMA.key)


def test_with_agreements_off_no_extensions_pass() -> None:
    """Off: every party reaches every other, but no agreement allows extension fields."""
    agreements = Agreements.of([agreement(CPA, EMA, extensions=True)])
    assert not Policy("off", agreements).extensions(CPA.key, EMA.key)
    assert not Policy().extensions(CPA.key, EMA.key)
    assert Policy("off", agreements).allows(CPA, EMB, "locations")


def test_agreements_stored_before_extensions_read_as_without() -> None:
    old = b'{"id":"a","cpo":["NL","CPA"],"partner":["DE","EMA"],"modules":null,"created_at":""}'
    read = msgspec.json.decode(old, type=Agreement)
    assert read.extensions is False
    assert not Policy("required", Agreements.of([read])).extensions(CPA.key, EMA.key)


def test_modules_are_checked_and_sorted() -> None:
    assert check_modules(["tariffs", "locations", "tariffs"]) == ("locations", "tariffs")
    with pytest.raises(ValueError, match="unknown module 'credentials'"):
        check_modules(["credentials"])


@pytest.mark.parametrize(
    ("text", "count", "seconds", "shown"),
    [
        ("6000/min", 6000, 60, "6000/min"),
        ("100/10s", 100, 10, "100/10s"),
        ("5/s", 5, 1, "5/s"),
        (" 3 / 2 hour ", 3, 7200, "3/2hour"),
        ("1/minute", 1, 60, "1/min"),
    ],
)
def test_rates_are_read_and_written(text: str, count: int, seconds: int, shown: str) -> None:
    rate = Rate.parse(text)
    assert (rate.count, rate.seconds) == (count, seconds)
    assert str(rate) == shown
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("text", ["", "6000", "/min", "0/min", "5/0s", "5/week", "-1/s", "1e3/s"])
def test_what_is_not_a_rate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate.parse(text)


def test_limits_per_module_fall_back_to_any_module_then_to_the_default() -> None:
    overrides = parse_limits(["tokens=100/min", "*=3000/min"])
    assert overrides == {"tokens": Rate(100, 60), ANY_MODULE: Rate(3000, 60)}
    default = Rate(6000, 60)
    assert limit_for("tokens", overrides, default) == Rate(100, 60)
    assert limit_for("locations", overrides, default) == Rate(3000, 60)
    assert limit_for("locations", parse_limits(["cdrs=1/s"]), default) == default
    assert limit_for("locations", None, None) is None
    assert parse_limits(["50/s"]) == {ANY_MODULE: Rate(50, 1)}
    with pytest.raises(ValueError, match="unknown module 'credentials'"):
        parse_limits(["credentials=1/s"])


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after(0.0) == 1
    assert retry_after(0.2) == 1
    assert retry_after(1.01) == 2


def test_an_answer_shows_the_callers_sessions_and_the_asked_partys_objects() -> None:
    def with_token(emsp: tuple[str, str]) -> dict[str, object]:
        return {"id": "S", "cdr_token": {"country_code": emsp[0], "party_id": emsp[1]}}

    assert visible("sessions", EMA.key, CPA.key, with_token(("de", "ema")))
    assert not visible("sessions", EMA.key, CPA.key, with_token(EMB.key))
    assert not visible("cdrs", EMA.key, CPA.key, {"id": "C"})
    assert not visible("cdrs", EMA.key, CPA.key, {"cdr_token": "EMA"})
    owned = {"id": "L", "country_code": "NL", "party_id": "CPA"}
    assert visible("locations", EMA.key, CPA.key, owned)
    assert not visible("tariffs", EMA.key, CPB.key, owned)
    assert not visible("tokens", CPA.key, EMA.key, ["not", "an", "object"])
    assert visible("commands", EMA.key, CPA.key, {"anything": True})
