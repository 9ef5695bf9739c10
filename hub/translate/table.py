"""The published loss table, docs/versions.md, as the translate modules' ``LOSSES`` make it:
``python -m hub.translate.table > docs/versions.md`` (a test checks that the page is current)."""

from __future__ import annotations

from hub.translate import cdrs, commands, locations, sessions, status, tariffs, tokens
from hub.translate.losses import render
from hub.translate.v230 import cdrs as cdrs_230
from hub.translate.v230 import commands as commands_230
from hub.translate.v230 import locations as locations_230
from hub.translate.v230 import sessions as sessions_230
from hub.translate.v230 import tariffs as tariffs_230
from hub.translate.v230 import tokens as tokens_230

MODULES = (locations, tariffs, sessions, cdrs, tokens, commands, status)
# 2.3.0 <-> 2.2.1; 2.3.0 <-> 2.1.1 composes these with MODULES.
MODULES_230 = (locations_230, tariffs_230, sessions_230, cdrs_230, tokens_230, commands_230)
RENAMING_230 = (tariffs_230, sessions_230, cdrs_230)


def page() -> str:
    losses = tuple(loss for m in (*MODULES, *MODULES_230) for loss in m.LOSSES)
    renames = tuple(rename for m in MODULES for rename in m.RENAMES)
    renames_230 = tuple(rename for m in RENAMING_230 for rename in m.RENAMES)
    return render(losses, renames, renames_230)


if __name__ == "__main__":
    print(page(), end="")
