"""One HTTP/1.1 connection to a platform: it writes a request and reads the answer to it.

The answer is read with httptools as it arrives: its callbacks append the header fields and the
body's pieces to lists, and a running total refuses an answer over the size limit at once
(``AnswerTooLargeError``; the connection is dropped, the rest never read). The request in
progress waits for one future, which the answer's end, the connection's end or the request's
deadline (one timer handle) settles. A connection that might still carry bytes of an earlier
exchange (a cancelled or failed request, an answer cut short, bytes nobody asked for) is never
used again.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Final, cast

import httptools

from hub.errors import AnswerTooLargeError

# A body up to this size goes out with the head in one write. A larger one in pieces, each
# written once the transport's buffer has drained below its high-water mark (pause_writing /
# resume_writing), so that it neither holds the event loop nor sits in memory twice.
_ONE_WRITE: Final = 1024 * 1024
_PIECE: Final = 256 * 1024

# The status, the header fields (names and values, alternating, as sent) and the body.
Answer = tuple[int, list[bytes], bytes]


class BrokenAnswerError(Exception):
    """What the receiver sent is not an HTTP/1.1 answer this client can read."""


class Connection(asyncio.Protocol):
    __slots__ = (
        "_answer_complete",
        "_body",
        "_coding",
        "_drained",
        "_gone",
        "_head_only",
        "_informational",
        "_limit",
        "_loop",
        "_lost",
        "_opened",
        "_parser",
        "_paused",
        "_raw",
        "_size",
        "_status",
        "_too_large",
        "_transport",
        "_until_close",
        "_waiter",
        "answered",
        "idle_since",
        "usable",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, opened: set[Connection]) -> None:
        self._loop = loop
        self._opened = opened  # the pool's open connections, for its close()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None  # the request in progress
        self._drained: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._paused = False
        self._gone = False
        self.usable = True  # may carry another request
        self.answered = False  # a byte of the current request's answer arrived
        self.idle_since = 0.0
        # The answer being read.
        self._limit = 0
        self._head_only = False
        self._status = 0
        self._raw: list[bytes] = []
        self._body: list[bytes] = []
        self._size = 0
        self._coding: bytes | None = None
        self._until_close = False
        self._too_large = False
        self._informational = False
        self._answer_complete = False

    # -- the exchange

    async def exchange(
        self, head: bytes, body: bytes | None, deadline: float, limit: int, head_only: bool
    ) -> Answer:
        """Send one request (``head``, then ``body``) and read its answer, by ``deadline``
        (the loop's clock): ``TimeoutError`` then; ``OSError`` when the connection fails,
        ``BrokenAnswerError`` for what is no HTTP answer, ``AnswerTooLargeError`` past ``limit``.
        """
        transport = self._transport
        assert transport is not None
        self.answered = False
        self._limit = limit
        self._head_only = head_only
        self._status = self._size = 0
        self._raw = []
        self._body = []
        self._coding = None
        self._until_close = self._too_large = self._informational = False
        self._answer_complete = False
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_at(deadline, self._expire)
        try:
            if body is None:
                transport.write(head)
            elif len(body) <= _ONE_WRITE:
                transport.write(head + body)
            else:
                await self._write_in_pieces(transport, head, body, waiter)
            await waiter
        except BaseException:
            # Cancelled, timed out or failed mid-exchange: what the connection carries next
            # could be the rest of this answer.
            self.abort()
            raise
        finally:
            timer.cancel()
            self._waiter = None
        pieces = self._body
        content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if self._coding is not None and content:
            content = _decoded(self._coding, content, limit)
        return self._status, self._raw, content

    async def _write_in_pieces(
        self, transport: asyncio.Transport, head: bytes, body: bytes, waiter: asyncio.Future[None]
    ) -> None:
        transport.write(head)
        view = memoryview(body)
        for start in range(0, len(view), _PIECE):
            if self._paused:
                drained = self._drained = self._loop.create_future()
                await drained
                self._drained = None
            if waiter.done() or transport.is_closing():
                # Answered (or failed) before the body was sent whole: the receiver may read
                # what follows as another request.
                self.usable = False
                return
            transport.write(view[start : start + _PIECE])

    def _expire(self) -> None:
        self._fail(TimeoutError())

    def _fail(self, error: BaseException) -> None:
        """End the exchange in progress with ``error`` and drop the connection (which also
        wakes a body's writer waiting for the transport to drain)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
            self.abort()
            self._wake_writer()

    def abort(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    def lost(self) -> asyncio.Future[None]:
        """Settled once the connection is gone (the transport has called connection_lost)."""
        if self._lost is None:
            self._lost = self._loop.create_future()
            if self._gone:
                self._lost.set_result(None)
        return self._lost

    # -- asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses, so no isinstance).
        self._transport = cast(asyncio.Transport, transport)
        self._opened.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._gone = True
        self._opened.discard(self)
        self._ended(exc)
        self._wake_writer()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def eof_received(self) -> bool:
        self.usable = False
        self._ended(None)
        return False  # and let the transport close itself

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writer()

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._answer_complete:
            # Bytes no request asked for: nothing after them on this connection can be trusted.
            self.abort()
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            if self._answer_complete:
                self.abort()  # the answer is whole; what came after it is not
            else:
                self._fail(BrokenAnswerError(f"not an HTTP answer: {e}"))
            return
        if self._too_large:
            self._fail(
                AnswerTooLargeError(
                    f"the answer is larger than the hub accepts ({self._limit} bytes)"
                )
            )

    def _ended(self, exc: Exception | None) -> None:
        """The receiver closed the connection (``exc`` None) or it failed."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._until_close and not self._too_large:
            # An answer with neither Content-Length nor chunked coding ends where the
            # connection does (RFC 9112 section 6.3, rule 8).
            self._answer_complete = True
            waiter.set_result(None)
        elif exc is not None:
            waiter.set_exception(exc)
        elif self.answered:
            waiter.set_exception(ConnectionResetError("the connection closed mid-answer"))
        else:
            waiter.set_exception(ConnectionResetError("the connection closed before an answer"))

    # -- httptools' callbacks

    def on_message_begin(self) -> None:
        if self._answer_complete:
            self.usable = False  # a second answer to one request

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append(name)
        self._raw.append(value)

    def on_headers_complete(self) -> None:
        status = self._status = self._parser.get_status_code()
        if status < 200:
            # 1xx is interim (RFC 9110 section 15.2): the answer follows it.
            self._informational = True
            return
        length: bytes | None = None
        chunked = False
        raw = self._raw
        for i in range(0, len(raw), 2):
            name = raw[i]
            size = len(name)
            if size == 14 and name.lower() == b"content-length":
                length = raw[i + 1]
            elif size == 17 and name.lower() == b"transfer-encoding":
                chunked = b"chunked" in raw[i + 1].lower()
            elif size == 16 and name.lower() == b"content-encoding":
                self._coding = raw[i + 1].strip().lower()
        if length is not None and length.strip().isdigit() and int(length) > self._limit:
            self._too_large = True  # refused before a byte of it is read
        if self._head_only:
            # An answer to HEAD has no body, whatever its Content-Length says; httptools cannot
            # be told so, so this connection ends here.
            self.usable = False
            self._complete()
            return
        self._until_close = length is None and not chunked and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._size += len(body)
        if self._size > self._limit:
            self._too_large = True
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            self._raw = []
            return
        if self._too_large:
            return
        if not self._parser.should_keep_alive():
            self.usable = False  # Connection: close, or HTTP/1.0 without keep-alive
        self._complete()

    def _complete(self) -> None:
        if self._answer_complete:
            return
        self._answer_complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            self._wake_writer()

    def _wake_writer(self) -> None:
        """A body's writer waiting for the transport to drain has nothing more to write."""
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)


def _decoded(coding: bytes, content: bytes, limit: int) -> bytes:
    """The body in the content coding the client accepts (gzip, deflate), decoded, and at most
    ``limit`` bytes of it: a small compressed answer may stand for a huge one."""
    if coding in (b"gzip", b"x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == b"deflate":
        # RFC 9110 says zlib format; some servers send raw deflate.
        wbits = zlib.MAX_WBITS if content[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        return content  # identity, or a coding nobody asked for: the bytes as they came
    decoder = zlib.decompressobj(wbits)
    try:
        decoded = decoder.decompress(content, limit + 1)
    except zlib.error as e:
        raise BrokenAnswerError(f"the answer's {coding.decode('latin-1')} is broken: {e}") from e
    if len(decoded) > limit or decoder.unconsumed_tail:
        raise AnswerTooLargeError(f"the answer is larger than the hub accepts ({limit} bytes)")
    return decoded
