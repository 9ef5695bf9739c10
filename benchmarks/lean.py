"""What the broadcast and scale benchmarks share: the lean server (``receiver.py``) playing every
platform in a subprocess, and a driver that registers those platforms at a real hub by the
credentials handshake, pushes through the hub and asks the lean server what arrived when.

Every address is 127.0.0.1: the hub and the lean server are started by the benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform as platform_module
import resource
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from tests.hubproc import HubProcess  # noqa: E402
from tests.parties import b64  # noqa: E402

LOCATION = ROOT / "tests" / "examples" / "2.2.1" / "location_example.json"
TARIFF = ROOT / "tests" / "examples" / "2.2.1" / "tariff_10_025kwh_parking_start.json"
RECEIVER = HERE / "receiver.py"
FAST = ["--retry-base", "0.05", "--retry-max", "0.5", "--offline-after", "3"]
STOP_SOON = ["--shutdown-timeout", "3"]  # on Ctrl-C, do not wait 10 s for calls in flight
V = "/ocpi/2.2.1"
HUB_PARTY = ("NL", "HUB")
CPO_ROLE = ("BE", "BEC", "CPO")
EMSP_ENDPOINTS = [["credentials", "SENDER"], ["locations", "RECEIVER"]]
HUBCLIENTINFO = ["hubclientinfo", "RECEIVER"]
CPO_ENDPOINTS = [["credentials", "SENDER"], ["locations", "SENDER"], ["tariffs", "SENDER"]]
# The eMSPs' country codes, 1,000 party ids (000 to 999) each: OCPI 2.2.1 §16.2 (CiString(3)
# party_id) allows letters too, but digits keep NL/000... readable in the hub's logs.
EMSP_COUNTRIES = ("NL", "DE", "FR", "AT", "CH", "DK", "SE", "NO", "FI", "IT", "ES", "PT")
MAX_EMSPS = 1000 * len(EMSP_COUNTRIES)
# The hub answers 409 when creations in the same moment keep changing the role index under
# each other: creating again is what its message asks for.
CREATE_ATTEMPTS = 20


@dataclass
class Party:
    key: str  # the lean server's path prefix
    role: tuple[str, str, str]
    endpoints: list[list[str]]
    token_b: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the hub -> us
    token_c: str = ""  # us -> the hub
    platform_id: str = ""


def emsp(index: int, endpoints: list[list[str]]) -> Party:
    """The eMSP number ``index``: ``/e000``... at the lean server, NL/000, ..., NL/999, DE/000..."""
    if not 0 <= index < MAX_EMSPS:
        raise ValueError(f"at most {MAX_EMSPS} eMSPs")
    country = EMSP_COUNTRIES[index // 1000]
    return Party(f"e{index:03d}", (country, f"{index % 1000:03d}", "EMSP"), endpoints)


def body_template(path: Path, owner: tuple[str, str]) -> str:
    """The object as compact JSON, owned by ``owner``, with the id ``__ID__``."""
    data = json.loads(path.read_text())
    data["country_code"], data["party_id"], data["id"] = owner[0], owner[1], "__ID__"
    return json.dumps(data, separators=(",", ":"))


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [1000 * v for v in values]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(percentile(ms, 0.9), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def raise_open_files_limit() -> int:
    """The soft limit of open files raised to the hard one, for this process and the children
    it starts from now on (the lean server holds a connection per hub connection); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def report_problems(hub_log: str, problems: list[str]) -> None:
    """Add an error or traceback the hub logged to ``problems``, then print them all."""
    errors = [line for line in hub_log.splitlines() if "Traceback" in line or " ERROR " in line]
    if errors:
        problems.append(f"the hub logged {len(errors)} error(s): {errors[0][:200]}")
    print(f"\nproblems: {len(problems)}")
    for problem in problems:
        print(f"  {problem}")


