"""What a translation actually changed, to hold against a module's declared ``LOSSES``.

Both objects are flattened to dotted paths (``evses[0].uid``); the source's paths are renamed by
the field map the test gives (the renames are not losses), and then every path only in the
source is *dropped*, every path only in the target *synthesized*, every common path with another
value *changed*. A declared loss covers a path when it names the path or one of its parents,
list indices written ``[]``.
"""

from __future__ import annotations

import re
from typing import Any

from hub.translate.losses import Direction, Loss, Rename

Paths = dict[str, Any]


def flatten(value: Any, prefix: str = "") -> Paths:
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: {}}
        out: Paths = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []}
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _renamed(path: str, renames: dict[str, str]) -> str:
    """``path`` with the first rename whose source names it or a parent; ``[]`` in a rename
    matches any index, and the indices carry over to the new name in order (0 when the new
    name has more list levels than the old)."""
    for old, new in renames.items():
        pattern = re.escape(old).replace(r"\[\]", r"\[(\d+)\]")
        match = re.match(pattern + r"(?=$|[.\[])", path)
        if match is None:
            continue
        indices = [*match.groups()]
        parts = new.split("[]")
        filled = parts[0] + "".join(
            f"[{indices[i] if i < len(indices) else 0}]{part}" for i, part in enumerate(parts[1:])
        )
        return filled + path[match.end() :]
    return path


def differences(
    source: dict[str, Any], target: dict[str, Any], renames: dict[str, str]
) -> set[tuple[str, str]]:
    """(kind, path) for every difference, paths with ``[]`` for list indices."""
    before = {_renamed(p, renames): v for p, v in flatten(source).items()}
    after = flatten(target)
    found = {("dropped", p) for p in before.keys() - after.keys()}
    found |= {("synthesized", p) for p in after.keys() - before.keys()}
    found |= {("changed", p) for p in before.keys() & after.keys() if before[p] != after[p]}
    return {(kind, re.sub(r"\[\d+\]", "[]", path)) for kind, path in found}


def undeclared(
    found: set[tuple[str, str]], losses: tuple[Loss, ...], direction: Direction, prefix: str = ""
) -> set[tuple[str, str]]:
    """The differences no loss of ``direction`` declares. ``prefix`` is put before each path
    (for objects a module declares under a name, e.g. ``authorization.``)."""

    def covered(kind: str, path: str) -> bool:
        full = prefix + path
        return any(
            loss.direction == direction
            and loss.kind == kind
            and (full == loss.field or full.startswith((loss.field + ".", loss.field + "[")))
            for loss in losses
        )

    return {(kind, path) for kind, path in found if not covered(kind, path)}


def up_renames(renames: tuple[Rename, ...]) -> dict[str, str]:
    return {r.v211: r.v221 for r in renames}


def down_renames(renames: tuple[Rename, ...]) -> dict[str, str]:
    return {r.v221: r.v211 for r in renames}


def unexercised(
    found: dict[Direction, set[tuple[str, str]]], losses: tuple[Loss, ...]
) -> set[Loss]:
    """The declared field losses (not whole objects withheld) that no difference shows: a table
    that declares more than the code does is as wrong as one that declares less."""

    def shows(loss: Loss) -> bool:
        return any(
            kind == loss.kind
            and (path == loss.field or path.startswith((loss.field + ".", loss.field + "[")))
            for kind, path in found[loss.direction]
        )

    return {loss for loss in losses if loss.kind != "withheld" and not shows(loss)}
