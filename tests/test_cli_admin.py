"""The admin commands of ``ocpi-hub`` (hub/admin_client.py) against a real hub: what an operator
types and reads. They run in this process, as the console script runs them (``hub.cli.main``),
with their output captured; ``tests/test_cli.py`` runs ``ocpi-hub`` as a process where the
environment and the working directory matter."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub import cli
from tests.e2e.network import Hub, member
from tests.ownhub import own_hub
from tests.parties import FakePlatform, free_port
from tests.waiting import wait_for

PartyIds = Callable[[], str]


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, hub: Hub | None = None, token: str | None = None) -> Ran:
    """``ocpi-hub ARGS`` with --hub-url/--admin-token of `hub` appended unless given."""
    argv = list(args)
    if hub is not None:
        argv += ["--hub-url", hub.url]
        if token is None and hub.admin_token is not None:
            argv += ["--admin-token", hub.admin_token]
    if token is not None:
        argv += ["--admin-token", token]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())


def run_json(*args: str, hub: Hub) -> Any:
    result = run_cli(*args, "--json", hub=hub)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fields(stdout: str) -> dict[str, str]:
    """``key: value`` lines as a dict (indented endpoint lines are skipped)."""
    pairs = (line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
    return {key: value for key, value in pairs if not key.startswith(" ")}


def add(hub: Hub, name: str, *roles: str) -> dict[str, Any]:
    return dict(run_json("platforms", "add", "--name", name, *roles, hub=hub))


def table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """A table's header and rows, split on whitespace (only a last column may hold spaces)."""
    header, *rows = stdout.splitlines()
    columns = header.split()
    return columns, [row.split(maxsplit=len(columns) - 1) for row in rows]


def test_add_prints_token_a_once_with_versions_url(hub: Hub, party_id: PartyIds) -> None:
    pid_a, pid_b = party_id(), party_id()
    result = run_cli(
        "platforms",
        "add",
        "--name",
        "Table CPO",
        "--role",
        f"NL:{pid_a}:CPO",
        "--role",
        f"nl:{pid_b.lower()}:emsp",
        hub=hub,
    )
    assert result.returncode == 0, result.stderr
    shown = fields(result.stdout)
    assert shown["name"] == "Table CPO"
    assert shown["status"] == "PLANNED"
    assert shown["roles"] == f"NL:{pid_a}:CPO,NL:{pid_b}:EMSP"
    assert shown["versions_url"] == hub.versions_url
    assert shown["endpoints"] == "-" and shown["version"] == "-"
    assert len(shown["token_a"]) >= 16
    assert "only" in result.stderr and "token A" in result.stderr

    answer = add(hub, "JSON CPO", "--role", f"NL:{party_id()}:CPO", "--token-encoding", "raw")
    assert answer["status"] == "PLANNED"
    assert answer["token_encoding"] == "raw"
    assert answer["token_a"] and answer["versions_url"] == hub.versions_url


def test_list_show_set_suspend_resume_token_a(hub: Hub, party_id: PartyIds) -> None:
    pid = party_id()
    platform_id = add(hub, "Lister", "--role", f"NL:{pid}:CPO")["id"]

    listed = run_cli("platforms", "list", hub=hub)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "name", "status", "roles", "version", "last_seen"]
    row = next(r for r in rows if r.startswith(platform_id))
    assert row.split() == [platform_id, "Lister", "PLANNED", f"NL:{pid}:CPO", "-", "-"]
    assert platform_id in [p["id"] for p in run_json("platforms", "list", hub=hub)]

    shown = run_cli("platforms", "show", platform_id, hub=hub)
    assert shown.returncode == 0, shown.stderr
    assert fields(shown.stdout)["id"] == platform_id
    assert fields(shown.stdout)["roles"] == f"NL:{pid}:CPO"
    assert "token_a" not in shown.stdout

    renamed = run_cli("platforms", "set", platform_id, "--name", "Renamed", hub=hub)
    assert renamed.returncode == 0, renamed.stderr
    assert fields(renamed.stdout)["name"] == "Renamed"
    changed = run_json("platforms", "set", platform_id, "--token-encoding", "base64", hub=hub)
    assert changed["token_encoding"] == "base64" and changed["name"] == "Renamed"
    nothing = run_cli("platforms", "set", platform_id, hub=hub)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    assert "--version" in nothing.stderr

    suspended = run_cli("platforms", "suspend", platform_id, hub=hub)
    assert suspended.returncode == 0, suspended.stderr
    assert fields(suspended.stdout)["status"] == "SUSPENDED"
    assert run_json("platforms", "show", platform_id, hub=hub)["status"] == "SUSPENDED"
    resumed = run_cli("platforms", "resume", platform_id, hub=hub)
    assert resumed.returncode == 0, resumed.stderr
    assert fields(resumed.stdout)["status"] == "PLANNED"

    issued = run_cli("platforms", "token-a", platform_id, hub=hub)
    assert issued.returncode == 0, issued.stderr
    assert fields(issued.stdout)["versions_url"] == hub.versions_url
    first = fields(issued.stdout)["token_a"]
    second = run_json("platforms", "token-a", platform_id, hub=hub)["token_a"]
    assert first and second and first != second


