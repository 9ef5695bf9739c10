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
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import client
from tests.e2e.network import Pair, cpo_and_emsp
from tests.e2e.objects import cdr, location, session, token
from tests.hubproc import HubProcess
from tests.parties import b64

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
    # A hub routing error about a receiver (2.2.1 status codes 4000-4003) is a 502 or 504.
    return (
        status in (502, 504) and isinstance(answer, dict) and 4000 <= answer["status_code"] < 4100
    )


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
