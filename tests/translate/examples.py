"""The official example files the translation tests read (tests/examples/NOTICE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parent.parent / "examples"


def names(version: str, pattern: str) -> list[str]:
    found = sorted(p.name for p in (EXAMPLES / version).glob(pattern))
    assert found, f"no {version} example matches {pattern}"
    return found


def load(version: str, name: str) -> Any:
    return json.loads((EXAMPLES / version / name).read_bytes())