def test_connect_rotate_remove(hub: Hub, party_id: PartyIds) -> None:
    pid = party_id()
    with FakePlatform(roles=[("NL", pid, "CPO")], name="Fake CPO") as fake:
        platform_id = add(hub, "Fake CPO", "--role", f"NL:{pid}:CPO")["id"]
        connected = run_cli(
            "platforms",
            "connect",
            platform_id,
            "--versions-url",
            fake.versions_url,
            "--token",
            fake.token_a,
            hub=hub,
        )
        assert connected.returncode == 0, connected.stderr
        assert fields(connected.stdout)["status"] == "CONNECTED"
        assert f"  locations SENDER {fake.module_url('locations', 'SENDER')}" in connected.stdout
        shown = run_json("platforms", "show", platform_id, hub=hub)
        assert shown["status"] == "CONNECTED" and shown["version"] == "2.2.1"
        assert fake.registered

        token_c = fake.issued_token
        rotated = run_cli("platforms", "rotate", platform_id, hub=hub)
        assert rotated.returncode == 0, rotated.stderr
        assert fields(rotated.stdout)["status"] == "CONNECTED"
        assert fake.issued_token != token_c

        removed = run_cli("platforms", "remove", platform_id, hub=hub)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == f"removed {platform_id}"
        after = run_json("platforms", "show", platform_id, hub=hub)
        assert after["status"] == "SUSPENDED"
        listed = run_cli("platforms", "list", hub=hub).stdout.splitlines()
        (row,) = [line for line in listed if line.startswith(platform_id)]
        assert re.search(r"  Fake CPO +SUSPENDED \(removed\)  ", row), row


def test_a_2_3_0_pin_and_platform_are_shown(hub: Hub, party_id: PartyIds) -> None:
    """``platforms set ID --version 2.3.0`` (README: "OCPI 2.3.0 platforms"): the hub
    registers in 2.3.0, which the list and show print."""
    pid = party_id()
    with FakePlatform(roles=[("NL", pid, "EMSP")], versions=["2.3.0", "2.2.1"]) as fake:
        platform_id = add(hub, "New eMSP", "--role", f"NL:{pid}:EMSP")["id"]
        pinned = run_cli("platforms", "set", platform_id, "--version", "2.3.0", hub=hub)
        assert pinned.returncode == 0, pinned.stderr
        assert fields(pinned.stdout)["version_pin"] == "2.3.0"
        connected = run_json(
            "platforms",
            "connect",
            platform_id,
            "--versions-url",
            fake.versions_url,
            "--token",
            fake.token_a,
            hub=hub,
        )
        assert connected["version"] == "2.3.0"
        assert run_json("platforms", "show", platform_id, hub=hub)["version"] == "2.3.0"
        listed = run_cli("platforms", "list", hub=hub).stdout.splitlines()
        (row,) = [line for line in listed if line.startswith(platform_id)]
        assert row.split()[3:6] == ["CONNECTED", f"NL:{pid}:EMSP", "2.3.0"]


