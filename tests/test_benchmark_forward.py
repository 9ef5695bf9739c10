"""The forward benchmark (benchmarks/forward.py) runs end to end in its smallest form: a real
hub, the lean receiver, and, when nginx is installed, nginx proxy_pass to the same receiver as
the limit of one proxy hop; every answer checked, every process stopped at the end. Without
nginx the benchmark skips its row and still measures the rest. Its numbers are not checked here
(a loaded test machine is slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
FORWARD = ROOT / "benchmarks" / "forward.py"
SMALLEST = ["--seconds", "1", "--warmup", "0", "--latency-concurrency", "0"]
SMALLEST += ["--concurrency", "4"]


def nginx_binary() -> str | None:
    # Where Debian puts it; a user's PATH often lacks /usr/sbin.
    return shutil.which("nginx", path=os.pathsep.join([os.environ["PATH"], "/usr/sbin"]))


def run_forward(out: Path, *options: str) -> tuple[dict[str, Any], str]:
    command = [sys.executable, str(FORWARD), *SMALLEST, "--json", str(out), *options]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found: dict[str, Any] = json.loads(out.read_text())
    assert found["problems"] == []
    for row in found["runs"]:
        assert row["bad"] == 0 and sum(row["errors"].values()) == 0, row
        assert row["requests"] > 0 and row["received"] >= row["requests"], row
    return found, run.stdout


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
def test_the_smallest_run_measures_nginx_beside_the_hub_and_stops_it(tmp_path: Path) -> None:
    found, _ = run_forward(tmp_path / "forward.json", "--nginx", str(nginx_binary()))
    assert {(r["case"], r["target"]) for r in found["runs"]} == {
        (case, target) for case in ("put", "get") for target in ("direct", "nginx", "hub")
    }
    for row in found["runs"]:
        if row["target"] != "direct":
            # The proxy of the row used CPU for each call, counted like the hub's.
            assert row["cpu_us_per_call"][row["target"]] > 0, row
    for line in found["comparison"]:
        assert line["nginx_rps"] > 0 and line["hub_nginx_ratio"] is not None, line
        assert line["nginx_cpu_us_per_call"] > 0 and line["hub_cpu_us_per_call"] > 0, line
    nginx = found["settings"]["nginx"]
    assert "worker_processes 1;" in nginx["conf"] and "keepalive 64;" in nginx["conf"]
    assert len(nginx["workers"]) == 1
    for pid in [nginx["pid"], *nginx["workers"]]:
        assert not Path(f"/proc/{pid}").exists(), f"nginx process {pid} left running"


def test_without_nginx_the_row_is_skipped_with_a_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-nginx"
    found, output = run_forward(
        tmp_path / "forward.json", "--cases", "get", "--nginx", str(missing)
    )
    assert f"{missing} not found" in output
    assert {r["target"] for r in found["runs"]} == {"direct", "hub"}
    assert found["settings"]["nginx"] is None
    (line,) = found["comparison"]
    assert line["nginx_rps"] is None and line["hub_nginx_ratio"] is None
    assert line["hub_cpu_us_per_call"] > 0
