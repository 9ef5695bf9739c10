"""The file of ``ocpi-hub agreements import`` as the body of ``POST /admin/agreements/import``
(README: "Roaming agreements"): a JSON list of the bodies of ``POST /admin/agreements``, or CSV
with the header ``cpo,partner,modules,extensions`` and rows like
``NL:CPA,DE:EMB,locations;tariffs,true`` (modules empty: every module; extensions ``true``,
``false`` or empty, which is false). ``modules`` and ``extensions`` may be left out of the
header, so files written before ``extensions`` existed stay valid.

A CSV file is checked here, row by row, so that a mistake is reported with its line number
before anything is sent; the hub checks the rest (whether the parties exist, their roles) and
names the item. JSON is sent as it is: the hub names the item in it (``[3].partner``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hub.policy import check_modules
from hub.records import party_of

HEADER = ("cpo", "partner", "modules", "extensions")
# The columns a file may leave out, after cpo and partner, in either order.
OPTIONAL = frozenset(HEADER[2:])
# What the extensions column takes: "" (left empty) is false, as when the column is left out.
FLAGS = {"true": True, "false": False, "": False}


class FileError(ValueError):
    """What is wrong with the file, in one line that names it (and the line, for CSV)."""


def read(path: Path) -> list[Any]:
    """The import body in ``path``: JSON for ``.json``, CSV for ``.csv``, otherwise JSON when
    the content starts with ``[`` and CSV when not."""
    try:
        # utf-8-sig: spreadsheets write a byte order mark before CSV.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise FileError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise FileError(f"cannot read {path}: it is not UTF-8 text") from None
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix != ".csv" and text.lstrip().startswith("[")):
        return _json(path, text)
    return _csv(path, text)


def _json(path: Path, text: str) -> list[Any]:
    try:
        found = json.loads(text)
    except ValueError as e:
        raise FileError(f"{path} is not JSON: {e}") from None
    if not isinstance(found, list):
        raise FileError(f"{path}: JSON must be a list of agreements, like POST /admin/agreements")
    return found


def _csv(path: Path, text: str) -> list[Any]:
    rows = csv.reader(io.StringIO(text, newline=""))
    bodies: list[Any] = []
    header: list[str] | None = None
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, also at the end
        where = f"{path} line {rows.line_num}"
        if header is None:
            header = [cell.strip().lower() for cell in row]
            rest = header[2:]
            if (
                header[:2] != list(HEADER[:2])
                or len(set(rest)) != len(rest)
                or set(rest) - OPTIONAL
            ):
                raise FileError(
                    f"{where}: the header must be {','.join(HEADER)} "
                    "(modules and extensions may be left out)"
                )
            continue
        bodies.append(_agreement(row, header, where))
    if header is None:
        raise FileError(f"{path} is empty: the header {','.join(HEADER)} is missing")
    return bodies


def _agreement(row: list[str], header: list[str], where: str) -> dict[str, Any]:
    """One CSV row as the body of ``POST /admin/agreements``; FileError names what is wrong."""
    if len(row) != len(header):
        raise FileError(f"{where}: {len(row)} fields, the header has {len(header)}")
    cells = dict(zip(header, row, strict=True))
    body: dict[str, Any] = {}
    for name in HEADER[:2]:
        try:
            country_code, party_id = party_of(cells[name])
        except ValueError as e:
            raise FileError(f"{where}: {name}: {e}") from None
        body[name] = {"country_code": country_code, "party_id": party_id}
    modules = [m.strip() for m in cells.get("modules", "").split(";") if m.strip()]
    if modules:  # none: every module
        try:
            body["modules"] = list(check_modules(modules))
        except ValueError as e:
            raise FileError(f"{where}: modules: {e}") from None
    flag = cells.get("extensions", "").strip().lower()
    if flag not in FLAGS:
        shown = cells["extensions"].strip()
        raise FileError(f"{where}: extensions: {shown!r} is not true, false or empty")
    if FLAGS[flag]:  # false is left out: the body an older file makes
        body["extensions"] = True
    return body
