"""The log formatters (hub/logs.py): one record is one line, and nothing a client sends can
break a line or add a field of its own."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import threading

from hypothesis import given
from hypothesis import strategies as st

from hub.logs import JsonFormatter, LineWriter, TextFormatter

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


ACCESS_FIELDS = (
    "ocpi_module",
    "sender",
    "receiver",
    "ocpi_status",
    "http_status",
    "duration_ms",
    "request_id",
    "correlation_id",
)


@given(
    method=st.text(),
    path=st.text(),
    status=st.integers(100, 599),
    duration=st.floats(),
    values=st.tuples(*[st.one_of(st.text(), st.integers(-(2**63), 2**63 - 1), st.none())] * 8),
)
def test_the_access_line_is_the_line_its_record_would_make(
    method: str, path: str, status: int, duration: float, values: tuple[object, ...]
) -> None:
    """The access line skips the record machinery (hub.logs.access); its text is the same."""
    extra = dict(zip(ACCESS_FIELDS, values, strict=True))
    extra["duration_ms"] = duration
    for formatter in (TextFormatter(), JsonFormatter()):
        made = record("%s %s %s", method, path, status)
        made.__dict__.update(extra)
        made.name = "hub.access"
        assert formatter.access_line(made.created, method, path, status, extra) == (
            formatter.format(made)
        )


class SlowStream(io.StringIO):
    """A stream that counts its writes, and can hold them until told to go on."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.go_on = threading.Event()
        self.go_on.set()

    def write(self, text: str) -> int:
        self.go_on.wait(5)
        self.writes += 1
        return super().write(text)


def test_queued_lines_are_written_in_batches_and_all_at_close() -> None:
    stream = SlowStream()
    writer = LineWriter(stream)
    stream.go_on.clear()  # the writer thread waits in its first write
    lines = [f"line {i}\n" for i in range(1000)]
    for line in lines:
        writer.put(line)
    stream.go_on.set()
    writer.close()
    assert stream.getvalue() == "".join(lines)
    assert stream.writes < 100


def test_a_line_written_at_once_comes_after_the_queued_ones() -> None:
    stream = SlowStream()
    writer = LineWriter(stream)
    writer.put("queued\n")
    writer.write_now("at once\n")
    assert stream.getvalue() == "queued\nat once\n"
    writer.close()
    writer.put("after close\n")
    assert stream.getvalue().endswith("at once\nafter close\n")


def test_lines_queued_when_the_process_exits_are_written() -> None:
    """``configure``'s writer is closed at exit: a line logged just before it is not lost."""
    program = (
        "import logging, sys\n"
        "from hub import logs\n"
        "logs.configure('text', 'info')\n"
        "for i in range(3):\n"
        "    logging.getLogger('hub.access').info('last %d', i)\n"
        "sys.exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert [line.rsplit(": ", 1)[1] for line in done.stderr.splitlines()] == [
        "last 0",
        "last 1",
        "last 2",
    ]
