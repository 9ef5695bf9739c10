"""The credentials handshake (2.2.1 "Credentials module") where it goes wrong, in both
directions, against the hub of this process: platforms whose versions, version details, endpoint
URLs or credentials answers the hub cannot use (3001), the token encodings the hub tries, a
handshake that meets another, a platform removed in the middle of one, a refused rotation.

The happy paths and the common refusals are in ``tests/e2e/test_registration.py``. The last
tests call ``Registration`` itself: its own checks of the platform's state, which the OCPI
endpoints make first, so that only a race between two requests reaches them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import ConflictError, HubError
from hub.errors import MethodNotAllowedError as NotAllowed
from hub.forward import PlatformClient
from hub.ocpi.credentials import BusinessDetails, Credentials, CredentialsRole
from hub.ocpi.versions import Endpoint
from hub.records import CONNECTED, PLANNED, Party, Platform
from hub.registration import Registration
from hub.settings import Settings
from hub.store.connection import open_redis
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import PlatformStore
from tests import client
from tests.client import HttpResult
from tests.inprocess import InProcessHub
from tests.parties import FakePlatform, RecordedRequest, b64, unb64
from tests.waiting import wait_for

NewParty = Callable[[], str]


def opens(hub: InProcessHub, token: str) -> bool:
    """The token opens the hub's versions endpoint."""
    headers = {"Authorization": f"Token {b64(token)}"}
    return client.request("GET", hub.versions_url, headers=headers)[0] == 200


def connect(hub: InProcessHub, platform_id: str, fake: FakePlatform) -> HttpResult:
    body = {"versions_url": fake.versions_url, "token": fake.token_a}
    return hub.admin("POST", f"/platforms/{platform_id}/connect", body)


@contextmanager
def in_background(call: Callable[[], HttpResult]) -> Iterator[list[HttpResult]]:
    """Make ``call`` in a thread while the block runs; its answer is in the list afterwards."""
    answers: list[HttpResult] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    try:
        yield answers
    finally:
        thread.join(15)
    assert not thread.is_alive()


