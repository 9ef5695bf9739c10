"""The scale benchmark (benchmarks/scale.py) runs end to end in its smallest form: a real hub,
the lean server, 20 platforms registered by handshake, every measurement taken and every check
of correctness passed. Its numbers are not checked here (a loaded test machine is slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SCALE = ROOT / "benchmarks" / "scale.py"
MEASURED = {
    "registration: platforms/s (concurrent)",
    "registration: one admin POST /platforms, ms",
    "registration: one credentials handshake, ms",
    "idle: hub CPU, % of a core",
    "idle: redis-server CPU, % of a core",
    "idle: Redis connections per hub process",
    "idle: open fds, largest hub process",
    "idle: hub RSS, MB (largest process)",
    "fan-out: until the last eMSP has it, s",
    "fan-out: the CPO's answer, ms",
    "sustained: deliveries/s",
    "restart: SIGTERM until exit, s",
    "restart: start until /readyz 200, s",
    "restart: start until a broadcast reached all, s",
}


def test_the_smallest_scale_run_measures_everything_and_finds_no_problem(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    command = [sys.executable, str(SCALE), "--platforms", "20", "--idle-seconds", "1"]
    command += ["--rounds", "1", "--deliveries", "100", "--json", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["problems"] == []
    (stage,) = found["stages"]
    assert stage["platforms"] == 20
    names = {c["name"] for c in stage["checks"]}
    assert names >= MEASURED
    assert stage["sustained"]["received"] == stage["sustained"]["deliveries"] == 5 * 20
    assert stage["restart"]["exit_status"] == 0
    assert all(c["value"] is not None for c in stage["checks"]), stage["checks"]
