"""The log formatters (hub/logs.py): one record is one line, and nothing a client sends can
break a line or add a field of its own."""

from __future__ import annotations

import json
import logging
import re
import sys

from hypothesis import given
from hypothesis import strategies as st

from hub.logs import JsonFormatter, TextFormatter

# What logfmt readers take as a field: key=value or key="quoted value".
FIELD = re.compile(r'(?:^| )([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|[^ "]*)')
# Everything a line can be broken with, for people (terminals) or for log readers.
BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line of the error")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("hub.test", logging.INFO, __file__, 1, msg, args, exc_info)
    made.__dict__.update(extra)
    return made


def fields(line: str) -> dict[str, str]:
    """The fields after the message, as a logfmt reader sees them (the last of a key wins)."""
    found: dict[str, str] = {}
    for key, value in FIELD.findall(line):
        found[key] = json.loads(value) if value.startswith('"') else value
    return found


def test_plain_values_stay_plain() -> None:
    line = TextFormatter().format(
        record("%s %s %s", "GET", "/ocpi/versions", 200, request_id="abc-1", duration_ms=1.5)
    )
    assert line.endswith(": GET /ocpi/versions 200 request_id=abc-1 duration_ms=1.5")


def test_a_line_break_in_the_message_is_escaped() -> None:
    line = TextFormatter().format(record("GET %s", "/x\r\nINFO hub.access: forged 200"))
    assert "\n" not in line and "\r" not in line
    assert "\\r\\n" in line


def test_a_line_break_in_a_value_is_escaped_and_quoted() -> None:
    line = TextFormatter().format(record("call", request_id="a\nb"))
    assert "\n" not in line
    assert fields(line)["request_id"] == "a\nb"


def test_a_value_cannot_add_a_field() -> None:
    line = TextFormatter().format(
        record("call", request_id='x sender=NL/EVL correlation_id="forged', correlation_id="c1")
    )
    assert fields(line) == {
        "request_id": 'x sender=NL/EVL correlation_id="forged',
        "correlation_id": "c1",
    }


def test_a_message_argument_cannot_add_a_field() -> None:
    line = TextFormatter().format(
        record("%s %s %s", "GET", "/ocpi/x request_id=forged", 404, request_id="real")
    )
    assert fields(line) == {"request_id": "real"}
    assert '"/ocpi/x request_id=forged"' in line


def test_a_quoted_argument_is_quoted_once_with_r() -> None:
    error = ConnectionError("Error 2 connecting to /x.sock request_id=x")
    line = TextFormatter().format(record("interrupted (%r); retrying", error))
    assert line.endswith('interrupted ("Error 2 connecting to /x.sock request_id=x"); retrying')


def test_empty_values_are_visible() -> None:
    assert fields(TextFormatter().format(record("call", sender="")))["sender"] == ""


def test_a_traceback_stays_below_its_one_line_record() -> None:
    line = TextFormatter().format(record("failed %s", "a\nb", exc=True, request_id="r\n1"))
    first, *rest = line.split("\n")
    assert first.endswith('failed "a\\nb" request_id="r\\n1"')
    assert rest[0] == "Traceback (most recent call last):"
    # Kept as Python prints it, the error's own line break included.
    assert rest[-2:] == ["ValueError: boom", "second line of the error"]


def test_json_lines_are_one_line_each() -> None:
    line = JsonFormatter().format(
        record("GET %s", "/x\r\n{}", exc=True, request_id='a"\n\u2028b', other=object())
    )
    assert "\n" not in line and "\r" not in line
    decoded = json.loads(line)
    assert decoded["message"] == "GET /x\r\n{}"
    assert decoded["request_id"] == 'a"\n\u2028b'
    assert "second line of the error" in decoded["exception"]


@given(message=st.text(), value=st.text(), argument=st.text())
def test_any_text_is_one_line(message: str, value: str, argument: str) -> None:
    text = TextFormatter().format(record(message.replace("%", "%%") + " %s", argument, v=value))
    assert not BREAKS.search(text)


@given(
    arguments=st.tuples(st.text(), st.one_of(st.text(), st.integers(), st.floats())),
    value=st.text(),
)
def test_no_text_adds_or_changes_a_field(arguments: tuple[str, object], value: str) -> None:
    text = TextFormatter().format(record("%s %s", *arguments, request_id=value, status=200))
    assert fields(text.split(": ", 1)[1]) == {"request_id": value, "status": "200"}
