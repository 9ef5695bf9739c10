"""Forwarding benchmark: what the hub adds to an OCPI call, measured against the same call
sent straight to the receiver and sent through nginx ``proxy_pass``, in the same run.

    python benchmarks/forward.py [--seconds 10] [--concurrency 32] [--workers 1] [--json out.json]
                                 [--no-nginx] [--nginx BINARY] [--nginx-access-log file|off]

Run it from the repository root with the project's Python (it imports ``tests/``). It starts,
all on 127.0.0.1 and all stopped at the end (also on Ctrl-C, SIGTERM or an error):

* the real hub (``python -m hub serve``, embedded Redis, a temporary data dir);
* a lean receiver (``benchmarks/receiver.py``: uvloop + httptools, fixed OCPI envelopes) that
  serves the module URLs of a CPO (BE/BEC, the party of the official location example) and of
  an eMSP (NL/EMS). Both parties are registered with the hub by a real credentials handshake,
  run by a ``FakePlatform`` from ``tests/parties.py`` whose version details point the module
  endpoints at the lean receiver; the FakePlatforms serve nothing else during the measurement;
* nginx, when it is installed (``--nginx``, default ``nginx`` on PATH or in /usr/sbin) and not
  ``--no-nginx``: one worker process (as the hub's one worker) under a master, a configuration
  of its own in the temp dir (``nginx_conf``), ``proxy_pass`` of every URL to the lean receiver
  over kept-alive HTTP/1.1 connections: the physical limit of one proxy hop on this machine;
* the load generator: wrk with ``benchmarks/ocpi.lua`` (or ``benchmarks/loadgen.py``, aiohttp,
  when wrk is not installed or ``--generator python``).

Two calls, each measured direct (generator -> receiver), through nginx (generator -> nginx ->
receiver, the direct call's URL path, body and headers) and through the hub (generator -> hub ->
receiver) with the same method, path below the module, body and headers:

* ``put``: the CPO pushes ``tests/examples/2.2.1/location_example.json``:
  ``PUT /ocpi/2.2.1/receiver/locations/BE/BEC/LOC1`` (OCPI-to the eMSP);
* ``get``: the eMSP reads that location from the CPO: ``GET /ocpi/2.2.1/sender/locations/LOC1``
  (OCPI-to the CPO; the receiver answers with the location);
* ``put-new`` (only with ``--cases``): the PUT with a new location id in every request (the
  hub has not seen the location before and records its owner);
* ``get-open`` (only with ``--cases``): the same GET without OCPI-to (open routing: the hub
  looks the location's CPO up in Redis).

Each is run at ``--concurrency`` connections (throughput) and, unless ``--latency-concurrency
0``, at one connection (latency without queueing). Every answer is checked by the generator
(HTTP 200 and OCPI status 1000); the receiver counts what it received, and checks each token
and each PUT body byte for byte; a sample of calls through the hub is checked from Python
before and after (status 1000, X-Request-ID echoed, the location returned), and so is a sample
through nginx. The CPU time of each component (hub, its Redis, the receiver, nginx, the
generator) is read from /proc over each run; the report gives it in % of a core and in µs per
call. The exit status is 1 when any check failed, or when the hub logged an error or a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as platform_module
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import client  # noqa: E402
from tests.hubproc import HubProcess  # noqa: E402
from tests.parties import OCPI_VERSION, FakePlatform, b64, free_port  # noqa: E402

EXAMPLE = ROOT / "tests" / "examples" / "2.2.1" / "location_example.json"
LUA = HERE / "ocpi.lua"
LOADGEN = HERE / "loadgen.py"
RECEIVER = HERE / "receiver.py"

CPO = ("BE", "BEC", "CPO")  # the official example's own party
EMSP = ("NL", "EMS", "EMSP")
V = f"/ocpi/{OCPI_VERSION}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the parties -----------------------------------------------------------------------------


class HandshakeParty(FakePlatform):
    """A FakePlatform for the credentials handshake only: its version details send the hub to
    the lean receiver (``module_base``) for every functional module."""

    def __init__(self, *, module_base: str, **options: Any) -> None:
        super().__init__(**options)
        self.module_base = module_base

    def module_url(self, identifier: str, role: str = "", version: str | None = None) -> str:
        url = super().module_url(identifier, role, version)
        return self.module_base + url.removeprefix(self.base_url)


TARGETS = ("direct", "nginx", "hub")


@dataclass
class Case:
    name: str
    method: str
    direct_url: str
    hub_url: str
    direct_headers: dict[str, str]
    hub_headers: dict[str, str]
    body_file: Path | None
    receiver_key: str  # the receiver's counter for this call ("emsp locations PUT")
    nginx_url: str = ""  # the direct URL on nginx's port ("" without nginx)

    def url(self, target: str) -> str:
        return {"direct": self.direct_url, "nginx": self.nginx_url, "hub": self.hub_url}[target]

    def headers(self, target: str) -> dict[str, str]:
        # nginx passes the request through unchanged: it gets the direct call's headers.
        return self.hub_headers if target == "hub" else self.direct_headers


@dataclass
class Run:
    case: str
    target: str  # direct | hub
    concurrency: int
    result: dict[str, Any]
    received: int
    cpu: dict[str, float]  # percent of one core over the run
    wall: float  # seconds over which `cpu` was measured
    repeat: int = 1
    rps: float = field(init=False)
    cpu_us_per_call: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.rps = self.result["requests"] / (self.result["duration_us"] / 1e6)
        # CPU time of each component over the run, divided by the calls answered in it.
        calls = max(self.result["requests"], 1)
        self.cpu_us_per_call = {
            k: v / 100 * self.wall / calls * 1e6 for k, v in self.cpu.items() if k != "other"
        }

    @property
    def proxy_us_per_call(self) -> float | None:
        """CPU µs per call of the proxy this run went through (the hub's Python processes, or
        nginx's master and worker); None for a direct run."""
        return self.cpu_us_per_call.get(self.target) if self.target != "direct" else None

    @property
    def errors(self) -> int:
        return sum(self.result["errors"].values())

    def row(self) -> dict[str, Any]:
        lat = self.result["latency_us"]
        return {
            "repeat": self.repeat,
            "case": self.case,
            "target": self.target,
            "concurrency": self.concurrency,
            "requests": self.result["requests"],
            "rps": round(self.rps, 1),
            "p50_ms": round(lat["p50"] / 1000, 3),
            "p90_ms": round(lat["p90"] / 1000, 3),
            "p99_ms": round(lat["p99"] / 1000, 3),
            "max_ms": round(lat["max"] / 1000, 3),
            "bad": self.result["bad"],
            "first_bad": self.result["first_bad"],
            "errors": self.result["errors"],
            "received": self.received,
            "cpu_percent": {k: round(v, 1) for k, v in self.cpu.items()},
            "cpu_us_per_call": {k: round(v, 1) for k, v in self.cpu_us_per_call.items()},
        }


# --- processes and CPU -----------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, command name, CPU seconds) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        close = data.rindex(")")
        fields = data[close + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        table[int(entry)] = (int(fields[1]), data[data.index("(") + 1 : close], cpu)
    return table


def _tree(table: dict[int, tuple[int, str, float]], root: int) -> set[int]:
    """``root`` and its descendants that are alive in ``table``."""
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return tree & table.keys()


def cpu_by_component(
    hub_pid: int, receiver_pid: int, nginx_pid: int | None = None
) -> dict[str, float]:
    """CPU seconds so far of the hub's Python processes, its embedded Redis, the receiver and
    nginx (master and worker)."""
    table = _processes()
    found = {"hub": 0.0, "redis": 0.0, "receiver": 0.0, "nginx": 0.0}
    for pid in _tree(table, hub_pid):
        _, name, cpu = table[pid]
        found["redis" if name.startswith("redis") else "hub"] += cpu
    if receiver_pid in table:
        found["receiver"] = table[receiver_pid][2]
    if nginx_pid is not None:
        found["nginx"] = sum(table[pid][2] for pid in _tree(table, nginx_pid))
    own = resource.getrusage(resource.RUSAGE_SELF)
    found["driver"] = own.ru_utime + own.ru_stime  # this process (and its FakePlatforms)
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    found["machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Receiver:
    """benchmarks/receiver.py in a subprocess."""

    def __init__(self, port: int, tokens: dict[str, str], location_file: Path, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, str(RECEIVER), "--port", str(port)]
        command += ["--location", str(location_file)]
        for prefix, token in tokens.items():
            command += ["--token", f"{prefix}={token}"]
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"receiver exited: {log.read_text()}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("receiver did not start")

    def stats(self) -> dict[str, int]:
        status, _, body = client.request("GET", f"{self.url}/_stats", timeout=5)
        if status != 200:
            raise OSError(f"receiver stats: HTTP {status}")
        return dict(body)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def find_nginx(binary: str) -> str | None:
    """The nginx executable: ``binary`` as a path or a name on PATH; for the default name also
    /usr/sbin and /usr/local/sbin, where distributions put it (not on a user's PATH)."""
    if os.sep in binary:
        return binary if os.access(binary, os.X_OK) else None
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return shutil.which(binary, path=path)


def nginx_conf(directory: Path, port: int, upstream_port: int, *, access_log: bool) -> str:
    """A minimal nginx configuration: one worker, every path passed to the receiver on
    127.0.0.1:``upstream_port`` over kept-alive HTTP/1.1 connections, every file nginx writes
    in ``directory``."""
    d = directory
    log = "access_log off;"
    if access_log:
        log = f"access_log {d}/access.log combined buffer=64k flush=1s;"
    return f"""# written by benchmarks/forward.py
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    {log}
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # The hub and the receiver keep a connection for any number of calls; nginx closes one
    # after 1000 by default (keepalive_requests), on both sides: a reconnection that the
    # others do not pay.
    keepalive_requests 100000000;
    upstream receiver {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://receiver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Nginx:
    """nginx in a subprocess (its master; the one worker is the master's child), proxying every
    URL to the receiver; ready once a call through it reaches the receiver."""

    def __init__(
        self, binary: str, directory: Path, receiver: Receiver, *, access_log: bool
    ) -> None:
        directory.mkdir(parents=True)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = access_log
        version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
        self.version = (version.stderr or version.stdout).strip().removeprefix("nginx version: ")
        self.conf = directory / "nginx.conf"
        self.conf.write_text(nginx_conf(directory, self.port, receiver.port, access_log=access_log))
        error_log = directory / "error.log"
        # -e: the error log before the configuration is read (else nginx first opens its
        # compiled-in default, /var/log/nginx/error.log, writable by root only).
        command = [binary, "-p", f"{directory}/", "-c", str(self.conf), "-e", str(error_log)]
        with open(directory / "output.log", "w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.workers: list[int] = []
        try:
            problem = self._wait_ready()
        except BaseException:  # Ctrl-C or SIGTERM meanwhile: the caller cannot stop it yet
            self.stop()
            raise
        if problem:
            self.stop()
            logs = [directory / name for name in ("output.log", "error.log")]
            text = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
            raise RuntimeError(f"nginx did not start ({problem}):\n{text}")

    def _wait_ready(self) -> str:
        """Wait until a call through nginx reaches the receiver; what went wrong, or ""."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exit status {self.process.returncode}"
            try:
                status, _, _ = client.request("GET", f"{self.url}/_stats", timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            if status != 200:
                return f"the receiver's /_stats through nginx: HTTP {status}"
            table = _processes()
            self.workers = [p for p in _tree(table, self.process.pid) if p != self.process.pid]
            return ""
        return "not ready after 10 s"

    def clear_access_log(self) -> None:
        """Empty the access log (nginx appends to it): at 20-50k lines/s it would otherwise
        grow by hundreds of MB over a run."""
        if self.access_log:
            os.truncate(self.directory / "access.log", 0)

    def stop(self) -> None:
        # SIGTERM: nginx's fast shutdown (the master stops its worker, then exits).
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
            return
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # The master was killed: its worker may be left, now a child of init.
        table = _processes()
        for pid in self.workers:
            if pid in table and table[pid][1].startswith("nginx"):
                os.kill(pid, signal.SIGKILL)


# --- the load generator ----------------------------------------------------------------------


def generate(
    generator: str,
    case: Case,
    target: str,
    *,
    seconds: int,
    concurrency: int,
    threads: int,
) -> tuple[dict[str, Any], float]:
    """One generator run; its BENCH_JSON result and the CPU seconds the generator used."""
    url, headers = case.url(target), case.headers(target)
    body = str(case.body_file) if case.body_file else "-"
    if generator == "wrk":
        command = ["wrk", "-t", str(max(1, min(threads, concurrency))), "-c", str(concurrency)]
        command += ["-d", f"{seconds}s", "--timeout", "10s", "-s", str(LUA), url, "--"]
        command += [case.method, body, *(f"{k}: {v}" for k, v in headers.items())]
    else:
        command = [sys.executable, str(LOADGEN), "--url", url, "--method", case.method]
        command += ["--body", body, "--seconds", str(seconds), "--concurrency", str(concurrency)]
        for k, v in headers.items():
            command += ["--header", f"{k}: {v}"]
    before = _children_cpu()
    done = subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=seconds + 60
    )
    used = _children_cpu() - before
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :]), used
    raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# --- setting up the network ------------------------------------------------------------------


def register(hub: HubProcess, role: tuple[str, str, str], module_base: str) -> HandshakeParty:
    created = hub.add_platform(f"bench {role[0]}/{role[1]}", role)
    party = HandshakeParty(roles=[role], name=f"bench {role[2]}", module_base=module_base)
    party.start()
    status, answer = party.register(hub.versions_url, created["token_a"])
    if status != 200 or party.peer_token is None or party.issued_token is None:
        party.stop()
        raise RuntimeError(f"registration of {role} failed: HTTP {status} {answer}")
    return party


def build_cases(
    hub: HubProcess, receiver_url: str, cpo: HandshakeParty, emsp: HandshakeParty, body: Path
) -> dict[str, Case]:
    assert cpo.peer_token and cpo.issued_token and emsp.peer_token and emsp.issued_token
    location_id = json.loads(body.read_bytes())["id"]
    cc, pid, _ = CPO
    ecc, epid, _ = EMSP
    put_routing = {
        "OCPI-from-country-code": cc,
        "OCPI-from-party-id": pid,
        "OCPI-to-country-code": ecc,
        "OCPI-to-party-id": epid,
        "X-Correlation-ID": "bench-put",
        "Content-Type": "application/json",
    }
    get_routing = {
        "OCPI-from-country-code": ecc,
        "OCPI-from-party-id": epid,
        "OCPI-to-country-code": cc,
        "OCPI-to-party-id": pid,
        "X-Correlation-ID": "bench-get",
    }
    open_routing = {k: v for k, v in get_routing.items() if not k.startswith("OCPI-to")}
    open_routing["X-Correlation-ID"] = "bench-get-open"
    return {
        "put": Case(
            name="put",
            method="PUT",
            # The eMSP's locations Receiver endpoint, as the hub forwards to it.
            direct_url=f"{receiver_url}/emsp{V}/locations/receiver/{cc}/{pid}/{location_id}",
            hub_url=f"{hub.url}{V}/receiver/locations/{cc}/{pid}/{location_id}",
            # Direct: the token the eMSP issued (what the hub sends); via hub: the CPO's token C.
            direct_headers={"Authorization": f"Token {b64(emsp.issued_token)}", **put_routing},
            hub_headers={"Authorization": f"Token {b64(cpo.peer_token)}", **put_routing},
            body_file=body,
            receiver_key="emsp locations PUT",
        ),
        "get": Case(
            name="get",
            method="GET",
            direct_url=f"{receiver_url}/cpo{V}/locations/sender/{location_id}",
            hub_url=f"{hub.url}{V}/sender/locations/{location_id}",
            direct_headers={"Authorization": f"Token {b64(cpo.issued_token)}", **get_routing},
            hub_headers={"Authorization": f"Token {b64(emsp.peer_token)}", **get_routing},
            body_file=None,
            receiver_key="cpo locations GET",
        ),
        # The PUT with a new location id every time: the hub learns (and writes to Redis) the
        # owner of each (the receiver checks that the body's id is the URL's).
        "put-new": Case(
            name="put-new",
            method="PUT",
            direct_url=f"{receiver_url}/emsp{V}/locations/receiver/{cc}/{pid}/{location_id}",
            hub_url=f"{hub.url}{V}/receiver/locations/{cc}/{pid}/{location_id}",
            direct_headers={
                "Authorization": f"Token {b64(emsp.issued_token)}",
                **put_routing,
                "X-Bench-Unique-Id": location_id,
            },
            hub_headers={
                "Authorization": f"Token {b64(cpo.peer_token)}",
                **put_routing,
                "X-Bench-Unique-Id": location_id,
            },
            body_file=body,
            receiver_key="emsp locations PUT",
        ),
        # The same GET without OCPI-to: the hub finds the CPO from the location's owner it
        # learned from the PUT (open routing: one Redis read per call).
        "get-open": Case(
            name="get-open",
            method="GET",
            direct_url=f"{receiver_url}/cpo{V}/locations/sender/{location_id}",
            hub_url=f"{hub.url}{V}/sender/locations/{location_id}",
            direct_headers={"Authorization": f"Token {b64(cpo.issued_token)}", **open_routing},
            hub_headers={"Authorization": f"Token {b64(emsp.peer_token)}", **open_routing},
            body_file=None,
            receiver_key="cpo locations GET",
        ),
    }


def sample_check(
    case: Case, location: dict[str, Any], count: int, tag: str, target: str = "hub"
) -> list[str]:
    """``count`` calls through the hub (or nginx) from Python, each checked in full."""
    problems = []
    raw = case.body_file.read_bytes() if case.body_file else None
    name = case.name if target == "hub" else f"{case.name} via {target}"
    for n in range(count):
        request_id = f"sample-{tag}-{target}-{case.name}-{n}"
        headers = {**case.headers(target), "X-Request-ID": request_id}
        headers.pop("X-Bench-Unique-Id", None)  # the generator's, never sent
        status, got, body = client.request(
            case.method, case.url(target), raw=raw, headers=headers, timeout=10
        )
        ok = status == 200 and isinstance(body, dict) and body.get("status_code") == 1000
        if not ok:
            problems.append(f"{name}: HTTP {status} {str(body)[:200]}")
        elif got.get("x-request-id") != request_id:
            problems.append(f"{name}: X-Request-ID not echoed ({got.get('x-request-id')})")
        elif got.get("x-correlation-id") != headers["X-Correlation-ID"]:
            problems.append(f"{name}: X-Correlation-ID not echoed")
        elif case.method == "GET" and body.get("data") != location:
            problems.append(f"{name}: the location came back changed")
    return problems


# --- measuring -------------------------------------------------------------------------------


def measure(
    args: argparse.Namespace,
    generator: str,
    hub: HubProcess,
    receiver: Receiver,
    nginx: Nginx | None,
    case: Case,
    target: str,
    concurrency: int,
) -> Run:
    assert hub.process is not None
    hub_pid, receiver_pid = hub.process.pid, receiver.process.pid
    nginx_pid = nginx.process.pid if nginx is not None else None
    options = {"concurrency": concurrency, "threads": args.threads}
    if args.warmup > 0:
        generate(generator, case, target, seconds=args.warmup, **options)
    profiler = None
    if args.py_spy and target == "hub":
        profiler = start_profiler(args.py_spy, hub_pid, f"{case.name}-c{concurrency}", args.seconds)
    stats_before = receiver.stats()
    cpu_before = cpu_by_component(hub_pid, receiver_pid, nginx_pid)
    started = time.monotonic()
    try:
        result, generator_cpu = generate(generator, case, target, seconds=args.seconds, **options)
    finally:
        if profiler is not None:
            finish_profiler(*profiler)
    wall = time.monotonic() - started
    cpu_after = cpu_by_component(hub_pid, receiver_pid, nginx_pid)
    stats_after = receiver.stats()
    if nginx is not None and target == "nginx":
        nginx.clear_access_log()
    cpu = {k: 100 * (cpu_after[k] - cpu_before[k]) / wall for k in cpu_after}
    cpu["generator"] = 100 * generator_cpu / wall
    # What else ran on the machine meanwhile (other programs: noise).
    machine, driver = cpu.pop("machine"), cpu.pop("driver")
    ours = cpu["hub"] + cpu["redis"] + cpu["receiver"] + cpu["nginx"] + cpu["generator"] + driver
    cpu["other"] = max(0.0, machine - ours)
    received = stats_after.get(case.receiver_key, 0) - stats_before.get(case.receiver_key, 0)
    for counter in ("bad_token", "bad_body", "not_found"):
        extra = stats_after.get(counter, 0) - stats_before.get(counter, 0)
        if extra:
            result.setdefault("receiver_refused", {})[counter] = extra
    run = Run(case.name, target, concurrency, result, received, cpu, wall)
    lat = result["latency_us"]
    own = run.proxy_us_per_call
    print(
        f"  {case.name:8} {target:6} c={concurrency:<3} {run.rps:9.0f} req/s"
        f"  p50 {lat['p50'] / 1000:7.2f} ms  p99 {lat['p99'] / 1000:7.2f} ms"
        f"  bad {result['bad']}  errors {run.errors}  received {received}"
        + (f"  {target} CPU {own:.0f} µs/call" if own is not None else ""),
        flush=True,
    )
    return run


def start_profiler(
    directory: Path, pid: int, name: str, seconds: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """py-spy on the hub (and its workers) while the generator runs; folded stacks out."""
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / f"{name}.folded"
    command = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--rate", "200"]
    command += ["--duration", str(seconds), "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), output


def finish_profiler(process: subprocess.Popen[bytes], output: Path) -> None:
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if output.exists():
        print(f"    profile: {output}")
        for line in profile_summary(output):
            print(f"      {line}")


ENTRY_POINTS = ("hub/cli.py", "hub/__main__", "hub/server/processes.py")


def profile_summary(folded: Path, top: int = 15) -> list[str]:
    """The functions of the hub with the most samples on their stack (folded py-spy output)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(":")[0] + ")" if " (" in frame else frame
            wanted = "hub/" in name or "logging/" in name or "redis/" in name
            # The process's entry points are on every stack: they say nothing.
            if wanted and name not in seen and not any(r in name for r in ENTRY_POINTS):
                seen.add(name)
                inclusive[name] = inclusive.get(name, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])[:top]
    return [f"{100 * n / max(total, 1):5.1f}%  {name}" for name, n in ranked]


def medians(runs: list[Run]) -> dict[tuple[str, int, str], dict[str, float]]:
    """(case, concurrency, target) -> median req/s, p50 and p99 (ms) and CPU µs per call of
    the proxy (none for direct) over the repeats."""
    groups: dict[tuple[str, int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.case, run.concurrency, run.target), []).append(run)
    table: dict[tuple[str, int, str], dict[str, float]] = {}
    for key, group in groups.items():
        table[key] = {
            "rps": statistics.median(r.rps for r in group),
            "p50_ms": statistics.median(r.result["latency_us"]["p50"] for r in group) / 1000,
            "p99_ms": statistics.median(r.result["latency_us"]["p99"] for r in group) / 1000,
            "runs": len(group),
        }
        own = [r.proxy_us_per_call for r in group if r.proxy_us_per_call is not None]
        if own:
            table[key]["cpu_us_per_call"] = statistics.median(own)
    return table


def compare(runs: list[Run]) -> list[dict[str, Any]]:
    """Per case and concurrency (medians over the repeats): hub and nginx minus direct latency,
    hub / direct and hub / nginx throughput, the proxies' CPU µs per call. The nginx fields
    are None when nginx was not run."""
    out = []
    table = medians(runs)
    for case, concurrency in dict.fromkeys((r.case, r.concurrency) for r in runs):
        direct, nginx, hub = (table.get((case, concurrency, t)) for t in TARGETS)
        if direct is None or hub is None:
            continue

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b else None

        def ms(row: dict[str, float] | None, key: str, minus: float = 0.0) -> float | None:
            return round(row[key] - minus, 3) if row is not None else None

        out.append(
            {
                "case": case,
                "concurrency": concurrency,
                "runs": hub["runs"],
                "direct_rps": round(direct["rps"], 1),
                "nginx_rps": round(nginx["rps"], 1) if nginx is not None else None,
                "hub_rps": round(hub["rps"], 1),
                "throughput_ratio": ratio(hub["rps"], direct["rps"]),  # hub / direct
                "nginx_direct_ratio": ratio(nginx["rps"], direct["rps"]) if nginx else None,
                "hub_nginx_ratio": ratio(hub["rps"], nginx["rps"]) if nginx else None,
                "direct_p50_ms": round(direct["p50_ms"], 3),
                "nginx_p50_ms": ms(nginx, "p50_ms"),
                "hub_p50_ms": round(hub["p50_ms"], 3),
                "nginx_added_p50_ms": ms(nginx, "p50_ms", direct["p50_ms"]),
                "added_p50_ms": round(hub["p50_ms"] - direct["p50_ms"], 3),
                "direct_p99_ms": round(direct["p99_ms"], 3),
                "nginx_p99_ms": ms(nginx, "p99_ms"),
                "hub_p99_ms": round(hub["p99_ms"], 3),
                "nginx_added_p99_ms": ms(nginx, "p99_ms", direct["p99_ms"]),
                "added_p99_ms": round(hub["p99_ms"] - direct["p99_ms"], 3),
                "hub_cpu_us_per_call": round(hub.get("cpu_us_per_call", 0.0), 1),
                "nginx_cpu_us_per_call": (
                    round(nginx.get("cpu_us_per_call", 0.0), 1) if nginx is not None else None
                ),
            }
        )
    return out


def print_table(runs: list[Run], comparison: list[dict[str, Any]]) -> None:
    print()
    head = (
        f"{'rep':>3} {'case':9}{'target':8}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'bad':>6}{'err':>5}{'µs/call':>9}  cpu% hub/redis/recv/nginx/gen/other"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        lat = r.result["latency_us"]
        cpu = "/".join(
            f"{r.cpu[k]:.0f}" for k in ("hub", "redis", "receiver", "nginx", "generator", "other")
        )
        own = r.proxy_us_per_call
        print(
            f"{r.repeat:>3} {r.case:9}{r.target:8}{r.concurrency:>5}{r.rps:>10.0f}"
            f"{lat['p50'] / 1000:>9.2f}{lat['p99'] / 1000:>9.2f}"
            f"{r.result['bad']:>6}{r.errors:>5}{'' if own is None else f'{own:.0f}':>9}  {cpu}"
        )
    print("(µs/call: the CPU time of the proxy of the row, hub or nginx, per call answered)")
    print()
    runs_each = comparison[0]["runs"] if comparison else 1
    medians_of = f" (medians of {runs_each} runs)" if runs_each > 1 else ""
    with_nginx = any(c["nginx_rps"] is not None for c in comparison)

    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    print("throughput and CPU" + medians_of)
    head = (
        f"{'case':9}{'conc':>5}{'direct req/s':>13}{'nginx req/s':>12}{'hub req/s':>10}"
        f"{'hub/direct':>11}{'hub/nginx':>10}{'CPU µs/call nginx / hub':>25}"
    )
    print(head)
    print("-" * len(head))
    for c in comparison:
        cpu = f"{num(c['nginx_cpu_us_per_call'], '.0f')} / {c['hub_cpu_us_per_call']:.0f}"
        print(
            f"{c['case']:9}{c['concurrency']:>5}{c['direct_rps']:>13.0f}"
            f"{num(c['nginx_rps'], '.0f'):>12}{c['hub_rps']:>10.0f}"
            f"{c['throughput_ratio']:>11.3f}{num(c['hub_nginx_ratio'], '.3f'):>10}{cpu:>25}"
        )
    print()
    print("latency" + medians_of + ": ms, direct / nginx / hub, and what each proxy adds")
    head = f"{'case':9}{'conc':>5}{'p50':>22}{'added p50':>18}{'p99':>22}{'added p99':>18}"
    print(head)
    print("-" * len(head))
    for c in comparison:
        cells = []
        for p in ("p50", "p99"):
            cells.append(
                f"{c[f'direct_{p}_ms']:.2f} / {num(c[f'nginx_{p}_ms'], '.2f')} / "
                f"{c[f'hub_{p}_ms']:.2f}"
            )
            cells.append(f"{num(c[f'nginx_added_{p}_ms'], '+.2f')} / {c[f'added_{p}_ms']:+.2f}")
        print(
            f"{c['case']:9}{c['concurrency']:>5}{cells[0]:>22}{cells[1]:>18}"
            f"{cells[2]:>22}{cells[3]:>18}"
        )
    if not with_nginx:
        print("(no nginx row: --no-nginx, or nginx not installed)")
    busy = [r for r in runs if r.cpu.get("other", 0) > 20]
    if busy:
        print(
            f"\nnote: other programs used more than 20% of a core during {len(busy)} run(s) "
            "(column 'other'): those numbers are noisy"
        )


def environment(generator: str) -> dict[str, Any]:
    def git(*command: str) -> str:
        try:
            return subprocess.run(
                ["git", *command], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    wrk_version = ""
    if generator == "wrk":
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        wrk_version = wrk_version.splitlines()[0] if wrk_version else ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "machine": platform_module.machine(),
        "kernel": platform_module.release(),
        "python": platform_module.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "generator": generator,
        "wrk": wrk_version,
    }


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Hub forwarding benchmark: direct vs through the hub, same run."
    )
    parser.add_argument("--seconds", type=int, default=10, help="per measured run (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument(
        "--latency-concurrency",
        type=int,
        default=1,
        help="also measure at this many connections (default 1; 0 to skip)",
    )
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes (default 1)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure everything N times; medians (default 1)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each run")
    parser.add_argument(
        "--cases",
        default="put,get",
        help="comma-separated: put, get, put-new, get-open (default put,get)",
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="default: wrk if on PATH",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--hub-arg",
        action="append",
        default=[],
        help="extra option for 'hub serve', e.g. --hub-arg=--log-level=warning (repeatable)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="profile the hub with py-spy during its runs (folded stacks into DIR; slows the hub)",
    )
    parser.add_argument(
        "--no-nginx", action="store_true", help="skip the row through nginx proxy_pass"
    )
    parser.add_argument(
        "--nginx",
        default="nginx",
        metavar="BINARY",
        help="nginx executable (default: nginx on PATH, /usr/sbin or /usr/local/sbin); "
        "when not found the nginx row is skipped",
    )
    parser.add_argument(
        "--nginx-access-log",
        choices=("file", "off"),
        default="file",
        help="nginx's access log: 'file' (the combined format, buffered 64k, flushed every "
        "second, in the temp dir; default: the hub writes an access line too) or 'off'",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) at the end")
    args = parser.parse_args(argv)
    if min(args.seconds, args.concurrency, args.workers, args.repeat) < 1:
        parser.error("--seconds, --concurrency, --workers and --repeat must be at least 1")
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := set(args.cases) - {"put", "get", "put-new", "get-open"}:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.py_spy and not shutil.which("py-spy"):
        parser.error("--py-spy needs py-spy on PATH (pip install py-spy)")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        print(
            "wrk is not on PATH (apt-get install wrk), or use --generator python", file=sys.stderr
        )
        return 2
    if generator == "python":
        print("note: the Python generator is slow; the direct baseline is then its own limit")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)

    work = Path(tempfile.mkdtemp(prefix="ocpi-hub-bench-"))
    hub: HubProcess | None = None
    failed = False
    try:
        with ExitStack() as stack:
            # The location as the CPO sends it: compact JSON, the bytes the receiver expects.
            location = json.loads(EXAMPLE.read_text())
            body_file = work / "location.json"
            body_file.write_bytes(json.dumps(location, separators=(",", ":")).encode())

            hub_args = ["--workers", str(args.workers), *args.hub_arg]
            # The hub of this checkout, whatever the current directory and the installed copy.
            path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            hub = HubProcess(work / "data", args=hub_args, env={"PYTHONPATH": path})
            print(f"starting the hub ({args.workers} worker(s)) on {hub.url} ...", flush=True)
            hub.start(timeout=60)
            stack.callback(hub.stop)

            receiver_port = free_port()
            receiver_url = f"http://127.0.0.1:{receiver_port}"
            cpo = register(hub, CPO, f"{receiver_url}/cpo")
            stack.callback(cpo.stop)
            emsp = register(hub, EMSP, f"{receiver_url}/emsp")
            stack.callback(emsp.stop)
            tokens = {"cpo": cpo.issued_token or "", "emsp": emsp.issued_token or ""}
            receiver = Receiver(receiver_port, tokens, body_file, work / "receiver.log")
            stack.callback(receiver.stop)
            print(
                f"registered CPO {CPO[0]}/{CPO[1]} and eMSP {EMSP[0]}/{EMSP[1]}; "
                f"receiver on {receiver_url}; generator {generator}",
                flush=True,
            )
            nginx: Nginx | None = None
            nginx_binary = None if args.no_nginx else find_nginx(args.nginx)
            if nginx_binary is not None:
                nginx = Nginx(
                    nginx_binary,
                    work / "nginx",
                    receiver,
                    access_log=args.nginx_access_log == "file",
                )
                stack.callback(nginx.stop)
                print(
                    f"nginx {nginx.version} ({nginx_binary}, 1 worker, access log "
                    f"{args.nginx_access_log}) on {nginx.url}, proxy_pass to the receiver",
                    flush=True,
                )
            elif not args.no_nginx:
                print(
                    f"{args.nginx} not found (apt-get install nginx): the nginx row is skipped",
                    flush=True,
                )
            targets = [t for t in TARGETS if t != "nginx" or nginx is not None]

            cases = build_cases(hub, receiver_url, cpo, emsp, body_file)
            if nginx is not None:
                for case in cases.values():
                    case.nginx_url = nginx.url + case.direct_url.removeprefix(receiver_url)
            # One PUT first, so that the hub knows the location's CPO (for get-open).
            problems = sample_check(cases["put"], location, 1, "seed")
            for name in args.cases:
                problems += sample_check(cases[name], location, 5, "before")
                if nginx is not None:
                    problems += sample_check(cases[name], location, 5, "before", "nginx")
            if problems:
                raise RuntimeError("sampled calls fail:\n" + "\n".join(problems))

            levels = [args.concurrency]
            if args.latency_concurrency and args.latency_concurrency != args.concurrency:
                levels.append(args.latency_concurrency)
            runs: list[Run] = []
            for repeat in range(1, args.repeat + 1):
                if args.repeat > 1:
                    print(f"repeat {repeat}/{args.repeat}", flush=True)
                for concurrency in levels:
                    for name in args.cases:
                        for target in targets:
                            run = measure(
                                args,
                                generator,
                                hub,
                                receiver,
                                nginx,
                                cases[name],
                                target,
                                concurrency,
                            )
                            run.repeat = repeat
                            runs.append(run)
            for name in args.cases:
                problems += sample_check(cases[name], location, 20, "after")
                if nginx is not None:
                    problems += sample_check(cases[name], location, 5, "after", "nginx")

            comparison = compare(runs)
            print_table(runs, comparison)
            for run in runs:
                # Every request the generator saw answered must have reached the receiver; at
                # the end of a run up to `concurrency` more may be on their way.
                missing = run.result["requests"] - run.received
                if run.result["bad"] or run.errors or missing > 0:
                    problems.append(
                        f"{run.case} {run.target} c={run.concurrency}: bad {run.result['bad']} "
                        f"errors {run.result['errors']} answered {run.result['requests']} "
                        f"received {run.received} {run.result.get('receiver_refused', '')} "
                        f"{run.result['first_bad']}"
                    )
            log = hub.log()
            errors = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
            if errors:
                problems.append(f"the hub logged {len(errors)} error(s), first: {errors[0][:200]}")
            if nginx is not None and nginx.process.poll() is not None:
                problems.append(f"nginx exited during the run ({nginx.process.returncode})")
            hub_requests = sum(r.result["requests"] for r in runs if r.target == "hub")
            nginx_requests = sum(r.result["requests"] for r in runs if r.target == "nginx")
            print(
                f"\ncorrectness: {hub_requests} answers through the hub checked by the generator "
                f"(HTTP 200 + OCPI 1000), {25 * len(args.cases)} sampled in full"
                + (
                    f"; through nginx {nginx_requests} and {10 * len(args.cases)}"
                    if nginx is not None
                    else ""
                )
                + f"; problems: {len(problems)}"
            )
            for problem in problems:
                print(f"  {problem}")
            failed = bool(problems)

            if args.json:
                document = {
                    "environment": environment(generator),
                    "settings": {
                        "seconds": args.seconds,
                        "concurrency": levels,
                        "workers": args.workers,
                        "warmup": args.warmup,
                        "repeat": args.repeat,
                        "wrk_threads": args.threads if generator == "wrk" else None,
                        "hub_args": hub_args,
                        "x_request_id": "unique per request",
                        "nginx": None
                        if nginx is None
                        else {
                            "version": nginx.version,
                            "binary": nginx_binary,
                            "worker_processes": 1,
                            "access_log": args.nginx_access_log,
                            "pid": nginx.process.pid,
                            "workers": nginx.workers,
                            "conf": nginx.conf.read_text(),
                        },
                    },
                    "runs": [r.row() for r in runs],
                    "comparison": comparison,
                    "problems": problems,
                }
                args.json.write_text(json.dumps(document, indent=2) + "\n")
                print(f"wrote {args.json}")
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        return 130
    except Exception:
        if hub is not None:
            tail = "\n".join(hub.log().splitlines()[-30:])
            print(f"--- the hub's log (last lines) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
