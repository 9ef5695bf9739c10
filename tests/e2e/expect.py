"""What end-to-end tests of several platforms expect of a call: a 1000 answer, and the one
request a platform received for it."""

from __future__ import annotations

from typing import Any

from tests.client import HttpResult
from tests.parties import FakePlatform, RecordedRequest
from tests.waiting import wait_for


def ok(result: HttpResult) -> Any:
    """The envelope of an HTTP 200, OCPI 1000 answer."""
    status, _, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return answer


def one(platform: FakePlatform, method: str, path: str) -> RecordedRequest:
    """The one request ``platform`` received with this method and exactly this path, waited
    for."""

    def found() -> list[RecordedRequest]:
        return [r for r in platform.find_requests(method, path) if r.path == path]

    wait_for(found, f"{method} {path}")
    requests = found()
    assert len(requests) == 1, requests
    return requests[0]
