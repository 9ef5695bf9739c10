"""Fuzzing the running hub (hypothesis, bounded in examples): whatever a platform or an admin
client sends, the answer is never a 5xx from the hub itself. A 502 or 504 is allowed only as
what it means in OCPI, a hub routing error (4000-4003) about a receiver; and the shared hub
fixture fails the run on any traceback in the hub's log."""

from __future__ import annotations

import json
import string
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import client
from tests.e2e.network import Pair, cpo_and_emsp
from tests.e2e.objects import cdr, location, session, token
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64

CPO, EMSP = ("FZ", "CPO"), ("FZ", "EMS")
MODULES = ["cdrs", "chargingprofiles", "commands", "locations", "sessions", "tariffs", "tokens"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzzed(hub: HubProcess) -> Iterator[Pair]:
    with cpo_and_emsp(hub, "FZ") as found:
        yield found


# --- what goes into a request ----------------------------------------------------------------

printable = st.text(alphabet=string.printable.strip() + " ", max_size=20)
anything = st.text(max_size=20)
segment = st.one_of(
    anything.map(lambda s: urllib.parse.quote(s, safe="")),
    st.sampled_from(
        [
            "..",
            ".",
            "%2e%2e",
            "%2F",
            "%00",
            "%",
            "%zz",
            "\\",
            "",
            "~",
            "%C0%AE",
            "FZ",
            "CPO",
            "EMS",
            "L-1",
            "START_SESSION",
            "authorize",
        ]
    ),
)
segments = st.lists(segment, max_size=5).map("/".join)
query = st.lists(
    st.tuples(
        st.sampled_from(
            ["offset", "limit", "date_from", "date_to", "type", "response_url", "duration", "x"]
        ),
        anything,
    ),
    max_size=3,
).map(urllib.parse.urlencode)

ocpi_path = st.one_of(
    st.just("/ocpi/versions"),
    st.just("/ocpi/2.2.1"),
    st.just("/ocpi/2.2.1/credentials"),
    st.just("/ocpi/2.2.1/hubclientinfo"),
    segment.map(lambda s: f"/ocpi/2.2.1/via/{s}"),
    st.builds(
        lambda interface, module, rest: f"/ocpi/2.2.1/{interface}/{module}/{rest}",
        st.sampled_from(["sender", "receiver", "SENDER", "x"]),
        st.sampled_from([*MODULES, "credentials", "..", "hubclientinfo"]),
        segments,
    ),
    segments.map(lambda s: f"/ocpi/{s}"),
)

json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | anything,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(anything, inner, max_size=4),
    max_leaves=12,
)


def _mutated(document: dict[str, Any], key: str, value: Any) -> bytes:
    changed = dict(document)
    if key in changed:
        changed[key] = value
    else:
        changed[key[:10]] = value
    return json.dumps(changed).encode()


valid_objects = st.sampled_from(
    [
        location(CPO, "L-1"),
        session(CPO, "S-1", EMSP),
        cdr(CPO, "C-1", EMSP),
        token(EMSP, "T-1"),
        {"response_url": "http://127.0.0.1:1/cb", "token": token(EMSP, "T-1"), "location_id": "L"},
    ]
)
body = st.one_of(
    st.none(),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.builds(
        _mutated,
        valid_objects,
        st.sampled_from(
            ["country_code", "party_id", "id", "last_updated", "evses", "cdr_token", "uid", "x"]
        ),
        json_value,
    ),
    valid_objects.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)

header_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)


def _allowed(status: int, answer: Any) -> bool:
    if status < 500:
        return True
    # A hub routing error about a receiver (2.2.1 status codes 4000-4003) is a 502 or 504;
    # toward a 2.1.1 platform, which has no 4xxx, it is 3000 naming the 2.2.1 code.
    if status not in (502, 504) or not isinstance(answer, dict):
        return False
    code, message = answer["status_code"], answer.get("status_message") or ""
    return 4000 <= code < 4100 or (code == 3000 and "(OCPI 400" in message)


