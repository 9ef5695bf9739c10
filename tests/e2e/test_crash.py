"""The crash test: three hub processes share one Redis under a 10,000-message broadcast to three
eMSPs, while one process is SIGKILLed, one eMSP answers 503 for a while and Redis is restarted.

What must hold (README, "Queues"): every push the hub acknowledged reaches every eMSP, at least
once; per (receiver, object) nothing arrives out of order and no PATCH comes before a PUT of its
object; a message may be skipped only when a later full state (PUT) of the same object that
reaches the eMSP replaces it (coalescing), so each eMSP ends with the CPO's last state of every
object; nothing is parked and every queue is empty at the end.

The CPO is as a real one is: several connections at once (each object is pushed by one of them,
in order), round robin over the three processes, and a push answered 5xx or that cannot connect
is sent again, to the next process, until it is acknowledged.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hub.store.embedded import EmbeddedRedis
from tests.e2e.network import Member, member
from tests.e2e.objects import location
from tests.e2e.test_broadcast import evse
from tests.hubproc import HubProcess
from tests.ownhub import own_hub
from tests.parties import RecordedRequest, b64

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPO = ("NL", "CPO")
FAST = ["--retry-base", "0.05", "--retry-max", "0.5", "--offline-after", "3"]

LOCATIONS = 200
MESSAGES = 10_000
STEPS = MESSAGES // LOCATIONS  # messages per location: a PUT first, then PATCHes and PUTs
NEW_STATE_CHANCE = 0.08  # how often a later message is a full state (PUT) instead of a PATCH
CPO_CONNECTIONS = 4
MAX_BURST = 6  # messages of one location a connection sends in a row
# How long the eMSP answers 503 at least, and until it refused a call (the killed process may
# have been the one queueing broadcasts: the next takes over within 3 s).
DOWN_SECONDS = 3.0
REDIS_DOWN_SECONDS = 1.0
PUSH_PATIENCE = 30.0  # how long the CPO keeps sending one push again
PUSH_TIMEOUT = 5.0
PUSHING_TIMEOUT = 120.0
SETTLE_TIMEOUT = 60.0


def location_id(index: int) -> str:
    return f"LOC{index:03d}"


def at(seq: int) -> str:
    return f"2026-11-24T10:{seq // 60:02d}:{seq % 60:02d}Z"


@dataclass(frozen=True)
class Push:
    """Message ``seq`` of a location: its full state (PUT) or a change of its name (PATCH)."""

    location: str
    seq: int
    method: str
    body: dict[str, Any]


def plan(seed: int = 13) -> dict[str, list[Push]]:
    """Every location's messages, in the order the CPO sends them; the name carries the seq."""
    rng = random.Random(seed)
    pushes: dict[str, list[Push]] = {}
    for index in range(LOCATIONS):
        lid = location_id(index)
        pushes[lid] = []
        for seq in range(STEPS):
            name = {"name": f"{lid}#{seq}", "last_updated": at(seq)}
            if seq == 0 or rng.random() < NEW_STATE_CHANCE:
                body = {**location(CPO, lid), **name, "postal_code": f"{seq:04d}"}
                pushes[lid].append(Push(lid, seq, "PUT", body))
            else:
                pushes[lid].append(Push(lid, seq, "PATCH", name))
    return pushes


