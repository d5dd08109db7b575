"""The HTTP/1.1 response parser (``_http/parse.py``) on its own: any split of a
valid answer (Content-Length or chunked) under hypothesis, malformed framing,
arbitrary bytes, bodyless and close-delimited answers, HTTP/1.0."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eden_storage_async._http.parse import (
    MAX_HEAD,
    BodyDecoder,
    ProtocolError,
    ResponseHead,
    parse_head,
)


def _parse(pieces: list[bytes], method: str = "GET") -> tuple[ResponseHead, bytes, bytes]:
    """Feed ``pieces`` one by one as a socket would; the head, the body, the leftover."""
    buffer = bytearray()
    head: ResponseHead | None = None
    decoder: BodyDecoder | None = None
    body: list[bytes] = []
    for piece in pieces:
        buffer += piece
        if head is None:
            head = parse_head(buffer)
            if head is None:
                continue
            decoder = BodyDecoder(head, method)
        assert decoder is not None
        while buffer and not decoder.done:
            before = len(buffer)
            body.append(decoder.decode(buffer))
            if len(buffer) == before:
                break  # an incomplete line: wait for the next piece
    assert head is not None
    assert decoder is not None
    decoder.finish()
    return head, b"".join(body), bytes(buffer)


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


_HEAD = b'HTTP/1.1 200 OK\r\nETag: "e"\r\nx-amz-meta-a: 1\r\nX-Amz-Meta-A: 2\r\n'


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
    if chunked:
        wire = _HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, sizes, trailer)
    else:
        wire = _HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    next_answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    head, got, rest = _parse(_split(wire + next_answer, cuts))
    assert head.status == 200
    assert head.headers["etag"] == '"e"'
    assert head.headers["x-amz-meta-a"] == "1, 2"  # repeats joined, names lower-case
    assert got == body
    assert rest == next_answer  # framing ends the body exactly: the next answer is intact


MALFORMED = [
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 9000,
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD,
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",  # truncated by the close
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # truncated
]


@pytest.mark.parametrize("wire", MALFORMED)
def test_malformed_framing_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        _parse([wire])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    garbage=st.binary(max_size=200),
    prefix=st.sampled_from(
        [b"", b"HTTP/1.1 200 OK\r\n", _HEAD + b"Transfer-Encoding: chunked\r\n\r\n"]
    ),
)
def test_arbitrary_bytes_parse_or_raise_never_hang(garbage: bytes, prefix: bytes) -> None:
    """Either a clean parse, a protocol error, or an incomplete head: nothing else."""
    try:
        _parse([prefix + garbage])
    except ProtocolError:
        pass
    except AssertionError:
        pass  # the head never completed: more bytes (or the read timeout) decide


@pytest.mark.parametrize(
    ("status", "method", "extra", "body"),
    [
        (204, "GET", b"Content-Length: 9\r\n", b""),
        (304, "GET", b"", b""),
        (200, "HEAD", b"Content-Length: 5000\r\n", b""),
        (200, "GET", b"Connection: close\r\n", b"until the close"),
    ],
)
def test_bodyless_and_close_delimited_framing(
    status: int, method: str, extra: bytes, body: bytes
) -> None:
    wire = b"HTTP/1.1 %d X\r\n%s\r\n%s" % (status, extra, body)
    head, got, _ = _parse([wire], method)
    assert got == body
    assert head.keep_alive is (b"close" not in extra)


def test_http_1_0_is_never_kept_alive() -> None:
    head, _, _ = _parse([b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert head.keep_alive is False
