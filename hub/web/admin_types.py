"""What the admin API (README: "Admin API") reads and answers, as msgspec Structs: ``admin.py``
decodes the bodies and encodes the answers with them, and ``openapi.py`` generates the schemas of
its OpenAPI document from the same classes, so that the two cannot drift apart.

The answers are encode-only: their ``Annotated`` metadata documents them, nothing checks it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from hub.ocpi.credentials import ROLES, CountryCode, PartyId, Token
from hub.ocpi.lanes import PTP
from hub.ocpi.versions import Url
from hub.records import CONNECTED, OFFLINE, PLANNED, SUSPENDED, Platform, TokenEncoding

# A platform may be granted any role but the hub's own, and PTP (2.3.0 §16, Payments; such a
# platform is offered OCPI 2.3.0 only, ``hub.records.versions_for``).
GRANTABLE_ROLES = (ROLES | {PTP}) - {"HUB"}

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# Roles are read case-insensitively and checked by the endpoint (with a message naming the
# field); the schema lists them as they are stored.
GrantableRole = Annotated[str, msgspec.Meta(extra_json_schema={"enum": sorted(GRANTABLE_ROLES)})]
Status = Annotated[
    str, msgspec.Meta(extra_json_schema={"enum": [PLANNED, CONNECTED, OFFLINE, SUSPENDED]})
]


# --- bodies ------------------------------------------------------------------------------


class RoleGrant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    country_code: CountryCode
    party_id: PartyId
    role: GrantableRole


class NewPlatform(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    roles: Annotated[list[RoleGrant], msgspec.Meta(min_length=1)]
    token_encoding: TokenEncoding = "auto"


# A rate like 6000/min, 100/10s or 5/s (README: "Rate limits"); read by hub.rates.
RateText = Annotated[str, msgspec.Meta(examples=["6000/min", "100/10s", "5/s"])]


# The OCPI versions a platform can be pinned to: every version the hub speaks
# (hub.ocpi.versions.SPOKEN; README: "OCPI 2.1.1 platforms").
PinnedVersion = Literal["2.3.0", "2.2.1", "2.1.1"]


# An IANA time zone name like Europe/Brussels (2.2.1 Location ``time_zone``).
TimeZone = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(UTC|[A-Za-z][A-Za-z_-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){1,2})$",
        max_length=64,
        examples=["Europe/Brussels"],
    ),
]


class PlatformChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name | None = None
    token_encoding: TokenEncoding | None = None
    # module (or "*" for every module) -> rate; {} or null: the hub's --rate-limit again
    rate_limits: dict[str, RateText] | msgspec.UnsetType | None = msgspec.UNSET
    # The version the hub registers in when it starts the handshake (stored as version_pin);
    # null: the highest both speak again.
    version: Annotated[
        PinnedVersion | msgspec.UnsetType | None,
        msgspec.Meta(
            description="the OCPI version the hub uses when it registers at the platform "
            "(connect), stored as version_pin; null: the highest both speak. 2.1.1 only for a "
            "platform of one CPO or eMSP role"
        ),
    ] = msgspec.UNSET
    time_zone: Annotated[
        TimeZone | msgspec.UnsetType | None,
        msgspec.Meta(
            description="the time zone of a 2.1.1 CPO's Locations that name none (2.2.1 "
            "requires one); null: such a Location is refused"
        ),
    ] = msgspec.UNSET


class Connect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    versions_url: Url
    token: Token


class PartyRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A party by its country code and party id (``{"country_code": "NL", "party_id": "CPA"}``)."""

    country_code: CountryCode
    party_id: PartyId


class NewAgreement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A roaming agreement: a CPO party and a party of the other side (EMSP, NSP, NAP, SCSP, PTP,
    OTHER), for every functional module or the ones listed."""

    cpo: PartyRef
    partner: PartyRef
    modules: list[str] | None = None
    extensions: Annotated[
        bool,
        msgspec.Meta(
            description="the two may pass each other the fields OCPI 2.3.0 does not define "
            "(extensions); an agreement of the pair with it and one without are two agreements"
        ),
    ] = False


class Assign(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The eMSP an unrouted session or CDR is for: it is kept for that eMSP to pull."""

    emsp: PartyRef


