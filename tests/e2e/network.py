"""A small roaming network for routing tests: platforms registered with a hub, each a
simulated OCPI platform (a real server), and a way to call the hub as one of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests import client
from tests.client import HttpResult
from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.parties import FakePlatform, b64

Role = tuple[str, str, str]
PartyKey = tuple[str, str]


# A hub of the test's own process or a subprocess: both are called over HTTP alike.
Hub = HubProcess | InProcessHub


@dataclass
class Member:
    hub: Hub
    fake: FakePlatform
    id: str
    roles: list[Role]
    sent: list[dict[str, str]] = field(default_factory=list)

    @property
    def party(self) -> PartyKey:
        return (self.roles[0][0], self.roles[0][1])

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        frm: PartyKey | None = None,
        to: PartyKey | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> HttpResult:
        """Call the hub as this platform; ``path`` is below the hub's URL (or a full URL)."""
        sent = {
            "Authorization": f"Token {b64(token or self.fake.peer_token or '')}",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4()),
        }
        if frm is not None:
            sent["OCPI-from-country-code"], sent["OCPI-from-party-id"] = frm
        if to is not None:
            sent["OCPI-to-country-code"], sent["OCPI-to-party-id"] = to
        if raw is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        self.sent.append(sent)
        url = path if path.startswith("http") else self.hub.url + path
        return client.request(method, url, body=body, raw=raw, headers=sent, timeout=30)

    def received(self, method: str | None = None, path: str = "") -> list[Any]:
        """What the platform received, HubClientInfo pushes left out unless asked for."""
        found = self.fake.find_requests(method, path)
        if "hubclientinfo" in path:
            return found
        return [r for r in found if "/hubclientinfo/" not in r.path]


@contextmanager
def member(hub: Hub, *roles: Role, **fake_options: Any) -> Iterator[Member]:
    """A platform granted ``roles`` and registered with ``hub`` by its own handshake."""
    created = hub.add_platform("+".join(f"{c}{p}" for c, p, _ in roles), *roles)
    with FakePlatform(roles=list(roles), **fake_options) as fake:
        status, answer = fake.register(hub.versions_url, created["token_a"])
        assert status == 200, answer
        yield Member(hub, fake, created["id"], list(roles))


@contextmanager
def connected(hub: Hub, *roles: Role, **fake_options: Any) -> Iterator[Member]:
    """A platform granted ``roles`` that the hub registers at (``platforms connect`` with the
    platform's token A), in the highest version both speak."""
    created = hub.add_platform("+".join(f"{c}{p}" for c, p, _ in roles), *roles)
    with FakePlatform(roles=list(roles), **fake_options) as fake:
        body = {"versions_url": fake.versions_url, "token": fake.token_a}
        status, _, answer = hub.admin("POST", f"/platforms/{created['id']}/connect", body)
        assert status == 200, answer
        yield Member(hub, fake, created["id"], list(roles))


@dataclass
class Pair:
    """A CPO and an eMSP of one country code, each on a platform of its own."""

    cpo: Member
    emsp: Member


@contextmanager
def cpo_and_emsp(hub: Hub, country_code: str) -> Iterator[Pair]:
    """``{country_code}/CPO`` (a CPO) and ``{country_code}/EMS`` (an eMSP), registered."""
    with (
        member(hub, (country_code, "CPO", "CPO")) as cpo,
        member(hub, (country_code, "EMS", "EMSP")) as emsp,
    ):
        yield Pair(cpo, emsp)