def test_set_version_pins_and_unpins(hub: Hub, party_id: PartyIds) -> None:
    """``platforms set ID --version`` (README: "OCPI 2.1.1 platforms"); a 2.1.1 platform
    connected so shows 2.1.1 in the list."""
    pid = party_id()
    with FakePlatform(roles=[("NL", pid, "CPO")], versions=["2.2.1", "2.1.1"]) as fake:
        platform_id = add(hub, "Old CPO", "--role", f"NL:{pid}:CPO")["id"]
        pinned = run_cli("platforms", "set", platform_id, "--version", "2.1.1", hub=hub)
        assert pinned.returncode == 0, pinned.stderr
        assert fields(pinned.stdout)["version_pin"] == "2.1.1"
        connected = run_json(
            "platforms",
            "connect",
            platform_id,
            "--versions-url",
            fake.versions_url,
            "--token",
            fake.token_a,
            hub=hub,
        )
        assert connected["version"] == "2.1.1"
        listed = run_cli("platforms", "list", hub=hub).stdout.splitlines()
        (row,) = [line for line in listed if line.startswith(platform_id)]
        assert row.split()[3:6] == ["CONNECTED", f"NL:{pid}:CPO", "2.1.1"]

        unpinned = run_json("platforms", "set", platform_id, "--version", "auto", hub=hub)
        assert unpinned["version_pin"] is None and unpinned["version"] == "2.1.1"
        wrong = run_cli("platforms", "set", platform_id, "--version", "2.0", hub=hub)
        assert wrong.returncode == 2 and "invalid choice: '2.0'" in wrong.stderr

    both = add(hub, "Both", "--role", f"NL:{party_id()}:CPO", "--role", f"NL:{party_id()}:EMSP")
    refused = run_cli("platforms", "set", both["id"], "--version", "2.1.1", hub=hub)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: version: 2.1.1 is for a platform of exactly one")
    assert "(HTTP 400)" in refused.stderr


def test_remove_with_json_prints_nothing(hub: Hub, party_id: PartyIds) -> None:
    """The API answers 204 without a body: there is no JSON to print."""
    platform_id = add(hub, "Gone", "--role", f"NL:{party_id()}:CPO")["id"]
    removed = run_cli("platforms", "remove", platform_id, "--json", hub=hub)
    assert (removed.returncode, removed.stdout, removed.stderr) == (0, "", "")
    assert run_json("platforms", "show", platform_id, hub=hub)["status"] == "SUSPENDED"


def test_unknown_platform_is_an_error(hub: Hub) -> None:
    for action in ("show", "suspend", "remove"):
        result = run_cli("platforms", action, "no-such-platform", hub=hub)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ") and "(HTTP 404)" in result.stderr
        assert result.stdout == ""


def test_wrong_admin_token(hub: Hub) -> None:
    result = run_cli("platforms", "list", hub=hub, token="not-the-admin-token")
    assert result.returncode == 1
    assert "(HTTP 401)" in result.stderr and "admin token" in result.stderr


def test_unreachable_hub() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("platforms", "list", "--hub-url", url, "--admin-token", "x", "--timeout", "5")
    assert result.returncode == 1
    assert f"cannot reach the hub at {url}" in result.stderr


def test_silent_hub_times_out() -> None:
    with socket.socket() as silent:  # connections are queued but never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli(
            "platforms", "list", "--hub-url", url, "--admin-token", "x", "--timeout", "1"
        )
    assert result.returncode == 1
    assert f"the hub at {url} did not answer within 1s" in result.stderr


class NotAHub(http.server.BaseHTTPRequestHandler):
    """What else may listen at a mistyped --hub-url: a proxy's error page, a web page."""

    def do_GET(self) -> None:
        if self.path.startswith("/admin/platforms"):
            status, body = 502, b"Bad Gateway " + b"x" * 300 + b" \n"
        else:
            status, body = 200, b"<html>a web page</html>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_server_that_is_not_the_hub() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotAHub) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            error_page = run_cli("platforms", "list", "--hub-url", url, "--admin-token", "x")
            queues = run_cli("queues", "--hub-url", url, "--admin-token", "x")
        finally:
            server.shutdown()
            thread.join(10)
    # What it answered, cut to 200 characters, and the HTTP status.
    assert (error_page.returncode, error_page.stdout) == (1, "")
    assert error_page.stderr == f"error: Bad Gateway {'x' * 188} (HTTP 502)\n"
    assert (queues.returncode, queues.stdout) == (1, "")
    assert queues.stderr == f"error: {url} answered with something that is not JSON\n"


@pytest.mark.parametrize("bad", ["NL:CPA", "NLD:CPA:CPO", "NL:CP:CPO", "NL:CPA:", "NL-CPA-CPO"])
def test_bad_role_is_a_usage_error(hub: Hub, bad: str) -> None:
    result = run_cli("platforms", "add", "--name", "Bad", "--role", bad, hub=hub)
    assert result.returncode == 2
    assert result.stderr.startswith("ocpi-hub: argument --role")
    assert result.stderr.count("\n") == 1 and "ocpi-hub platforms add --help" in result.stderr


