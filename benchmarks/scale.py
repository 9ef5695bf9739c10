"""Scale benchmark: one hub process (and its embedded Redis) with N registered platforms, for
N = 100, 1,000, 10,000: what an idle hub costs, what registering, restarting, one broadcast and
sustained broadcasting cost at N.

    python benchmarks/scale.py [--platforms 100,1000,10000] [--workers 1] [--json out.json]
    python benchmarks/scale.py --quick          # N = 100 only, short windows: a smoke run

Run it from the repository root with the project's Python (it imports ``tests/``). Everything
runs on 127.0.0.1 and is stopped at the end (also on Ctrl-C, SIGTERM or an error): the real hub
(``python -m hub serve``, a temporary data dir, its embedded Redis, the options of
``broadcast.py``) and one lean server (``receiver.py``, uvloop + httptools) that plays a CPO
(BE/BEC) and the eMSPs NL/000 ... NL/999, DE/000 ... (``lean.py``). Every platform registers by
a real credentials handshake run from this script. The eMSPs announce a locations RECEIVER
endpoint (``--hubclientinfo``: a hubclientinfo one too, which makes every registration a
broadcast to every platform registered before it).

The platforms are registered in stages, one hub throughout: first 10 (the reference for the
cost of one registration), then up to each N in turn. At each stage the last ``--probes``
platforms are registered one at a time and timed (the admin API's POST, then the handshake);
the others ``--concurrency`` at a time (creation and handshake each), which gives the rate.
Then, at each N:

* idle: nothing queued, every platform CONNECTED; over ``--idle-seconds``: CPU (% of one core,
  utime + stime from /proc/<pid>/stat) of the hub's Python process(es) and of its redis-server
  separately, the hub's RSS and open fds (/proc/<pid>/fd), Redis's connected_clients (INFO
  clients, minus this script's own connection);
* fan-out: the CPO broadcasts a location (PUT through the hub, OCPI-to NL/HUB, a new id each
  round); the time until the LAST eMSP has it (the lean server's CLOCK_MONOTONIC), and the
  time until the CPO's answer;
* sustained: K broadcasts back to back (each PUT sent when the previous one is answered) to the
  N eMSPs, K = ``--deliveries`` / N; deliveries per second from the first PUT to the last
  arrival. (A single receiver's queue drain after an outage: ``broadcast.py``.)
* restart: SIGTERM to the hub (its exit status and how long it took: with ``--workers 2`` this
  is the check that several workers stop cleanly), then the hub started again on the same data
  dir: the time until /readyz answers 200, and until a broadcast sent then reached every eMSP.

Each measurement is printed with its target and whether it met it; targets do not change the
exit status. The exit status is 1 when a check of correctness failed: a broadcast that did not
reach every eMSP, a registration refused, a refused token or body at the lean server, the hub
not stopping with status 0, or an error or traceback in the hub's log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from lean import (  # noqa: E402
    CPO_ENDPOINTS,
    CPO_ROLE,
    EMSP_ENDPOINTS,
    FAST,
    HUB_PARTY,
    HUBCLIENTINFO,
    MAX_EMSPS,
    Driver,
    LeanServer,
    Party,
    emsp,
    environment,
    raise_open_files_limit,
    report_problems,
    summary_ms,
)

from tests.hubproc import HubProcess  # noqa: E402
from tests.parties import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
REFERENCE = 10  # platforms registered when one registration is timed for reference
SHUTDOWN_TIMEOUT = 3.0  # the hub's --shutdown-timeout here: a clean stop takes less
DELIVERIES_PER_WORKER = 5000  # targets from issue 13
READY_SECONDS = 10.0
ACK_MS = 50.0
REDIS_CONNECTIONS_PER_PROCESS = 64
RSS_MB = 300.0
IDLE_CPU_PERCENT = 5.0


# --- the hub's processes -------------------------------------------------------------------------


@dataclass
class Proc:
    pid: int
    name: str
    cpu: float  # seconds, user + system
    rss: int  # bytes


def hub_processes(hub_pid: int) -> list[Proc]:
    """The hub's process and its descendants (workers, redis-server), from /proc."""
    table: dict[int, tuple[int, Proc]] = {}
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
        name = data[data.index("(") + 1 : close]
        rss = int(fields[21]) * PAGE_SIZE
        table[int(entry)] = (int(fields[1]), Proc(int(entry), name, cpu, rss))
    tree = {hub_pid}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return [table[pid][1] for pid in sorted(tree) if pid in table]