def environment() -> dict[str, Any]:
    def git(*command: str) -> str:
        try:
            return subprocess.run(
                ["git", *command], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "machine": platform_module.machine(),
        "kernel": platform_module.release(),
        "python": platform_module.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


class LeanServer:
    """benchmarks/receiver.py in a subprocess, playing every platform."""

    def __init__(self, port: int, config: Path, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, str(RECEIVER), "--port", str(port), "--config", str(config)]
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.log = log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Driver:
    """The platforms' side: a CPO and eMSPs played by the lean server, registered at the hub
    by this process, which also pushes through the hub and reads the lean server's records."""

    def __init__(self, hub: HubProcess, cpo: Party, emsps: list[Party]) -> None:
        self.hub = hub
        self.lean: LeanServer  # started with config() once the parties exist
        self.session: aiohttp.ClientSession | None = None
        self.cpo = cpo
        self.emsps = emsps
        self.location = body_template(LOCATION, CPO_ROLE[:2])
        self.tariff = body_template(TARIFF, CPO_ROLE[:2])
        self.problems: list[str] = []

    def config(self) -> dict[str, Any]:
        """The lean server's configuration (receiver.py --config)."""
        return {
            "parties": {
                p.key: {
                    "token": p.token_b,
                    "endpoints": p.endpoints,
                    "kind": "cpo" if p is self.cpo else "emsp",
                }
                for p in [self.cpo, *self.emsps]
            },
            "bodies": {"locations": self.location, "tariffs": self.tariff},
            "record": True,  # when each eMSP got each push: what the benchmarks measure
        }

    # --- HTTP ----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        assert self.session is not None
        sent = {"X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        limit = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(
            method, url, headers=sent, data=body, timeout=limit
        ) as response:
            content = await response.read()
            try:
                return response.status, json.loads(content) if content else None
            except ValueError:
                return response.status, content.decode(errors="replace")

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        raw = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.hub.admin_token}"}
        status, answer = await self.call(
            method, f"{self.hub.url}/admin{path}", headers=headers, body=raw
        )
        if status >= 300:
            raise RuntimeError(f"admin {method} {path}: HTTP {status} {answer}")
        return answer

    async def control(self, method: str, path: str, timeout: float = 120.0) -> Any:
        status, answer = await self.call(method, f"{self.lean.url}{path}", timeout=timeout)
        if status != 200:
            raise RuntimeError(f"lean server {method} {path}: HTTP {status} {answer}")
        return answer

    def hub_push_headers(self, to: tuple[str, str]) -> dict[str, str]:
        return {
            "Authorization": f"Token {b64(self.cpo.token_c)}",
            "OCPI-from-country-code": CPO_ROLE[0],
            "OCPI-from-party-id": CPO_ROLE[1],
            "OCPI-to-country-code": to[0],
            "OCPI-to-party-id": to[1],
        }

    def hub_push_url(self, module: str, object_id: str) -> str:
        return f"{self.hub.url}{V}/receiver/{module}/{CPO_ROLE[0]}/{CPO_ROLE[1]}/{object_id}"

    def body(self, module: str, object_id: str) -> bytes:
        template = self.location if module == "locations" else self.tariff
        return template.replace("__ID__", object_id).encode()

    async def hub_put(self, module: str, object_id: str, to: tuple[str, str]) -> None:
        status, answer = await self.call(
            "PUT",
            self.hub_push_url(module, object_id),
            headers=self.hub_push_headers(to),
            body=self.body(module, object_id),
        )
        if status != 200 or not isinstance(answer, dict) or answer.get("status_code") != 1000:
            raise RuntimeError(f"PUT {module} {object_id} via the hub: HTTP {status} {answer}")

    # --- setting up ------------------------------------------------------------------------

    async def wait_lean(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                await self.control("GET", "/_stats")
                return
            except (aiohttp.ClientError, OSError) as e:
                if self.lean.process.poll() is not None or time.monotonic() > deadline:
                    log = self.lean.log.read_text()
                    raise RuntimeError(f"lean server did not start: {log}") from e
                await asyncio.sleep(0.05)

    async def create(self, party: Party) -> str:
        """The operator creates the platform and grants its role; returns its token A."""
        cc, pid, role = party.role
        raw = json.dumps(
            {"name": party.key, "roles": [{"country_code": cc, "party_id": pid, "role": role}]}
        ).encode()
        headers = {"Authorization": f"Bearer {self.hub.admin_token}"}
        for _ in range(CREATE_ATTEMPTS):
            status, answer = await self.call(
                "POST", f"{self.hub.url}/admin/platforms", headers=headers, body=raw
            )
            if status == 409 and "concurrently" in str(answer):
                continue
            if status != 201:
                raise RuntimeError(f"admin POST /platforms {party.key}: HTTP {status} {answer}")
            party.platform_id = answer["id"]
            return str(answer["token_a"])
        raise RuntimeError(f"admin POST /platforms {party.key}: 409 {CREATE_ATTEMPTS} times")

    async def register(self, party: Party, token_a: str) -> None:
        """The credentials handshake, the platform starting it with its token A."""
        cc, pid, role = party.role
        auth = {"Authorization": f"Token {b64(token_a)}"}
        _, versions = await self.call("GET", f"{self.hub.url}/ocpi/versions", headers=auth)
        (url,) = [v["url"] for v in versions["data"] if v["version"] == "2.2.1"]
        _, details = await self.call("GET", url, headers=auth)
        (credentials,) = [
            e["url"] for e in details["data"]["endpoints"] if e["identifier"] == "credentials"
        ]
        offer = {
            "token": party.token_b,
            "url": f"{self.lean.url}/{party.key}/ocpi/versions",
            "roles": [
                {
                    "role": role,
                    "party_id": pid,
                    "country_code": cc,
                    "business_details": {"name": f"bench {party.key}"},
                }
            ],
        }
        status, answer = await self.call(
            "POST", credentials, headers=auth, body=json.dumps(offer).encode()
        )
        if status != 200 or answer.get("status_code") != 1000:
            raise RuntimeError(f"registration of {party.key} failed: HTTP {status} {answer}")
        party.token_c = answer["data"]["token"]

    async def queues(self) -> dict[str, dict[str, Any]]:
        return {q["platform"]: q for q in await self.admin("GET", "/queues")}

    async def quiet(self, timeout: float = 120.0, every: float = 0.2) -> float:
        """Wait until every platform created is CONNECTED and every queue empty (polling
        ``GET /admin/queues``, which reads every platform's queue, each ``every`` seconds)."""
        started = time.monotonic()
        created = 1 + sum(1 for p in self.emsps if p.platform_id)
        while True:
            queues = await self.queues()
            busy = [q for q in queues.values() if q["depth"] or q["status"] != "CONNECTED"]
            if not busy and len(queues) == created:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the hub did not settle: {len(busy)} busy, {busy[:3]}")
            await asyncio.sleep(every)

    async def until_all(
        self, object_id: str, started: float, count: int | None = None, timeout: float = 30.0
    ) -> tuple[float, float, int]:
        """(seconds from ``started`` until the first, until the last of ``count`` eMSPs (all
        by default) had the PUT of ``object_id``; how many did). A shortfall is a problem."""
        count = len(self.emsps) if count is None else count
        found = await self.control(
            "GET", f"/_wait?id={object_id}&count={count}&timeout={timeout:g}", timeout + 30
        )
        if found["count"] < count:
            self.problems.append(f"{object_id}: reached {found['count']} of {count} eMSPs")
            return math.nan, math.nan, found["count"]
        return found["first"] - started, found["last"] - started, found["count"]

    async def lean_problems(self) -> dict[str, Any]:
        """The lean server's counters; refused tokens and bodies and unknown URLs are problems."""
        stats: dict[str, Any] = await self.control("GET", "/_stats")
        for counter in ("bad_token", "bad_body", "not_found"):
            if stats.get(counter):
                self.problems.append(f"the lean server counted {stats[counter]} {counter}")
        return stats
