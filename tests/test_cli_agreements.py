"""``ocpi-hub agreements ...`` and ``ocpi-hub platforms set --rate-limit`` against a real hub,
in this process like ``tests/test_cli_admin.py`` (README: "Roaming agreements", "Rate
limits"). The shared hub keeps agreements off: they are kept and listed all the same, and rate
limits hold whatever the agreements policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.admin_client import AGREEMENT_COLUMNS
from tests.e2e.network import Hub, member
from tests.e2e.objects import session
from tests.test_cli_admin import fields, run_cli, run_json, table

PartyIds = Callable[[], str]
V = "/ocpi/2.2.1"


def granted(hub: Hub, *roles: str) -> str:
    """A platform granted ``roles`` (``CC:PID:ROLE``), never registered: an agreement needs
    only that its parties are granted."""
    args = [arg for r in roles for arg in ("--role", r)]
    return str(run_json("platforms", "add", "--name", "Granted", *args, hub=hub)["id"])


def listed(hub: Hub, party: str) -> list[dict[str, Any]]:
    return list(run_json("agreements", "list", "--party", party, hub=hub))


@pytest.fixture
def parties(hub: Hub, party_id: PartyIds) -> tuple[str, str, str]:
    """A CPO and two eMSPs of their own, as ``NL:PID``."""
    cpo, ema, emb = (f"NL:{party_id()}" for _ in range(3))
    granted(hub, f"{cpo}:CPO")
    granted(hub, f"{ema}:EMSP", f"{emb}:EMSP")
    return cpo, ema, emb


# --- agreements add, list, remove ---------------------------------------------------------


def test_add_list_and_remove(hub: Hub, parties: tuple[str, str, str]) -> None:
    cpo, ema, emb = parties
    added = run_cli(
        "agreements",
        "add",
        cpo,
        ema.lower(),
        "--module",
        "tariffs",
        "--module",
        "locations",
        hub=hub,
    )
    assert added.returncode == 0, added.stderr
    shown = fields(added.stdout)
    assert list(shown) == list(AGREEMENT_COLUMNS)
    assert (shown["cpo"], shown["partner"], shown["modules"]) == (cpo, ema, "locations,tariffs")
    assert shown["extensions"] == "false"
    every = run_json("agreements", "add", cpo, emb, hub=hub)
    assert every["modules"] is None
    assert every["partner"] == {"country_code": "NL", "party_id": emb[3:]}

    again = run_cli("agreements", "add", cpo, ema, "--module", "locations,tariffs", hub=hub)
    assert again.returncode == 1 and "(HTTP 400)" in again.stderr, "one module per --module"
    duplicate = run_cli(
        "agreements", "add", cpo, ema, "--module", "locations", "--module", "tariffs", hub=hub
    )
    assert (duplicate.returncode, duplicate.stdout) == (1, "")
    assert shown["id"] in duplicate.stderr and duplicate.stderr.endswith("(HTTP 409)\n")

    text = run_cli("agreements", "list", "--party", cpo.lower(), hub=hub)
    assert text.returncode == 0, text.stderr
    columns, rows = table(text.stdout)
    assert tuple(columns) == AGREEMENT_COLUMNS
    assert sorted(row[:4] for row in rows) == sorted(
        [
            [shown["id"], cpo, ema, "locations,tariffs"],
            [every["id"], cpo, emb, "all"],
        ]
    )
    assert [a["id"] for a in listed(hub, emb)] == [every["id"]]
    everything = run_json("agreements", "list", hub=hub)
    assert {shown["id"], every["id"]} <= {a["id"] for a in everything}

    removed = run_cli("agreements", "remove", shown["id"], hub=hub)
    assert (removed.returncode, removed.stdout) == (0, f"removed {shown['id']}\n")
    assert run_json("agreements", "remove", every["id"], hub=hub) == every
    assert listed(hub, cpo) == []
    gone = run_cli("agreements", "remove", every["id"], hub=hub)
    assert (gone.returncode, gone.stdout) == (1, "")
    assert gone.stderr == f"error: no agreement {every['id']} (HTTP 404)\n"


def test_an_agreement_with_extensions_is_added_beside_one_without(
    hub: Hub, parties: tuple[str, str, str]
) -> None:
    cpo, ema, _ = parties
    plain = run_json("agreements", "add", cpo, ema, hub=hub)
    assert plain["extensions"] is False
    added = run_cli("agreements", "add", cpo, ema, "--extensions", hub=hub)
    assert added.returncode == 0, added.stderr
    shown = fields(added.stdout)
    assert list(shown) == list(AGREEMENT_COLUMNS)
    assert (shown["modules"], shown["extensions"]) == ("all", "true")
    assert shown["id"] != plain["id"]
    duplicate = run_cli("agreements", "add", cpo, ema, "--extensions", hub=hub)
    assert (duplicate.returncode, duplicate.stdout) == (1, "")
    assert shown["id"] in duplicate.stderr and duplicate.stderr.endswith("(HTTP 409)\n")

    text = run_cli("agreements", "list", "--party", cpo, hub=hub)
    assert text.returncode == 0, text.stderr
    columns, rows = table(text.stdout)
    assert tuple(columns) == AGREEMENT_COLUMNS
    extensions = columns.index("extensions")
    assert sorted((row[0], row[extensions]) for row in rows) == sorted(
        [(plain["id"], "false"), (shown["id"], "true")]
    )
    assert {a["id"]: a["extensions"] for a in listed(hub, ema)} == {
        plain["id"]: False,
        shown["id"]: True,
    }


def test_what_the_hub_refuses_is_its_message(hub: Hub, parties: tuple[str, str, str]) -> None:
    cpo, ema, _ = parties
    unknown = run_cli("agreements", "add", cpo, "NL:ZZ9", hub=hub)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "error: partner: no platform is granted NL/ZZ9 (HTTP 400)\n"
    sides = run_cli("agreements", "add", ema, cpo, hub=hub)
    assert sides.returncode == 1
    ema_label = ema.replace(":", "/")
    assert sides.stderr == f"error: cpo: {ema_label} is not granted the CPO role (HTTP 400)\n"
    module = run_cli("agreements", "add", cpo, ema, "--module", "credentials", hub=hub)
    assert module.returncode == 1
    assert module.stderr.startswith("error: modules: unknown module 'credentials'")
    assert listed(hub, cpo) == []


@pytest.mark.parametrize(
    "args",
    [
        ["add", "NL-CPA", "NL:EMA"],
        ["add", "NL:CPA", "NLD:EMA"],
        ["add", "NL:CPA"],
        ["list", "--party", "NL:CP"],
        ["remove"],
        ["import"],
        ["add", "NL:CPA", "NL:EMA", "--extensions=yes"],
    ],
)
def test_usage_errors_send_nothing(hub: Hub, args: list[str]) -> None:
    result = run_cli("agreements", *args, hub=hub)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("ocpi-hub: ") and result.stderr.count("\n") == 1


# --- agreements import --------------------------------------------------------------------


def test_a_csv_import_twice_changes_nothing(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, emb = parties
    csv = tmp_path / "agreements.csv"
    csv.write_text(
        f"cpo,partner,modules\r\n{cpo},{ema},locations;tariffs\r\n\r\n{cpo.lower()},{emb},\r\n"
    )
    first = run_cli("agreements", "import", str(csv), hub=hub)
    assert first.returncode == 0, first.stderr
    counts, rest = first.stdout.split("\n", 2)[:2], first.stdout.split("\n", 2)[2]
    assert counts == ["created: 2", "existing: 0"]
    columns, rows = table(rest)
    assert tuple(columns) == AGREEMENT_COLUMNS
    assert sorted(row[1:4] for row in rows) == [[cpo, ema, "locations,tariffs"], [cpo, emb, "all"]]

    second = run_json("agreements", "import", str(csv), hub=hub)
    assert (second["created"], second["existing"]) == (0, 2)
    assert {a["id"] for a in second["agreements"]} == {row[0] for row in rows}
    assert len(listed(hub, cpo)) == 2


def test_a_json_import_twice_changes_nothing(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, emb = parties

    def ref(text: str) -> dict[str, str]:
        return {"country_code": text[:2], "party_id": text[3:]}

    bodies = [
        {"cpo": ref(cpo), "partner": ref(ema), "modules": ["sessions"]},
        {"cpo": ref(cpo), "partner": ref(emb)},
    ]
    path = tmp_path / "agreements.json"
    path.write_text(json.dumps(bodies))
    first = run_json("agreements", "import", str(path), hub=hub)
    assert (first["created"], first["existing"]) == (2, 0)
    assert [a["modules"] for a in first["agreements"]] == [["sessions"], None]
    # Without .json or .csv the content tells: JSON starts with "[".
    unnamed = tmp_path / "agreements"
    unnamed.write_text("\n " + json.dumps(bodies))
    second = run_cli("agreements", "import", str(unnamed), hub=hub)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("created: 0\nexisting: 2\n")
    assert len(listed(hub, cpo)) == 2


def test_csv_is_told_by_its_content_too(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, _ = parties
    path = tmp_path / "agreements.txt"
    path.write_text(f"CPO,Partner\n{cpo},{ema}\n")  # the modules column may be left out
    answer = run_json("agreements", "import", str(path), hub=hub)
    assert answer["created"] == 1 and answer["agreements"][0]["modules"] is None


def test_a_csv_import_carries_extensions_in_a_column_of_its_own(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, emb = parties
    csv = tmp_path / "agreements.csv"
    csv.write_text(
        "cpo,partner,modules,Extensions\n"
        f"{cpo},{ema},locations,TRUE\n"
        f"{cpo},{ema},locations,false\n"
        f"{cpo},{emb},, \n"
    )
    first = run_json("agreements", "import", str(csv), hub=hub)
    assert (first["created"], first["existing"]) == (3, 0)
    assert [(a["partner"]["party_id"], a["extensions"]) for a in first["agreements"]] == [
        (ema[3:], True),
        (ema[3:], False),
        (emb[3:], False),
    ]
    # modules may be left out while extensions is given, in either order.
    reordered = tmp_path / "reordered.csv"
    reordered.write_text(f"cpo,partner,extensions\n{cpo},{emb},true\n{cpo},{emb},\n")
    second = run_cli("agreements", "import", str(reordered), hub=hub)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("created: 1\nexisting: 1\n")
    columns, rows = table(second.stdout.split("\n", 2)[2])
    assert [row[columns.index("extensions")] for row in rows] == ["true", "false"]
    again = run_json("agreements", "import", str(csv), hub=hub)
    assert (again["created"], again["existing"]) == (0, 3)
    assert len(listed(hub, cpo)) == 4


def test_a_json_import_carries_extensions(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, _ = parties
    ref = {"country_code": cpo[:2], "party_id": cpo[3:]}
    partner = {"country_code": ema[:2], "party_id": ema[3:]}
    path = tmp_path / "agreements.json"
    path.write_text(json.dumps([{"cpo": ref, "partner": partner, "extensions": True}]))
    answer = run_json("agreements", "import", str(path), hub=hub)
    assert answer["created"] == 1 and answer["agreements"][0]["extensions"] is True
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"cpo": ref, "partner": partner, "extensions": "yes"}]))
    refused = run_cli("agreements", "import", str(wrong), hub=hub)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "extensions" in refused.stderr and refused.stderr.endswith("(HTTP 400)\n")
    assert len(listed(hub, cpo)) == 1


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        (
            "a.csv",
            "cpo,partner,modules\nNL:CPA,NL:EMA,\nNL:CPA,NLEMB,\n",
            "line 3: partner: 'NLEMB' is not a party like NL:CPA",
        ),
        (
            "a.csv",
            "cpo,partner,modules\n\nNL:CPAX,NL:EMA,\n",
            "line 3: cpo: 'NL:CPAX' is not a party like NL:CPA",
        ),
        (
            "a.csv",
            "cpo,partner,modules\nNL:CPA,NL:EMA,locations;credentials\n",
            "line 2: modules: unknown module 'credentials'",
        ),
        ("a.csv", "cpo,partner,modules\nNL:CPA,NL:EMA\n", "line 2: 2 fields, the header has 3"),
        (
            "a.csv",
            "cpo,emsp,modules\nNL:CPA,NL:EMA,\n",
            "line 1: the header must be cpo,partner,modules",
        ),
        ("a.csv", "\n\n", "is empty: the header cpo,partner,modules,extensions is missing"),
        (
            "a.csv",
            "cpo,partner,extensions\nNL:CPA,NL:EMA,yes\n",
            "line 2: extensions: 'yes' is not true, false or empty",
        ),
        (
            "a.csv",
            "cpo,partner,modules,modules\nNL:CPA,NL:EMA,,\n",
            "line 1: the header must be cpo,partner,modules,extensions",
        ),
        (
            "a.csv",
            "cpo,partner,extensions,note\nNL:CPA,NL:EMA,,\n",
            "line 1: the header must be cpo,partner,modules,extensions",
        ),
        (
            "a.csv",
            "partner,cpo\nNL:EMA,NL:CPA\n",
            "line 1: the header must be cpo,partner,modules,extensions",
        ),
        ("a.json", '{"cpo": {}}', "JSON must be a list of agreements"),
        ("a.json", "[{", "is not JSON"),
        ("a.csv", b"cpo,partner\n\xff\xfe", "it is not UTF-8 text"),
        ("missing.csv", None, "No such file"),
    ],
)
def test_a_bad_file_is_reported_before_anything_is_sent(
    tmp_path: Path, name: str, content: str | bytes | None, error: str
) -> None:
    """No hub listens at the URL: the error comes from the file, not from the hub."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = run_cli(
        "agreements", "import", str(path), "--hub-url", "http://127.0.0.1:9", "--admin-token", "x"
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: ") and str(path) in result.stderr
    assert error in result.stderr and result.stderr.count("\n") == 1