def is_redis(proc: Proc) -> bool:
    return proc.name.startswith("redis")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def redis_clients(data_dir: Path) -> int:
    """INFO clients' connected_clients of the embedded Redis of the hub's data dir (its socket
    is there when the path is short enough, as the benchmark's temporary dir's is), without the
    connection asking."""
    socket = data_dir / "redis.sock"
    with redis.Redis(unix_socket_path=str(socket), socket_timeout=5) as connection:
        info = connection.info("clients")
    return int(info["connected_clients"]) - 1


# --- measurements with targets -------------------------------------------------------------------


@dataclass
class Check:
    name: str
    value: float
    shown: str
    target: str
    ok: bool | None  # None: no target

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if math.isnan(self.value) else self.value,
            "shown": self.shown,
            "target": self.target,
            "met": self.ok,
        }


def check(
    name: str,
    value: float,
    shown: str,
    target: str = "",
    met: Callable[[float], bool] | None = None,
) -> Check:
    ok = None if met is None else (not math.isnan(value) and met(value))
    return Check(name, value, shown, target, ok)


def fan_out_target(n: int) -> float:
    """Seconds until the last receiver has a broadcast: 1 s at 1,000, 10 s at 10,000 (issue 13),
    1 s below 1,000."""
    return max(1.0, n / 1000)


# --- the benchmark -------------------------------------------------------------------------------


