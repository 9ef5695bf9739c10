"""flatdiff for the 2.3.0 <-> 2.2.1 tables: renames by direction, and the declared losses a set
of differences must show (``unexercised``), leaving out the unknown-fields rows, which no
official example exercises (their own tests do)."""

from __future__ import annotations

from typing import Any

from hub.translate.losses import Direction, Loss, Rename230
from tests.translate.flatdiff import differences, undeclared, unexercised


def down_renames(renames: tuple[Rename230, ...]) -> dict[str, str]:
    return {r.v230: r.v221 for r in renames}


def up_renames(renames: tuple[Rename230, ...]) -> dict[str, str]:
    return {r.v221: r.v230 for r in renames}


def changes(
    source: dict[str, Any],
    target: dict[str, Any],
    direction: Direction,
    renames: tuple[Rename230, ...] = (),
) -> set[tuple[str, str]]:
    names = down_renames(renames) if direction == "down" else up_renames(renames)
    return differences(source, target, names)


def undeclared_changes(
    source: dict[str, Any],
    target: dict[str, Any],
    direction: Direction,
    losses: tuple[Loss, ...],
    renames: tuple[Rename230, ...] = (),
    prefix: str = "",
) -> set[tuple[str, str]]:
    return undeclared(changes(source, target, direction, renames), losses, direction, prefix)


def not_shown(found: dict[Direction, set[tuple[str, str]]], losses: tuple[Loss, ...]) -> set[Loss]:
    return {loss for loss in unexercised(found, losses) if not loss.field.startswith("(")}