def test_an_import_the_hub_refuses_stores_nothing(
    hub: Hub, parties: tuple[str, str, str], tmp_path: Path
) -> None:
    cpo, ema, _ = parties
    path = tmp_path / "agreements.csv"
    path.write_text(f"cpo,partner,modules\n{cpo},{ema},\n{cpo},NL:ZZ8,\n")
    result = run_cli("agreements", "import", str(path), hub=hub)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: [1].partner: no platform is granted NL/ZZ8 (HTTP 400)\n"
    assert listed(hub, cpo) == []


# --- platforms set --rate-limit -----------------------------------------------------------


def test_rate_limits_are_set_shown_and_cleared(hub: Hub, party_id: PartyIds) -> None:
    platform_id = granted(hub, f"NL:{party_id()}:CPO")
    text = run_cli(
        "platforms",
        "set",
        platform_id,
        "--rate-limit",
        "tokens=100/min",
        "--rate-limit",
        "*=3000/min",
        hub=hub,
    )
    assert text.returncode == 0, text.stderr
    assert fields(text.stdout)["rate_limits"] == "*=3000/min,tokens=100/min"
    shown = run_json("platforms", "show", platform_id, hub=hub)
    assert shown["rate_limits"] == {"*": "3000/min", "tokens": "100/min"}
    # A bare rate is every module's; the hub writes rates its own way; --name goes along.
    both = run_json(
        "platforms", "set", platform_id, "--rate-limit", " 60 / 1 m ", "--name", "Limited", hub=hub
    )
    assert both["rate_limits"] == {"*": "60/min"} and both["name"] == "Limited"
    cleared = run_cli("platforms", "set", platform_id, "--rate-limit", "NONE", hub=hub)
    assert cleared.returncode == 0, cleared.stderr
    assert fields(cleared.stdout)["rate_limits"] == "-"
    assert run_json("platforms", "show", platform_id, hub=hub)["rate_limits"] is None


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        (["tokens=fast"], "argument --rate-limit: 'fast' is not a rate like 6000/min"),
        (["tokens=5/week"], "argument --rate-limit: '5/week' is not a rate"),
        (["tokens=0/min"], "at least one call"),
        (["fuel=1/min"], "argument --rate-limit: unknown module 'fuel'"),
        (["none", "tokens=1/min"], "error: --rate-limit none goes alone"),
        (["tokens=1/min", "tokens=2/min"], "error: --rate-limit: two limits for tokens"),
        (["5/s", "*=1/min"], "error: --rate-limit: two limits for every module (*)"),
    ],
)
def test_a_bad_rate_limit_is_one_line(
    hub: Hub, party_id: PartyIds, limits: list[str], error: str
) -> None:
    platform_id = granted(hub, f"NL:{party_id()}:CPO")
    args = [arg for limit in limits for arg in ("--rate-limit", limit)]
    result = run_cli("platforms", "set", platform_id, *args, hub=hub)
    assert (result.returncode, result.stdout) == (2, "")
    assert error in result.stderr and result.stderr.count("\n") == 1
    assert run_json("platforms", "show", platform_id, hub=hub)["rate_limits"] is None


