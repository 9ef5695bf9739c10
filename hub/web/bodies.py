"""Reading request bodies: not JSON is HTTP 400, a wrong or missing field is OCPI 2001."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from hub.errors import InvalidParameters, NotJson

T = TypeVar("T")


def decode(raw: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=kind, strict=True)
    except msgspec.ValidationError as e:
        # msgspec names the field: "Expected `str` of length <= 3 - at `$.roles[0].party_id`".
        raise InvalidParameters(f"invalid body: {e}") from e
    except msgspec.DecodeError as e:
        raise NotJson(f"the body is not JSON: {e}") from e


async def read(request: Request, kind: type[T]) -> T:
    return decode(await request.body(), kind)


def check_json(raw: bytes) -> None:
    """Reject a body that is not JSON, without building objects from it."""
    if raw.strip():
        decode(raw, msgspec.Raw)
