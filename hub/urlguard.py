"""The URL guard: which URLs that platforms give the hub it may call (pure, no I/O).

A platform hands the hub URLs (its versions URL, its endpoints, a command's ``response_url``, a
list's next-page ``Link``, a CDR's ``Location``) and the hub then calls them with its own
credentials. Without a guard a platform could make the hub call into the network the hub runs
in: its Redis, an admin port, a cloud's metadata service. So a URL must be http or https, and
the address the hub connects to must be a public one. ``refusal`` judges an address and is what
the HTTP client applies to every connection it opens, after name resolution, so that a name
that resolves to a private address (DNS rebinding included) is refused as well. ``check``
judges a URL before anything is sent, for what can be told from the URL alone.

``--allow-private-urls`` (README, "Limits") lifts the address rule for test setups and hubs
whose platforms sit in a private network; the scheme rule stays.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from hub.errors import RefusedUrlError

SCHEMES = frozenset({"http", "https"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: Address) -> str | None:
    """Why the hub may not connect to ``address``, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address carried in IPv6 is judged as that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def check(url: str, *, allow_private: bool) -> None:
    """Raise ``RefusedUrlError`` for a URL the hub must not call: not http(s), no host, or a host
    that is a non-public address literal or ``localhost``. Names are judged again, on the
    address they resolve to, when the hub connects."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise RefusedUrlError("it is not a valid URL") from None
    if parts.scheme.lower() not in SCHEMES:
        raise RefusedUrlError("it is not an http or https URL")
    if not host:
        raise RefusedUrlError("it has no host")
    if allow_private:
        return
    try:
        address: Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        reason = refusal(address)
        if reason is not None:
            raise RefusedUrlError(f"its host is {reason}")
    elif host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
        # RFC 6761: localhost names always mean the machine itself.
        raise RefusedUrlError("its host is a loopback address")
