"""The URL guard's judgement of addresses and URLs, as pure functions: no traffic at all."""

from __future__ import annotations

import ipaddress

import pytest

from hub.errors import RefusedUrlError
from hub.urlguard import check, refusal


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved address"),  # carrier-grade NAT
        ("192.0.2.1", "a private address"),  # documentation
        ("240.0.0.1", "a private address"),  # reserved for future use
        ("255.255.255.255", "a private address"),
        # IPv4 inside IPv6 is judged as the IPv4 address it carries.
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "a private address"),  # NAT64 of 10.0.0.1
    ],
)
def test_addresses_the_hub_may_not_connect_to(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "193.0.14.129", "2001:4860:4860::8888", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "it is not an http or https URL"),
        ("gopher://example.com/", "it is not an http or https URL"),
        ("ftp://example.com/x", "it is not an http or https URL"),
        ("example.com/ocpi/versions", "it is not an http or https URL"),
        ("http:///ocpi/versions", "it has no host"),
        ("http://example.com:port/", "it is not a valid URL"),
        ("http://[::1/", "it is not a valid URL"),
        ("http://127.0.0.1:8080/ocpi/versions", "its host is a loopback address"),
        ("https://[::1]/ocpi", "its host is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "its host is a link-local address"),
        ("http://10.0.0.7/ocpi/versions", "its host is a private address"),
        ("http://[::ffff:10.0.0.7]/", "its host is a private address"),
        ("http://localhost:6379/", "its host is a loopback address"),
        ("http://LOCALHOST./", "its host is a loopback address"),
        ("http://redis.localhost/", "its host is a loopback address"),
    ],
)
def test_urls_refused(url: str, reason: str) -> None:
    with pytest.raises(RefusedUrlError) as refused:
        check(url, allow_private=False)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "url",
    [
        "https://ocpi.example.com/ocpi/versions",
        "http://8.8.8.8/ocpi",
        "HTTPS://Example.COM:8443/x?y=1",
        "http://localhost.example.com/",
    ],
)
def test_urls_allowed(url: str) -> None:
    check(url, allow_private=False)


def test_allowing_private_urls_lifts_the_address_rule_only() -> None:
    check("http://127.0.0.1:8080/ocpi/versions", allow_private=True)
    check("http://localhost/ocpi", allow_private=True)
    check("http://10.0.0.7/ocpi", allow_private=True)
    with pytest.raises(RefusedUrlError):
        check("file:///etc/passwd", allow_private=True)
