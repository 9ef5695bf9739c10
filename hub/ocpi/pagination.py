"""Pagination of GET lists (2.2.1 transport and format, "Pagination"): the query parameters,
and the headers of an answer the hub pages itself."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from hub.ocpi import common
from hub.ocpi import headers as h
from hub.ocpi.validation import InvalidInputError

# The most objects the hub puts on one page of a list it serves (the X-Limit it announces).
MAX_LIMIT = 100


def to_epoch_ms(text: str) -> int:
    """An OCPI DateTime query parameter as epoch milliseconds; InvalidInputError if it is none."""
    try:
        return common.to_epoch_ms(text)
    except ValueError as e:
        raise InvalidInputError("date", f"{text!r} is not an RFC 3339 date and time") from e


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    date_from: int | None  # epoch ms, inclusive
    date_to: int | None  # epoch ms, exclusive
    params: dict[str, str]  # the query as given, to carry the filters into the next link

    @classmethod
    def of(cls, query: str) -> Page:
        params = dict(urllib.parse.parse_qsl(query))
        return cls(
            offset=_whole(params, "offset", 0),
            limit=min(_whole(params, "limit", MAX_LIMIT), MAX_LIMIT),
            date_from=to_epoch_ms(params["date_from"]) if "date_from" in params else None,
            date_to=to_epoch_ms(params["date_to"]) if "date_to" in params else None,
            params=params,
        )

    def admits(self, last_updated: str) -> bool:
        moment = to_epoch_ms(last_updated)
        return (self.date_from is None or moment >= self.date_from) and (
            self.date_to is None or moment < self.date_to
        )

    def headers(self, url: str, shown: int, total: int) -> dict[str, str]:
        """X-Total-Count, X-Limit (the server's maximum, not the count) and, unless this is
        the last page, a Link to the next one with the same filters."""
        found = {h.TOTAL_COUNT: str(total), h.LIMIT: str(MAX_LIMIT)}
        if shown and self.offset + shown < total:
            following = {
                **self.params,
                "offset": str(self.offset + shown),
                "limit": str(self.limit),
            }
            found[h.LINK] = f'<{url}?{urllib.parse.urlencode(following)}>; rel="next"'
        return found


def _whole(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    # Plain decimal digits only: str.isdigit() also takes "²" and int() takes "١٢".
    if not _WHOLE.fullmatch(raw):
        raise InvalidInputError(name, f"{name} must be a whole number below 10^9")
    return int(raw)


_WHOLE = re.compile(r"[0-9]{1,9}")