class Scale(Driver):
    def __init__(self, args: argparse.Namespace, hub: HubProcess) -> None:
        endpoints = EMSP_ENDPOINTS + ([HUBCLIENTINFO] if args.hubclientinfo else [])
        emsps = [emsp(i, endpoints) for i in range(max(args.platforms))]
        super().__init__(hub, Party("cpo", CPO_ROLE, CPO_ENDPOINTS), emsps)
        self.args = args
        self.registered = 0  # eMSPs registered so far (the first ones of self.emsps)
        self.reference: dict[str, float] = {}  # one creation and one handshake at REFERENCE

    def new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0)
        return aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))

    # --- registration --------------------------------------------------------------------------

    async def register_concurrently(self, parties: list[Party]) -> float:
        """Create and register ``parties``, ``--concurrency`` at a time; bounded in time."""
        semaphore = asyncio.Semaphore(self.args.concurrency)

        async def one(party: Party) -> None:
            async with semaphore:
                await self.register(party, await self.create(party))

        started = time.monotonic()
        limit = 120 + len(parties) * self.args.seconds_per_registration
        try:
            await asyncio.wait_for(asyncio.gather(*(one(p) for p in parties)), limit)
        except TimeoutError:
            done = sum(1 for p in parties if p.token_c)
            raise RuntimeError(
                f"registering {len(parties)} platforms took over {limit:.0f} s ({done} done)"
            ) from None
        return time.monotonic() - started

    async def register_timed(self, parties: list[Party]) -> dict[str, float]:
        """One at a time: median seconds of the admin API's creation and of the handshake."""
        creations, handshakes = [], []
        for party in parties:
            started = time.monotonic()
            token_a = await self.create(party)
            created = time.monotonic()
            await self.register(party, token_a)
            creations.append(created - started)
            handshakes.append(time.monotonic() - created)
        return {"create": statistics.median(creations), "handshake": statistics.median(handshakes)}

    async def register_up_to(self, n: int) -> tuple[float, dict[str, float]]:
        """Register eMSPs until ``n`` are: the last ``--probes`` timed one by one. Returns the
        rate of the concurrent part (platforms/s) and the timed medians."""
        probes = self.args.probes
        batch = self.emsps[self.registered : n - probes]
        took = await self.register_concurrently(batch) if batch else math.nan
        timed = await self.register_timed(self.emsps[n - probes : n])
        self.registered = n
        return (len(batch) / took if batch else math.nan), timed

    # --- idle ----------------------------------------------------------------------------------

    async def idle(self, n: int) -> list[Check]:
        assert self.hub.process is not None
        await asyncio.sleep(2)  # the last answers and acknowledgements
        before = {p.pid: p.cpu for p in hub_processes(self.hub.process.pid)}
        started = time.monotonic()
        await asyncio.sleep(self.args.idle_seconds)
        procs = hub_processes(self.hub.process.pid)
        wall = time.monotonic() - started
        percent = {p.pid: 100 * (p.cpu - before.get(p.pid, 0.0)) / wall for p in procs}
        pythons = [p for p in procs if not is_redis(p)]
        servers = [p for p in procs if is_redis(p)]
        hub_cpu = sum(percent[p.pid] for p in pythons)
        redis_cpu = sum(percent[p.pid] for p in servers)
        clients = redis_clients(self.hub.data_dir)
        serving = self.args.workers
        per_process = clients / serving
        fds = max(open_fds(p.pid) for p in pythons)
        rss = sum(p.rss for p in pythons) / 2**20
        rss_max = max(p.rss for p in pythons) / 2**20
        return [
            check(
                "idle: hub CPU, % of a core",
                hub_cpu,
                f"{hub_cpu:.1f}",
                f"< {IDLE_CPU_PERCENT:g}",
                lambda v: v < IDLE_CPU_PERCENT,
            ),
            check("idle: redis-server CPU, % of a core", redis_cpu, f"{redis_cpu:.1f}"),
            check(
                "idle: Redis connections per hub process",
                per_process,
                f"{per_process:.0f} ({clients} in all)",
                f"<= {REDIS_CONNECTIONS_PER_PROCESS}",
                lambda v: v <= REDIS_CONNECTIONS_PER_PROCESS,
            ),
            check("idle: open fds, largest hub process", fds, f"{fds}"),
            check(
                "idle: hub RSS, MB (largest process)",
                rss_max,
                f"{rss_max:.0f}" + (f" ({rss:.0f} in all)" if len(pythons) > 1 else ""),
                f"< {RSS_MB:g}",
                lambda v: v < RSS_MB,
            ),
        ]

    # --- broadcasts ----------------------------------------------------------------------------

    async def broadcast(self, object_id: str, n: int) -> tuple[float, float]:
        """(seconds until the CPO's answer, until the last of the n eMSPs has it)."""
        started = time.monotonic()
        await self.hub_put("locations", object_id, HUB_PARTY)
        ack = time.monotonic() - started
        _, last, _ = await self.until_all(object_id, started, n, self.wait_seconds(n))
        return ack, last

    @staticmethod
    def wait_seconds(n: int) -> float:
        return 30 + 3 * fan_out_target(n)

    async def fan_out(self, n: int) -> tuple[list[Check], dict[str, Any]]:
        await self.broadcast(f"FW{n}-0", n)  # warm-up: connections, caches
        acks, alls = [], []
        for r in range(self.args.rounds):
            await asyncio.sleep(0.2)
            ack, last = await self.broadcast(f"F{n}-{r}", n)
            acks.append(ack)
            if not math.isnan(last):
                alls.append(last)
        target = fan_out_target(n)
        worst = max(alls) if alls else math.nan
        median = statistics.median(alls) if alls else math.nan
        ack_median = statistics.median(acks)
        checks = [
            check(
                "fan-out: until the last eMSP has it, s",
                worst,
                f"{median:.3f} (max {worst:.3f})",
                f"< {target:g}",
                lambda v: v < target,
            ),
            check(
                "fan-out: the CPO's answer, ms",
                1000 * ack_median,
                f"{1000 * ack_median:.1f} (max {1000 * max(acks):.1f})",
                f"< {ACK_MS:g}",
                lambda v: v < ACK_MS,
            ),
        ]
        detail: dict[str, Any] = {"ack": summary_ms(acks)}
        if alls:
            detail["all"] = summary_ms(alls)
        return checks, detail

    async def sustained(self, n: int) -> tuple[list[Check], dict[str, Any]]:
        assert self.hub.process is not None
        k = max(3, math.ceil(self.args.deliveries / n))
        expected = k * n
        tag = f"S{n}"
        before = {p.pid: p.cpu for p in hub_processes(self.hub.process.pid)}
        started = time.monotonic()
        for i in range(k):
            await self.hub_put("locations", f"{tag}-{i}", HUB_PARTY)
        sent = time.monotonic() - started
        deadline = started + 60 + expected / 500
        while True:
            got = await self.control("GET", f"/_tag?tag={tag}")
            if got["count"] >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        wall = time.monotonic() - started
        procs = hub_processes(self.hub.process.pid)
        cpu = {
            kind: round(
                sum(100 * (p.cpu - before.get(p.pid, 0.0)) / wall for p in procs if test(p)), 1
            )
            for kind, test in (("hub", lambda p: not is_redis(p)), ("redis", is_redis))
        }
        for i in range(k):  # every eMSP got every one (a shortfall is a problem)
            await self.until_all(f"{tag}-{i}", started, n, timeout=1)
        rate = (got["count"] - 1) / (got["last"] - got["first"]) if got["count"] > 1 else 0.0
        overall = got["count"] / (got["last"] - started) if got["count"] else 0.0
        target = DELIVERIES_PER_WORKER * self.args.workers
        checks = [
            check(
                "sustained: deliveries/s",
                overall,
                f"{overall:.0f} ({k} x {n})",
                f">= {target}",
                lambda v: v >= target,
            )
        ]
        detail = {
            "broadcasts": k,
            "deliveries": expected,
            "received": got["count"],
            "puts_seconds": round(sent, 3),
            "seconds": round(got["last"] - started, 3) if got["count"] else None,
            "deliveries_per_s": round(overall, 1),
            "first_to_last_per_s": round(rate, 1),
            "cpu_percent": cpu,
        }
        return checks, detail

    # --- restart -------------------------------------------------------------------------------

    async def restart(self, n: int) -> tuple[list[Check], dict[str, Any]]:
        assert self.session is not None
        started = time.monotonic()
        code = await asyncio.to_thread(self.hub.stop, signal.SIGTERM, 30.0)
        stopped = time.monotonic() - started
        if code != 0:
            self.problems.append(f"restart at {n}: the hub exited with {code} on SIGTERM")
        await self.session.close()  # its connections were to the hub that stopped
        self.session = self.new_session()
        started = time.monotonic()
        await asyncio.to_thread(self.hub.start, 120.0)
        ready = time.monotonic() - started
        await self.hub_put("locations", f"R{n}", HUB_PARTY)
        _, last, _ = await self.until_all(f"R{n}", started, n, self.wait_seconds(n))
        checks = [
            check(
                "restart: SIGTERM until exit, s",
                stopped,
                f"{stopped:.2f} (status {code})",
                f"< {SHUTDOWN_TIMEOUT:g}",
                lambda v: v < SHUTDOWN_TIMEOUT,
            ),
            check(
                "restart: start until /readyz 200, s",
                ready,
                f"{ready:.2f}",
                f"< {READY_SECONDS:g}",
                lambda v: v < READY_SECONDS,
            ),
            check(
                "restart: start until a broadcast reached all, s",
                last,
                f"{last:.2f}",
                f"< {READY_SECONDS:g}",
                lambda v: v < READY_SECONDS,
            ),
        ]
        reached = None if math.isnan(last) else last
        return checks, {"exit_status": code, "stop_s": stopped, "ready_s": ready, "all_s": reached}

    # --- a stage -------------------------------------------------------------------------------

    async def stage(self, n: int) -> dict[str, Any]:
        print(f"N = {n}: registering eMSPs {self.registered} to {n} ...", flush=True)
        started = time.monotonic()
        rate, timed = await self.register_up_to(n)
        registering = time.monotonic() - started
        settle = await self.quiet(timeout=120 + n / 20, every=max(0.2, n / 2000))
        print(f"  {registering:.1f} s ({rate:.1f} platforms/s), settled in {settle:.1f} s")
        checks = [check("registration: platforms/s (concurrent)", rate, f"{rate:.1f}")]
        for what in ("create", "handshake"):
            ratio = timed[what] / self.reference[what]
            label = "admin POST /platforms" if what == "create" else "credentials handshake"
            checks.append(
                check(
                    f"registration: one {label}, ms",
                    ratio,
                    f"{1000 * timed[what]:.1f} ({ratio:.2f} x at {REFERENCE})",
                    "<= 2 x",
                    lambda v: v <= 2,
                )
            )
        print("  idle ...", flush=True)
        checks += await self.idle(n)
        print("  fan-out ...", flush=True)
        found, fan_out = await self.fan_out(n)
        checks += found
        print("  sustained ...", flush=True)
        found, sustained = await self.sustained(n)
        checks += found
        await self.quiet(timeout=120 + n / 20, every=max(0.2, n / 2000))
        print("  restart ...", flush=True)
        found, restart = await self.restart(n)
        checks += found
        return {
            "platforms": n,
            "registration": {
                "seconds": round(registering, 2),
                "per_s": None if math.isnan(rate) else round(rate, 2),
                "one_create_s": timed["create"],
                "one_handshake_s": timed["handshake"],
                "settle_s": round(settle, 2),
            },
            "fan_out": fan_out,
            "sustained": sustained,
            "restart": restart,
            "checks": [c.row() for c in checks],
        }

    async def run(self) -> list[dict[str, Any]]:
        self.session = self.new_session()
        try:
            await self.wait_lean()
            await self.register(self.cpo, await self.create(self.cpo))
            print(f"registering the first {REFERENCE} eMSPs (reference) ...", flush=True)
            _, self.reference = await self.register_up_to(REFERENCE)
            stages = [await self.stage(n) for n in self.args.platforms]
            await self.lean_problems()
            return stages
        finally:
            await self.session.close()


