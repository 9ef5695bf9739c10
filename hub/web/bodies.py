"""Request bodies, read by the hub's one strict decoder (``hub.ocpi.validation``) and its
refusals turned into the hub's errors: not JSON is HTTP 400, a wrong or missing field (or a key
given twice) is OCPI 2001."""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request

from hub.errors import from_validation
from hub.ocpi import validation
from hub.ocpi.validation import InvalidInputError

T = TypeVar("T")


async def read(request: Request, kind: type[T], *, empty: T | None = None) -> T:
    """The body as a ``kind``; ``empty``: what a body of nothing but white space stands for
    (None: such a body is refused, as not JSON)."""
    raw = await request.body()
    if empty is not None and not raw.strip():
        return empty
    try:
        return validation.decode(raw, kind)
    except InvalidInputError as e:
        # The message names the field: "Expected `str` of length <= 3 - at `$.roles[0].party_id`".
        raise from_validation(e) from e


def check_json(raw: bytes) -> None:
    """Refuse a body that is not JSON, without building objects from it; an empty one passes
    (a GET or DELETE has none)."""
    if raw.strip():
        try:
            validation.check_json(raw)
        except InvalidInputError as e:
            raise from_validation(e) from e
