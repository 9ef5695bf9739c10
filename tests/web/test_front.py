"""The short way of the functional module calls (hub/web/front.py, ``ocpi.shortcut``): it
finds what Starlette's router finds, or leaves the path to the router."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Match

from hub.web import ocpi

SEGMENTS = st.sampled_from(
    [
        "",
        "ocpi",
        "2.2.1",
        "2.3.0",
        "2.1.1",
        "sender",
        "receiver",
        "locations",
        "tokens",
        "payments",
        "credentials",
        "hubclientinfo",
        "via",
        "versions",
        "NL",
        "x y",
        "%2F",
        "a\nb",
        "x\n",
        "\r",
    ]
)
PATHS = st.builds(
    lambda start, rest, slash: "/" + "/".join([*start, *rest]) + slash,
    st.sampled_from([["ocpi", "2.2.1"], ["ocpi", "2.3.0"], ["ocpi", "2.1.1"], ["ocpi"], []]),
    st.lists(SEGMENTS, max_size=5),
    st.sampled_from(["", "/", "//"]),
)


def routed(path: str) -> tuple[object, dict[str, str]] | None:
    """The endpoint and path parameters the router finds for ``path`` (with its trailing slash
    left out, as ``RequestContext`` serves it)."""
    served = path.rstrip("/") or "/"
    scope = {"type": "http", "method": "GET", "path": served, "root_path": ""}
    for route in ocpi.routes():
        match, child = route.matches(scope)
        if match == Match.FULL:
            return child["endpoint"].endpoint, child["path_params"]
    return None


@given(path=PATHS)
def test_the_shortcut_finds_what_the_router_finds(path: str) -> None:
    found = ocpi.shortcut(path)
    if found is not None:
        assert routed(path) == found


def test_the_shortcut_knows_the_module_calls() -> None:
    for path, endpoint, params in [
        (
            "/ocpi/2.2.1/sender/locations",
            ocpi.functional_module,
            {"interface": "sender", "module": "locations"},
        ),
        (
            "/ocpi/2.3.0/receiver/payments/NL/EVL/x/",
            ocpi.functional_module_230,
            {"interface": "receiver", "module": "payments", "rest": "NL/EVL/x"},
        ),
    ]:
        assert ocpi.shortcut(path) == (endpoint, params) == routed(path)
    for other in [
        "/ocpi/2.2.1/credentials",
        "/ocpi/2.2.1/via/abc",
        "/ocpi/2.2.1/sender/nothing",
        "/ocpi/2.2.1/receiver/payments",
        "/ocpi/2.1.1/locations",
        "/admin/platforms",
        "/ocpi/2.2.1/sender/locations/NL/EVL/x\ny",
    ]:
        assert ocpi.shortcut(other) is None