def _send(url: str, method: str, target: str, headers: dict[str, str], raw: bytes | None) -> None:
    try:
        status, _, answer = client.raw_request(
            method, url, target, body=raw, headers=headers, timeout=15
        )
    except ConnectionError:
        return  # the hub may close a connection it refuses to read (413)
    assert _allowed(status, answer), (method, target, headers, raw, status, answer)


# Mostly the methods and paths the hub serves, so that most examples get past routing.
likely_method = st.one_of(st.sampled_from(["GET", "PUT", "POST"]), st.sampled_from(METHODS))
likely_path = st.one_of(
    st.sampled_from(["/ocpi/versions", "/ocpi/2.2.1", "/ocpi/2.2.1/credentials"]),
    st.builds(
        lambda interface, module, rest: f"/ocpi/2.2.1/{interface}/{module}/{rest}",
        st.sampled_from(["sender", "receiver"]),
        st.sampled_from(MODULES),
        st.one_of(
            st.sampled_from(
                ["FZ/CPO/L-1", "FZ/EMS/T-1", "FZ/CPO/S-1", "START_SESSION", "T-1/authorize"]
            ),
            segments,
        ),
    ),
    ocpi_path,
)


@settings(EXAMPLES, max_examples=400)
@given(
    method=likely_method,
    path=likely_path,
    query=query,
    body=body,
    who=st.sampled_from(["cpo", "emsp", "nobody", "garbage", "garbage token", "raw"]),
    routing=st.one_of(
        st.none(),
        st.sampled_from([(CPO, EMSP), (EMSP, CPO), (CPO, ("NL", "HUB")), (EMSP, ("NL", "HUB"))]),
        st.tuples(st.tuples(printable, printable), st.tuples(printable, printable)),
    ),
    request_id=st.one_of(st.none(), header_value),
    garbage=header_value,
)
def test_ocpi_endpoints_never_answer_5xx(
    fuzzed: Pair,
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    who: str,
    routing: tuple[tuple[str, str], tuple[str, str]] | None,
    request_id: str | None,
    garbage: str,
) -> None:
    headers = {"Content-Type": "application/json"}
    if who in ("cpo", "emsp", "raw"):
        member = fuzzed.emsp if who == "emsp" else fuzzed.cpo
        secret = member.fake.peer_token or ""
        headers["Authorization"] = f"Token {secret if who == 'raw' else b64(secret)}"
    elif who == "garbage":
        headers["Authorization"] = garbage
    elif who == "garbage token":
        headers["Authorization"] = f"Token {garbage}"
    if routing is not None:
        (fc, fp), (tc, tp) = routing
        headers.update(
            {
                "OCPI-from-country-code": fc,
                "OCPI-from-party-id": fp,
                "OCPI-to-country-code": tc,
                "OCPI-to-party-id": tp,
            }
        )
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    target = path + (f"?{query}" if query else "")
    _send(fuzzed.cpo.hub.url, method, target, headers, body)


admin_path = st.one_of(
    st.sampled_from(
        [
            "/admin/platforms",
            "/admin/queues",
            "/admin/dead-letters",
            "/admin/dead-letters/redrive",
            "/admin/openapi.json",
        ]
    ),
    st.builds(
        lambda platform, action: f"/admin/platforms/{platform}/{action}",
        segment,
        st.sampled_from(["connect", "rotate", "suspend", "resume", "token-a", "x"]),
    ),
    segment.map(lambda s: f"/admin/platforms/{s}"),
    segment.map(lambda s: f"/admin/dead-letters?platform={s}"),
)


@EXAMPLES
@given(
    method=st.sampled_from(METHODS),
    path=admin_path,
    body=body,
    authorized=st.booleans(),
)
def test_admin_endpoints_never_answer_5xx(
    fuzzed: Pair, method: str, path: str, body: bytes | None, authorized: bool
) -> None:
    headers = {"Content-Type": "application/json", "X-Request-ID": str(uuid.uuid4())}
    if authorized:
        headers["Authorization"] = f"Bearer {fuzzed.cpo.hub.admin_token}"
    _send(fuzzed.cpo.hub.url, method, path, headers, body)


