"""The pure routing decisions, with plain tables."""

from __future__ import annotations

import pytest

from hub.errors import (
    ForbiddenError,
    InvalidParametersError,
    NotFoundError,
    ReceiverUnreachableError,
    UnknownReceiverError,
)
from hub.ocpi.credentials import BusinessDetails, CredentialsRole
from hub.ocpi.lanes import LANES
from hub.ocpi.versions import Endpoint
from hub.records import Party, Platform, can_receive, versions_for
from hub.routing import (
    PlatformEntry,
    RoutingTable,
    check_owner,
    header_party,
    only,
    receiver,
    sender,
)

PUSH_LOCATIONS = LANES[("locations", "RECEIVER")]
PULL_LOCATIONS = LANES[("locations", "SENDER")]
COMMANDS = LANES[("commands", "RECEIVER")]
PUSH_TOKENS = LANES[("tokens", "RECEIVER")]


def peer(
    platform_id: str,
    *parties: Party,
    status: str = "CONNECTED",
    modules: list[str] | None = None,
    version: str = "2.2.1",
) -> PlatformEntry:
    endpoints = [
        Endpoint(m, f"http://{platform_id}/{m}/{i}", i)
        for m in (modules or [])
        for i in ("SENDER", "RECEIVER")
    ]
    registered = [
        CredentialsRole(p.role, BusinessDetails(p.party_id), p.party_id, p.country_code)
        for p in parties
    ]
    platform = Platform(
        id=platform_id,
        name=platform_id,
        status=status,
        roles=list(parties),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        version=version,
        endpoints=endpoints,
        registered_roles=registered,
    )
    return PlatformEntry.of(platform)


CPA = Party("NL", "CPA", "CPO")
CPB = Party("NL", "CPB", "CPO")
EMA = Party("NL", "EMA", "EMSP")
NSP = Party("NL", "EMA", "NSP")  # the same ids, another role, another platform
XCP, XEM = Party("DE", "XXX", "CPO"), Party("DE", "XXX", "EMSP")
ALL_MODULES = ["locations", "commands", "tokens"]


def table(*peers: PlatformEntry, planned: dict[Party, str] | None = None) -> RoutingTable:
    granted = {party: p.id for p in peers for party in p.parties}
    granted.update(planned or {})
    return RoutingTable({p.id: p for p in peers}, granted, ("NL", "HUB"))


def test_the_sender_is_the_claimed_party_with_a_role_for_the_lane() -> None:
    both = peer("both", XCP, XEM)
    assert sender(both, ("DE", "XXX"), PUSH_LOCATIONS) == XCP
    assert sender(both, ("DE", "XXX"), PULL_LOCATIONS) == XEM
    assert sender(both, ("DE", "XXX"), PUSH_TOKENS) == XEM


def test_a_single_role_needs_no_ocpi_from() -> None:
    assert sender(peer("a", CPA), None, PUSH_LOCATIONS) == CPA


def test_several_roles_need_ocpi_from() -> None:
    with pytest.raises(InvalidParametersError, match="several roles"):
        sender(peer("both", XCP, XEM), None, PUSH_LOCATIONS)


def test_a_party_of_another_platform_is_refused() -> None:
    with pytest.raises(ForbiddenError, match="not a party of this platform"):
        sender(peer("a", CPA), ("NL", "CPB"), PUSH_LOCATIONS)


@pytest.mark.parametrize(
    ("party", "lane"),
    [(EMA, PUSH_LOCATIONS), (CPA, PULL_LOCATIONS), (CPA, COMMANDS), (CPA, PUSH_TOKENS)],
)
def test_roles_may_only_use_their_side_of_a_module(party: Party, lane: object) -> None:
    with pytest.raises(ForbiddenError, match="may not use"):
        sender(peer("p", party), None, lane)  # type: ignore[arg-type]


def test_owners_in_url_and_body_must_be_the_sender() -> None:
    check_owner(CPA, ("NL", "CPA"), "the URL")
    with pytest.raises(ForbiddenError, match="the body names NL/CPB"):
        check_owner(CPA, ("NL", "CPB"), "the body")


def test_the_receiver_is_the_party_with_a_role_that_receives() -> None:
    routes = table(
        peer("a", CPA, modules=ALL_MODULES),
        peer("e", EMA, modules=ALL_MODULES),
        peer("n", NSP, modules=ALL_MODULES),
    )
    # NL/EMA is an eMSP on one platform and an NSP on another: ambiguous for locations...
    with pytest.raises(UnknownReceiverError, match="ambiguous"):
        receiver(routes, ("NL", "EMA"), PUSH_LOCATIONS, routes.platforms["a"])
    # ...but only the CPO side receives commands.
    target = receiver(routes, ("NL", "CPA"), COMMANDS, routes.platforms["e"])
    assert (target.platform.id, target.party, target.url) == (
        "a",
        CPA,
        "http://a/commands/RECEIVER",
    )


@pytest.mark.parametrize(
    ("wanted", "error", "message"),
    [
        (("NL", "ZZZ"), UnknownReceiverError, "unknown receiver NL/ZZZ"),
        (("NL", "CPB"), UnknownReceiverError, "no role that receives"),
        (("NL", "EMB"), UnknownReceiverError, "no locations RECEIVER endpoint"),
        (("NL", "PLN"), ReceiverUnreachableError, "NL/PLN is PLANNED"),
    ],
)
def test_receiver_errors(wanted: tuple[str, str], error: type[Exception], message: str) -> None:
    planned = peer("p", Party("NL", "PLN", "EMSP"), status="PLANNED", modules=ALL_MODULES)
    routes = table(
        peer("a", CPA, modules=ALL_MODULES),
        peer("b", CPB, modules=ALL_MODULES),
        peer("e", Party("NL", "EMB", "EMSP"), modules=["tokens"]),
        planned,
    )
    with pytest.raises(error, match=message):
        receiver(routes, wanted, PUSH_LOCATIONS, routes.platforms["a"])