class Redrive(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """All dead letters, a platform's, or some ids of a platform's (an empty body: all)."""

    platform: str | None = None
    ids: list[str] | None = None


# --- answers -----------------------------------------------------------------------------


# The admin's view of a platform is its record (everything, also what later versions add) but
# for two fields of the hub's own bookkeeping: how the hub encodes its token is told by
# sends_base64, and the status to resume after a suspension is nobody else's business.
HIDDEN = frozenset({"detected_base64", "status_before_suspend"})
_SHOWN = [
    (f.name, Status if f.name == "status" else f.type)
    for f in msgspec.structs.fields(Platform)
    if f.name not in HIDDEN
]

PlatformView = msgspec.defstruct(
    "PlatformView", [*_SHOWN, ("sends_base64", bool)], kw_only=True, module=__name__
)
PlatformView.__doc__ = """The admin's view of a platform: its record without the hub's own
bookkeeping, with how the hub encodes its token towards it (sends_base64) and when it was last
heard from (last_seen)."""

NewPlatformView = msgspec.defstruct(
    "NewPlatformView",
    [("token_a", str), ("versions_url", str)],
    bases=(PlatformView,),
    kw_only=True,
    module=__name__,
)
NewPlatformView.__doc__ = "A platform just created: its view and its token A (shown only once)."


def platform_view(platform: Platform, last_seen: str | None) -> msgspec.Struct:
    """``platform`` as the admin sees it (``PlatformView``)."""
    return PlatformView(**_shown(platform, last_seen))


def new_platform_view(
    platform: Platform, last_seen: str | None, *, token_a: str, versions_url: str
) -> msgspec.Struct:
    """A platform just created, with its token A (``NewPlatformView``)."""
    return NewPlatformView(
        **_shown(platform, last_seen), token_a=token_a, versions_url=versions_url
    )


def _shown(platform: Platform, last_seen: str | None) -> dict[str, Any]:
    fields = msgspec.structs.asdict(platform)
    for name in HIDDEN:
        del fields[name]
    fields["last_seen"] = last_seen
    fields["sends_base64"] = platform.sends_base64
    return fields


class TokenA(msgspec.Struct, kw_only=True):
    """A new token A, shown once, and where the platform starts its registration with it."""

    token_a: str
    versions_url: str


class QueueView(msgspec.Struct, kw_only=True):
    """One receiving platform's delivery queue."""

    platform: str
    name: str
    status: Status
    depth: int
    oldest_age: Annotated[float | None, msgspec.Meta(description="seconds")]
    dead_letters: int
    delivered_by: Annotated[
        str | None, msgspec.Meta(description="the hub process delivering it, if any")
    ]


class DeadLetterView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A parked message, with the reason and the platform it was meant for."""

    id: str
    # Raw (the message encoded): the body a message carries is raw JSON, for which msgspec can
    # generate no schema.
    message: Annotated[
        msgspec.Raw | None,
        msgspec.Meta(
            description="the call the hub owed the platform: module, interface, method, path "
            "below the receiver's endpoint, query, body, sender, receiver, object, full_state, "
            "correlation_id, enqueued_at",
            extra_json_schema={"anyOf": [{"type": "object"}, {"type": "null"}]},
        ),
    ] = None
    raw: Annotated[
        str | None,
        msgspec.Meta(
            description="instead of message: the queue entry that could not be decoded, as "
            "text; such a letter can never be delivered"
        ),
    ] = None
    reason: str
    attempts: int
    parked_at: Annotated[float, msgspec.Meta(description="Unix time")]
    platform: str


class Redriven(msgspec.Struct, kw_only=True, omit_defaults=True):
    redriven: int
    skipped: Annotated[
        int,
        msgspec.Meta(
            description="letters with raw instead of message, left parked (present when not 0)"
        ),
    ] = 0


class AgreementView(msgspec.Struct, kw_only=True):
    """A roaming agreement; ``modules`` null: every functional module."""

    id: str
    cpo: PartyRef
    partner: PartyRef
    modules: list[str] | None
    extensions: Annotated[
        bool,
        msgspec.Meta(
            description="the two may pass each other the fields OCPI 2.3.0 does not define"
        ),
    ]
    created_at: str


class Imported(msgspec.Struct, kw_only=True):
    """An import: how many agreements were new, how many were there already, and all of them."""

    created: int
    existing: int
    agreements: list[AgreementView]


class UnroutedView(msgspec.Struct, kw_only=True):
    """A session or CDR whose eMSP the hub could not find, kept (for --cdr-retention days from
    kept_at) until the operator assigns it to an eMSP."""

    id: str
    module: Annotated[str, msgspec.Meta(extra_json_schema={"enum": ["cdrs", "sessions"]})]
    cpo: PartyRef
    object_id: str
    reason: str
    kept_at: Annotated[str, msgspec.Meta(description="RFC 3339, UTC")]
    version: Annotated[str, msgspec.Meta(description="the OCPI version of body")] = "2.2.1"
    # Raw: the object as kept, for which msgspec can generate no schema.
    body: Annotated[
        msgspec.Raw,
        msgspec.Meta(
            description="the session or CDR in its OCPI 2.2.1 form",
            extra_json_schema={"type": "object"},
        ),
    ]


class AdminError(msgspec.Struct, kw_only=True):
    """Every refusal of the admin API."""

    error: str
    status: Annotated[int, msgspec.Meta(description="the HTTP status")]
    ocpi_status: int


# What openapi.py generates schemas for.
DOCUMENTED: tuple[type[msgspec.Struct], ...] = (
    NewPlatform,
    PlatformChange,
    Connect,
    Redrive,
    NewAgreement,
    Assign,
    PlatformView,
    NewPlatformView,
    TokenA,
    QueueView,
    DeadLetterView,
    Redriven,
    AgreementView,
    Imported,
    UnroutedView,
    AdminError,
)
