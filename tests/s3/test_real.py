"""``S3Backend`` against real S3 servers (SeaweedFS and moto on 127.0.0.1).

What the contract suite cannot show: a missing bucket, the key layout as a
plain client sees it, a connection pool that really opens ``max_concurrency``
connections, and the lost-reply path of a re-sent PutObject, produced by a
loopback proxy that swallows one reply after the server has committed the write.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import (
    AlreadyExists,
    BucketNotFound,
    ConfigError,
    IntegrityError,
    NotFound,
    S3Backend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._core.retry import Backoff

from ..support.s3 import (
    LoopbackProxy,
    fresh_prefix,
    raw_client,
    s3_backend_on,
    use_test_credentials,
)
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    """Each real S3 server in turn, with dummy credentials in the default chain."""
    use_test_credentials(monkeypatch)
    found: RealServer = request.getfixturevalue(request.param)
    return found


async def test_missing_bucket_is_bucket_not_found_not_absent(server: RealServer) -> None:
    async with s3_backend_on(server, bucket="eden-no-such-bucket") as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load(mint_opaque_id())
        with pytest.raises(BucketNotFound) as storing:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(loading.value, NotFound)
    assert not isinstance(storing.value, FileExistsError)
    assert "eden-no-such-bucket" in str(loading.value)


@pytest.mark.parametrize(
    ("prefix", "expected"), [("{p}", "{p}/{id}"), ("{p}/nested/", "{p}/nested/{id}"), ("", "{id}")]
)
async def test_objects_are_stored_at_prefix_slash_id(
    server: RealServer, prefix: str, expected: str
) -> None:
    unique = fresh_prefix()
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server, prefix=prefix.format(p=unique)) as backend:
        await backend.store(opaque_id, b"layout")
    key = expected.format(p=unique, id=opaque_id)
    async with raw_client(server) as client:
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
        obj = await client.get_object(Bucket=server.bucket, Key=key)
        async with obj["Body"] as stream:
            assert await stream.read() == b"layout"
    assert [entry["Key"] for entry in listed["Contents"]] == [key]


async def test_many_tasks_share_one_pool_of_max_concurrency_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    payloads = {mint_opaque_id(): os.urandom(4096) for _ in range(200)}
    async with LoopbackProxy(seaweedfs.endpoint_url) as proxy:
        async with S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=64,
        ) as backend:
            async with asyncio.timeout(120):
                await asyncio.gather(*(backend.store(i, p) for i, p in payloads.items()))
                loaded = await asyncio.gather(*(backend.load(i) for i in payloads))
        assert loaded == list(payloads.values())
        # botocore's default pool is 10; well past it shows the pool was sized,
        # and never past 64 shows the bound holds.
        assert 10 < proxy.peak <= 64, proxy.peak


async def test_max_concurrency_bounds_the_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    async with (
        LoopbackProxy(seaweedfs.endpoint_url) as proxy,
        S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=4,
        ) as backend,
    ):
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x" * 4096) for _ in range(40)))
    assert 1 <= proxy.peak <= 4, proxy.peak


async def test_a_lost_reply_to_our_own_write_is_success(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket, prefix=fresh_prefix(), endpoint_url=proxy.endpoint_url
        ) as backend:
            proxy.lose_next_put_reply()
            # The server commits the first PUT, its reply is lost, botocore
            # re-sends, and the re-send answers 412 about our own object.
            await backend.store(opaque_id, b"ours")
            assert await backend.load(opaque_id) == b"ours"
        assert proxy.replies_lost == 1


async def test_a_lost_reply_to_a_refused_write_is_already_exists(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    prefix = fresh_prefix()
    async with raw_client(server) as client:
        await client.put_object(Bucket=server.bucket, Key=f"{prefix}/{opaque_id}", Body=b"theirs")
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket, prefix=prefix, endpoint_url=proxy.endpoint_url
        ) as backend:
            proxy.lose_next_put_reply()
            with pytest.raises(AlreadyExists):
                await backend.store(opaque_id, b"ours")
            assert await backend.load(opaque_id) == b"theirs"
        assert proxy.replies_lost == 1


async def test_a_store_retried_after_a_read_timeout_whose_first_put_landed_is_success(
    server: RealServer,
) -> None:
    """Our own retry loop, not aiohttp's resend: the server commits the first PUT
    and stalls past the read timeout; the retry answers 412 about our own write,
    and the nonce, size and CRC32C say so."""
    opaque_id = mint_opaque_id()
    payload = os.urandom(4096)
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            read_timeout=1.0,
            retry=Backoff(attempts=3, base_s=0.0, cap_s=0.0),
        ) as backend:
            await backend._get_client()
            proxy.delay_next_put_reply(3.0)
            await backend.store(opaque_id, payload)
            assert await backend.load(opaque_id) == payload
        puts = [head for head in proxy.request_heads if head.startswith(b"PUT ")]
        assert proxy.replies_delayed == 1
        assert len(puts) == 2, "one timed-out PUT, one retry that met our own object"


async def test_puts_go_without_expect_100_continue(server: RealServer) -> None:
    async with (
        LoopbackProxy(server.endpoint_url) as proxy,
        S3Backend(
            bucket=server.bucket, prefix=fresh_prefix(), endpoint_url=proxy.endpoint_url
        ) as backend,
    ):
        await backend.store(mint_opaque_id(), b"x" * 4096)
    (put,) = [head for head in proxy.request_heads if head.startswith(b"PUT ")]
    assert b"if-none-match: *" in put.lower()
    assert b"expect:" not in put.lower()


@pytest.mark.parametrize(("size", "tick_step"), [(4096, 1), (1024 * 1024, 2)], ids=["4k", "1m"])
async def test_a_store_cancelled_on_the_wire_leaves_nothing_or_everything(
    server: RealServer, size: int, tick_step: int
) -> None:
    """The contract's cancel case, with the client already built, so every cancel
    point lands on the wire (the contract's land in first-use client creation)."""
    payload = os.urandom(size)
    async with s3_backend_on(server) as backend:
        await backend.store(mint_opaque_id(), b"warm")
        outcomes: list[str] = []
        for ticks in range(0, 40, tick_step):
            opaque_id = mint_opaque_id()
            task = asyncio.create_task(backend.store(opaque_id, payload))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)  # let the server finish whatever it received
            try:
                loaded = await backend.load(opaque_id)
            except NotFound:
                assert not (task.done() and not task.cancelled()), "a store that returned is absent"
                outcomes.append("nothing")
            else:
                assert len(loaded) == size, f"cancelled after {ticks} ticks: {len(loaded)} bytes"
                assert loaded == payload
                outcomes.append("everything")
    assert "nothing" in outcomes, "no cancel point reached the wire before the write"


