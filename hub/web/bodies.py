"""Reading request bodies: not JSON is HTTP 400, a wrong or missing field (or a key given twice)
is OCPI 2001."""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request

from hub.errors import from_validation
from hub.ocpi import validation
from hub.ocpi.validation import InvalidInputError

T = TypeVar("T")


def decode(raw: bytes, kind: type[T]) -> T:
    try:
        return validation.decode(raw, kind)
    except InvalidInputError as e:
        # The message names the field: "Expected `str` of length <= 3 - at `$.roles[0].party_id`".
        raise from_validation(e) from e


async def read(request: Request, kind: type[T]) -> T:
    return decode(await request.body(), kind)


def check_json(raw: bytes) -> None:
    """Reject a body that is not JSON, without building objects from it."""
    if raw.strip():
        try:
            validation.check_json(raw)
        except InvalidInputError as e:
            raise from_validation(e) from e
