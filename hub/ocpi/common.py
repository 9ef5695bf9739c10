"""Shared building blocks of the OCPI 2.2.1 objects ("Types" chapter of the spec).

House rules for every object in ``hub.ocpi``: lenient on what may grow, strict on what must be
there.

- Unknown fields are ignored (never ``forbid_unknown_fields``); 2.3.0 makes this a rule.
- Enum-typed fields are plain ``str``, so that values this hub does not know pass through. The
  known values are listed in ``frozenset`` constants next to the objects that use them.
- ``DateTime`` fields are ``str`` and are not parsed: the spec allows a ``Z`` or no designator,
  with or without fractional seconds, and the hub forwards them untouched.
- ``number`` is ``float`` (a JSON integer is accepted for it), ``int`` is ``int``.
- Required fields have no default; optional (``?``) fields and ``*`` lists default to None.
  ``+`` lists are required but their minimum length is not checked.
- Only ``country_code`` (2) and ``party_id`` (3) carry constraints (length and letters or
  digits): they are keys the hub routes by. Other length limits of the spec are not enforced.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

# CiString(2) and CiString(3): ISO 3166-1 alpha-2 and an ISO 15118 party id, letters and digits
# only. They are keys the hub routes and stores by, so nothing else may pass.
# (msgspec searches with the pattern, and "$" also matches before a final line break.)
COUNTRY_CODE_PATTERN = r"^[A-Za-z0-9]{2}\Z"
PARTY_ID_PATTERN = r"^[A-Za-z0-9]{3}\Z"

# A party as the routing headers and URLs name it: (country_code, party_id), upper-case
# (both are CiStrings, 2.2.1 "Types").
PartyKey = tuple[str, str]


def party_key(country_code: str, party_id: str) -> PartyKey:
    return (country_code.upper(), party_id.upper())


CountryCode = Annotated[str, msgspec.Meta(pattern=COUNTRY_CODE_PATTERN)]
PartyId = Annotated[str, msgspec.Meta(pattern=PARTY_ID_PATTERN)]

# RFC 3339 in UTC, kept as received (see the module docstring).
DateTime = str


class Object(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of the OCPI objects. Subclasses repeat ``kw_only=True`` (it is not inherited)."""


class DisplayText(Object, kw_only=True):
    language: str
    text: str


class Price(Object, kw_only=True):
    """2.2.1 Price. (2.3.0 replaces it with ``before_taxes``/``taxes``.)"""

    excl_vat: float
    incl_vat: float | None = None


# --- DateTime values (2.2.1 types, "DateTime") ------------------------------------------

_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)?",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 date-time; no designator means UTC."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8) or "Z"
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    micros = (moment - _EPOCH) // _MICROSECOND + int((fraction + "000000")[:6])
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        micros -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * 1_000_000
    return micros


def to_epoch_ms(text: str) -> int:
    """The index score of a ``last_updated``: epoch milliseconds (finer digits truncated).
    Accepts ``Z``, no designator (UTC, as OCPI says) and numeric offsets such as ``+00:00``."""
    return epoch_us(text) // 1000