def test_open_routing_takes_exactly_one_owner() -> None:
    assert only([("NL", "CPA"), ("NL", "CPA")], "x") == ("NL", "CPA")
    with pytest.raises(UnknownReceiverError, match="does not know the owner"):
        only([], "the owner")
    with pytest.raises(UnknownReceiverError, match="ambiguous"):
        only([("NL", "CPA"), ("NL", "CPB")], "location L")


def test_a_platform_does_not_route_to_itself() -> None:
    routes = table(peer("both", XCP, XEM, modules=ALL_MODULES))
    with pytest.raises(UnknownReceiverError, match="calling platform itself"):
        receiver(routes, ("DE", "XXX"), PUSH_LOCATIONS, routes.platforms["both"])


def test_an_endpoint_without_a_role_serves_either_interface() -> None:
    """Some platforms leave the role out (2.1.1 has none): the hub still finds the endpoint,
    and one with the exact role wins."""
    platform = Platform(
        id="p",
        name="p",
        status="CONNECTED",
        roles=[EMA],
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        version="2.2.1",
        endpoints=[
            Endpoint("locations", "http://x/locations"),
            Endpoint("tokens", "http://x/tokens"),
            Endpoint("tokens", "http://x/tokens-sender", "SENDER"),
        ],
    )
    endpoints = PlatformEntry.of(platform).endpoints
    assert endpoints[("locations", "RECEIVER")] == "http://x/locations"
    assert endpoints[("locations", "SENDER")] == "http://x/locations"
    assert endpoints[("tokens", "SENDER")] == "http://x/tokens-sender"
    assert endpoints[("tokens", "RECEIVER")] == "http://x/tokens"


FROM = ("ocpi-from-country-code", "ocpi-from-party-id")


def test_no_routing_headers_name_no_party() -> None:
    assert header_party({}, *FROM) is None
    assert header_party({"ocpi-from-country-code": "", "ocpi-from-party-id": ""}, *FROM) is None


def test_routing_headers_name_a_party_upper_cased_and_stripped() -> None:
    headers = {"ocpi-from-country-code": " nl", "ocpi-from-party-id": "cpa "}
    assert header_party(headers, *FROM) == ("NL", "CPA")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"ocpi-from-country-code": "NL"}, "go together; one is missing"),
        ({"ocpi-from-party-id": "CPA"}, "go together; one is missing"),
        ({"ocpi-from-country-code": "NLD", "ocpi-from-party-id": "CPA"}, "2 letters or digits"),
        ({"ocpi-from-country-code": "N-", "ocpi-from-party-id": "CPA"}, "2 letters or digits"),
        ({"ocpi-from-country-code": "NL", "ocpi-from-party-id": "CP"}, "3 letters or digits"),
        ({"ocpi-from-country-code": "NL", "ocpi-from-party-id": "C:A"}, "3 letters or digits"),
    ],
)
def test_half_or_odd_routing_headers_are_2001(headers: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParametersError, match=message):
        header_party(headers, *FROM)


def test_only_a_connected_platform_receives_a_forwarded_call() -> None:
    """``receiver`` is stricter than ``can_receive``: an OFFLINE platform gets queued pushes,
    not a call forwarded now."""
    offline = peer("o", Party("NL", "OFF", "EMSP"), status="OFFLINE", modules=ALL_MODULES)
    routes = table(peer("a", CPA, modules=ALL_MODULES), offline)
    assert can_receive(offline.record, "locations", "RECEIVER")
    with pytest.raises(ReceiverUnreachableError, match="NL/OFF is OFFLINE"):
        receiver(routes, ("NL", "OFF"), PUSH_LOCATIONS, routes.platforms["a"])


PTP = Party("NL", "PTP", "PTP")
PAY_CPO, PAY_PTP = LANES[("payments", "RECEIVER")], LANES[("payments", "SENDER")]


def test_payments_go_between_a_ptp_and_a_cpo_on_2_3_0() -> None:
    ptp = peer("ptp", PTP, modules=["payments"], version="2.3.0")
    new = peer("new", CPA, modules=["payments"], version="2.3.0")
    old = peer("old", CPB, modules=["payments"])
    routes = table(ptp, new, old)
    assert sender(ptp, None, PAY_CPO) == PTP
    assert receiver(routes, CPA.key, PAY_CPO, ptp).party == CPA
    assert sender(new, None, PAY_PTP) == CPA
    assert receiver(routes, PTP.key, PAY_PTP, new).party == PTP
    # A 2.2.1 CPO, even one listing a payments endpoint: 4001 naming its version.
    with pytest.raises(UnknownReceiverError, match=r"speaks OCPI 2\.2\.1, which has no payments"):
        receiver(routes, CPB.key, PAY_CPO, ptp)
    with pytest.raises(NotFoundError, match=r"OCPI 2\.3\.0 module; this platform speaks 2\.2\.1"):
        sender(old, None, PAY_PTP)
    # Each side its own interface.
    with pytest.raises(ForbiddenError):
        sender(ptp, None, PAY_PTP)
    with pytest.raises(ForbiddenError):
        sender(new, None, PAY_CPO)


def test_a_ptp_is_offered_2_3_0_only() -> None:
    assert versions_for(peer("cpo", CPA).record) == ["2.3.0", "2.2.1", "2.1.1"]
    assert versions_for(peer("ptp", PTP).record) == ["2.3.0"]
    assert versions_for(peer("both", CPA, PTP).record) == ["2.3.0"]
