"""The size limit of a request body: a body over ``max_body_size`` is refused (HTTP 413) without
reading the rest of it, whether its ``Content-Length`` says so up front or it grows past the
limit as it arrives (chunked, or longer than it said)."""

from __future__ import annotations

from starlette.types import Message, Receive

from hub.errors import PayloadTooLargeError


def declared_size(content_length: bytes | None) -> int:
    """The size a ``Content-Length`` value declares; 0 when absent or not a plain number (the
    limit on what arrives holds all the same)."""
    return int(content_length) if content_length is not None and content_length.isdigit() else 0


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is larger than the hub accepts ({limit} bytes)")


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body growing past ``limit`` as soon as it does, so that it is
    never held whole."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return limited