# --- 2.1.1 platforms ----------------------------------------------------------------------

EXAMPLES_211 = Path(__file__).parent.parent / "examples" / "2.1.1"


@dataclass
class VersionPair:
    cpo: FakePlatform
    emsp: FakePlatform


@pytest.fixture(scope="module")
def fuzzed_211(hub: HubProcess) -> Iterator[VersionPair]:
    """A 2.1.1 CPO and a 2.1.1 eMSP, each registered with the hub by its own handshake."""
    yield from _registered(hub, "2.1.1", ("FY", "CPO"), ("FY", "EMS"))


def _registered(
    hub: HubProcess, version: str, cpo: tuple[str, str], emsp: tuple[str, str]
) -> Iterator[VersionPair]:
    """A CPO and an eMSP of ``version``, each registered with the hub by its own handshake."""
    with ExitStack() as stack:
        found = []
        for (cc, pid), role in ((cpo, "CPO"), (emsp, "EMSP")):
            created = hub.add_platform(f"{version} {role}", (cc, pid, role))
            fake = stack.enter_context(FakePlatform(roles=[(cc, pid, role)], version=version))
            status, answer = fake.register(hub.versions_url, created["token_a"])
            assert status == 200, answer
            found.append(fake)
        yield VersionPair(*found)


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES_211 / name).read_text())
    return loaded


LOCATION_211 = _example("location_example.json") | {"time_zone": "Europe/Brussels"}
TOKEN_211 = _example("token_example.json")
CPO_211, EMSP_211 = "cpo", "emsp"
# Calls a 2.1.1 CPO and eMSP make (who, method, path below /ocpi/2.1.1/, body), each valid as it
# stands, so that the examples reach the translation; the strategy then breaks their bodies.
CALLS_211: list[tuple[str, str, str, Any]] = [
    (CPO_211, "PUT", "locations/FY/CPO/LOC1", LOCATION_211),
    (CPO_211, "PUT", "locations/FY/CPO/LOC1/3256", LOCATION_211["evses"][0]),
    (CPO_211, "PUT", "locations/FY/CPO/LOC1/3256/1", LOCATION_211["evses"][0]["connectors"][0]),
    (CPO_211, "PATCH", "locations/FY/CPO/LOC1/3256", {"status": "CHARGING"}),
    (CPO_211, "PATCH", "locations/FY/CPO/LOC1", {"name": "x", "evses": LOCATION_211["evses"]}),
    (CPO_211, "PUT", "tariffs/FY/CPO/11", _example("tariff_4_complex.json")),
    (CPO_211, "PATCH", "tariffs/FY/CPO/11", {"currency": "USD"}),
    (CPO_211, "DELETE", "tariffs/FY/CPO/11", None),
    (CPO_211, "PUT", "sessions/FY/CPO/101", _example("session_example_2_short_finished.json")),
    (CPO_211, "PATCH", "sessions/FY/CPO/101", {"kwh": 1, "charging_periods": []}),
    (CPO_211, "POST", "cdrs", {**_example("session_example_2_short_finished.json")}),
    (CPO_211, "GET", "tokens", None),
    (CPO_211, "POST", "tokens/012345678/authorize", {"location_id": "LOC1"}),
    (EMSP_211, "PUT", "tokens/FY/EMS/012345678", TOKEN_211),
    (EMSP_211, "PATCH", "tokens/FY/EMS/012345678", {"valid": False}),
    (EMSP_211, "GET", "locations", None),
    (EMSP_211, "GET", "locations/LOC1/3256", None),
    (EMSP_211, "GET", "tariffs", None),
    (EMSP_211, "GET", "sessions", None),
    (EMSP_211, "GET", "cdrs", None),
    (
        EMSP_211,
        "POST",
        "commands/START_SESSION",
        {"response_url": "http://127.0.0.1:1/cb", "token": TOKEN_211, "location_id": "LOC1"},
    ),
    (
        EMSP_211,
        "POST",
        "commands/RESERVE_NOW",
        {
            "response_url": "http://127.0.0.1:1/cb",
            "token": TOKEN_211,
            "expiry_date": "2026-12-01T12:00:00Z",
            "reservation_id": 1,
            "location_id": "LOC1",
        },
    ),
    (
        EMSP_211,
        "POST",
        "commands/STOP_SESSION",
        {"response_url": "http://127.0.0.1:1/cb", "session_id": "101"},
    ),
]
FIELDS_211 = [
    "id",
    "auth_id",
    "location",
    "evses",
    "connectors",
    "charging_periods",
    "elements",
    "total_cost",
    "status",
    "type",
    "uid",
    "token",
    "last_updated",
    "coordinates",
    "x",
]


