"""The deposit body: exactly one multipart file part named ``file``, streamed.

Every malformed body is a 400 (``eden://error/bad-request``); a body over the
limit a 413, counted as it streams; a client that stalls a 408. None of them
leaves an artifact behind, even when the refusal comes after ``store_stream``
started. The shape checks run on memory; the refusals that abort a store under
way run on every backend too.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from eden_storage_async import InMemoryArtifactBackend, NotFound

from .helpers import AUTH, RecordingBackend, deposit, expect_problem, serving

BOUNDARY = "b0undary-eden-test"
FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'


def multipart(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """A body of ``parts`` (each its headers, a blank line, its content)."""
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + b + b"--\r\n" if close else b"")


def part(headers: bytes, content: bytes) -> bytes:
    return headers + b"\r\n" + content


def form_type(boundary: str = BOUNDARY) -> dict[str, str]:
    return {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}


async def assert_nothing_stored(recorded: RecordingBackend) -> None:
    """Every store the server began was aborted: none of its ids exists."""
    for opaque_id in recorded.stored:
        with pytest.raises(NotFound):
            await recorded.inner.stat(opaque_id)


@pytest.fixture
async def memory() -> AsyncIterator[RecordingBackend]:
    async with RecordingBackend(InMemoryArtifactBackend()) as backend:
        yield backend


MALFORMED = {
    "not multipart": (b"just bytes", {**AUTH, "Content-Type": "application/octet-stream"}),
    "no content type": (b"just bytes", {**AUTH, "Content-Type": ""}),
    "no boundary": (
        multipart(part(FILE_PART, b"x")), {**AUTH, "Content-Type": "multipart/form-data"}
    ),
    "another boundary": (multipart(part(FILE_PART, b"x"), boundary="other"), form_type()),
    "no parts": (b"--" + BOUNDARY.encode() + b"--\r\n", form_type()),
    "two files": (multipart(part(FILE_PART, b"x"), part(FILE_PART, b"y")), form_type()),
    "a field after the file": (
        multipart(
            part(FILE_PART, b"x"), part(b'Content-Disposition: form-data; name="n"\r\n', b"v")
        ),
        form_type(),
    ),
    "a field, not a file": (
        multipart(part(b'Content-Disposition: form-data; name="file"\r\n', b"x")),
        form_type(),
    ),
    "another name": (
        multipart(part(b'Content-Disposition: form-data; name="upload"; filename="a"\r\n', b"x")),
        form_type(),
    ),
    "a _charset_ part first": (
        multipart(part(b'Content-Disposition: form-data; name="_charset_"\r\n', b"utf-8"),
                  part(FILE_PART, b"x")),
        form_type(),
    ),
    "a nested multipart": (
        multipart(part(b'Content-Disposition: form-data; name="file"; filename="a"\r\n'
                       b"Content-Type: multipart/mixed; boundary=inner\r\n",
                       b"--inner\r\n\r\nx\r\n--inner--")),
        form_type(),
    ),
    "base64 transfer encoding": (
        multipart(part(FILE_PART + b"Content-Transfer-Encoding: base64\r\n", b"eA==")),
        form_type(),
    ),
    "a part type too long to record": (
        multipart(part(FILE_PART + b"Content-Type: text/" + b"x" * 300 + b"\r\n", b"x")),
        form_type(),
    ),
    "no closing boundary": (multipart(part(FILE_PART, b"x"), close=False), form_type()),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_body_is_400_and_nothing_is_stored(
    memory: RecordingBackend, body: bytes, headers: dict[str, str]
) -> None:
    async with (
        serving(memory) as (url, session),
        session.post(url, data=body, headers=headers) as response,
    ):
        await expect_problem(response, 400, "eden://error/bad-request")
        assert response.headers.get("Connection", "").lower() == "close"
    await assert_nothing_stored(memory)


async def test_the_well_formed_body_of_the_same_shape_is_stored(memory: RecordingBackend) -> None:
    # The control for the table above: the same framing, one file part, works.
    body = multipart(part(FILE_PART + b"Content-Type: text/plain\r\n", b"x" * 10))
    async with (
        serving(memory) as (url, session),
        session.post(url, data=body, headers=form_type()) as response,
    ):
        assert response.status == 201, await response.text()
        assert (await response.json())["size_bytes"] == 10
    assert await memory.inner.load(memory.stored[0]) == b"x" * 10


async def test_a_second_part_refuses_a_store_already_under_way(
    recorded: RecordingBackend,
) -> None:
    # The file is whole before the second part shows: only a check inside the
    # stream, before it ends, keeps the store from completing.
    body = multipart(part(FILE_PART, b"f" * 300_000), part(FILE_PART, b"second"))
    async with (
        serving(recorded) as (url, session),
        session.post(url, data=body, headers=form_type()) as response,
    ):
        await expect_problem(response, 400, "eden://error/bad-request")
    assert recorded.stored, "the store should have begun"
    await assert_nothing_stored(recorded)


async def test_over_the_limit_while_streaming_is_413_and_nothing_is_stored(
    recorded: RecordingBackend,
) -> None:
    limit = 64 * 1024
    head = b"--" + BOUNDARY.encode() + b"\r\n" + FILE_PART + b"\r\n"

    async def chunked() -> AsyncIterator[bytes]:
        # No Content-Length: only the running count can catch it.
        yield head
        for _ in range(8):
            yield b"z" * (16 * 1024)
        yield b"\r\n--" + BOUNDARY.encode() + b"--\r\n"

    async with serving(recorded, max_artifact_bytes=limit) as (url, session):
        async with session.post(url, data=chunked(), headers=form_type()) as response:
            assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
            document = await expect_problem(response, 413, "eden://error/payload-too-large")
            assert str(limit) in document["detail"]
        # The limit is inclusive: exactly that many bytes are stored.
        opaque_id = await deposit(session, url, b"z" * limit)
    assert recorded.stored[-1] == opaque_id
    for refused in recorded.stored[:-1]:
        with pytest.raises(NotFound):
            await recorded.inner.stat(refused)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    memory: RecordingBackend,
) -> None:
    # Declares 1 GiB and sends nothing: only a check of the header, before
    # reading, can answer; a server that reads first would hang.
    async with serving(memory, max_artifact_bytes=1024) as (url, _):
        status_line, _ = await raw_exchange(
            url, {"Content-Length": str(1 << 30), **form_type()}, b"", wait=10
        )
    assert status_line.split()[1] == b"413"
    assert memory.stored == []


async def test_a_compressed_body_is_limited_by_its_inflated_size(memory: RecordingBackend) -> None:
    # 64 KiB of zeros compress far below the 1 KiB limit.
    body = gzip.compress(multipart(part(FILE_PART, bytes(64 * 1024))))
    assert len(body) < 1024
    headers = {**form_type(), "Content-Encoding": "gzip"}
    async with (
        serving(memory, max_artifact_bytes=1024) as (url, session),
        session.post(url, data=body, headers=headers) as response,
    ):
        await expect_problem(response, 413, "eden://error/payload-too-large")
    await assert_nothing_stored(memory)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # stalls before the first boundary
        b"--" + BOUNDARY.encode() + b"\r\n" + FILE_PART + b"\r\n" + b"half of the fi",
    ],
    ids=["before the part", "in the middle of the file"],
)
async def test_a_stalled_body_times_out_and_nothing_is_stored(
    recorded: RecordingBackend, sent: bytes
) -> None:
    async with serving(recorded, body_timeout=0.5) as (url, _):
        headers = {"Content-Length": "100000", **form_type()}
        status_line, rest = await raw_exchange(url, headers, sent, wait=20)
    assert status_line.split()[1] == b"408", status_line
    assert b"eden://reference-error/request-timeout" in rest
    await assert_nothing_stored(recorded)


async def raw_exchange(
    url: str, headers: dict[str, str], body: bytes, *, wait: float
) -> tuple[bytes, bytes]:
    """Send a request head and ``body`` on a raw socket, then read the answer:
    its status line, and its headers and body."""
    target = URL(url)
    assert target.host is not None
    assert target.port is not None
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        request = f"POST {target.path} HTTP/1.1\r\nHost: {target.host}\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(request.encode() + b"\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(wait):
            status_line = await reader.readline()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            rest = head + await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
    return status_line, rest