def applied(state: dict[str, Any] | None, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """The object a receiver holds after a PUT (replaces it) or PATCH (merges the fields)."""
    if method == "PUT":
        return dict(body)
    assert state is not None, "a PATCH of an object the receiver does not hold"
    return {**state, **body}


def seq_of(body: dict[str, Any]) -> int:
    return int(str(body["name"]).rsplit("#", 1)[1])


@dataclass
class Cpo:
    """The CPO's side: pushes each message until a hub process acknowledges it."""

    hubs: list[HubProcess]
    token: str
    acked: int = 0
    resent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)  # the test gave up
    _turn: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, message: Push, links: Links) -> None:
        path = f"{V}/receiver/locations/{CPO[0]}/{CPO[1]}/{message.location}"
        body = json.dumps(message.body).encode()
        deadline = time.monotonic() + PUSH_PATIENCE
        failures: list[str] = []
        while not self.stop.is_set():
            hub = self.hubs[next(self._turn) % len(self.hubs)]
            headers = {
                "Authorization": f"Token {b64(self.token)}",
                "Content-Type": "application/json",
                "X-Request-ID": str(uuid.uuid4()),
                "X-Correlation-ID": str(uuid.uuid4()),
                "OCPI-to-country-code": HUB[0],
                "OCPI-to-party-id": HUB[1],
            }
            try:
                status, answer = links.send(hub.port, message.method, path, body, headers)
            except (OSError, http.client.HTTPException) as e:  # refused (killed), reset, ...
                failures.append(f"{hub.url}: {e!r}")
            else:
                if status == 200 and isinstance(answer, dict) and answer["status_code"] == 1000:
                    with self._lock:
                        self.acked += 1
                    return
                # Anything but a server error is the hub refusing the push: a bug.
                assert status >= 500, (message.location, message.seq, status, answer)
                failures.append(f"{hub.url}: HTTP {status} {answer}")
            with self._lock:
                self.resent += 1
            assert time.monotonic() < deadline, (message.location, message.seq, failures[-5:])
            if len(failures) % len(self.hubs) == 0:
                time.sleep(0.05)  # every process failed it once: give them a moment
        raise RuntimeError("stopped")

    def push_all(self, pushes: list[list[Push]], seed: int) -> None:
        """One connection's locations in turn, a burst of a few messages of each (so that one
        object's messages also queue back to back), each location's in its own order."""
        rng = random.Random(seed)
        sent = [0] * len(pushes)
        with Links() as links:
            while any(n < STEPS for n in sent):
                for i, messages in enumerate(pushes):
                    burst = messages[sent[i] : sent[i] + rng.randint(1, MAX_BURST)]
                    for message in burst:
                        self.push(message, links)
                    sent[i] += len(burst)


