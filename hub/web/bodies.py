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


async def raw(request: Request) -> bytes:
    """The body's bytes; a request with neither ``Content-Length`` nor ``Transfer-Encoding``
    (or a ``Content-Length`` of 0) has none (RFC 9112 §6.3), and is not waited for."""
    headers = request.headers
    length = headers.get("content-length")
    if (length is None or length == "0") and "transfer-encoding" not in headers:
        return b""
    return await request.body()


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