# What each server does with a PUT whose client vanishes after sending the
# headers but before a single body byte. SeaweedFS 4.48 publishes an EMPTY
# object under the key, with the request's metadata; moto publishes nothing.
# S3Backend narrows the window (no "Expect: 100-continue" wait between headers
# and body) and never reports such an object as its own write (length check).
_PUBLISHES_EMPTY_OBJECT = {"seaweedfs": True, "moto": False}


async def test_a_put_whose_body_never_arrives(server: RealServer) -> None:
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    parts = urlsplit(server.endpoint_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"PUT /{server.bucket}/{key} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Length: 4096\r\nIf-None-Match: *\r\nx-amz-meta-eden-write-nonce: n\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(1.0)  # let the server act on the dropped request
    async with raw_client(server) as client:
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
        found = [(entry["Key"], entry["Size"]) for entry in listed.get("Contents", [])]
        published = bool(found)
        if published:
            assert found == [(key, 0)]
            head = await client.head_object(Bucket=server.bucket, Key=key)
            assert head["Metadata"] == {"eden-write-nonce": "n"}
    assert published == _PUBLISHES_EMPTY_OBJECT[server.name]


# --- store_stream's multipart upload on the real servers ----------------------
# SeaweedFS 4.48 and moto 5.2.5 both enforce If-None-Match: * on
# CompleteMultipartUpload (412 on a taken key; checked by hand with 10 racers
# on one key too: exactly 1 winner on each), so these need no emulator caveat.

_MIB = 1024 * 1024


async def _uploads_under(client: Any, server: RealServer, prefix: str) -> list[Any]:
    """The multipart uploads in progress under ``prefix``: ListMultipartUploads."""
    listed = await client.list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    uploads: list[Any] = listed.get("Uploads") or []
    return uploads


async def test_a_stream_above_the_threshold_is_one_multipart_upload_until_complete(
    server: RealServer,
) -> None:
    halfway = asyncio.Event()
    resume = asyncio.Event()
    payload = os.urandom(12 * _MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), _MIB):
            if start == 10 * _MIB:
                halfway.set()
                await resume.wait()
            yield payload[start : start + _MIB]

    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        storing = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
        await halfway.wait()
        # Parts are on the server, yet nothing is visible under the key.
        assert len(await _uploads_under(client, server, backend.prefix)) == 1
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
        resume.set()
        await storing
        assert await backend.load(opaque_id) == payload
        assert await _uploads_under(client, server, backend.prefix) == []


async def test_a_large_stream_onto_a_taken_id_is_already_exists_and_leaves_no_upload(
    server: RealServer,
) -> None:
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store(opaque_id, b"first")
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, iter([os.urandom(_MIB)] * 10))
        assert await backend.load(opaque_id) == b"first"
        assert await _uploads_under(client, server, backend.prefix) == []