# --- output ------------------------------------------------------------------------------------


def print_table(stages: list[dict[str, Any]]) -> None:
    names = list(dict.fromkeys(c["name"] for s in stages for c in s["checks"]))
    by_stage = [{c["name"]: c for c in s["checks"]} for s in stages]
    width = max(len(n) for n in names) + 2
    columns = [f"N = {s['platforms']}" for s in stages]
    cell = max(24, *(len(c["shown"]) + 6 for s in stages for c in s["checks"]))
    head = f"{'':{width}}{'target':>10}  " + "".join(f"{c:>{cell}}" for c in columns)
    print()
    print(head)
    print("-" * len(head))
    for name in names:
        target = next(found[name]["target"] for found in by_stage if name in found) or "-"
        row = f"{name:{width}}{target:>10}  "
        for found in by_stage:
            c = found.get(name)
            if c is None:
                row += f"{'':>{cell}}"
                continue
            mark = {True: " ok", False: " MISS", None: ""}[c["met"]]
            row += f"{c['shown'] + mark:>{cell}}"
        print(row)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Scale benchmark: idle cost, registration, fan-out, sustained delivery and "
        "restart of one hub with N platforms."
    )
    parser.add_argument(
        "--platforms",
        default="100,1000,10000",
        help="the N measured, in increasing order, comma-separated (default 100,1000,10000)",
    )
    parser.add_argument("--quick", action="store_true", help="N = 100 only, short windows")
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes (default 1)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="registrations in flight (default 16)"
    )
    parser.add_argument(
        "--probes", type=int, default=5, help="registrations timed one by one per stage (5)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=20.0, help="the idle window (default 20 s)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="fan-out broadcasts (default 5)")
    parser.add_argument(
        "--deliveries",
        type=int,
        default=20000,
        help="sustained: about this many deliveries, N per broadcast (default 20000)",
    )
    parser.add_argument(
        "--seconds-per-registration",
        type=float,
        default=1.0,
        help="registration gives up after 120 s + this per platform (default 1)",
    )
    parser.add_argument(
        "--hubclientinfo",
        action="store_true",
        help="the eMSPs announce a hubclientinfo RECEIVER endpoint too: each registration is "
        "then a broadcast to every platform before it (N^2 / 2 deliveries)",
    )
    parser.add_argument(
        "--hub-arg",
        action="append",
        default=[],
        help="extra option for 'hub serve', e.g. --hub-arg=--log-level=warning (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) at the end")
    args = parser.parse_args(argv)
    if args.quick:
        args.platforms = "100"
        args.idle_seconds, args.rounds, args.deliveries = 5.0, 3, 2000
    try:
        args.platforms = [int(n) for n in args.platforms.split(",")]
    except ValueError:
        parser.error("--platforms: comma-separated numbers")
    if args.platforms != sorted(set(args.platforms)):
        parser.error("--platforms: increasing, each once")
    if min(args.probes, args.concurrency, args.rounds, args.deliveries, args.workers) < 1:
        parser.error("--probes, --concurrency, --rounds, --deliveries, --workers: at least 1")
    if args.platforms[0] < REFERENCE + args.probes or args.platforms[-1] > MAX_EMSPS:
        parser.error(f"--platforms: from {REFERENCE + args.probes} to {MAX_EMSPS}")
    if args.idle_seconds <= 0:
        parser.error("--idle-seconds must be positive")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
    files = raise_open_files_limit()  # the lean server holds one fd per hub connection
    work = Path(tempfile.mkdtemp(prefix="ocpi-hub-scale-"))
    hub: HubProcess | None = None
    try:
        with ExitStack() as stack:
            hub_args = [*FAST, "--shutdown-timeout", f"{SHUTDOWN_TIMEOUT:g}"]
            hub_args += ["--workers", str(args.workers), *args.hub_arg]
            path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            hub = HubProcess(work / "data", args=hub_args, env={"PYTHONPATH": path})
            print(f"starting the hub ({args.workers} worker(s)) on {hub.url} ...", flush=True)
            hub.start(timeout=60)
            stack.callback(hub.stop)

            bench = Scale(args, hub)
            config = work / "parties.json"
            config.write_text(json.dumps(bench.config()))
            bench.lean = LeanServer(free_port(), config, work / "receiver.log")
            stack.callback(bench.lean.stop)

            stages = asyncio.run(bench.run())
            print_table(stages)

            report_problems(hub.log(), bench.problems)
            if args.json:
                document = {
                    "environment": environment(),
                    "settings": {
                        "platforms": args.platforms,
                        "workers": args.workers,
                        "concurrency": args.concurrency,
                        "probes": args.probes,
                        "idle_seconds": args.idle_seconds,
                        "rounds": args.rounds,
                        "deliveries": args.deliveries,
                        "hubclientinfo": args.hubclientinfo,
                        "hub_args": hub_args,
                        "open_files_limit": files,
                    },
                    "reference": {"platforms": REFERENCE, **bench.reference},
                    "stages": stages,
                    "problems": bench.problems,
                }
                args.json.write_text(json.dumps(document, indent=2) + "\n")
                print(f"wrote {args.json}")
            return 1 if bench.problems else 0
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


if __name__ == "__main__":
    sys.exit(main())
