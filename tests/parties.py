"""Simulated OCPI 2.3.0, 2.2.1 and 2.1.1 platforms for end-to-end tests: real HTTP servers on
127.0.0.1.

A `FakePlatform` is a Starlette app served by uvicorn in a background thread. It plays either
side of the credentials handshake (OCPI 2.2.1, "Credentials module"; 2.1.1 credentials.md):

* Receiver: the hub registers AT it, calling its `versions_url` with `token_a`.
* Sender: `register(hub_versions_url, hub_token_a)` registers it AT the hub.

Tokens it accepts: `token_a` until a registration succeeds, then only the token it issued
(`issued_token`: C as Receiver, B as Sender). After an unregister it accepts nothing until
`reset_token_a()`. `issued_token`/`peer_token` keep their last values after an unregister.

`version="2.1.1"` makes it a 2.1.1 platform of exactly one party: version details list one URL
per module and no `role` (2.1.1 version_information_endpoint.md), the credentials object is flat
(token, url, business_details, party_id, country_code; 2.1.1 credentials.md §2.1), tokens go out
raw (2.1.1 transport_and_format.md, "Request format") and both encodings are accepted inbound, and
its own calls carry no X-Request-ID/X-Correlation-ID (2.1.1 does not define them).

`version="2.3.0"` speaks as 2.2.1 does (roles on endpoints and in credentials), its credentials
object adds `hub_party_id` (2.3.0 §7.3.1; `None` unless given), and it takes a credentials PUT
from the peer at any time, as 2.2.1's does: the hub's PUTs with new `roles` are recorded in
`requests` and the latest object in `peer_credentials`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests import client
from tests.client import HttpResult

OCPI_VERSION = "2.2.1"
_SEND, _RECV = "SENDER", "RECEIVER"
DEFAULT_MODULES: dict[str, list[tuple[str, str]]] = {  # besides credentials, by party role
    "CPO": [(m, _SEND) for m in ("locations", "sessions", "cdrs", "tariffs")]
    + [(m, _RECV) for m in ("tokens", "commands", "chargingprofiles", "hubclientinfo")],
    "EMSP": [(m, _RECV) for m in ("locations", "sessions", "cdrs", "tariffs")]
    + [(m, _SEND) for m in ("tokens", "commands")]
    + [("hubclientinfo", _RECV)],
}
# 2.1.1 version_information_endpoint.md, "ModuleID enum"
MODULES_211 = ("cdrs", "commands", "credentials", "locations", "sessions", "tariffs", "tokens")

# (request) -> (HTTP status, JSON body or raw bytes[, headers]), or None for the default answer
Responder = Callable[["RecordedRequest"], tuple[Any, ...] | None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def b64(token: str) -> str:
    """Base64 (RFC 4648 §4, standard alphabet, padded) of the token's UTF-8 bytes."""
    return base64.b64encode(token.encode()).decode("ascii")


def unb64(value: str) -> str | None:
    """Strict, canonical inverse of `b64`; None when `value` is not such an encoding."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if b64(decoded) == value else None


def encode_token(token: str, encoding: str) -> str:
    return token if encoding == "raw" else b64(token)


def ocpi_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def has_roles(version: str) -> bool:
    """Whether version details of `version` name an interface role (2.2.1 §6.2: added in 2.2)."""
    return not version.startswith(("2.0", "2.1"))


def _ok(status: int, body: Any) -> bool:
    return 200 <= status < 300 and isinstance(body, dict) and body.get("status_code") == 1000


class RegistrationError(RuntimeError):
    """The peer's versions/details make a handshake impossible (no common version, no
    credentials)."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lowercased
    body: Any  # parsed JSON, or None (no body / not JSON)
    raw_body: bytes = b""
    at: float = 0.0  # when it arrived (time.monotonic())
    peer_port: int | None = None  # the caller's TCP port (which hub process sent it: /proc)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