@st.composite
def call_211(draw: st.DrawFn) -> tuple[str, str, str, bytes | None]:
    """One 2.1.1 call: a valid one, with its body kept, replaced, or one field broken."""
    who, method, path, valid = draw(st.sampled_from(CALLS_211))
    if valid is None:
        body = draw(st.one_of(st.none(), json_value.map(lambda v: json.dumps(v).encode())))
    else:
        body = draw(
            st.one_of(
                st.just(json.dumps(valid).encode()),
                st.builds(_mutated, st.just(valid), st.sampled_from(FIELDS_211), json_value),
                json_value.map(lambda v: json.dumps(v).encode()),
            )
        )
    return who, method, path, body


# Not the credentials module: a DELETE there would unregister the platform, and every later
# example would stop at 401 (the registration tests cover it).
path_211 = st.one_of(
    st.sampled_from(["/ocpi/versions", "/ocpi/2.1.1"]),
    st.builds(
        lambda module, rest: f"/ocpi/2.1.1/{module}/{rest}",
        st.sampled_from([*MODULES, "x"]),
        segments,
    ),
)


@settings(EXAMPLES, max_examples=400)
@given(
    call=st.one_of(
        call_211(),
        st.tuples(st.sampled_from([CPO_211, EMSP_211]), likely_method, path_211, body),
    ),
    query=query,
    encoding=st.sampled_from(["raw", "base64"]),
    routing=st.one_of(st.none(), st.sampled_from([("FY", "EMS"), ("FY", "CPO"), ("NL", "HUB")])),
)
def test_2_1_1_endpoints_never_answer_5xx(
    fuzzed_211: VersionPair,
    hub: HubProcess,
    call: tuple[str, str, str, bytes | None],
    query: str,
    encoding: str,
    routing: tuple[str, str] | None,
) -> None:
    who, method, path, raw = call
    fake = fuzzed_211.emsp if who == EMSP_211 else fuzzed_211.cpo
    secret = fake.peer_token or ""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Token {b64(secret) if encoding == 'base64' else secret}",
    }
    if routing is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = routing
    if not path.startswith("/"):
        path = f"/ocpi/2.1.1/{path}"
    target = path + (f"?{query}" if query else "")
    _send(hub.url, method, target, headers, raw)


# --- 2.3.0 platforms ----------------------------------------------------------------------

EXAMPLES_230 = Path(__file__).parent.parent / "examples" / "2.3.0"


@pytest.fixture(scope="module")
def fuzzed_230(hub: HubProcess) -> Iterator[VersionPair]:
    """A 2.3.0 CPO and a 2.3.0 eMSP, registered (parties of their own: the shared hub has others
    granted BE/BEC, the official examples' party); the 2.1.1 and 2.2.1 platforms of the other
    fixtures receive what they broadcast."""
    yield from _registered(hub, "2.3.0", ("BE", "BFZ"), ("FX", "EMS"))


def _example_230(name: str) -> dict[str, Any]:
    """An official 2.3.0 example, owned by the fuzzed CPO where it names an owner."""
    loaded: dict[str, Any] = json.loads((EXAMPLES_230 / name).read_text())
    if loaded.get("party_id") == "BEC":
        loaded["party_id"] = "BFZ"
    return loaded