def test_over_the_rate_limit_is_429(hub: Hub, party_id: PartyIds) -> None:
    emsp_key = ("NL", party_id())
    with (
        member(hub, ("NL", party_id(), "CPO")) as cpo,
        member(hub, (*emsp_key, "EMSP")) as emsp,
    ):
        limited = run_cli("platforms", "set", cpo.id, "--rate-limit", "sessions=1/min", hub=hub)
        assert limited.returncode == 0, limited.stderr
        path = f"{V}/receiver/sessions/{cpo.party[0]}/{cpo.party[1]}/S-1"
        body = session(cpo.party, "S-1", emsp_key)
        status, _, answer = cpo.call("PUT", path, body=body, to=emsp_key)
        assert (status, answer["status_code"]) == (200, 1000), answer

        status, headers, answer = cpo.call("PUT", path, body=body, to=emsp_key)
        assert (status, answer["status_code"]) == (429, 2000), answer
        assert 1 <= int(headers["retry-after"]) <= 60
        assert "rate limit of 1/min for sessions" in answer["status_message"]
        received = f"/ocpi/2.2.1/sessions/receiver/{cpo.party[0]}/{cpo.party[1]}/S-1"
        assert len(emsp.received("PUT", received)) == 1, "the refused call reached nobody"

        # Each module is counted on its own.
        status, _, answer = cpo.call("GET", f"{V}/sender/tokens", to=emsp_key)
        assert (status, answer["status_code"]) == (200, 1000), answer

        assert run_cli("platforms", "set", cpo.id, "--rate-limit", "none", hub=hub).returncode == 0
        status, _, answer = cpo.call("PUT", path, body=body, to=emsp_key)
        assert (status, answer["status_code"]) == (200, 1000), answer
        assert len(emsp.received("PUT", received)) == 2
