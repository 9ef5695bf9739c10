"""The clients benchmark (benchmarks/clients.py) runs in its smallest form with the clients that
are always installed: every call measured and checked, no error. Its numbers are not checked
here (a loaded test machine is slow). Its robustness checks all pass for the hub's own client."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CLIENTS = ROOT / "benchmarks" / "clients.py"
SCENARIOS = [
    "timeout",
    "refused",
    "idle-close",
    "after-timeout",
    "truncated",
    "chunked",
    "large-length",
    "large-chunked",
    "tls",
    "guard",
]


def run(command: list[str], timeout: float) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_smallest_clients_run_measures_every_call_and_finds_no_error(tmp_path: Path) -> None:
    out = tmp_path / "clients.json"
    command = [sys.executable, str(CLIENTS), "--clients", "hub,aiohttp", "--seconds", "0.3"]
    command += ["--warmup", "0.1", "--requests", "400", "--json", str(out)]
    run(command, timeout=100)
    found = json.loads(out.read_text())
    assert found["problems"] == []
    assert found["environment"]["versions"]["aiohttp"] != "not installed"
    measured = {(r["client"], r["case"], r["concurrency"]) for r in found["runs"]}
    expected = {
        (c, case, n) for c in ("hub", "aiohttp") for case in ("put", "get") for n in (32, 1)
    }
    assert measured == expected
    for row in found["runs"]:
        assert row["requests"] > 0 and row["errors"] == 0 and row["bad"] == 0, row
        assert row["rps"] > 0 and row["cpu_us_per_request"] > 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"], row
    assert {(m["client"], m["case"], m["concurrency"]) for m in found["medians"]} == expected


def test_the_hub_client_passes_every_robustness_check(tmp_path: Path) -> None:
    out = tmp_path / "robustness.json"
    run([sys.executable, str(CLIENTS), "--robustness", "--clients", "hub", "--json", str(out)], 100)
    found = json.loads(out.read_text())
    assert found["problems"] == []
    checks = found["robustness"]["hub"]
    assert [c["name"] for c in checks] == SCENARIOS
    for check in checks:
        if check["name"] == "tls" and shutil.which("openssl") is None:
            assert check["ok"] is None  # no certificates without openssl
            continue
        assert check["ok"] is True, check
