"""The published loss table (docs/versions.md) is generated from the code's LOSSES."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.translate.losses import KINDS
from hub.translate.table import MODULES, MODULES_230, page

PAGE = Path(__file__).parent.parent.parent / "docs" / "versions.md"


def test_the_published_page_is_what_the_code_declares() -> None:
    assert PAGE.read_text(encoding="utf-8") == page(), (
        "docs/versions.md is stale: run `python -m hub.translate.table > docs/versions.md`"
    )


def test_the_command_prints_the_page() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hub.translate.table"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout == page()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_each_row_is_well_formed_and_said_once(module: object) -> None:
    losses = module.LOSSES  # type: ignore[attr-defined]
    assert all(
        loss.kind in KINDS and loss.why and loss.direction in ("up", "down") for loss in losses
    )
    assert len({(x.direction, x.field, x.kind) for x in losses}) == len(losses)
    assert len({x.module for x in losses}) == 1


@pytest.mark.parametrize("module", MODULES_230, ids=lambda m: m.__name__)
def test_each_230_row_is_well_formed_and_said_once(module: object) -> None:
    losses = module.LOSSES  # type: ignore[attr-defined]
    test_each_row_is_well_formed_and_said_once(module)
    assert all(loss.pair == "2.3.0" for loss in losses)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_the_211_tables_stay_211(module: object) -> None:
    assert all(loss.pair == "2.1.1" for loss in module.LOSSES)  # type: ignore[attr-defined]


def test_the_page_has_both_pairs_and_says_how_230_reaches_211() -> None:
    text = page()
    assert "## locations, 2.3.0 → 2.2.1" in text and "## tariffs, 2.2.1 → 2.3.0" in text
    assert "## locations, 2.2.1 → 2.1.1" in text
    assert "2.3.0 → 2.1.1 is 2.3.0 → 2.2.1 and then 2.2.1 → 2.1.1" in text