def test_role_refused_by_the_hub(hub: Hub, party_id: PartyIds) -> None:
    result = run_cli("platforms", "add", "--name", "H", "--role", f"NL:{party_id()}:HUB", hub=hub)
    assert result.returncode == 1
    assert "role must be one of" in result.stderr and "(HTTP 400)" in result.stderr


@pytest.mark.skipif("HUB_ADMIN_TOKEN" in os.environ, reason="the token would come from there")
def test_the_admin_token_from_the_data_dir(hub: Hub, party_id: PartyIds, tmp_path: Path) -> None:
    assert hub.admin_token is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    base = ["--hub-url", hub.url, "--data-dir", str(data_dir)]
    (data_dir / "admin-token").write_text(hub.admin_token + "\n")
    pid = party_id()
    added = run_cli("platforms", "add", "--name", "D", "--role", f"NL:{pid}:CPO", *base)
    assert added.returncode == 0, added.stderr
    assert fields(added.stdout)["roles"] == f"NL:{pid}:CPO"

    missing = run_cli("platforms", "list", "--hub-url", hub.url, "--data-dir", str(tmp_path))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert f"{tmp_path / 'admin-token'} cannot be used (No such file" in missing.stderr

    (data_dir / "admin-token").write_text("\n")
    empty = run_cli("platforms", "list", *base)
    assert (empty.returncode, empty.stdout) == (2, "")
    assert empty.stderr.startswith("error: no admin token: ")
    assert f"{data_dir / 'admin-token'} cannot be used (it is empty)" in empty.stderr


QUEUE_COLUMNS = [
    "platform",
    "name",
    "status",
    "depth",
    "oldest_age",
    "dead_letters",
    "delivered_by",
]
LETTER_COLUMNS = ["id", "platform", "module", "method", "path", "attempts", "parked_at", "reason"]


def test_queues_lists_a_registered_platform(hub: Hub, party_id: PartyIds) -> None:
    pid = party_id()
    with member(hub, ("NL", pid, "CPO")) as cpo:

        def own_queue() -> dict[str, Any] | None:
            # Once it has been told of everyone (HubClientInfo, queued a moment after its
            # registration) and nothing waits for it any more.
            if not cpo.received("PUT", "/ocpi/2.2.1/hubclientinfo"):
                return None
            found = [q for q in run_json("queues", hub=hub) if q["platform"] == cpo.id]
            return found[0] if found and found[0]["depth"] == 0 else None

        queue = wait_for(own_queue, what="an empty queue")
        assert queue["name"] == f"NL{pid}" and queue["status"] == "CONNECTED"
        assert queue["oldest_age"] is None and queue["dead_letters"] == 0

        listed = run_cli("queues", hub=hub)
        assert listed.returncode == 0, listed.stderr
        columns, rows = table(listed.stdout)
        assert columns == QUEUE_COLUMNS
        (row,) = [r for r in rows if r[0] == cpo.id]
        assert row[:6] == [cpo.id, f"NL{pid}", "CONNECTED", "0", "-", "0"]


def test_a_waiting_message_shows_in_the_queue(hub: Hub, party_id: PartyIds) -> None:
    with member(hub, ("NL", party_id(), "EMSP")) as emsp:
        emsp.fake.down = True
        # HubClientInfo announces a new platform to every other one: a message for the eMSP.
        hub.add_platform("Newcomer", ("NL", party_id(), "CPO"))

        def waiting() -> bool:
            return any(q["platform"] == emsp.id and q["depth"] for q in run_json("queues", hub=hub))

        wait_for(waiting, what="a message waiting for the eMSP")
        listed = run_cli("queues", hub=hub)
        assert listed.returncode == 0, listed.stderr
        _, rows = table(listed.stdout)
        (row,) = [r for r in rows if r[0] == emsp.id]
        assert row[2] == "CONNECTED" and int(row[3]) >= 1
        assert re.fullmatch(r"[0-9]+s", row[4]), row  # the oldest message's age
        emsp.fake.down = False


def test_dead_letters_of_a_fresh_platform(hub: Hub, party_id: PartyIds) -> None:
    with member(hub, ("NL", party_id(), "CPO")) as cpo:
        listed = run_cli("dead-letters", "--platform", cpo.id, hub=hub)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == LETTER_COLUMNS
        assert run_json("dead-letters", "--platform", cpo.id, hub=hub) == []
        everything = run_cli("dead-letters", hub=hub)
        assert everything.returncode == 0, everything.stderr
        assert table(everything.stdout)[0] == LETTER_COLUMNS

        redriven = run_cli("dead-letters", "--redrive", "--platform", cpo.id, hub=hub)
        assert redriven.returncode == 0, redriven.stderr
        assert redriven.stdout == "redriven: 0\n"
        answer = run_json("dead-letters", "--redrive", "--platform", cpo.id, hub=hub)
        assert answer == {"redriven": 0}