@pytest.mark.parametrize("how", ["the source raises", "cancelled"])
async def test_a_broken_off_stream_aborts_its_multipart_upload(
    server: RealServer, how: str
) -> None:
    halfway = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(12):
            if n == 10:
                halfway.set()
                if how == "the source raises":
                    raise RuntimeError("the source broke")
                await asyncio.Event().wait()  # until cancelled
            yield os.urandom(_MIB)

    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        storing = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
        await halfway.wait()
        if how == "cancelled":
            await asyncio.sleep(0.05)
            storing.cancel()
        with pytest.raises((RuntimeError, asyncio.CancelledError)):
            await storing
        assert await _uploads_under(client, server, backend.prefix) == []
        with pytest.raises(NotFound):
            await backend.load(opaque_id)


# --- integrity: CRC32C on the real servers -------------------------------------
# What each server does with a PutObject whose x-amz-checksum-crc32c does not
# match its body: SeaweedFS 4.48 refuses it (400 BadDigest) and stores nothing;
# moto 5.2.5 stores it anyway and never hands a PutObject's checksum back. So on
# moto only our metadata copy (x-amz-meta-eden-crc32c) lets a load catch damage.
_REFUSES_A_WRONG_CRC32C = {"seaweedfs": True, "moto": False}


async def test_a_put_with_a_wrong_crc32c(server: RealServer) -> None:
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    async with raw_client(server) as client:
        code: str | None = None
        try:
            await client.put_object(
                Bucket=server.bucket, Key=key, Body=b"payload", ChecksumCRC32C=crc32c_b64(b"x")
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
        refused = code is not None
        assert code in (None, "BadDigest")
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
    assert refused == _REFUSES_A_WRONG_CRC32C[server.name]
    assert bool(listed.get("Contents")) is not refused, "a refused PUT must store nothing"


async def test_a_store_whose_body_does_not_match_its_crc32c(
    server: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body damaged between checksum and service, as the service sees it."""
    monkeypatch.setattr("eden_storage_async._s3.backend.crc32c_b64", lambda data: crc32c_b64(b"x"))
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server, retry=Backoff(attempts=2, base_s=0, cap_s=0)) as backend:
        if _REFUSES_A_WRONG_CRC32C[server.name]:
            with pytest.raises(IntegrityError, match="nothing was written"):
                await backend.store(opaque_id, b"payload")
            with pytest.raises(NotFound):
                await backend.load(opaque_id)
        else:
            # moto's gap: the store is accepted; the metadata copy still stops the load.
            await backend.store(opaque_id, b"payload")
            with pytest.raises(IntegrityError):
                await backend.load(opaque_id)


async def _read_all(backend: S3Backend, opaque_id: str, received: list[bytes]) -> None:
    async with backend.load_stream(opaque_id) as stream:
        async for chunk in stream:
            received.append(chunk)


async def _tamper(server: RealServer, key: str, body: bytes, metadata: dict[str, str]) -> None:
    """Write ``body`` under ``metadata`` with a plain client, as a bad disk or a bad tool would."""
    async with raw_client(server) as client:
        await client.put_object(Bucket=server.bucket, Key=key, Body=body, Metadata=metadata)


async def test_a_tampered_object_is_integrity_error_on_load_and_load_stream(
    server: RealServer,
) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * _MIB)
    async with s3_backend_on(server, retry=Backoff(attempts=2, base_s=0, cap_s=0)) as backend:
        # Our metadata (nonce and CRC32C of payload) over other bytes of the same size.
        await backend.store(mint_opaque_id(), payload)  # a real one, for its metadata shape
        tampered = bytes([payload[0] ^ 1]) + payload[1:]
        metadata = {"eden-write-nonce": "0" * 32, "eden-crc32c": crc32c_b64(payload)}
        await _tamper(server, f"{backend.prefix}/{opaque_id}", tampered, metadata)
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as caught:
            await backend.load(opaque_id)
        assert not isinstance(caught.value, NotFound)
        received: list[bytes] = []
        with pytest.raises(IntegrityError):
            await _read_all(backend, opaque_id, received)
        assert b"".join(received) == tampered  # handed out, then refused at the end


async def test_an_intact_object_loads_verified_on_both_paths(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(2 * _MIB + 3)
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store(opaque_id, payload)
        head = await client.head_object(
            Bucket=server.bucket, Key=f"{backend.prefix}/{opaque_id}", ChecksumMode="ENABLED"
        )
        assert head["Metadata"]["eden-crc32c"] == crc32c_b64(payload)
        # SeaweedFS hands the service's checksum back; moto does not for a PutObject.
        served = head.get("ChecksumCRC32C")
        assert served == (crc32c_b64(payload) if server.name == "seaweedfs" else None)
        assert await backend.load(opaque_id) == payload
        async with backend.load_stream(opaque_id) as stream:
            assert b"".join([chunk async for chunk in stream]) == payload


async def test_a_multipart_object_carries_its_whole_crc32c(server: RealServer) -> None:
    """FULL_OBJECT CRC32C: the service checks the Complete's whole-object value and
    hands it back, so a load verifies the whole object. On moto 5.2.5 this needs
    the optional ``crc32c`` package next to moto (``moto[s3crc32c]``); without
    it moto computes a CRC32 and labels it CRC32C (pinned below)."""
    opaque_id = mint_opaque_id()
    payload = os.urandom(11 * _MIB + 5)
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store_stream(
            opaque_id, [payload[i : i + _MIB] for i in range(0, len(payload), _MIB)]
        )
        head = await client.head_object(
            Bucket=server.bucket, Key=f"{backend.prefix}/{opaque_id}", ChecksumMode="ENABLED"
        )
        assert (head.get("ChecksumType"), head.get("ChecksumCRC32C")) == (
            "FULL_OBJECT",
            crc32c_b64(payload),
        ), "moto needs the crc32c package: pip install 'moto[server,s3crc32c]'"
        assert await backend.load(opaque_id) == payload


def test_moto_without_crc32c_labels_a_crc32_as_crc32c(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5's gap, pinned in-process: with the optional ``crc32c`` package
    missing, its CRC32C is a CRC32 (silently), so multipart checksums it serves
    are wrong and a correct client's load of them fails its integrity check."""
    from moto.s3.utils import compute_checksum

    monkeypatch.setitem(sys.modules, "crc32c", None)
    served = compute_checksum(b"123456789", "CRC32C").decode()
    assert served == base64.b64encode(zlib.crc32(b"123456789").to_bytes(4, "big")).decode()
    assert served != crc32c_b64(b"123456789")


# --- timeouts: a hung server never hangs a caller -------------------------------


@contextlib.asynccontextmanager
async def _stalled_server() -> AsyncIterator[str]:
    """A loopback server that accepts every connection and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def _one(backend: S3Backend, operation: str) -> None:
    if operation == "store":
        await backend.store(mint_opaque_id(), b"data")
    elif operation == "load":
        await backend.load(mint_opaque_id())
    else:
        async with backend.load_stream(mint_opaque_id()):
            pass


@pytest.mark.parametrize("operation", ["store", "load", "load_stream"])
async def test_a_stalled_server_gives_service_unavailable_within_the_timeouts(
    monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    use_test_credentials(monkeypatch)
    async with (
        _stalled_server() as endpoint,
        S3Backend(
            bucket="eden-test",
            endpoint_url=endpoint,
            connect_timeout=1.0,
            read_timeout=0.5,
            retry=Backoff(attempts=2, base_s=0.0, cap_s=0.0, deadline_s=10.0),
        ) as backend,
    ):
        await backend._get_client()  # build the client first: time only the requests
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="ReadTimeout"):
            await _one(backend, operation)
        elapsed = time.monotonic() - started
    # Two attempts of one 0.5 s read timeout each, and nothing like forever.
    assert 0.9 <= elapsed < 5.0, elapsed


@pytest.mark.parametrize(("request_path", "lean"), [("lean", True), ("sdk", False)])
async def test_request_path_decides_who_sends_the_hot_calls(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch, request_path: str, lean: bool
) -> None:
    # The lean path is the default and "sdk" really switches it off: a GetObject
    # that botocore sends fires its before-call event, a lean one does not.
    use_test_credentials(monkeypatch)
    seen: list[str] = []
    async with s3_backend_on(seaweedfs, request_path=request_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"which path")
        client: Any = await backend._get_client()
        client.meta.events.register("before-call.s3.GetObject", lambda **kwargs: seen.append("sdk"))
        assert await backend.load(opaque_id) == b"which path"
    assert seen == ([] if lean else ["sdk"])


def test_request_path_is_checked_at_construction() -> None:
    with pytest.raises(ConfigError, match="request_path"):
        S3Backend(bucket="b", request_path="fast")  # type: ignore[arg-type]


def test_seaweedfs_4_48_gap_keeps_volume_files_in_tmpdir(seaweedfs: RealServer) -> None:
    """`weed mini` writes a directory of volume files (``*.dat``, ``*.idx``) into
    ``$TMPDIR`` on every start, whatever ``-dir`` says, and leaves it behind.
    ``tests.servers`` points ``$TMPDIR`` inside the server's own temp dir, so
    the files are removed with it instead of piling up in the system one."""
    scratch = seaweedfs.log_path.parent / "scratch"
    assert list(scratch.glob("*/*.idx")), "SeaweedFS no longer writes to $TMPDIR: drop the override"
