"""The loss convention of the translations, and how the published loss table is written.

Each translate module declares ``LOSSES: tuple[Loss, ...]``: every field its functions drop,
synthesize, change or withhold, per direction. Tests compare what the functions actually do on
the official examples with these tables, so the table cannot drift from the code, and
docs/versions.md is generated from them: ``python -m hub.translate.table > docs/versions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Direction = Literal["up", "down"]  # up: 2.1.1 -> 2.2.1; down: 2.2.1 -> 2.1.1
Kind = Literal["dropped", "synthesized", "changed", "withheld"]

DIRECTIONS: Final[dict[Direction, str]] = {"up": "2.1.1 → 2.2.1", "down": "2.2.1 → 2.1.1"}
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


@dataclass(frozen=True, slots=True)
class Rename:
    """A field that only changes its name (no loss): dotted paths as in ``Loss.field``."""

    module: str
    v211: str
    v221: str


@dataclass(frozen=True, slots=True)
class Withheld:
    """The translation's answer when an object must not reach the other version at all (it would
    change meaning, not just lose detail). ``why`` is for logs and alerts."""

    why: str


def render(losses: tuple[Loss, ...], renames: tuple[Rename, ...] = ()) -> str:
    """The Markdown page docs/versions.md: per module, its renamed fields and one table per
    direction."""
    lines = [
        "# Translating between OCPI 2.1.1 and 2.2.1: what is lost",
        "",
        "Generated from the `LOSSES` tables in `hub/translate/` by "
        "`python -m hub.translate.table > docs/versions.md`; do not edit by hand.",
        "",
        "Kinds: *dropped* (the field does not reach the other side), *synthesized* (the hub "
        "fills a field the source lacks, from the caller's parameters or a fixed rule), "
        "*changed* (the value is mapped to a different one), *withheld* (the whole object is "
        "not sent). Field paths are dotted, `[]` marks list items, and each is named as the "
        "source version of its direction names it (a synthesized field as the target names it). "
        "EVSE and Connector pushes follow the rows under `evses[]` and "
        "`evses[].connectors[]`.",
    ]
    modules = sorted({loss.module for loss in losses} | {r.module for r in renames})
    for module in modules:
        moved = [r for r in renames if r.module == module]
        if moved:
            lines += ["", f"## {module}: renamed fields (no loss)", "", "| 2.1.1 | 2.2.1 |"]
            lines += ["|---|---|"] + [f"| `{r.v211}` | `{r.v221}` |" for r in moved]
        for direction, title in DIRECTIONS.items():
            rows = [x for x in losses if x.module == module and x.direction == direction]
            if not rows:
                continue
            lines += ["", f"## {module}, {title}", "", "| Field | Kind | Why |", "|---|---|---|"]
            lines += [f"| `{x.field}` | {x.kind} | {x.why} |" for x in rows]
    return "\n".join(lines) + "\n"
