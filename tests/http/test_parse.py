"""The HTTP/1.1 response parser (``_http/parse.py``, on llhttp) on its own: any
split of a valid answer (Content-Length or chunked) under hypothesis, every
byte fed alone, malformed framing, arbitrary bytes, bodyless and
close-delimited answers, interim answers, HTTP/1.0, and one parser reused from
answer to answer."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eden_storage_async._http.parse import (
    MAX_HEAD,
    MAX_INTERIM,
    ProtocolError,
    ResponseHead,
    ResponseParser,
)


class _Collect:
    """A sink that keeps what the parser hands it."""

    def __init__(self) -> None:
        self.heads: list[ResponseHead] = []
        self.body: list[bytes] = []
        self.completed = 0

    def on_head(self, head: ResponseHead) -> None:
        self.heads.append(head)

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_complete(self) -> None:
        self.completed += 1


def _parse(
    pieces: list[bytes],
    method: str = "GET",
    *,
    eof: bool = True,
    parser: ResponseParser | None = None,
) -> tuple[ResponseHead, bytes, ResponseParser]:
    """Feed ``pieces`` one by one as a socket would (then the close, if ``eof``
    and the answer has not ended); the head, the body, the parser."""
    sink = _Collect()
    if parser is None:
        parser = ResponseParser(sink)
    else:
        parser._sink = sink
    parser.expect(method)
    for piece in pieces:
        parser.feed(piece)
    if eof and not parser.complete:
        parser.eof()
    assert parser.complete, "the answer never completed"
    assert sink.completed == 1
    assert len(sink.heads) == 1
    return sink.heads[0], b"".join(sink.body), parser


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _chunked(body: bytes, sizes: list[int], trailer: bool) -> bytes:
    out, at = [], 0
    for size in sizes:
        if at >= len(body):
            break
        piece = body[at : at + max(size, 1)]
        at += len(piece)
        out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
    if at < len(body):
        out.append(b"%X\r\n%s\r\n" % (len(body) - at, body[at:]))
    out.append(b"0\r\nx-amz-checksum-crc32c: AAAAAA==\r\n\r\n" if trailer else b"0\r\n\r\n")
    return b"".join(out)


_HEAD = b'HTTP/1.1 200 OK\r\nETag: "e"  \r\nx-amz-meta-a: 1\r\nX-Amz-Meta-A: 2\r\n'
_NEXT = b"HTTP/1.1 204 No Content\r\n\r\n"


def _wire(body: bytes, sizes: list[int], chunked: bool, trailer: bool) -> bytes:
    if chunked:
        return _HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, sizes, trailer)
    return _HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    sizes=st.lists(st.integers(1, 700), max_size=8),
    chunked=st.booleans(),
    trailer=st.booleans(),
)
def test_any_split_of_a_valid_answer_parses_the_same(
    body: bytes, cuts: list[int], sizes: list[int], chunked: bool, trailer: bool
) -> None:
    wire = _wire(body, sizes, chunked, trailer)
    head, got, parser = _parse(_split(wire, cuts), eof=False)
    assert head.status == 200
    assert head.headers["etag"] == '"e"'  # trailing whitespace is not the value's
    assert head.headers["x-amz-meta-a"] == "1, 2"  # repeats joined, names lower-case
    assert got == body
    assert head.keep_alive
    assert not parser.extra
    # The framing ended the body exactly: the same parser reads the next answer whole.
    nxt, rest, parser = _parse([_NEXT], eof=False, parser=parser)
    assert (nxt.status, rest, parser.extra) == (204, b"", False)
    # Bytes past the answer, in any split, are noticed and never taken as its body.
    _, got, parser = _parse(_split(wire + _NEXT, cuts), eof=False)
    assert got == body
    assert parser.extra


@pytest.mark.parametrize("chunked", [False, True])
def test_an_answer_fed_one_byte_at_a_time(chunked: bool) -> None:
    body = bytes(range(256)) * 3
    wire = _wire(body, [100, 1, 300], chunked, trailer=chunked)
    head, got, _ = _parse([wire[i : i + 1] for i in range(len(wire))], eof=False)
    assert got == body
    assert head.length == (None if chunked else len(body))


MALFORMED = [
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",  # llhttp accepts it; we do not
    b"HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
    b"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n",  # llhttp reads status 99
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",  # bare LF line ends
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: x\r\n folded\r\nContent-Length: 0\r\n\r\n",  # obs-fold
    b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx",
    # Even equal duplicates: our old parser took them, llhttp refuses (RFC 9110 8.6 allows both).
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nxx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nxx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    # Both framings: a smuggling attempt (RFC 9112 6.1); our old parser let chunked win.
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 9000,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"x" * MAX_HEAD,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx-t: " + b"y" * MAX_HEAD,
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD,
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",  # truncated by the close
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # truncated
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # the head cut short by the close
    b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1),
]


@pytest.mark.parametrize("wire", MALFORMED)
def test_malformed_framing_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        _parse([wire])


def test_a_long_head_is_refused_in_pieces_too() -> None:
    """The framing bound holds however the bytes arrive, not just per feed."""
    parser = ResponseParser(_Collect())
    parser.expect("GET")
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    line = b"x-a: " + b"b" * 1000 + b"\r\n"
    for _ in range(MAX_HEAD // len(line)):
        parser.feed(line)
    with pytest.raises(ProtocolError):
        parser.feed(line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    garbage=st.binary(max_size=200),
    prefix=st.sampled_from(
        [b"", b"HTTP/1.1 200 OK\r\n", _HEAD + b"Transfer-Encoding: chunked\r\n\r\n"]
    ),
)
def test_arbitrary_bytes_parse_or_raise_never_hang(garbage: bytes, prefix: bytes) -> None:
    """Either a clean parse or a protocol error (at the latest at the close): nothing else."""
    with contextlib.suppress(ProtocolError):
        _parse([prefix + garbage])


@pytest.mark.parametrize(
    ("status", "method", "extra", "body"),
    [
        (204, "GET", b"Content-Length: 9\r\n", b""),
        (304, "GET", b"", b""),
        (200, "HEAD", b"Content-Length: 5000\r\n", b""),
        (200, "GET", b"Connection: close\r\n", b"until the close"),
        (200, "GET", b"", b"until the close"),
    ],
)
def test_bodyless_and_close_delimited_framing(
    status: int, method: str, extra: bytes, body: bytes
) -> None:
    wire = b"HTTP/1.1 %d X\r\n%s\r\n%s" % (status, extra, body)
    head, got, _ = _parse([wire], method)
    assert got == body
    assert head.keep_alive is (not body and b"close" not in extra)


def test_a_head_answer_then_the_next_answer_on_the_same_connection() -> None:
    """llhttp would wait for the HEAD answer's 5000 bytes; the parser ends it
    at the head and reads the next answer with a fresh llhttp parser."""
    head, got, parser = _parse([b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"], "HEAD")
    assert (head.length, got, parser.spent) == (None, b"", True)
    head, got, parser = _parse([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], parser=parser)
    assert (head.status, got, parser.extra) == (200, b"ok", False)


def test_bytes_after_a_head_answer_are_noticed() -> None:
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    _, _, parser = _parse([wire], "HEAD")
    assert not parser.extra
    for junk in (b"hello", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"):
        _, _, parser = _parse([wire + junk], "HEAD")
        assert parser.extra, junk


def test_interim_answers_are_skipped_up_to_the_bound() -> None:
    wire = (
        b"HTTP/1.1 100 Continue\r\n\r\n" * MAX_INTERIM
        + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    head, got, _ = _parse(_split(wire, [7, 30, 31, 900]))
    assert (head.status, got) == (200, b"ok")


def test_http_1_0_is_never_kept_alive() -> None:
    for extra in (b"", b"Connection: keep-alive\r\n"):
        head, _, _ = _parse([b"HTTP/1.0 200 OK\r\n%sContent-Length: 0\r\n\r\n" % extra])
        assert head.keep_alive is False