LOCATION_230 = _example_230("location_example.json")
TOKEN_230 = _example_230("token_example_2_full_rfid.json") | {
    "country_code": "FX",
    "party_id": "EMS",
}
CALLS_230: list[tuple[str, str, str, Any]] = [
    (CPO_211, "PUT", "receiver/locations/BE/BFZ/LOC1", LOCATION_230),
    (CPO_211, "PUT", "receiver/locations/BE/BFZ/LOC1/3256", LOCATION_230["evses"][0]),
    (
        CPO_211,
        "PUT",
        "receiver/locations/BE/BFZ/LOC1/3256/1",
        LOCATION_230["evses"][0]["connectors"][0],
    ),
    (
        CPO_211,
        "PATCH",
        "receiver/locations/BE/BFZ/LOC1/3256",
        {"status": "CHARGING", "last_updated": "2026-12-01T10:00:00Z"},
    ),
    (CPO_211, "PUT", "receiver/tariffs/BE/BFZ/12", _example_230("tariff_12_025kwh_min_price.json")),
    (
        CPO_211,
        "PUT",
        "receiver/tariffs/BE/BFZ/12",
        _example_230("tariff_20_simple_north_american_inclusive.json"),
    ),
    (
        CPO_211,
        "PUT",
        "receiver/sessions/BE/BFZ/101",
        _example_230("session_example_2_short_finished.json"),
    ),
    (
        CPO_211,
        "PATCH",
        "receiver/sessions/BE/BFZ/101",
        _example_230("session_patch_example_total_cost.json"),
    ),
    (CPO_211, "POST", "receiver/cdrs", _example_230("cdr_example.json")),
    (CPO_211, "GET", "sender/tokens", None),
    (
        EMSP_211,
        "PUT",
        "receiver/tokens/FX/EMS/12345678905880",
        TOKEN_230,
    ),
    (EMSP_211, "GET", "sender/locations", None),
    (EMSP_211, "GET", "sender/tariffs", None),
    (EMSP_211, "GET", "sender/sessions", None),
    (
        EMSP_211,
        "POST",
        "receiver/commands/START_SESSION",
        {
            "response_url": "http://127.0.0.1:1/cb",
            "token": TOKEN_230,
            "location_id": "LOC1",
        },
    ),
]


@st.composite
def call_230(draw: st.DrawFn) -> tuple[str, str, str, bytes | None]:
    """One 2.3.0 call: a valid one, with its body kept, replaced, or one field broken."""
    who, method, path, valid = draw(st.sampled_from(CALLS_230))
    if valid is None:
        body = draw(st.one_of(st.none(), json_value.map(lambda v: json.dumps(v).encode())))
    else:
        body = draw(
            st.one_of(
                st.just(json.dumps(valid).encode()),
                st.builds(
                    _mutated,
                    st.just(valid),
                    st.sampled_from(
                        [
                            "total_cost",
                            "elements",
                            "min_price",
                            "tax_included",
                            "evses",
                            "connectors",
                            "standard",
                            "type",
                            "cdr_token",
                            "parking_places",
                            "facilities",
                            "last_updated",
                            "x_ext",
                        ]
                    ),
                    json_value,
                ),
                json_value.map(lambda v: json.dumps(v).encode()),
            )
        )
    return who, method, path, body


@settings(EXAMPLES, max_examples=400)
@given(
    call=call_230(),
    query=query,
    routing=st.one_of(
        st.none(),
        st.sampled_from(
            [("FX", "EMS"), ("BE", "BFZ"), ("NL", "HUB"), ("FZ", "EMS"), ("FY", "CPO")]
        ),
    ),
)
def test_2_3_0_endpoints_never_answer_5xx(
    fuzzed_230: VersionPair,
    fuzzed: Pair,
    fuzzed_211: VersionPair,
    hub: HubProcess,
    call: tuple[str, str, str, bytes | None],
    query: str,
    routing: tuple[str, str] | None,
) -> None:
    who, method, path, raw = call
    fake = fuzzed_230.emsp if who == EMSP_211 else fuzzed_230.cpo
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Token {b64(fake.peer_token or '')}",
    }
    if routing is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = routing
    target = f"/ocpi/2.3.0/{path}" + (f"?{query}" if query else "")
    _send(hub.url, method, target, headers, raw)
