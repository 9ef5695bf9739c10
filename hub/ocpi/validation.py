"""Reading OCPI objects from request bodies: strict on required fields and types.

``decode`` reads a whole object (PUT, POST), ``check_patch`` a PATCH fragment. Both raise
``InvalidInputError``, which callers translate: ``not_json`` into HTTP 400, anything else into
OCPI 2001 (Invalid or missing parameters). This module imports nothing else of the hub.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar, cast

import msgspec

T = TypeVar("T")

LAST_UPDATED = "last_updated"

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_AT = re.compile(r"^(?P<text>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


class InvalidInputError(Exception):
    """A body that is not JSON (``not_json``), or a field that is missing or of a wrong type.

    ``field_path`` names the field like msgspec does (``$.evses[0].connectors[0].standard``);
    ``message`` is a sentence for the status message and names the field too.
    """

    def __init__(self, field_path: str, message: str, *, not_json: bool = False) -> None:
        super().__init__(message)
        self.field_path = field_path
        self.message = message
        self.not_json = not_json


def decode(raw: bytes, kind: type[T]) -> T:
    """The object of type ``kind`` in the JSON body ``raw``, which must not name a key twice
    in one object (readers differ on which one counts: the hub must read what the receiver
    reads)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS.setdefault(kind, msgspec.json.Decoder(kind, strict=True))
    try:
        found = cast(T, decoder.decode(raw))
    except msgspec.ValidationError as e:
        raise _failed(str(e)) from e
    except msgspec.DecodeError as e:
        raise InvalidInputError("$", f"the body is not JSON: {e}", not_json=True) from e
    except RecursionError:
        raise _too_deep() from None
    check_unique_keys(raw)
    return found


def check_json(raw: bytes) -> None:
    """Refuse a body that is not JSON, without building objects from it."""
    try:
        _RAW.decode(raw)
    except msgspec.DecodeError as e:
        raise InvalidInputError("$", f"the body is not JSON: {e}", not_json=True) from e
    except RecursionError:
        raise _too_deep() from None


def check_unique_keys(raw: bytes) -> None:
    """``InvalidInputError`` naming the first key that an object of ``raw`` (valid JSON) has
    twice."""
    try:
        json.loads(raw, object_pairs_hook=_unique)
    except _Duplicate as e:
        raise InvalidInputError(e.path, f"the key `{e.key}` appears twice in one object") from None
    except RecursionError:
        raise _too_deep() from None


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
        self.path = f"$.{key}"


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return found


def _too_deep() -> InvalidInputError:
    return InvalidInputError("$", "the body is nested too deeply")


_RAW = msgspec.json.Decoder(msgspec.Raw)


def check_patch(
    raw: bytes, kind: type[msgspec.Struct], *, last_updated: bool = True
) -> dict[str, Any]:
    """The PATCH body ``raw``, a partial ``kind``, as a dict.

    It must be a JSON object, include ``last_updated`` (2.2.1: every PATCH does) when ``kind``
    has that field and ``last_updated`` asks for it, and every field of ``kind`` in it must have
    that field's type. Keys that are not fields of ``kind`` pass (unknown fields are allowed).
    """
    body = decode(raw, dict[str, Any])
    fields = {f.encode_name: f for f in msgspec.structs.fields(kind)}
    if last_updated and LAST_UPDATED in fields and LAST_UPDATED not in body:
        path = f"$.{LAST_UPDATED}"
        raise InvalidInputError(path, f"Object missing required field `{LAST_UPDATED}` - at `$`")
    for name, value in body.items():
        field = fields.get(name)
        if field is None:
            continue
        try:
            msgspec.convert(value, field.type, strict=True)
        except msgspec.ValidationError as e:
            raise _failed(str(e), prefix=f"$.{name}") from e
    return body


def _failed(error: str, prefix: str = "$") -> InvalidInputError:
    """InvalidInputError from a msgspec message ("Expected `str`, got `int` - at `$.a[0].b`"),
    its path put under ``prefix`` (the field a PATCH value was converted for)."""
    match = _AT.match(error)
    assert match is not None  # the pattern matches any text
    text, path = match["text"], match["path"] or "$"
    path = prefix + path[1:]
    message = f"{text} - at `{path}`"
    missing = _MISSING.search(text)
    if missing:
        path = f"{path}.{missing['name']}"
    return InvalidInputError(path, message)
