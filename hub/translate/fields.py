"""Field-level helpers the translate modules share.

Translations work on decoded JSON (``dict``), not on Structs: a PATCH body is a fragment that no
Struct with required fields can hold, and the same mapping code then serves whole objects and
fragments. Each known field's value is still passed through its Struct type (``clean``), which
checks it and strips fields the spec does not define at every depth, so nothing unknown crosses
a version boundary (2.2.1 and 2.1.1 enums are closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

JSON = dict[str, Any]


class Unrepresentable(Exception):
    """Raised inside a translation when the object cannot be carried at all; the public
    functions turn it into ``Withheld``."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def field_types(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(kind)}


def clean(kind: type[msgspec.Struct], body: Mapping[str, Any]) -> JSON:
    """The fields of ``body`` that ``kind`` defines, each checked against its type and
    re-encoded (unknown nested fields and explicit nulls go). Whole or fragment alike: required
    fields are not demanded here. Raises ``msgspec.ValidationError`` on a wrong type."""
    types = field_types(kind)
    out: JSON = {}
    for name, value in body.items():
        if name in types and value is not None:
            out[name] = msgspec.to_builtins(msgspec.convert(value, types[name]))
    return out


def check_whole(kind: type[msgspec.Struct], body: JSON) -> JSON:
    """``body`` must be a valid whole ``kind`` (required fields present): a translation that
    builds an invalid object has a bug, and must not send it."""
    msgspec.convert(body, kind)
    return body


def six_decimals(degrees: str) -> str:
    """A 2.2.1 coordinate (5 to 7 decimals, 2.2.1 "GeoLocation") in the 2.1.1 form with
    exactly 6 (2.1.1 mod_locations.md §4.12 regex). A value that is not a number is kept."""
    try:
        return str(Decimal(degrees).quantize(Decimal("0.000001")))
    except InvalidOperation:
        return degrees


def same_contract(token: Mapping[str, Any], auth_id: object) -> bool:
    """``token`` is the one a 2.1.1 ``auth_id`` names: 2.2.1 ``contract_id`` is a CiString
    (2.2.1 "Tokens module"), so case does not tell two contracts apart."""
    contract_id = token.get("contract_id")
    if not isinstance(contract_id, str) or not isinstance(auth_id, str):
        return False
    return contract_id.upper() == auth_id.upper()
