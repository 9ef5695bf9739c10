"""The house rules of architecture.md that a program can check."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HUB = Path(__file__).parent.parent / "hub"

# Imports point one way: cli -> app -> web -> registration/delivery -> forward -> routing -> store.
RANK = {
    "cli": 0,
    "server": 0,
    "admin_client": 0,
    "agreement_file": 0,
    "__main__": 0,
    "app": 1,
    "web": 2,
    "registration": 3,
    "discovery": 4,
    "lifecycle": 3,
    "agreements": 3,
    "relay": 3,
    "versioned": 3,
    "bridge": 4,
    "handouts": 4,
    "openrouting": 4,
    "kept": 4,
    "replies": 4,
    "broadcast": 3,
    "fanout": 3,
    "hubclientinfo": 3,
    "reachable": 3,
    "delivery": 3,
    "forward": 4,
    "partners": 4,
    "routing": 5,
    "policy": 5,
    "store": 6,
}
LEAVES = {
    "ocpi",
    "errors",
    "settings",
    "metrics",
    "logs",
    "urlguard",
    "records",
    "rates",
    "lifeline",
    "supervisor",
    "translate",
    "__init__",
}

# Each third-party library lives in one place.
HOMES = {
    "starlette": {"web", "app"},
    "redis": {"store", "delivery"},
    "httptools": {"forward"},
    "uvicorn": {"cli", "server"},
    "prometheus_client": {"metrics"},
}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(HUB.rglob("*.py")):
        parts = path.relative_to(HUB).with_suffix("").parts
        yield parts[0], ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize(("part", "tree"), list(modules()), ids=lambda v: getattr(v, "name", ""))
def test_imports_point_one_way(part: str, tree: ast.Module) -> None:
    for name in imported(tree):
        if not name.startswith("hub."):
            continue
        target = name.split(".")[1]
        if target in LEAVES or target == part:
            continue
        assert part not in LEAVES, f"the leaf {part} imports {name}"
        assert RANK[target] >= RANK[part], f"{part} imports {name} against the direction"


def test_the_protocol_vocabulary_imports_nothing_of_the_hub() -> None:
    for part, tree in modules():
        if part == "ocpi":
            assert all(not n.startswith("hub.") or n.startswith("hub.ocpi") for n in imported(tree))


def test_translation_imports_only_the_protocol_records_and_errors() -> None:
    # A leaf anyone may import: it must stay free of every other part of the hub.
    allowed = {"ocpi", "records", "errors", "translate"}
    for part, tree in modules():
        if part == "translate":
            hub_imports = {n.split(".")[1] for n in imported(tree) if n.startswith("hub.")}
            assert hub_imports <= allowed, f"translate imports {hub_imports - allowed}"


def test_each_library_lives_in_one_place() -> None:
    for part, tree in modules():
        for name in imported(tree):
            library = name.split(".")[0]
            if library in HOMES:
                assert part in HOMES[library], f"{library} imported in hub/{part}"


# The pure cores: what they import may load neither Redis nor an HTTP client nor the web layer.
PURE = ("hub.routing", "hub.policy", "hub.records", "hub.ocpi", "hub.translate")
HEAVY = ("redis", "httptools", "starlette", "uvicorn", "prometheus_client")


@pytest.mark.parametrize("module", PURE)
def test_a_pure_core_loads_no_io_library(module: str) -> None:
    probe = (
        f"import sys, {module}; print(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"importing {module} loads {done.stdout.strip()}"


def test_only_the_command_line_reads_the_environment() -> None:
    for part, tree in modules():
        if part in {"cli", "admin_client"}:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                pytest.fail(f"hub/{part} reads the environment")