class Links:
    """A CPO's keep-alive connections, one per hub process; one that failed is opened anew."""

    def __init__(self) -> None:
        self._open: dict[int, http.client.HTTPConnection] = {}

    def send(
        self, port: int, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        link = self._open.pop(port, None) or http.client.HTTPConnection(
            "127.0.0.1", port, timeout=PUSH_TIMEOUT
        )
        try:
            link.request(method, path, body=body, headers=headers)
            response = link.getresponse()
            content = response.read()
        except BaseException:
            link.close()
            raise
        self._open[port] = link
        try:
            return response.status, json.loads(content)
        except ValueError:
            return response.status, content.decode(errors="replace")

    def __enter__(self) -> Links:
        return self

    def __exit__(self, *exc: object) -> None:
        for link in self._open.values():
            link.close()
        self._open.clear()


@dataclass
class Check:
    """What one eMSP received of one location, against what the CPO sent. ``problems`` break
    the guarantees; ``gaps`` and ``stale`` are allowed by them and counted to be seen."""

    reordered: int = 0
    lost: int = 0
    duplicates: int = 0
    coalesced: int = 0
    # Skips the next message received did not close: a PATCH came after a message that was
    # skipped because a later PUT replaced it, and that PUT came only after the PATCH.
    gaps: int = 0
    stale: int = 0  # messages after which the receiver held a state the CPO never had
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(sent: list[Push], received: list[tuple[str, dict[str, Any]]]) -> Check:
    """``received``: (method, body) in the order of arrival.

    A seq never goes backwards (reordered); one may come twice in a row (at least once); one
    may be skipped when a later PUT that replaces it is received (coalesced), else it is lost;
    a PATCH never comes before the first PUT received; the receiver ends with the CPO's last
    state."""
    result = Check()
    states: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    for p in sent:
        state = applied(state, p.method, p.body)
        states.append(state)
    held: dict[str, Any] | None = None
    last = -1
    for method, body in received:
        seq = seq_of(body)
        if body != sent[seq].body or method != sent[seq].method:
            result.problems.append(f"seq {seq}: {method} {body} is not what was sent")
        if seq < last:
            result.reordered += 1
            result.problems.append(f"seq {seq} after seq {last}")
        elif seq == last:
            result.duplicates += 1
        elif seq > last + 1 and method == "PATCH":
            result.gaps += 1
            result.notes.append(f"seqs {last + 1}..{seq - 1} skipped before PATCH {seq}")
        if method == "PATCH" and held is None:
            result.problems.append(f"PATCH {seq} before any PUT")
            continue
        held = applied(held, method, body)
        if held != states[seq]:
            result.stale += 1
            result.notes.append(f"after seq {seq} the receiver held {held}")
        last = max(last, seq)
    got = {seq_of(body) for _, body in received}
    newest_put = max((seq_of(body) for method, body in received if method == "PUT"), default=-1)
    missing = [seq for seq in range(len(sent)) if seq not in got]
    lost = [seq for seq in missing if seq > newest_put]
    result.coalesced = len(missing) - len(lost)
    if lost:
        result.lost = len(lost)
        result.problems.append(f"seqs {lost} never arrived")
    if held != states[-1]:
        result.problems.append(f"final state {held} instead of {states[-1]}")
    return result


def received(emsp: Member) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The eMSP's location pushes, per location, in the order they arrived."""
    prefix = f"{V}/locations/receiver/{CPO[0]}/{CPO[1]}/"
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for request in emsp.fake.find_requests(path=prefix):
        lid = request.path[len(prefix) :]
        found.setdefault(lid, []).append((request.method, request.body))
    return found


def has_final_states(emsps: list[Member], sent: dict[str, list[Push]]) -> bool:
    for emsp in emsps:
        got = received(emsp)
        for lid, pushes in sent.items():
            if lid not in got or seq_of(got[lid][-1][1]) != pushes[-1].seq:
                return False
    return True


def waited(check: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Whether ``check()`` came true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", re.MULTILINE)


def unexpected_tracebacks(log: str) -> list[str]:
    """The log records with a traceback: a hub must never meet an exception it did not expect
    (tests/conftest.py, assert_no_crash), and a Redis restart is expected."""
    starts = [m.start() for m in RECORD.finditer(log)] + [len(log)]
    records = [log[a:b] for a, b in itertools.pairwise(starts)]
    return [r for r in records if "Traceback" in r]


def warmed(emsps: list[Member], lid: str) -> bool:
    return all(lid in received(emsp) for emsp in emsps)


def lease_holders(hub: HubProcess, platforms: list[str]) -> list[str]:
    """Which processes deliver these platforms' queues now (their consumer names)."""
    status, _, queues = hub.admin("GET", "/queues")
    assert status == 200, queues
    return [str(q["delivered_by"]) for q in queues if q["platform"] in platforms]


def pid_of(consumer: str) -> int:
    """A deliverer's consumer name is host:pid:random (hub.delivery.worker)."""
    return int(consumer.split(":")[1])


@pytest.mark.timeout(240)
def test_nothing_is_lost_or_reordered_when_a_process_dies_a_receiver_fails_and_redis_restarts(
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    sent = plan()
    with ExitStack() as stack:
        # A short data dir: the restarted Redis listens on the same unix socket.
        redis = EmbeddedRedis(tmp_path / "r")
        url = redis.start()
        stack.callback(redis.stop)
        hubs: list[HubProcess] = []
        for i in range(3):
            hubs.append(HubProcess(tmp_path / f"hub{i}", args=[*FAST, "--redis-url", url]))
            # Stopped before Redis is: hubs never see it gone at shutdown.
            stack.callback(hubs[-1].stop)
            hubs[-1].start()
        cpo = stack.enter_context(member(hubs[0], (*CPO, "CPO")))
        emsps = [
            stack.enter_context(member(hubs[i], ("NL", f"EM{i + 1}", "EMSP"))) for i in range(3)
        ]

        # Every process routes to the three eMSPs (it heard of them through Redis) and delivers.
        for i, hub in enumerate(hubs):
            with Links() as links:
                warm = Cpo([hub], cpo.fake.peer_token or "")
                warm.push(Push(f"WARM{i}", 0, "PUT", location(CPO, f"WARM{i}")), links)
            assert waited(partial(warmed, emsps, f"WARM{i}"), timeout=10), f"process {i}"
        ready = time.monotonic()

        pusher = Cpo(hubs, cpo.fake.peer_token or "")
        lids = list(sent)
        shares = [[sent[lid] for lid in lids[c::CPO_CONNECTIONS]] for c in range(CPO_CONNECTIONS)]
        events: dict[str, float] = {}
        killed: HubProcess | None = None
        down = emsps[1]
        with ThreadPoolExecutor(CPO_CONNECTIONS) as pool:
            futures = [pool.submit(pusher.push_all, s, c) for c, s in enumerate(shares)]
            deadline = time.monotonic() + PUSHING_TIMEOUT
            try:
                while not all(f.done() for f in futures):
                    assert time.monotonic() < deadline, f"pushing took over {PUSHING_TIMEOUT} s"
                    now = time.monotonic() - ready
                    if killed is None and pusher.acked >= MESSAGES // 3:
                        # The process that delivers the most eMSP queues dies mid-delivery.
                        holders = lease_holders(hubs[0], [e.id for e in emsps])
                        pids = [pid_of(h) for h in holders if h != "None"]
                        by_pid = {h.process.pid: h for h in hubs if h.process is not None}
                        victim = max(by_pid, key=pids.count)
                        killed = by_pid[victim]
                        events["leases held by the killed process"] = pids.count(victim)
                        killed.stop(signal.SIGKILL)
                        events["killed"] = now
                    if (
                        killed is not None
                        and "down" not in events
                        and pusher.acked >= MESSAGES // 2
                    ):
                        down.fake.down = True
                        events["down"] = now
                    if (
                        "up" not in events
                        and now > events.get("down", now) + DOWN_SECONDS
                        and down.fake.refused
                    ):
                        down.fake.down = False
                        events["up"] = now
                    if (
                        "up" in events
                        and "redis" not in events
                        and pusher.acked >= MESSAGES * 2 // 3
                    ):
                        events["redis"] = now
                        redis.stop()  # SIGTERM: Redis writes its append-only file and exits
                        time.sleep(REDIS_DOWN_SECONDS)
                        assert redis.start() == url
                        events["redis back"] = time.monotonic() - ready
                    time.sleep(0.02)
            finally:
                pusher.stop.set()
            for future in futures:
                future.result()
        assert {"killed", "up", "redis back"} <= events.keys(), events
        assert events["leases held by the killed process"] >= 1, events
        assert down.fake.refused, "the eMSP that was down was never tried meanwhile"
        pushed = time.monotonic()

        final = waited(partial(has_final_states, emsps, sent), SETTLE_TIMEOUT, every=0.25)
        settled = time.monotonic()
        alive = [hub for hub in hubs if hub is not killed]

        def queues() -> list[dict[str, Any]]:
            status, _, found = alive[0].admin("GET", "/queues")
            assert status == 200, found
            return list(found)

        empty = final and waited(lambda: all(q["depth"] == 0 for q in queues()), SETTLE_TIMEOUT)

        totals = Check()
        for emsp in emsps:
            got = received(emsp)
            for lid, pushes in sent.items():
                found = check(pushes, got.get(lid, []))
                totals.reordered += found.reordered
                totals.lost += found.lost
                totals.duplicates += found.duplicates
                totals.coalesced += found.coalesced
                totals.gaps += found.gaps
                totals.stale += found.stale
                totals.problems += [f"{emsp.party} {lid}: {p}" for p in found.problems]
                totals.notes += [f"{emsp.party} {lid}: {n}" for n in found.notes]
        delivered = sum(len(v) for e in emsps for v in received(e).values())
        print(
            f"\ncrash test: {MESSAGES} pushes ({pusher.resent} sent again) in "
            f"{pushed - ready:.1f} s; final states {settled - pushed:.1f} s later; "
            f"{delivered} deliveries, {totals.duplicates} duplicates, {totals.coalesced} "
            f"coalesced, {totals.lost} lost, {totals.reordered} reordered, {totals.gaps} gaps, "
            f"{totals.stale} stale; events {events}; {time.monotonic() - began:.1f} s in all"
        )
        for note in totals.notes[:10]:
            print(f"  {note}")
        assert (totals.lost, totals.reordered) == (0, 0), totals.problems[:20]
        assert totals.problems == [], totals.problems[:20]
        assert final, f"not every eMSP got every final state in {SETTLE_TIMEOUT} s"
        assert empty, queues()
        status, _, letters = alive[0].admin("GET", "/dead-letters")
        assert (status, letters) == (200, []), letters
    for hub in hubs:
        crashes = unexpected_tracebacks(hub.log())
        assert not crashes, crashes[0][:6000]


def test_the_check_tells_coalescing_from_loss_and_reordering() -> None:
    """The check of the crash test can fail: on a made-up history of one location."""
    lid = location_id(0)
    sent = plan()[lid]
    puts = [p.seq for p in sent if p.method == "PUT"]
    assert puts[0] == 0 and len(puts) >= 2, puts  # the plan (seed 13) has a PUT in the middle
    every = [(p.method, p.body) for p in sent]
    assert check(sent, every) == Check()

    # Coalesced: everything before the last PUT but the first PUT skipped; one sent twice.
    last_put = puts[-1]
    coalesced = every[:1] + every[last_put:] + every[-1:]
    assert check(sent, coalesced) == Check(duplicates=1, coalesced=last_put - 1)
    # The first PUT replaced by the next one, before anything was sent.
    assert check(sent, every[puts[1] :]) == Check(coalesced=puts[1])

    # Lost: a PATCH after the last PUT never came.
    found = check(sent, every[:-2] + every[-1:])
    assert found.lost == 1 and found.problems, found
    # Skipped before a PATCH, replaced by a PUT that comes later: allowed, and counted.
    patch = next(p.seq for p in sent[:-1] if p.method == sent[p.seq + 1].method == "PATCH")
    found = check(sent, every[:patch] + every[patch + 1 :])
    assert (found.gaps, found.lost, found.problems) == (1, 0, []), found
    # Reordered: two messages swapped.
    swapped = [*every[:patch], every[patch + 1], every[patch], *every[patch + 2 :]]
    found = check(sent, swapped)
    assert found.reordered == 1 and found.problems, found
    # A PATCH before any PUT, and a body that is not what was sent.
    assert check(sent, every[1:]).problems
    changed = [*every[:-1], ("PATCH", {**every[-1][1], "city": "Elsewhere"})]
    assert check(sent, changed).problems


def test_a_receiver_back_from_down_never_gets_an_evse_patch_before_its_location(
    tmp_path: Path,
) -> None:
    with (
        own_hub(tmp_path / "data", retry_base=0.05, retry_max=0.3, offline_after=3) as hub,
        member(hub, (*CPO, "CPO")) as cpo,
        member(hub, ("NL", "EMB", "EMSP")) as emsp,
    ):
        emsp.fake.down = True
        first = {**location(CPO, "L1"), "evses": [evse("E1", "AVAILABLE", at(0))]}
        second = {**first, "name": "renamed", "last_updated": at(2)}
        pushes = [
            ("PUT", "L1", first),
            ("PATCH", "L1/E1", {"status": "CHARGING", "last_updated": at(1)}),
            ("PUT", "L1", second),
        ]
        for method, path, body in pushes:
            status, _, answer = cpo.call(
                method, f"{V}/receiver/locations/{CPO[0]}/{CPO[1]}/{path}", body=body, to=HUB
            )
            assert (status, answer["status_code"]) == (200, 1000), answer
        emsp.fake.down = False
        path = f"{V}/locations/receiver/{CPO[0]}/{CPO[1]}/L1"
        assert waited(lambda: bool(emsp.received("PUT", path)), timeout=20)
        # A PATCH of the EVSE may come (after the location) or be replaced; never before it.
        got = [(r.method, r.path[len(path) :]) for r in emsp.received(path=path)]
        assert got[0] == ("PUT", ""), got


def test_a_patch_is_not_sent_when_the_put_before_it_was_replaced_during_a_retry(
    tmp_path: Path,
) -> None:
    refusing = threading.Event()

    def refuse_l1(request: RecordedRequest) -> tuple[Any, ...] | None:
        if refusing.is_set() and request.path.endswith("/L1"):
            return (503, {"status_code": 3000, "timestamp": at(0)})
        return None

    with (
        own_hub(tmp_path / "data", retry_base=0.05, retry_max=0.3, offline_after=100) as hub,
        member(hub, (*CPO, "CPO")) as cpo,
        member(hub, ("NL", "EMR", "EMSP"), responder=refuse_l1) as emsp,
    ):

        def push(method: str, lid: str, body: dict[str, Any]) -> None:
            status, _, answer = cpo.call(
                method, f"{V}/receiver/locations/{CPO[0]}/{CPO[1]}/{lid}", body=body, to=HUB
            )
            assert (status, answer["status_code"]) == (200, 1000), answer

        path = f"{V}/locations/receiver/{CPO[0]}/{CPO[1]}/"
        # A slow receiver: the PUT and the PATCH wait behind L0 and are read in one batch.
        emsp.fake.delay = 0.5
        push("PUT", "L0", location(CPO, "L0"))
        assert waited(lambda: bool(emsp.received("PUT", path + "L0")), timeout=10)
        refusing.set()
        push("PUT", "L1", {**location(CPO, "L1"), "name": "L1#0"})
        push("PATCH", "L1", {"name": "L1#1", "last_updated": at(1)})
        emsp.fake.delay = 0.0
        # The PUT is refused (and retried) until a newer one is queued.
        assert waited(lambda: bool(emsp.received("PUT", path + "L1")), timeout=10)
        push("PUT", "L1", {**location(CPO, "L1"), "name": "L1#2", "last_updated": at(2)})
        refusing.clear()
        assert waited(lambda: emsp.received(path=path + "L1")[-1].body["name"] == "L1#2", 10)
        got = [(r.method, r.body["name"]) for r in emsp.received(path=path + "L1")]
        accepted = [g for g in got if g != ("PUT", "L1#0")]  # the refused attempts
        # The PATCH may be skipped with the PUT before it, never sent without it.
        assert accepted[0][0] == "PUT", got


def test_every_traceback_is_found() -> None:
    failed = (
        "2026-12-01 19:25:35,273 ERROR hub.supervisor: background task roles-updates failed; "
        "it will be restarted\nTraceback (most recent call last):\n  ...\n"
        "hub.errors.StoreUnavailableError: Redis: Error 2 connecting\n"
    )
    other = (
        "2026-12-01 19:25:36,001 ERROR hub.delivery: delivery to platform p failed "
        "unexpectedly\nTraceback (most recent call last):\n  ...\nKeyError: 'x'\n"
    )
    quiet = "2026-12-01 19:25:37,000 INFO hub.access: PUT /ocpi 200\n"
    assert unexpected_tracebacks(quiet + quiet) == []
    assert unexpected_tracebacks(failed + other + quiet) == [failed, other]
