"""A rate of calls, as operators write it: ``6000/min``, ``100/10s``, ``5/s`` (README: "Rate
limits"). A leaf: settings read it, policy decides with it."""

from __future__ import annotations

import re
from typing import Final

import msgspec

_RATE = re.compile(r"\s*([0-9]{1,9})\s*/\s*([0-9]{0,6})\s*(s|sec|second|m|min|minute|h|hour)\s*")
_UNITS: Final = {
    **dict.fromkeys(("s", "sec", "second"), 1),
    **dict.fromkeys(("m", "min", "minute"), 60),
    **dict.fromkeys(("h", "hour"), 3600),
}


class Rate(msgspec.Struct, frozen=True):
    """``count`` calls per ``seconds``: ``6000/min``, ``100/10s``, ``5/s``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a rate like 6000/min, 100/10s or 5/s")
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1 or multiple < 1:
            raise ValueError(f"{text!r}: a rate needs at least one call in at least one second")
        return cls(count, multiple * _UNITS[unit])

    def __str__(self) -> str:
        if self.seconds % 3600 == 0:
            return _per(self.count, self.seconds // 3600, "hour")
        if self.seconds % 60 == 0:
            return _per(self.count, self.seconds // 60, "min")
        return _per(self.count, self.seconds, "s")

    @property
    def interval(self) -> float:
        """Seconds between two calls at the steady rate."""
        return self.seconds / self.count


def _per(count: int, multiple: int, unit: str) -> str:
    return f"{count}/{unit}" if multiple == 1 else f"{count}/{multiple}{unit}"
