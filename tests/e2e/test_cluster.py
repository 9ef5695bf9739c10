"""The hub on a real three-node Redis Cluster (``--redis-url … --redis-cluster``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import client
from tests.cluster import redis_cluster
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with redis_cluster(tmp_path / "cluster") as url:
        yield url


def test_registration_and_rotation_on_a_cluster(
    cluster: str, hub_factory: Callable[..., HubProcess]
) -> None:
    hub = hub_factory(args=["--redis-url", cluster, "--redis-cluster"]).start()
    created = hub.add_platform("CPO", ("NL", "CLU", "CPO"))
    status, _, error = hub.admin(
        "POST",
        "/platforms",
        {"name": "x", "roles": [{"country_code": "NL", "party_id": "CLU", "role": "CPO"}]},
    )
    assert status == 409, error

    with FakePlatform(roles=[("NL", "CLU", "CPO")]) as cpo:
        assert cpo.register(hub.versions_url, created["token_a"])[0] == 200
        old = cpo.peer_token or ""
        assert hub.admin("POST", f"/platforms/{created['id']}/rotate")[0] == 200

        def versions(token: str) -> int:
            return client.request(
                "GET", hub.versions_url, headers={"Authorization": f"Token {b64(token)}"}
            )[0]

        assert versions(old) == 401
        assert versions(cpo.peer_token or "") == 200
    assert hub.platform(created["id"])["status"] == "CONNECTED"
