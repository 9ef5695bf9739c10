"""Broadcast benchmark: how long one broadcast push takes to reach every receiver, and how fast
a receiver's queue drains after an outage; each against a baseline measured in the same run.

    python benchmarks/broadcast.py [--receivers 100] [--pushes 20] [--messages 5000] \
        [--workers 1] [--py-spy DIR] [--json out.json]

Run it from the repository root with the project's Python (it imports ``tests/``). It starts,
all on 127.0.0.1 and all stopped at the end (also on Ctrl-C, SIGTERM or an error):

* the real hub (``python -m hub serve``, a temporary data dir, its embedded Redis) with
  ``--retry-base 0.05 --retry-max 0.5 --offline-after 3``. ``--redis-max-connections N`` starts
  the Redis here instead and gives the hub's client a pool of N connections through
  ``--redis-url`` (the hub's own pool holds 4096 and waits when they are all in use: it holds
  one connection per receiving platform in a blocking read);
* one lean server (``benchmarks/receiver.py``: uvloop + httptools) that plays every
  platform: a CPO (BE/BEC, the party of the official location example) under ``/cpo`` and the
  eMSPs NL/000, NL/001, ... under ``/e000``, ``/e001``, ... It serves their versions, version
  details and module URLs, checks every token and every pushed body byte for byte, and records
  when each party received each object (``CLOCK_MONOTONIC``, comparable across processes).

Each platform is registered by a real credentials handshake run from this script (token A from
the admin API; the hub reads the versions and details at the lean server with the platform's
token B and hands back token C). The eMSPs announce locations and hubclientinfo RECEIVER
endpoints; the first eMSP (NL/000, the one drained) also tariffs RECEIVER.

**Fan-out.** The CPO broadcasts a location: ``PUT /ocpi/2.2.1/receiver/locations/BE/BEC/{id}``
with OCPI-to NL/HUB, a new id each time. Measured: from just before the PUT until the last eMSP
has it (the receiver's clock); also until the first has it and until the CPO's answer.
Baselines: the same PUT sent by this Python process (aiohttp, kept-alive connections, the
headers the hub sends: each eMSP's token, OCPI-from the hub, OCPI-to the eMSP) straight to every
eMSP, measured the same way: one after the other (``sequential``) and all at once
(``concurrent``, ``asyncio.gather``). The three are interleaved, one of each per round.

**Queue drain.** Tariffs, so that only the drained eMSP's queue fills (a location is queued for
every eMSP: ``--messages`` times ``--receivers`` deliveries). The eMSP's server answers 503
(its versions too, so the hub's probes fail); the CPO broadcasts ``--messages`` distinct tariffs
(no coalescing); once all are queued (``GET /admin/queues`` depth) and the platform is OFFLINE,
the server answers again and the hub's next probe brings the platform back. The drain rate is
the messages received over the time from the first to the last arrival (the receiver's clock);
the time until ``GET /admin/queues`` shows depth 0 is reported too (polled once a second, then
every 50 ms once the receiver has every message: each poll reads every platform's queue and
would slow the drain it measures). Baselines, measured before and after (their mean is
compared, as noise drifts): the same tariff PUT forwarded through the hub to that eMSP (OCPI-to
NL/000) one call at a time, as the queue delivers, and sent straight to the eMSP's server one
at a time.

The exit status is 1 when a check failed: a refused token or body, a push that did not reach
every eMSP, a dead letter, the drained queue not empty, or an error or traceback in the hub's
log.
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
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from forward import cpu_by_component, profile_summary  # noqa: E402
from lean import (  # noqa: E402
    CPO_ENDPOINTS,
    CPO_ROLE,
    EMSP_ENDPOINTS,
    FAST,
    HUB_PARTY,
    HUBCLIENTINFO,
    STOP_SOON,
    Driver,
    LeanServer,
    Party,
    V,
    environment,
    report_problems,
    summary_ms,
)

from hub.store.embedded import EmbeddedRedis  # noqa: E402
from tests.hubproc import HubProcess  # noqa: E402
from tests.parties import b64, free_port  # noqa: E402

DRAINED = "e000"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Profiler:
    """py-spy on the hub (and its workers) from now until stop(); folded stacks out."""

    def __init__(self, directory: Path, pid: int, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.output = directory / f"{name}.folded"
        executable = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [executable, "record", "--pid", str(pid), "--subprocesses", "--rate", "200"]
        command += ["--duration", "600", "--format", "raw", "--output", str(self.output)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> list[str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
        try:
            _, errors = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            errors = ""
        if not self.output.exists():
            return [f"py-spy wrote nothing: {(errors or '').strip()[:300]}"]
        lines = [f"profile: {self.output}", "on the stack (inclusive), the hub's functions:"]
        lines += [
            f"  {line}"
            for line in profile_summary(self.output, top=13)
            # the root frame of each process: always 100%
            if not line.partition("%")[2].strip().startswith("process ")
        ]
        lines += ["where the samples are (self time, any code):"]
        return lines + [f"  {line}" for line in self_time(self.output, top=12)]


def self_time(folded: Path, top: int) -> list[str]:
    """The functions (any module) that were running, by samples (folded py-spy output)."""
    counts: dict[str, int] = {}
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        leaf = stack.split(";")[-1]
        name, _, where = leaf.partition(" (")
        where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
        for marker in ("site-packages/", "python3.11/", "/work/"):
            where = where.rpartition(marker)[2] if marker in where else where
        key = f"{name} ({where})"
        counts[key] = counts.get(key, 0) + int(count)
        total += int(count)
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
    return [f"{100 * n / max(total, 1):5.1f}%  {name}" for name, n in ranked]


class Bench(Driver):
    def __init__(self, args: argparse.Namespace, hub: HubProcess) -> None:
        emsps = [
            Party(
                f"e{i:03d}",
                ("NL", f"{i:03d}", "EMSP"),
                EMSP_ENDPOINTS
                + ([HUBCLIENTINFO] if args.hubclientinfo else [])
                + ([["tariffs", "RECEIVER"]] if i == 0 else []),
            )
            for i in range(args.receivers)
        ]
        super().__init__(hub, Party("cpo", CPO_ROLE, CPO_ENDPOINTS), emsps)
        self.args = args
        self.redis_pid: int | None = None  # the Redis this process started for the hub

    # --- HTTP ----------------------------------------------------------------------------

    @staticmethod
    def direct_headers(emsp: Party) -> dict[str, str]:
        """What the hub sends the eMSP with a broadcast."""
        return {
            "Authorization": f"Token {b64(emsp.token_b)}",
            "OCPI-from-country-code": HUB_PARTY[0],
            "OCPI-from-party-id": HUB_PARTY[1],
            "OCPI-to-country-code": emsp.role[0],
            "OCPI-to-party-id": emsp.role[1],
        }

    def direct_url(self, emsp: Party, module: str, object_id: str) -> str:
        cc, pid, _ = CPO_ROLE
        return f"{self.lean.url}/{emsp.key}{V}/{module}/receiver/{cc}/{pid}/{object_id}"

    async def direct_put(self, emsp: Party, module: str, object_id: str) -> None:
        status, answer = await self.call(
            "PUT",
            self.direct_url(emsp, module, object_id),
            headers=self.direct_headers(emsp),
            body=self.body(module, object_id),
        )
        if status != 200:
            raise RuntimeError(f"direct PUT to {emsp.key}: HTTP {status} {answer}")

    # --- setting up ------------------------------------------------------------------------

    async def register_all(self) -> float:
        """Platforms created one after the other (the hub answers concurrent creations with
        409 "roles changed concurrently"), handshakes 8 at a time."""
        started = time.monotonic()
        parties = [self.cpo, *self.emsps]
        tokens = [await self.create(p) for p in parties]
        semaphore = asyncio.Semaphore(8)

        async def one(party: Party, token_a: str) -> None:
            async with semaphore:
                await self.register(party, token_a)

        await one(self.cpo, tokens[0])
        await asyncio.gather(*(one(p, t) for p, t in zip(parties[1:], tokens[1:], strict=True)))
        return time.monotonic() - started

    # --- fan-out -----------------------------------------------------------------------------

    async def fan_out_once(self, kind: str, object_id: str) -> dict[str, float]:
        row: dict[str, float] = {}
        started = time.monotonic()
        if kind == "hub":
            await self.hub_put("locations", object_id, HUB_PARTY)
            row["ack"] = time.monotonic() - started
        elif kind == "sequential":
            for emsp in self.emsps:
                await self.direct_put(emsp, "locations", object_id)
        else:
            await asyncio.gather(*(self.direct_put(e, "locations", object_id) for e in self.emsps))
        row["first"], row["all"], _ = await self.until_all(object_id, started)
        return row

    async def fan_out(self) -> dict[str, Any]:
        kinds = ["hub", "sequential", "concurrent"]
        for n in range(2):  # warm-up: connections, caches
            for kind in kinds:
                await self.fan_out_once(kind, f"WARM-{kind[0].upper()}{n}")
                await asyncio.sleep(0.05)
        rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        profiler = self.profiler("fan-out")
        await asyncio.sleep(0.5 if profiler else 0)  # py-spy attaches
        cpu_before, wall = self.cpu(), time.monotonic()
        try:
            for n in range(self.args.pushes):
                for kind in kinds[n % 3 :] + kinds[: n % 3]:  # rotate the order each round
                    rows[kind].append(await self.fan_out_once(kind, f"F{kind[0].upper()}-{n}"))
                    await asyncio.sleep(0.05)
        finally:
            cpu = self.cpu_percent(cpu_before, self.cpu(), time.monotonic() - wall)
            profile = profiler.stop() if profiler is not None else []
        result: dict[str, Any] = {"cpu_percent": cpu, "profile": profile}
        for kind, found in rows.items():
            ok = [r for r in found if not math.isnan(r["all"])]
            if not ok:
                continue
            result[kind] = {
                "all": summary_ms([r["all"] for r in ok]),
                "first": summary_ms([r["first"] for r in ok]),
                "samples_ms": [round(1000 * r["all"], 2) for r in ok],
            }
            if kind == "hub":
                result[kind]["ack"] = summary_ms([r["ack"] for r in ok])
        return result

    # --- drain ---------------------------------------------------------------------------------

    async def rate_one_at_a_time(self, target: str, tag: str, count: int) -> float:
        """Messages per second, one call at a time, via the hub or straight to the eMSP."""
        drained = self.emsps[0]
        to = drained.role[:2]

        async def send(object_id: str) -> None:
            if target == "hub":
                await self.hub_put("tariffs", object_id, (to[0], to[1]))
            else:
                await self.direct_put(drained, "tariffs", object_id)

        for n in range(min(50, count)):  # warm-up
            await send(f"W{tag}-{n}")
        started = time.monotonic()
        for n in range(count):
            await send(f"{tag}-{n}")
        elapsed = time.monotonic() - started
        got = await self.control("GET", f"/_tag?tag={tag}")
        if got["count"] != count:
            self.problems.append(f"{target} baseline: {got['count']} of {count} arrived")
        return count / elapsed

    async def drain(self) -> dict[str, Any]:
        args = self.args
        drained = self.emsps[0]
        result: dict[str, Any] = {
            "messages": args.messages,
            "body_bytes": len(self.body("tariffs", "DR-0")),
        }
        # The baselines before and after the drain (the mean is compared): noise from other
        # programs on the machine drifts.
        baselines: dict[str, list[float]] = {"hub": [], "direct": []}
        for target in baselines:
            rate = await self.rate_one_at_a_time(target, f"B{target[0]}1", args.baseline_messages)
            baselines[target].append(rate)

        # The outage, and the broadcasts queued meanwhile.
        await self.control("POST", f"/_down?party={drained.key}&on=1")
        semaphore = asyncio.Semaphore(args.ingest_concurrency)

        async def push(n: int) -> None:
            async with semaphore:
                await self.hub_put("tariffs", f"DR-{n}", HUB_PARTY)

        started = time.monotonic()
        await asyncio.gather(*(push(n) for n in range(args.messages)))
        result["ingest_per_s"] = args.messages / (time.monotonic() - started)
        deadline = time.monotonic() + 60
        while True:
            queue = (await self.queues())[drained.platform_id]
            if queue["depth"] >= args.messages and queue["status"] == "OFFLINE":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the drained queue did not fill: {queue}")
            await asyncio.sleep(0.2)
        result["queued_depth"] = queue["depth"]

        # Back: the hub's next probe finds it; the queue drains.
        profiler = self.profiler("drain")
        await asyncio.sleep(0.5 if profiler else 0)  # py-spy attaches
        cpu_before = self.cpu()
        await self.control("POST", f"/_down?party={drained.key}&on=0")
        up = time.monotonic()
        # GET /admin/queues reads every platform's queue (one pipeline each): polled once a
        # second while the receiver's count (cheap, outside the hub) is short, then every
        # 50 ms until it shows the queue empty.
        depths: list[tuple[float, int]] = []
        timeout = max(60.0, args.messages / 50)
        next_admin = 0.0
        try:
            while True:
                now = time.monotonic()
                got = await self.control("GET", "/_tag?tag=DR")
                if got["count"] >= args.messages or now >= next_admin:
                    queue = (await self.queues())[drained.platform_id]
                    depths.append((round(time.monotonic() - up, 3), queue["depth"]))
                    next_admin = now + 1.0
                    if queue["depth"] == 0:
                        break
                if now - up > timeout:
                    self.problems.append(f"the drained queue still holds {queue['depth']}")
                    break
                await asyncio.sleep(0.05)
        finally:
            empty = time.monotonic()
            cpu_after = self.cpu()
            if profiler is not None:
                result["profile"] = profiler.stop()
        got = await self.control("GET", "/_tag?tag=DR")
        result["received"] = got["count"]
        if got["count"] < args.messages:
            self.problems.append(f"drain: {got['count']} of {args.messages} arrived")
        if got["count"] > 1:
            span = got["last"] - got["first"]
            result["drain_seconds"] = span
            result["drain_per_s"] = (got["count"] - 1) / span if span > 0 else math.inf
            result["recovery_seconds"] = got["first"] - up
        result["until_empty_seconds"] = empty - up
        result["until_empty_per_s"] = args.messages / (empty - up)
        result["dead_letters"] = queue["dead_letters"]
        if queue["dead_letters"]:
            self.problems.append(f"drain: {queue['dead_letters']} dead letters")
        result["depth_samples"] = depths
        result["cpu_percent"] = self.cpu_percent(cpu_before, cpu_after, empty - up)
        await self.quiet()
        for target in baselines:
            rate = await self.rate_one_at_a_time(target, f"B{target[0]}2", args.baseline_messages)
            baselines[target].append(rate)
        result["forward_via_hub_c1_runs"] = baselines["hub"]
        result["direct_c1_runs"] = baselines["direct"]
        result["forward_via_hub_c1_per_s"] = statistics.mean(baselines["hub"])
        result["direct_c1_per_s"] = statistics.mean(baselines["direct"])
        for key in ("forward_via_hub_c1_per_s", "direct_c1_per_s"):
            if result.get("drain_per_s"):
                result[f"ratio_to_{key[:-6]}"] = result["drain_per_s"] / result[key]
        return result

    def profiler(self, name: str) -> Profiler | None:
        if not self.args.py_spy:
            return None
        assert self.hub.process is not None
        return Profiler(self.args.py_spy, self.hub.process.pid, name)

    # --- CPU -----------------------------------------------------------------------------------

    def cpu(self) -> dict[str, float]:
        assert self.hub.process is not None
        found = cpu_by_component(self.hub.process.pid, self.lean.process.pid)
        if self.redis_pid is not None:  # not the hub's child: counted here
            try:
                with open(f"/proc/{self.redis_pid}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
                found["redis"] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            except OSError:
                pass
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        found["softirq"] = (ticks[5] + ticks[6]) / CLOCK_TICKS  # network stack, anyone's
        return found

    @staticmethod
    def cpu_percent(
        before: dict[str, float], after: dict[str, float], wall: float
    ) -> dict[str, float]:
        used = {k: 100 * (after[k] - before[k]) / wall for k in after}
        machine = used.pop("machine")
        ours = used["hub"] + used["redis"] + used["receiver"] + used["driver"]
        used["other"] = max(0.0, machine - ours - used["softirq"])  # other programs
        return {k: round(v, 1) for k, v in used.items()}

    async def run(self) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, skip_auto_headers=("User-Agent",)
        ) as self.session:
            await self.wait_lean()
            print(f"registering 1 CPO and {len(self.emsps)} eMSPs ...", flush=True)
            took = await self.register_all()
            settled = await self.quiet()
            print(f"  handshakes {took:.1f} s, HubClientInfo settled in {settled:.1f} s")
            print(f"fan-out: {self.args.pushes} rounds of hub / sequential / concurrent ...")
            fan_out = await self.fan_out()
            await self.quiet()
            print(f"drain: {self.args.messages} tariffs queued for {DRAINED} during an outage ...")
            drain = await self.drain()
            stats = await self.lean_problems()
            return {
                "setup": {"handshakes_seconds": took, "settle_seconds": settled},
                "fan_out": fan_out,
                "drain": drain,
                "receiver_stats": stats,
            }


# --- output ------------------------------------------------------------------------------------


def print_report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    fan, drain = result["fan_out"], result["drain"]
    print()
    title = f"fan-out: one location PUT to {args.receivers} eMSPs, {args.pushes} pushes each"
    print(title)
    head = f"{'':34}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}   ms, until all have it"
    print(head)
    print("-" * len(head))
    labels = {
        "hub": "broadcast through the hub",
        "sequential": "direct from Python, sequential",
        "concurrent": "direct from Python, concurrent",
    }
    for kind, label in labels.items():
        if kind not in fan:
            continue
        s = fan[kind]["all"]
        print(
            f"{label:34}{s['median_ms']:>9.1f}{s['p90_ms']:>9.1f}{s['min_ms']:>9.1f}"
            f"{s['max_ms']:>9.1f}"
        )
    if "hub" in fan:
        hub = fan["hub"]
        print(
            f"  hub: the CPO's answer after {hub['ack']['median_ms']:.1f} ms (median), the first "
            f"eMSP has it after {hub['first']['median_ms']:.1f} ms"
        )
        for kind in ("sequential", "concurrent"):
            if kind in fan:
                ratio = hub["all"]["median_ms"] / fan[kind]["all"]["median_ms"]
                print(f"  hub / direct {kind}: {ratio:.2f} x (medians)")
    print(f"  cpu% over the rounds: {_cpu(fan['cpu_percent'])}")
    for line in fan.get("profile", []):
        print(f"  {line}")

    print()
    print(
        f"drain: {drain['messages']} distinct tariffs ({drain['body_bytes']} B) queued for "
        f"one eMSP during an outage"
    )
    rows = [
        ("queue drain (first -> last arrival)", drain.get("drain_per_s"), ""),
        (
            "until GET /admin/queues depth 0",
            drain["until_empty_per_s"],
            f"({drain['until_empty_seconds']:.2f} s from back up, recovery "
            f"{drain.get('recovery_seconds', math.nan):.2f} s)",
        ),
        (
            "baseline: forwards via the hub, c=1",
            drain["forward_via_hub_c1_per_s"],
            "(before/after: "
            + " / ".join(f"{r:.0f}" for r in drain["forward_via_hub_c1_runs"])
            + ")",
        ),
        (
            "baseline: direct to the eMSP, c=1",
            drain["direct_c1_per_s"],
            "(before/after: " + " / ".join(f"{r:.0f}" for r in drain["direct_c1_runs"]) + ")",
        ),
        (
            f"ingest: broadcast PUTs, c={args.ingest_concurrency}",
            drain["ingest_per_s"],
            "(the CPO's PUTs answered)",
        ),
    ]
    for label, rate, note in rows:
        shown = f"{rate:10.0f} msg/s" if rate is not None else "         -"
        print(f"{label:38}{shown}  {note}")
    if drain.get("drain_per_s"):
        print(
            f"  drain / forward via hub: {drain['ratio_to_forward_via_hub_c1']:.2f}; "
            f"drain / direct: {drain['ratio_to_direct_c1']:.2f}"
        )
    print(f"  cpu% during the drain: {_cpu(drain['cpu_percent'])}")
    for line in drain.get("profile", []):
        print(f"  {line}")


def _cpu(cpu: dict[str, float]) -> str:
    names = ("hub", "redis", "receiver", "driver", "softirq", "other")
    return ", ".join(f"{k} {cpu[k]:.0f}" for k in names) + " (% of one core)"


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Broadcast benchmark: fan-out latency and queue drain rate, with baselines."
    )
    parser.add_argument("--receivers", type=int, default=100, help="eMSPs (default 100)")
    parser.add_argument("--pushes", type=int, default=20, help="fan-out rounds (default 20)")
    parser.add_argument(
        "--messages", type=int, default=5000, help="tariffs queued during the outage (5000)"
    )
    parser.add_argument(
        "--baseline-messages",
        type=int,
        default=1000,
        help="calls of each one-at-a-time drain baseline (default 1000)",
    )
    parser.add_argument(
        "--ingest-concurrency",
        type=int,
        default=8,
        help="concurrent broadcast PUTs while filling the queue (default 8)",
    )
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes (default 1)")
    parser.add_argument(
        "--no-hubclientinfo",
        dest="hubclientinfo",
        action="store_false",
        help="the eMSPs announce no hubclientinfo endpoint (a faster setup)",
    )
    parser.add_argument(
        "--redis-max-connections",
        type=int,
        default=0,
        metavar="N",
        help="start the hub's Redis here (as the hub embeds it) and give the hub's client a "
        "pool of N connections; 0 (default): the hub as shipped, with its embedded Redis",
    )
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
        help="profile the hub with py-spy during the fan-out rounds and the drain (folded "
        "stacks into DIR; py-spy pauses the hub to sample it: slower numbers)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.receivers <= 999:
        parser.error("--receivers must be 1 to 999")
    if min(args.pushes, args.messages, args.baseline_messages, args.ingest_concurrency) < 1:
        parser.error("--pushes, --messages, --baseline-messages, --ingest-concurrency >= 1")
    if args.py_spy and not (
        shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists()
    ):
        parser.error("--py-spy needs py-spy (pip install py-spy)")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
    work = Path(tempfile.mkdtemp(prefix="ocpi-hub-broadcast-"))
    hub: HubProcess | None = None
    try:
        with ExitStack() as stack:
            hub_args = [*FAST, *STOP_SOON, "--workers", str(args.workers), *args.hub_arg]
            redis_pid = None
            if args.redis_max_connections:
                # The hub's own Redis setup (EmbeddedRedis), started here so that the URL can
                # carry the client's pool size (see --redis-max-connections).
                redis = EmbeddedRedis(work / "redis")
                url = redis.start()
                stack.callback(redis.stop)  # after the hub's stop (last in, first out)
                redis_pid = redis.pid
                hub_args += ["--redis-url", f"{url}?max_connections={args.redis_max_connections}"]
            path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            hub = HubProcess(work / "data", args=hub_args, env={"PYTHONPATH": path})
            print(f"starting the hub ({args.workers} worker(s)) on {hub.url} ...", flush=True)
            hub.start(timeout=60)
            stack.callback(hub.stop)

            bench = Bench(args, hub)
            bench.redis_pid = redis_pid
            config = work / "parties.json"
            config.write_text(json.dumps(bench.config()))
            bench.lean = LeanServer(free_port(), config, work / "receiver.log")
            stack.callback(bench.lean.stop)

            result = asyncio.run(bench.run())
            print_report(args, result)

            report_problems(hub.log(), bench.problems)
            if args.json:
                document = {
                    "environment": environment(),
                    "settings": {
                        "receivers": args.receivers,
                        "pushes": args.pushes,
                        "messages": args.messages,
                        "baseline_messages": args.baseline_messages,
                        "ingest_concurrency": args.ingest_concurrency,
                        "hubclientinfo": args.hubclientinfo,
                        "redis_max_connections": args.redis_max_connections,
                        "hub_args": hub_args,
                    },
                    **result,
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
            log = hub.log()
            tail = "\n".join(log.splitlines()[-30:])
            print(f"--- the hub's log (last lines) ---\n{tail}", file=sys.stderr)
            if "Too many connections" in log:
                print(
                    "the hub's Redis connection pool ran out (see --redis-max-connections)",
                    file=sys.stderr,
                )
        raise
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
