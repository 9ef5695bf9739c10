"""find_endpoint: the one rule for which endpoint of a platform serves a module and interface."""

from __future__ import annotations

from hub.ocpi.versions import Endpoint, find_endpoint

ROLELESS = Endpoint("hubclientinfo", "https://p.example/hci")
SENDER = Endpoint("locations", "https://p.example/locations/sender", "SENDER")
RECEIVER = Endpoint("locations", "https://p.example/locations/receiver", "RECEIVER")
OLD = Endpoint("locations", "https://p.example/211/locations")  # 2.1.1: no role


def test_the_endpoint_with_the_role_wins() -> None:
    assert find_endpoint([OLD, SENDER, RECEIVER], "locations", "RECEIVER") == RECEIVER.url
    assert find_endpoint([OLD, SENDER, RECEIVER], "locations", "SENDER") == SENDER.url


def test_failing_that_one_without_a_role() -> None:
    assert find_endpoint([ROLELESS], "hubclientinfo", "RECEIVER") == ROLELESS.url
    assert find_endpoint([SENDER, OLD], "locations", "RECEIVER") == OLD.url


def test_none_when_the_module_has_no_such_endpoint() -> None:
    assert find_endpoint([SENDER], "locations", "RECEIVER") is None
    assert find_endpoint([RECEIVER, ROLELESS], "tariffs", "RECEIVER") is None
    assert find_endpoint([], "locations", "SENDER") is None


def test_without_an_interface_any_endpoint_of_the_module() -> None:
    assert find_endpoint([ROLELESS, SENDER], "locations", None) == SENDER.url
    assert find_endpoint([ROLELESS], "credentials", None) is None
