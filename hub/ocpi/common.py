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
- Only ``country_code`` (2) and ``party_id`` (3) carry length constraints: they are keys the hub
  routes by. Other length limits of the spec are not enforced.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

CountryCode = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
PartyId = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]

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