class FakePlatform:
    def __init__(
        self,
        *,
        roles: list[tuple[str, str, str]],
        name: str = "Fake",
        version: str = OCPI_VERSION,
        versions: list[str] | tuple[str, ...] | None = None,
        modules: list[tuple[str, str]] | None = None,
        with_credentials_endpoint: bool = True,
        token_encoding: str | None = None,
        versions_broken: bool = False,
        responder: Responder | None = None,
        timeout: float = 10.0,
        without_role: tuple[str, ...] = (),
        hub_party_id: str | None = None,
    ) -> None:
        if token_encoding is None:
            # 2.2.1 §4.1.2 wants Base64; 2.1.1 sends the token as is, and its peers differ.
            token_encoding = "base64" if has_roles(version) else "both"
        if token_encoding not in ("base64", "raw", "both"):
            raise ValueError(f"token_encoding must be base64, raw or both: {token_encoding!r}")
        if not has_roles(version) and len(roles) != 1:
            # 2.1.1 credentials carry one party and no role (2.1.1 credentials.md §2.1)
            raise ValueError(f"a {version} platform is exactly one party: {roles!r}")
        self.roles = list(roles)
        # 2.3.0 §7.3.1: set by a platform with hub routing only; a plain platform sends null.
        self.hub_party_id = hub_party_id
        self.name = name
        self.version = version  # spoken in its own handshakes and offered first
        self.versions = list(versions) if versions is not None else [version]
        if modules is None:
            modules = []
            for _cc, _pid, role in self.roles:
                modules += [m for m in DEFAULT_MODULES.get(role, []) if m not in modules]
        self.modules = list(modules)
        self.with_credentials_endpoint = with_credentials_endpoint
        # modules whose endpoints are listed without a role (some 2.2.1 platforms omit it)
        self.without_role = tuple(without_role)
        self.token_encoding = token_encoding
        self.versions_broken = versions_broken
        self.delay = 0.0  # seconds to wait before answering any request
        self.down = False  # answer every request with HTTP 503 (recorded in refused only)
        self.refused: list[RecordedRequest] = []  # what was answered 503 while down
        self.responder = responder  # (request) -> (http_status, body) | None for module URLs
        self.timeout = timeout

        self.token_a = secrets.token_urlsafe(24)
        self.issued_token: str | None = None
        self.peer_token: str | None = None
        self.peer_versions_url: str | None = None
        self.peer_credentials: dict[str, Any] | None = None
        self.peer_endpoints: list[dict[str, Any]] = []
        self.peer_encoding_seen: str | None = None
        self.registered = False
        self.requests: list[RecordedRequest] = []
        self._accepted: set[str] = {self.token_a}
        self._lock = threading.Lock()

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.versions_url = f"{self.base_url}/ocpi/versions"
        self.credentials_url = f"{self.base_url}/ocpi/{version}/credentials"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(
            routes=[
                Route("/ocpi/versions", self._wrap(self._versions), methods=["GET"]),
                Route("/ocpi/{version}", self._wrap(self._details), methods=["GET"]),
                Route(
                    "/ocpi/{version}/credentials", self._wrap(self._credentials), methods=methods
                ),
                Route("/ocpi/{version}/{module}", self._wrap(self._module), methods=methods),
                Route(
                    "/ocpi/{version}/{module}/{rest:path}",
                    self._wrap(self._module),
                    methods=methods,
                ),
                Route("/{rest:path}", self._wrap(self._not_found), methods=methods),
            ]
        )

    # ---- URLs and objects -------------------------------------------------------------------
    def module_url(self, identifier: str, role: str = "", version: str | None = None) -> str:
        """A module's URL; without a role segment in versions that have no roles (2.1.1)."""
        version = version or self.version
        if not has_roles(version):
            return f"{self.base_url}/ocpi/{version}/{identifier}"
        return f"{self.base_url}/ocpi/{version}/{identifier}/{role.lower()}"

    def modules_of(self, version: str) -> list[tuple[str, str]]:
        """The (module, role) pairs served in `version`: in 2.1.1 only its modules, and one
        interface per module (a 2.1.1 version details document has one URL per identifier)."""
        if has_roles(version):
            return list(self.modules)
        served: dict[str, str] = {}
        for identifier, role in self.modules:
            if identifier in MODULES_211:
                served.setdefault(identifier, role)
        return list(served.items())

    def endpoints(self, version: str = OCPI_VERSION) -> list[dict[str, str]]:
        """The version details' endpoints of `version` (subclasses in tests override this)."""
        pairs = [("credentials", "SENDER")] if self.with_credentials_endpoint else []
        result = []
        for identifier, role in pairs + self.modules_of(version):
            url = self.module_url(identifier, role, version)
            if identifier == "credentials":
                url = f"{self.base_url}/ocpi/{version}/credentials"
            endpoint = {"identifier": identifier, "role": role, "url": url}
            if not has_roles(version) or identifier in self.without_role:
                del endpoint["role"]  # 2.1.1 has no roles; some 2.2.1 platforms omit them
            result.append(endpoint)
        return result

    def own_credentials(self, token: str, version: str | None = None) -> dict[str, Any]:
        if not has_roles(version or self.version):
            country_code, party_id, _role = self.roles[0]
            return {  # 2.1.1 credentials.md §2.1: one party, no role
                "token": token,
                "url": self.versions_url,
                "business_details": {"name": self.name},
                "party_id": party_id,
                "country_code": country_code,
            }
        roles = [
            {"role": r, "party_id": p, "country_code": c, "business_details": {"name": self.name}}
            for c, p, r in self.roles
        ]
        if (version or self.version) == "2.3.0":  # 2.3.0 §7.3.1
            return {
                "token": token,
                "url": self.versions_url,
                "hub_party_id": self.hub_party_id,
                "roles": roles,
            }
        return {"token": token, "url": self.versions_url, "roles": roles}

    def find_requests(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        with self._lock:
            found = list(self.requests)
        return [r for r in found if (method in (None, r.method)) and r.path.startswith(path)]

    def reset_token_a(self) -> str:
        """Hand out a fresh token A (accepted alone) so the hub can register again."""
        with self._lock:
            self.token_a = secrets.token_urlsafe(24)
            self._accepted = {self.token_a}
            self.registered = False
        return self.token_a

    # ---- server side ------------------------------------------------------------------------
    def _wrap(self, handler: Callable[[Request, RecordedRequest], Any]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            record = RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                raw_body=raw,
                at=time.monotonic(),
                peer_port=request.client.port if request.client is not None else None,
            )
            if self.down:
                # What a load balancer in front of a stopped platform answers (not recorded:
                # the platform never saw it; kept apart, to count what the hub tried).
                with self._lock:
                    self.refused.append(record)
                return Response(b"<html>503 Service Unavailable</html>", 503)
            with self._lock:
                self.requests.append(record)
            if self.delay:
                await asyncio.sleep(self.delay)  # a slow platform

            response: Response = await handler(request, record)
            for name in self._id_headers():
                if name in request.headers:
                    response.headers[name] = request.headers[name]
            return response

        return endpoint

    @staticmethod
    def _reply(http: int, code: int = 1000, data: Any = None, msg: str = "Success") -> Response:
        body = {"data": data, "status_code": code, "status_message": msg}
        body["timestamp"] = ocpi_timestamp()
        return Response(json.dumps(body), status_code=http, media_type="application/json")

    def _authorize(self, request: Request) -> str | None:
        """The accepted token the caller used (recording how it was encoded), else None."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "token" or not value:
            return None
        decoded = unb64(value)
        with self._lock:
            raw_ok = value in self._accepted
            b64_ok = decoded is not None and decoded in self._accepted
            if raw_ok or b64_ok:
                self.peer_encoding_seen = "raw" if raw_ok else "base64"
        if raw_ok and self.token_encoding in ("raw", "both"):
            return value
        if b64_ok and self.token_encoding in ("base64", "both"):
            return decoded
        return None

    def _unauthorized(self) -> Response:
        return self._reply(401, 2000, None, "Unknown or badly encoded token")

    async def _versions(self, request: Request, _rec: RecordedRequest) -> Response:
        if self.versions_broken:
            return self._reply(500, 3000, None, "versions endpoint is broken (on purpose)")
        if self._authorize(request) is None:
            return self._unauthorized()
        data = [{"version": v, "url": f"{self.base_url}/ocpi/{v}"} for v in self.versions]
        return self._reply(200, data=data)

    async def _details(self, request: Request, _rec: RecordedRequest) -> Response:
        if self._authorize(request) is None:
            return self._unauthorized()
        version = request.path_params["version"]
        if version not in self.versions:
            return self._reply(404, 2000, None, f"unknown version {version}")
        return self._reply(200, data={"version": version, "endpoints": self.endpoints(version)})

    def _id_headers(self) -> tuple[str, ...]:
        """The tracing headers it sends and echoes: 2.2.1 §4.2; 2.1.1 has none."""
        return ("X-Request-ID", "X-Correlation-ID") if has_roles(self.version) else ()

    async def _credentials(self, request: Request, rec: RecordedRequest) -> Response:
        token = self._authorize(request)
        if token is None:
            return self._unauthorized()
        version = request.path_params["version"]
        if version not in self.versions:
            return self._reply(404, 2000, None, "unknown version")
        if request.method == "GET":
            return self._reply(200, data=self.own_credentials(token, version))
        if request.method == "PATCH":
            return self._reply(405, 2000, None, "PATCH not supported")
        if request.method == "POST" and self.registered:
            return self._reply(405, 2000, None, "already registered")
        if request.method in ("PUT", "DELETE") and not self.registered:
            return self._reply(405, 2000, None, "not registered")
        if request.method == "DELETE":
            with self._lock:
                self.registered = False
                self._accepted = set()
            return self._reply(200)
        body = rec.body
        # 2.2.1 §7.3.1 names the parties in `roles`; 2.1.1 credentials.md §2.1 is one flat party
        party = ("roles",) if has_roles(version) else ("party_id", "country_code")
        if not (
            isinstance(body, dict)
            and isinstance(body.get("token"), str)
            and body.get("url")
            and all(body.get(key) for key in party)
            and (has_roles(version) or isinstance(body.get("business_details"), dict))
            and (not has_roles(version) or isinstance(body.get("roles"), list))
        ):
            fields = ", ".join(party if has_roles(version) else (*party, "business_details"))
            return self._reply(400, 2001, None, f"credentials need token, url, {fields}")
        endpoints, error = await self._fetch_peer(str(body["url"]), body["token"], version)
        if error is not None:
            return self._reply(400, error[0], None, error[1])
        token_c = secrets.token_urlsafe(24)
        with self._lock:
            self.issued_token = token_c
            self._accepted = {token_c}
            self.registered = True
            self.peer_token = body["token"]
            self.peer_versions_url = str(body["url"])
            self.peer_credentials = body
            self.peer_endpoints = endpoints
        return self._reply(200, data=self.own_credentials(token_c, version))

    async def _fetch_peer(
        self, versions_url: str, token: str, version: str
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
        auth = {"Authorization": f"Token {encode_token(token, self._out_encoding())}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                versions = await self._aget(session, versions_url, auth)
                urls = [v["url"] for v in versions if v.get("version") == version]
                if not urls:
                    return [], (3002, f"no common version (peer offers {versions})")
                details = await self._aget(session, urls[0], auth)
                return list(details["endpoints"]), None
        except Exception as exc:
            return [], (3001, f"cannot use the client's API: {exc!r}")

    async def _aget(self, session: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> Any:
        headers = {**auth, **{name: str(uuid.uuid4()) for name in self._id_headers()}}
        async with session.get(url, headers=headers) as resp:
            body = await resp.json(content_type=None)
            if not _ok(resp.status, body):
                raise ValueError(f"GET {url}: HTTP {resp.status} {body}")
            return body["data"]

    async def _module(self, request: Request, rec: RecordedRequest) -> Response:
        version, module = request.path_params["version"], request.path_params["module"]
        role = request.path_params.get("rest", "").partition("/")[0]
        if has_roles(version) and not role:
            return await self._not_found(request, rec)  # 2.2.1 module URLs name a role
        if self._authorize(request) is None or not self.registered:
            return self._unauthorized()
        if has_roles(version):
            known = (module, role.upper()) in self.modules
        else:  # 2.1.1: one URL per module, objects right below it
            known = any(m == module for m, _r in self.modules_of(version))
        if version not in self.versions or not known:
            return self._reply(404, 2000, None, "no such module endpoint")
        if self.responder is not None and (result := self.responder(rec)) is not None:
            status, body, *extra = result
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers = extra[0] if extra else None
            return Response(content, status, headers=headers, media_type="application/json")
        return self._reply(200)

    async def _not_found(self, _request: Request, _rec: RecordedRequest) -> Response:
        return self._reply(404, 2000, None, "not found")

    # ---- client side (sync, for test code) --------------------------------------------------
    def _out_encoding(self) -> str:
        """How it sends tokens: its version's own form unless it accepts only the other."""
        if has_roles(self.version):
            return "raw" if self.token_encoding == "raw" else "base64"
        return "base64" if self.token_encoding == "base64" else "raw"

    def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        encoding: str | None = None,
    ) -> HttpResult:
        """One HTTP request (default token: `peer_token`); never raises on HTTP errors."""
        token = token if token is not None else self.peer_token
        sent = {name: str(uuid.uuid4()) for name in self._id_headers()}
        if token is not None:
            sent["Authorization"] = f"Token {encode_token(token, encoding or self._out_encoding())}"
        sent.update(headers or {})
        return client.request(method, url, body=body, headers=sent, timeout=self.timeout)

    def register(self, hub_versions_url: str, token_a: str) -> tuple[int, Any]:
        """Credentials Sender handshake at the hub; returns (HTTP status, envelope)."""
        status, _, body = self.call("GET", hub_versions_url, token=token_a)
        if not _ok(status, body):
            return status, body
        urls = [v["url"] for v in body["data"] if v.get("version") == self.version]
        if not urls:
            raise RegistrationError(f"peer has no {self.version}: {body['data']}")
        status, _, body = self.call("GET", urls[0], token=token_a)
        if not _ok(status, body):
            return status, body
        endpoints = list(body["data"]["endpoints"])
        credentials_url = self._credentials_url(endpoints)
        token_b = secrets.token_urlsafe(24)
        with self._lock:
            self._accepted.add(token_b)  # the peer calls back with B before answering
        status, _, body = self.call(
            "POST", credentials_url, token=token_a, body=self.own_credentials(token_b)
        )
        self._settle(status, body, token_b, endpoints)
        return status, body

    def update_credentials(self, version: str | None = None) -> tuple[int, Any]:
        """PUT fresh credentials (new B) with `peer_token`; on success the peer's new C.

        `version`: PUT them, in that version's form, at the peer's credentials endpoint of that
        version (read from its versions with `peer_token`), which switches the connection to
        it (2.1.1 credentials.md §1.3; 2.2.1 §7.1.2); on success the platform speaks it."""
        endpoints = self.peer_endpoints
        if version is not None and version != self.version:
            status, _, body = self.call("GET", str(self.peer_versions_url))
            if not _ok(status, body):
                return status, body
            urls = [v["url"] for v in body["data"] if v.get("version") == version]
            if not urls:
                raise RegistrationError(f"peer has no {version}: {body['data']}")
            status, _, body = self.call("GET", urls[0])
            if not _ok(status, body):
                return status, body
            endpoints = list(body["data"]["endpoints"])
        version = version or self.version
        credentials_url = self._credentials_url(endpoints)
        token_b = secrets.token_urlsafe(24)
        with self._lock:
            self._accepted.add(token_b)
        status, _, body = self.call(
            "PUT", credentials_url, body=self.own_credentials(token_b, version)
        )
        self._settle(status, body, token_b, endpoints)
        if _ok(status, body):
            self.version = version
            self.credentials_url = f"{self.base_url}/ocpi/{version}/credentials"
        return status, body

    def unregister(self) -> tuple[int, Any]:
        """DELETE at the peer's credentials endpoint with `peer_token`."""
        status, _, body = self.call("DELETE", self._credentials_url(self.peer_endpoints))
        if _ok(status, body):
            with self._lock:
                self.registered = False
                self._accepted = set()
        return status, body

    def _settle(self, status: int, body: Any, token_b: str, endpoints: list[Any]) -> None:
        with self._lock:
            if not _ok(status, body):
                if token_b != self.issued_token:
                    self._accepted.discard(token_b)
                return
            data = body["data"]
            self._accepted = {token_b}
            self.issued_token = token_b
            self.registered = True
            self.peer_token = data["token"]
            self.peer_versions_url = data["url"]
            self.peer_credentials = data
            self.peer_endpoints = endpoints

    @staticmethod
    def _credentials_url(endpoints: list[dict[str, Any]]) -> str:
        for endpoint in endpoints:
            if endpoint.get("identifier") == "credentials":
                return str(endpoint["url"])
        raise RegistrationError("peer lists no credentials endpoint")

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("FakePlatform can only be started once")
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"fake-platform-{self.name}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"FakePlatform {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakePlatform({self.name!r}, {self.base_url}, roles={self.roles})"
