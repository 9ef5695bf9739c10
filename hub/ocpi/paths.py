"""Ids in URLs as opaque path segments.

OCPI ids (``location_id``, ``token_uid``, ``session_id``, ...) are CiStrings: printable ASCII
(2.2.1 types, "CiString"). In a URL each is one path segment. The hub reads the segments below a
module's URL from the raw request path, decodes each exactly once, and sends them on re-encoded
one by one, so that no id can change the shape of the URL it is put into: a segment that would
be empty, ``.`` or ``..``, or that holds a ``/``, a ``\\``, a ``%`` (an encoding of an encoding)
or a control character, is refused rather than passed on or resolved.
"""

from __future__ import annotations

import urllib.parse

from hub.ocpi.validation import InvalidInputError

# RFC 3986 §3.3: the characters a path segment may carry unencoded (pchar, "%" aside).
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
# Printable ASCII (2.2.1 types, "CiString"), without the three that make a segment mean more
# than one id: a path separator on either kind of server, and the escape character.
_ALLOWED = frozenset(range(0x20, 0x7F)) - {ord("/"), ord("\\"), ord("%")}
_DOT_SEGMENTS = frozenset({".", ".."})


def decode_segments(raw: str) -> list[str]:
    """The ids in the raw (still percent-encoded) path ``raw`` below a module's URL.

    Raises ``InvalidInputError`` (OCPI 2001) naming the segment by position when one is not an
    opaque id; the segment itself is not echoed, since it may hold anything."""
    if not raw:
        return []
    found = []
    for position, part in enumerate(raw.split("/"), start=1):
        value = urllib.parse.unquote_to_bytes(part)
        if not value or not _ALLOWED.issuperset(value):
            raise InvalidInputError(
                "url",
                f"segment {position} of the path below the module is not an id: ids are "
                "printable ASCII without '/', '\\' or '%', and never empty",
            )
        text = value.decode("ascii")
        if text in _DOT_SEGMENTS:
            raise InvalidInputError(
                "url", f"segment {position} of the path below the module is '{text}', not an id"
            )
        found.append(text)
    return found


def encode_segments(segments: list[str]) -> str:
    """The ids as a relative path: each segment percent-encoded on its own."""
    return "/".join(urllib.parse.quote(s, safe=_SEGMENT_SAFE) for s in segments)


def join(url: str, segments: list[str]) -> str:
    """``url`` (an endpoint URL, with or without a trailing slash: joined on exactly one slash,
    which serves both) followed by the ids.

    Every segment was checked by ``decode_segments`` (or built by the hub itself); the result is
    checked again, so that no caller can ever leave the endpoint's URL through an id."""
    if not segments:
        return url
    for segment in segments:
        if not segment or segment in _DOT_SEGMENTS or not _ALLOWED.issuperset(segment.encode()):
            raise ValueError("not an opaque id segment")
    return url.rstrip("/") + "/" + encode_segments(segments)
