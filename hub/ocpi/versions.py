"""Versions module objects (2.2.1 and 2.3.0 "Versions module", §6; the same shape in both)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Final

import msgspec

V2_1_1: Final = "2.1.1"
V2_2_1: Final = "2.2.1"
V2_3_0: Final = "2.3.0"
# The versions the hub speaks, highest first: a handshake picks the highest both speak.
SPOKEN: Final = (V2_3_0, V2_2_1, V2_1_1)

# The functional modules of 2.2.1 (2.2.1 "Modules"); 2.3.0 has the same ones.
MODULES_221: Final = (
    "cdrs",
    "chargingprofiles",
    "commands",
    "locations",
    "sessions",
    "tariffs",
    "tokens",
)
# 2.3.0 adds the Payments module (2.3.0 §16, Module Identifier ``payments``; its ModuleID
# table in §6.2.5 was not updated to list it).
PAYMENTS: Final = "payments"
MODULES_230: Final = (*MODULES_221, PAYMENTS)
# Every functional module the hub routes, in whichever version it exists (``modules_in``);
# agreements and rate limits may name any of them.
FUNCTIONAL_MODULES: Final = MODULES_230
CREDENTIALS: Final = "credentials"
HUBCLIENTINFO: Final = "hubclientinfo"

SENDER: Final = "SENDER"
RECEIVER: Final = "RECEIVER"
# The word in a module URL (/ocpi/2.2.1/{sender|receiver}/{module}) -> the interface role.
INTERFACES: Final = {"sender": SENDER, "receiver": RECEIVER}

# The functional modules of 2.1.1 (2.1.1 version_information_endpoint.md, ModuleID).
MODULES_211: Final = ("cdrs", "commands", "locations", "sessions", "tariffs", "tokens")
# A 2.1.1 endpoint has no role: its interface follows from the role of the platform that
# publishes it (each 2.1.1 module's "CPO interface" and "eMSP interface"). The hub publishes to
# a 2.1.1 CPO the eMSP side of each module, and to a 2.1.1 eMSP the CPO side.
_CPO_211: Final = {
    "cdrs": SENDER,
    "commands": RECEIVER,
    "locations": SENDER,
    "sessions": SENDER,
    "tariffs": SENDER,
    "tokens": RECEIVER,
}
PUBLISHED_211: Final = {
    "CPO": _CPO_211,
    "EMSP": {m: RECEIVER if i == SENDER else SENDER for m, i in _CPO_211.items()},
}


def modules_in(version: str) -> tuple[str, ...]:
    """The functional modules of ``version``: Payments only in 2.3.0 (2.3.0 §16)."""
    if version == V2_1_1:
        return MODULES_211
    return MODULES_230 if version == V2_3_0 else MODULES_221


def other_side(role: str) -> str:
    """The 2.1.1 role whose interfaces a platform of ``role`` calls: CPO <-> EMSP."""
    return "EMSP" if role == "CPO" else "CPO"


# The roles a 2.1.1 platform can have: 2.1.1 defines only a "CPO interface" and an "eMSP
# interface" per module.
ROLES_211: Final = frozenset(PUBLISHED_211)

# What a 2.1.1 platform must publish besides credentials, else the handshake ends in 3003 (2.1.1
# credentials.md §3.6, "Required endpoints not available"): at least one of these modules. A CPO
# without Locations has nothing to roam with; an eMSP needs Tokens (its drivers' tokens, which
# CPOs pull) or CDRs (what it is billed by; §3.6's own example). Commands are not required: many
# 2.1.1 eMSPs do not list them.
REQUIRED_211: Final = {"CPO": ("locations",), "EMSP": ("tokens", "cdrs")}


Url = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class Version(msgspec.Struct, frozen=True):
    version: str
    url: Url


class Endpoint(msgspec.Struct, frozen=True):
    identifier: str
    url: Url
    # Absent in 2.1.1; 2.2.1 requires it, but for credentials it carries no meaning.
    role: str | None = None


class VersionDetails(msgspec.Struct, frozen=True):
    version: str
    endpoints: list[Endpoint]


def find_endpoint(endpoints: Iterable[Endpoint], module: str, interface: str | None) -> str | None:
    """The URL of ``module``'s endpoint for ``interface`` (SENDER or RECEIVER), else None.

    The endpoint with exactly that role wins; failing that, one of that module without a role
    is taken (2.1.1 endpoints have no role, and some 2.2.1 platforms leave it out although 2.2.1
    "Versions module", Endpoint class, requires it). ``interface`` None: any endpoint of the
    module (credentials, where the role means nothing)."""
    roleless = None
    for endpoint in endpoints:
        if endpoint.identifier != module:
            continue
        if interface is None or endpoint.role == interface:
            return endpoint.url
        if endpoint.role is None and roleless is None:
            roleless = endpoint.url
    return roleless


def endpoints_211(endpoints: Iterable[Endpoint], role: str) -> list[Endpoint]:
    """A 2.1.1 platform's endpoints, each with the interface it stands for, read from the role
    of the platform that publishes it (``PUBLISHED_211``): stored so, they are found by
    ``find_endpoint`` as a 2.2.1 platform's are. Credentials keep no role. Identifiers 2.1.1
    does not define are left out: the hub would call them with 2.2.1 objects (a "hubclientinfo"
    listed by a 2.1.1 platform would get HubClientInfo pushes)."""
    published = PUBLISHED_211[role]
    found: list[Endpoint] = []
    for endpoint in endpoints:
        if endpoint.identifier == CREDENTIALS:
            found.append(Endpoint(CREDENTIALS, endpoint.url))
        elif endpoint.identifier in published:
            found.append(
                Endpoint(endpoint.identifier, endpoint.url, published[endpoint.identifier])
            )
    return found
