"""Compare an object with its translation field by field, against a module's declared losses.

Paths are dotted with ``[]`` for list items, as in ``Loss.field``. Values under one path are
compared as multisets, so a list item that moved is no difference, but a dropped, added or
changed one is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from hub.translate.losses import Loss, Rename


def leaves(obj: Any) -> dict[str, Counter[str]]:
    """Every leaf value by path; empty lists and objects count as leaves."""
    found: dict[str, Counter[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list) and value:
            for item in value:
                walk(item, f"{path}[]")
        else:
            # 2.50 and 2.5, or 100 and 100.0, are the same JSON number.
            number = isinstance(value, int | float) and not isinstance(value, bool)
            text = json.dumps(float(value) if number else value, sort_keys=True)
            found.setdefault(path, Counter())[text] += 1

    walk(obj, "")
    return found


def renamed(path: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        if path == old or path.startswith((old + ".", old + "[")):
            return new + path[len(old) :]
    return path


def differences(source: Any, target: Any, renames: dict[str, str]) -> set[str]:
    """The paths (named as in ``target``) whose values differ once renames are applied."""
    before: dict[str, Counter[str]] = {}
    for path, values in leaves(source).items():
        before.setdefault(renamed(path, renames), Counter()).update(values)
    after = leaves(target)
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def up_renames(renames: Iterable[Rename]) -> dict[str, str]:
    return {r.v211: r.v221 for r in renames}


def down_renames(renames: Iterable[Rename]) -> dict[str, str]:
    return {r.v221: r.v211 for r in renames}


def declared(losses: Iterable[Loss], renames: Iterable[Rename]) -> set[str]:
    """Every declared field, under both versions' names (a withheld object has no fields)."""
    both = list(renames)
    fields = {loss.field for loss in losses if loss.kind != "withheld"}
    return (
        fields
        | {renamed(f, up_renames(both)) for f in fields}
        | {renamed(f, down_renames(both)) for f in fields}
    )


def covered(path: str, fields: set[str]) -> bool:
    return any(path == f or path.startswith((f + ".", f + "[")) for f in fields)


def undeclared(differing: set[str], fields: set[str]) -> set[str]:
    return {path for path in differing if not covered(path, fields)}
