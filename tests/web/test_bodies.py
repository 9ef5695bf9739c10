"""Reading request bodies (hub/web/bodies.py): a call without a body is not waited for."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.types import Message

from hub.web import bodies


def request(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[Request, list[str]]:
    """A request with ``headers`` whose body arrives in ``chunks``; the list records each
    time the body was asked for."""
    asked: list[str] = []
    left = list(chunks)

    async def receive() -> Message:
        asked.append("receive")
        body = left.pop(0) if left else b""
        return {"type": "http.request", "body": body, "more_body": bool(left)}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    return Request(scope, receive), asked


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"0")]])
def test_a_request_without_a_body_is_not_waited_for(headers: list[tuple[bytes, bytes]]) -> None:
    made, asked = request(headers, [])
    assert asyncio.run(bodies.raw(made)) == b""
    assert asked == []


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", b"7")], [(b"transfer-encoding", b"chunked")]],
)
def test_a_request_with_a_body_is_read_whole(headers: list[tuple[bytes, bytes]]) -> None:
    made, asked = request(headers, [b'{"a"', b":1}"])
    assert asyncio.run(bodies.raw(made)) == b'{"a":1}'
    assert len(asked) == 2
