"""The loss convention of the translations, and how the published loss table is written.

Each translate module declares ``LOSSES: tuple[Loss, ...]``: every field its functions drop,
synthesize, change or withhold, per direction. Tests compare what the functions actually do on
the official examples with these tables, so the table cannot drift from the code, and
docs/versions.md is generated from them: ``python -m hub.translate.table > docs/versions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# "up" is toward the newer version, "down" toward the older: for the pair 2.1.1 it is
# 2.1.1 -> 2.2.1 and back, for the pair 2.3.0 it is 2.2.1 -> 2.3.0 and back.
Direction = Literal["up", "down"]
# The version a table translates to and from 2.2.1, the routing core's version.
Pair = Literal["2.1.1", "2.3.0"]
Kind = Literal["dropped", "synthesized", "changed", "withheld"]

DIRECTIONS: Final[dict[Direction, str]] = {"up": "2.1.1 → 2.2.1", "down": "2.2.1 → 2.1.1"}
DIRECTIONS_230: Final[dict[Direction, str]] = {"up": "2.2.1 → 2.3.0", "down": "2.3.0 → 2.2.1"}
KINDS: Final[frozenset[str]] = frozenset({"dropped", "synthesized", "changed", "withheld"})


@dataclass(frozen=True, slots=True)
class Loss:
    """One declared difference between an object and its translation.

    ``field`` is a dotted path from the module's top object, with ``[]`` for list items, e.g.
    ``evses[].connectors[].tariff_ids``; ``*`` names the whole object (kind ``withheld``).
    """

    module: str  # the OCPI ModuleID, e.g. "locations"
    direction: Direction
    field: str
    kind: Kind
    why: str
    pair: Pair = "2.1.1"


@dataclass(frozen=True, slots=True)
class Rename:
    """A field that only changes its name (no loss): dotted paths as in ``Loss.field``."""

    module: str
    v211: str
    v221: str


@dataclass(frozen=True, slots=True)
class Rename230:
    """A field that only changes its name between 2.2.1 and 2.3.0."""

    module: str
    v221: str
    v230: str


@dataclass(frozen=True, slots=True)
class Withheld:
    """The translation's answer when an object must not reach the other version at all (it would
    change meaning, not just lose detail). ``why`` is for logs and alerts."""

    why: str


def render(
    losses: tuple[Loss, ...],
    renames: tuple[Rename, ...] = (),
    renames_230: tuple[Rename230, ...] = (),
) -> str:
    """The Markdown page docs/versions.md: per module, its renamed fields and one table per
    direction; first 2.1.1 <-> 2.2.1, then 2.2.1 <-> 2.3.0."""
    lines = [
        "# Translating between OCPI 2.1.1, 2.2.1 and 2.3.0: what is lost",
        "",
        "Generated from the `LOSSES` tables in `hub/translate/` and `hub/translate/v230/` by "
        "`python -m hub.translate.table > docs/versions.md`; do not edit by hand.",
        "",
        "Kinds: *dropped* (the field does not reach the other side), *synthesized* (the hub "
        "fills a field the source lacks, from the caller's parameters or a fixed rule), "
        "*changed* (the value is mapped to a different one), *withheld* (the whole object is "
        "not sent). Field paths are dotted, `[]` marks list items, and each is named as the "
        "source version of its direction names it (a synthesized field as the target names it). "
        "EVSE and Connector pushes follow the rows under `evses[]` and "
        "`evses[].connectors[]`.",
        "",
        "Every translation goes through 2.2.1. Between 2.3.0 and 2.1.1 the two tables compose: "
        "2.3.0 → 2.1.1 is 2.3.0 → 2.2.1 and then 2.2.1 → 2.1.1, and 2.1.1 → 2.3.0 is "
        "2.1.1 → 2.2.1 and then 2.2.1 → 2.3.0; an object either step withholds is withheld. "
        "Between two platforms of the same version nothing is translated.",
        "",
        "# 2.1.1 and 2.2.1",
    ]
    lines += _pair(losses, "2.1.1", DIRECTIONS, [(r.module, r.v211, r.v221) for r in renames])
    lines += ["", "# 2.2.1 and 2.3.0"]
    lines += _pair(
        losses, "2.3.0", DIRECTIONS_230, [(r.module, r.v221, r.v230) for r in renames_230]
    )
    return "\n".join(lines) + "\n"


def _pair(
    losses: tuple[Loss, ...],
    pair: Pair,
    directions: dict[Direction, str],
    renames: list[tuple[str, str, str]],
) -> list[str]:
    older, newer = ("2.1.1", "2.2.1") if pair == "2.1.1" else ("2.2.1", "2.3.0")
    mine = [x for x in losses if x.pair == pair]
    lines: list[str] = []
    for module in sorted({x.module for x in mine} | {r[0] for r in renames}):
        moved = [r for r in renames if r[0] == module]
        if moved:
            lines += ["", f"## {module}: renamed fields, {older} ↔ {newer} (no loss)"]
            lines += ["", f"| {older} | {newer} |"]
            lines += ["|---|---|"] + [f"| `{old}` | `{new}` |" for _, old, new in moved]
        for direction, title in directions.items():
            rows = [x for x in mine if x.module == module and x.direction == direction]
            if not rows:
                continue
            lines += ["", f"## {module}, {title}", "", "| Field | Kind | Why |", "|---|---|---|"]
            lines += [f"| `{x.field}` | {x.kind} | {x.why} |" for x in rows]
    return lines
