"""endpoint_url: the one rule for which endpoint of a platform serves a module and interface."""

from __future__ import annotations

from hub.ocpi.versions import Endpoint, endpoint_url

ROLELESS = Endpoint("hubclientinfo", "https://p.example/hci")
SENDER = Endpoint("locations", "https://p.example/locations/sender", "SENDER")
RECEIVER = Endpoint("locations", "https://p.example/locations/receiver", "RECEIVER")
OLD = Endpoint("locations", "https://p.example/211/locations")  # 2.1.1: no role


def test_the_endpoint_with_the_role_wins() -> None:
    assert endpoint_url([OLD, SENDER, RECEIVER], "locations", "RECEIVER") == RECEIVER.url
    assert endpoint_url([OLD, SENDER, RECEIVER], "locations", "SENDER") == SENDER.url


def test_failing_that_one_without_a_role() -> None:
    assert endpoint_url([ROLELESS], "hubclientinfo", "RECEIVER") == ROLELESS.url
    assert endpoint_url([SENDER, OLD], "locations", "RECEIVER") == OLD.url


def test_none_when_the_module_has_no_such_endpoint() -> None:
    assert endpoint_url([SENDER], "locations", "RECEIVER") is None
    assert endpoint_url([RECEIVER, ROLELESS], "tariffs", "RECEIVER") is None
    assert endpoint_url([], "locations", "SENDER") is None


def test_without_an_interface_any_endpoint_of_the_module() -> None:
    assert endpoint_url([ROLELESS, SENDER], "locations", None) == SENDER.url
    assert endpoint_url([ROLELESS], "credentials", None) is None