class Flawed(FakePlatform):
    """A platform with one flaw the hub cannot work with."""

    def __init__(self, flaw: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flaw = flaw

    async def _versions(self, request: Request, rec: RecordedRequest) -> Response:
        if self.flaw == "versions not OCPI":
            return Response(b"<html>Welcome</html>", 200, media_type="text/html")
        if self.flaw == "versions not a list":
            return self._reply(200, data={"version": "2.2.1", "url": self.base_url})
        if self.flaw == "details unreadable":
            data = [{"version": "2.2.1", "url": f"{self.base_url}/ocpi/gone"}]
            return self._reply(200, data=data)
        return await super()._versions(request, rec)

    def endpoints(self, version: str = "2.2.1") -> list[dict[str, str]]:
        found = super().endpoints(version)
        if self.flaw == "endpoint not http":
            found[-1]["url"] = "ftp://127.0.0.1/hubclientinfo"
        return found


@pytest.mark.parametrize(
    ("flaw", "said"),
    [
        ("versions not OCPI", "cannot read the versions at "),
        ("versions not a list", "the versions at "),
        ("details unreadable", "cannot read the version details at "),
        ("endpoint not http", "the hubclientinfo endpoint's URL is refused"),
    ],
)
def test_a_platform_api_the_hub_cannot_use_is_3001(
    hub: InProcessHub, party_id: NewParty, flaw: str, said: str
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    with Flawed(flaw, roles=[("NL", pid, "CPO")]) as cpo:
        status, answer = cpo.register(hub.versions_url, created["token_a"])

        assert (status, answer["status_code"]) == (400, 3001), answer
        assert said in answer["status_message"]
        assert hub.platform(created["id"])["status"] == PLANNED
        assert opens(hub, created["token_a"])  # it may try again
        if flaw == "versions not OCPI":
            # Both token encodings were tried (as the platform sent its token first: Base64).
            tried = [r.authorization for r in cpo.find_requests("GET", "/ocpi/versions")]
            assert len(tried) == 2 and tried[0] is not None
            assert tried[1] == f"Token {unb64(tried[0].removeprefix('Token '))}"


@pytest.mark.parametrize(
    ("forced", "theirs"), [("base64", "raw"), ("raw", "base64")], ids=["base64", "raw"]
)
def test_an_encoding_the_operator_forces_is_the_only_one_tried(
    hub: InProcessHub, party_id: NewParty, forced: str, theirs: str
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"), token_encoding=forced)
    with FakePlatform(roles=[("NL", pid, "CPO")], token_encoding=theirs) as cpo:
        status, answer = cpo.register(hub.versions_url, created["token_a"])

        assert (status, answer["status_code"]) == (400, 3001), answer
        (tried,) = cpo.find_requests("GET", "/ocpi/versions")
        sent = (tried.authorization or "").removeprefix("Token ")
        assert (unb64(sent) is not None) == (forced == "base64")


class Picky(FakePlatform):
    """A platform that answers the hub's credentials POST or PUT as a test says: ``refuse``
    (HTTP 400, OCPI 2001), ``garble`` (success, but the data is not credentials), or ``linger``
    seconds after registering the hub."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refuse: set[str] = set()
        self.garble: set[str] = set()
        self.linger = 0.0

    async def _credentials(self, request: Request, rec: RecordedRequest) -> Response:
        if request.method in self.refuse:
            return self._reply(400, 2001, None, "not now")
        if request.method in self.garble:
            return self._reply(200, data={"token": 5, "url": None})
        response = await super()._credentials(request, rec)
        if request.method == "POST":
            await asyncio.sleep(self.linger)
        return response


@pytest.mark.parametrize(
    ("answer", "said"),
    [("refuse", "was refused: HTTP 400, OCPI 2001 not now"), ("garble", "invalid answer")],
)
def test_a_credentials_answer_the_hub_cannot_use_leaves_nothing_behind(
    hub: InProcessHub, party_id: NewParty, answer: str, said: str
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    with Picky(roles=[("BE", pid, "EMSP")]) as emsp:
        getattr(emsp, answer).add("POST")

        status, _, error = connect(hub, created["id"], emsp)

        assert (status, error["ocpi_status"]) == (502, 3000), error
        assert said in error["error"]
        assert hub.platform(created["id"])["status"] == PLANNED
        # The token the hub offered in its POST opens nothing.
        (post,) = emsp.find_requests("POST", "/ocpi/2.2.1/credentials")
        assert not opens(hub, post.body["token"])


def test_a_platform_removed_during_the_hubs_handshake_is_told_goodbye(
    hub: InProcessHub, party_id: NewParty
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    with Picky(roles=[("BE", pid, "EMSP")]) as emsp:
        emsp.linger = 1.0  # registered at its side; the hub waits for the answer meanwhile
        with in_background(lambda: connect(hub, created["id"], emsp)) as answers:
            wait_for(lambda: emsp.registered, "the platform registered the hub", timeout=10)
            assert hub.admin("DELETE", f"/platforms/{created['id']}")[0] == 204

        ((status, _, error),) = answers
        assert status == 409, error
        assert "removed during the credentials handshake" in error["error"]
        # The hub undid the registration with the token the platform gave it.
        (goodbye,) = emsp.find_requests("DELETE", "/ocpi/2.2.1/credentials")
        assert goodbye.authorization == f"Token {b64(emsp.issued_token or '')}"
        assert not emsp.registered
        (post,) = emsp.find_requests("POST", "/ocpi/2.2.1/credentials")
        assert not opens(hub, post.body["token"])
        platform = hub.platform(created["id"])
        assert (platform["deleted"], platform["status"]) == (True, "SUSPENDED")


def test_a_platform_suspended_during_the_hubs_handshake_stays_suspended(
    hub: InProcessHub, party_id: NewParty
) -> None:
    """The handshake stores only what it learned: the operator's suspend made meanwhile stands,
    and resuming makes the platform what the handshake made it, CONNECTED."""
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    with Picky(roles=[("BE", pid, "EMSP")]) as emsp:
        emsp.linger = 1.0
        with in_background(lambda: connect(hub, created["id"], emsp)) as answers:
            wait_for(lambda: emsp.registered, "the platform registered the hub", timeout=10)
            assert hub.admin("POST", f"/platforms/{created['id']}/suspend")[0] == 200

        ((status, _, platform),) = answers
        assert (status, platform["status"]) == (200, "SUSPENDED"), platform
        assert platform["registered_by"] == "hub"
        assert not opens(hub, emsp.peer_token or "")  # suspended: refused
        status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/resume")
        assert (status, platform["status"]) == (200, CONNECTED)
        assert opens(hub, emsp.peer_token or "")


def test_connect_to_a_platform_that_does_not_answer(hub: InProcessHub, party_id: NewParty) -> None:
    created = hub.add_platform("eMSP", ("BE", party_id(), "EMSP"))
    with FakePlatform(roles=[]) as gone:
        versions_url = gone.versions_url
    body = {"versions_url": versions_url, "token": "token-a-of-a-platform-that-is-gone"}

    status, _, error = hub.admin("POST", f"/platforms/{created['id']}/connect", body)

    assert (status, error["ocpi_status"]) == (502, 3001), error
    assert error["error"].startswith(f"cannot read the versions at {versions_url}: ")
    assert "could not connect" in error["error"]
    assert hub.platform(created["id"])["status"] == PLANNED


def test_the_hub_does_not_connect_to_a_removed_platform(
    hub: InProcessHub, party_id: NewParty
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    assert hub.admin("DELETE", f"/platforms/{created['id']}")[0] == 204
    with FakePlatform(roles=[("BE", pid, "EMSP")]) as emsp:
        status, _, error = connect(hub, created["id"], emsp)

        assert status == 409, error
        assert error["error"] == "this platform was removed"
        assert emsp.requests == []


def test_one_handshake_at_a_time(hub: InProcessHub, party_id: NewParty) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    with FakePlatform(roles=[("BE", pid, "EMSP")]) as emsp:
        emsp.delay = 0.5
        with in_background(lambda: connect(hub, created["id"], emsp)) as answers:
            wait_for(lambda: emsp.requests, "the first handshake", timeout=10)
            status, _, error = connect(hub, created["id"], emsp)

        assert status == 405, error
        assert "a credentials handshake with this platform is under way" in error["error"]
        ((status, _, platform),) = answers
        assert (status, platform["status"]) == (200, CONNECTED)


def test_a_rotation_the_platform_refuses_changes_nothing(
    hub: InProcessHub, party_id: NewParty
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("FR", pid, "EMSP"))
    with Picky(roles=[("FR", pid, "EMSP")]) as emsp:
        assert emsp.register(hub.versions_url, created["token_a"])[0] == 200
        hubs_token, platforms_token = emsp.peer_token or "", emsp.issued_token
        emsp.refuse.add("PUT")

        status, _, error = hub.admin("POST", f"/platforms/{created['id']}/rotate")

        assert status == 502, error
        assert "credentials PUT" in error["error"] and "was refused" in error["error"]
        (put,) = emsp.find_requests("PUT", "/ocpi/2.2.1/credentials")
        assert put.authorization == f"Token {b64(platforms_token or '')}"
        assert not opens(hub, put.body["token"])
        assert opens(hub, hubs_token)
        # The hub still calls the platform with its old token, and it still works.
        emsp.refuse.clear()
        assert hub.admin("POST", f"/platforms/{created['id']}/rotate")[0] == 200
        put = emsp.find_requests("PUT", "/ocpi/2.2.1/credentials")[-1]
        assert put.authorization == f"Token {b64(platforms_token or '')}"


# --- Registration's own checks ---------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with EmbeddedRedis(tmp_path / "data") as server:
        yield server.url


@asynccontextmanager
async def registration(redis_url: str) -> AsyncIterator[tuple[Registration, PlatformStore]]:
    settings = Settings(redis_url=redis_url, allow_private_urls=True, handshake_timeout=3)
    redis = open_redis(redis_url, cluster=False)
    platforms = PlatformClient.of(settings)
    await platforms.start()
    try:
        store = PlatformStore(redis)
        yield Registration(settings, store, platforms), store
    finally:
        await platforms.close()
        await redis.aclose()


def offer() -> Credentials:
    role = CredentialsRole("CPO", BusinessDetails("CPO"), "CPA", "NL")
    return Credentials(token="b" * 20, url="http://127.0.0.1:1/ocpi/versions", roles=[role])


async def registered(store: PlatformStore, *, endpoints: list[Endpoint]) -> Platform:
    """A platform as a registration left it (by an older release, when ``endpoints`` lack the
    credentials endpoint)."""
    created, _ = await store.create("CPO", [Party("NL", "CPA", "CPO")], "auto")

    def register(platform: Platform) -> Platform:
        platform.version = "2.2.1"
        platform.platform_versions_url = "http://127.0.0.1:1/ocpi/versions"
        platform.endpoints = endpoints
        platform.status = CONNECTED
        return platform

    stored = await store.update(created.id, register, outbound="b" * 20)
    assert stored is not None
    return stored


def test_registration_checks_the_platforms_state_itself(redis_url: str) -> None:
    """A POST with token A that took the handshake lock after another registration finished,
    a PUT or DELETE after an unregistration: each is refused, and nothing changes."""
    locations = Endpoint("locations", "http://127.0.0.1:1/ocpi/2.2.1/locations", "SENDER")

    async def scenario() -> None:
        async with registration(redis_url) as (hub, store):
            done = await registered(store, endpoints=[locations])
            planned, token_a = await store.create("New", [Party("NL", "CPB", "CPO")], "auto")
            refusals: list[tuple[Callable[[], Awaitable[object]], type[HubError], str]] = [
                (lambda: hub.accept(done.id, offer(), caller_base64=True), NotAllowed, "use PUT"),
                (lambda: hub.update(planned.id, offer(), caller_base64=True), NotAllowed, "POST"),
                (lambda: hub.unregister(planned.id), NotAllowed, "not registered"),
                (lambda: hub.rotate(planned.id), ConflictError, "not registered"),
                # Registered without a credentials endpoint (an older release let that pass).
                (lambda: hub.rotate(done.id), ConflictError, "no credentials endpoint"),
                (lambda: hub.rotate("0123456789ab"), ConflictError, "no platform 0123456789ab"),
            ]
            for call, error, said in refusals:
                with pytest.raises(error, match=said):
                    await call()
            assert await store.get(done.id) == done
            assert await store.outbound_token(done.id) == "b" * 20
            fresh = await store.get(planned.id)
            assert fresh is not None and fresh.status == PLANNED
            assert await store.lookup_token([token_a]) is not None  # token A still works

    asyncio.run(scenario())
