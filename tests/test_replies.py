"""The one reader of a platform's envelope, and what relay and delivery make of an answer that
is not one: the same words, each with its own OCPI status."""

from __future__ import annotations

import pytest

from hub.errors import PlatformError, ReceiverBrokenError
from hub.forward import PlatformResponse, read_envelope
from hub.records import Party
from hub.replies import read_reply, response_timeout

ENVELOPE = b'{"status_code": 1000, "status_message": "ok", "data": {"timeout": 30}}'
NOT_ENVELOPES = [b"", b"<html>bad gateway</html>", b"{}", b"[]", b"[" * 100_000 + b"]" * 100_000]


def answer(body: bytes, status: int = 200) -> PlatformResponse:
    return PlatformResponse(status=status, headers={}, body=body)


def test_an_envelope_is_read_whatever_the_http_status() -> None:
    envelope = read_envelope(answer(ENVELOPE, 500))
    assert (envelope.status_code, envelope.status_message) == (1000, "ok")


@pytest.mark.parametrize("body", NOT_ENVELOPES)
def test_an_answer_without_an_envelope_says_so(body: bytes) -> None:
    with pytest.raises(PlatformError, match=r"^HTTP 502 without an OCPI envelope$"):
        read_envelope(answer(body, 502))


@pytest.mark.parametrize("body", NOT_ENVELOPES)
def test_a_relayed_answer_without_an_envelope_is_4000_naming_the_receiver(body: bytes) -> None:
    with pytest.raises(ReceiverBrokenError) as raised:
        read_reply(answer(body, 502), Party("NL", "EMA", "EMSP"))
    assert raised.value.message == "receiver NL/EMA answered HTTP 502 without an OCPI envelope"
    assert raised.value.ocpi_status == 4000


def test_a_relayed_answer_is_read_for_its_status_and_timeout_only() -> None:
    # An odd status_message is the receiver's business: the sender gets the body as it is.
    reply = read_reply(
        answer(b'{"status_code": 1000, "status_message": 5, "data": {"timeout": 30}}'),
        Party("NL", "EMA", "EMSP"),
    )
    assert reply.status_code == 1000
    assert response_timeout(reply) == 30
    with pytest.raises(PlatformError):
        read_envelope(answer(b'{"status_code": 1000, "status_message": 5}'))
