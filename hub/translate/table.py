"""The published loss table, docs/versions.md, as the translate modules' ``LOSSES`` make it:
``python -m hub.translate.table > docs/versions.md`` (a test checks that the page is current)."""

from __future__ import annotations

from hub.translate import cdrs, commands, locations, sessions, status, tariffs, tokens
from hub.translate.losses import render

MODULES = (locations, tariffs, sessions, cdrs, tokens, commands, status)


def page() -> str:
    losses = tuple(loss for m in MODULES for loss in m.LOSSES)
    renames = tuple(rename for m in MODULES for rename in m.RENAMES)
    return render(losses, renames)


if __name__ == "__main__":
    print(page(), end="")