def test_dead_letters_errors(hub: Hub) -> None:
    no_platform = run_cli("dead-letters", "--redrive", "--id", "1-0", hub=hub)
    assert no_platform.returncode == 1 and no_platform.stdout == ""
    assert no_platform.stderr == "error: ids need a platform (HTTP 400)\n"
    for args in (["--platform", "no-such-platform"], ["--redrive", "--platform", "no-such"]):
        unknown = run_cli("dead-letters", *args, hub=hub)
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert unknown.stderr.startswith("error: no platform no-such")
        assert "(HTTP 404)" in unknown.stderr
    listing = run_cli("dead-letters", "--id", "1-0", hub=hub)
    assert listing.returncode == 2 and "--id needs --redrive" in listing.stderr


def test_an_expired_message_is_listed_and_redriven(tmp_path: Path, party_id: PartyIds) -> None:
    fast = {"retry_base": 0.05, "retry_max": 0.3, "message_ttl": 1}
    cpo_pid, emsp_pid = party_id(), party_id()
    with (
        own_hub(tmp_path / "data", **fast) as hub,
        member(hub, ("NL", cpo_pid, "CPO")) as cpo,
        member(hub, ("NL", emsp_pid, "EMSP")) as emsp,
    ):
        emsp.fake.down = True
        path = f"NL/{cpo_pid}/T-1"
        tariff = {
            "country_code": "NL",
            "party_id": cpo_pid,
            "id": "T-1",
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
            "last_updated": "2026-11-24T10:00:00Z",
        }
        status, _, answer = cpo.call(
            "PUT", f"/ocpi/2.2.1/receiver/tariffs/{path}", body=tariff, to=("NL", "HUB")
        )
        assert (status, answer["status_code"]) == (200, 1000), answer

        def tariff_letters() -> list[Any]:
            letters = run_json("dead-letters", "--platform", emsp.id, hub=hub)
            return [d for d in letters if d["message"]["module"] == "tariffs"]

        (letter,) = wait_for(tariff_letters, what="a dead letter")
        listed = run_cli("dead-letters", hub=hub)
        assert listed.returncode == 0, listed.stderr
        columns, rows = table(listed.stdout)
        assert columns == LETTER_COLUMNS
        (row,) = [r for r in rows if r[0] == letter["id"]]
        assert row[1:5] == [emsp.id, "tariffs", "PUT", path]
        assert row[5] == str(letter["attempts"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[6])
        parked = datetime.strptime(row[6], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(parked.timestamp() - letter["parked_at"]) < 1
        assert row[7] == letter["reason"] and "expired after 1 s" in row[7]
        (queue,) = [q for q in run_json("queues", hub=hub) if q["platform"] == emsp.id]
        assert queue["dead_letters"] >= 1

        emsp.fake.down = False
        redriven = run_cli(
            "dead-letters", "--redrive", "--platform", emsp.id, "--id", letter["id"], hub=hub
        )
        assert redriven.returncode == 0, redriven.stderr
        assert redriven.stdout == "redriven: 1\n"
        wait_for(
            lambda: emsp.received("PUT", f"/ocpi/2.2.1/tariffs/receiver/{path}"), what="redrive"
        )
        assert tariff_letters() == []


def test_set_time_zone_of_a_211_cpo(hub: Hub, party_id: PartyIds) -> None:
    """``platforms set ID --time-zone`` (README: "OCPI 2.1.1 platforms"): the default time zone
    of a 2.1.1 CPO's Locations; ``none`` clears it; a name that is no time zone is refused."""
    platform_id = add(hub, "Zoned CPO", "--role", f"BE:{party_id()}:CPO")["id"]
    zoned = run_json("platforms", "set", platform_id, "--time-zone", "Europe/Brussels", hub=hub)
    assert zoned["time_zone"] == "Europe/Brussels"
    cleared = run_json("platforms", "set", platform_id, "--time-zone", "none", hub=hub)
    assert cleared["time_zone"] is None
    wrong = run_cli("platforms", "set", platform_id, "--time-zone", "../etc", hub=hub)
    assert wrong.returncode == 1 and "time_zone" in wrong.stderr and "(HTTP 400)" in wrong.stderr
