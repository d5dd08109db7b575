"""eden's artifact wire through the real server, on every backend of the contract fixture:
the round trip with its headers, ranges and validators, the ACL, and the errors."""

from __future__ import annotations

import os

import pytest

from .client import (
    CACHE_CONTROL,
    BadRequest,
    ExperimentIdMismatch,
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    Unauthorized,
)
from .conftest import ADMIN, ALICE, BOB, CAROL, Served, header_map

# Bytes a text decoder or a multipart parser would trip on: NUL, 0xff, CR LF,
# and a line that looks like a boundary.
PAYLOAD = b"hello\x00\xff\r\n--boundary\r\n" + bytes(range(256)) + os.urandom(300)


async def test_deposit_then_fetch_gives_the_exact_bytes_and_headers(wire: Served) -> None:
    alice = wire.client(ALICE)
    deposit = await alice.deposit(PAYLOAD, filename="notes.txt", content_type="text/plain")
    assert deposit.size_bytes == len(PAYLOAD)
    assert deposit.content_type == "text/plain"
    assert wire.recorder.stores_done == [deposit.opaque_id]
    info = await wire.recorder.inner.stat(deposit.opaque_id)
    assert (info.size, info.content_type) == (len(PAYLOAD), "text/plain")
    # The depositor is recorded with the artifact, as an attribute (the ACL reads it).
    assert list(info.metadata.values()) == [ALICE]

    fetched = await alice.fetch(deposit.artifacts_uri)
    assert fetched.status == 200
    assert fetched.body == PAYLOAD
    # Exactly as recorded: a charset added to a text type would change it.
    assert fetched.headers["Content-Type"] == "text/plain"
    assert fetched.headers["Cache-Control"] == CACHE_CONTROL
    if info.crc32c is not None:
        assert fetched.headers["ETag"] == f'"{info.crc32c}"'

    loads = wire.recorder.loads
    head = await alice.head(deposit.artifacts_uri)
    assert head.status == 200
    assert header_map(head.headers) == header_map(fetched.headers)
    assert wire.recorder.loads == loads, "HEAD loaded the artifact"


async def test_ranges_and_if_none_match(wire: Served) -> None:
    alice = wire.client(ALICE)
    deposit = await alice.deposit(PAYLOAD)
    size = len(PAYLOAD)

    piece = await alice.fetch(deposit.artifacts_uri, range_="bytes=5-20")
    assert piece.status == 206
    assert piece.body == PAYLOAD[5:21]
    assert piece.headers["Content-Range"] == f"bytes 5-20/{size}"

    suffix = await alice.fetch(deposit.artifacts_uri, range_="bytes=-7")
    assert (suffix.status, suffix.body) == (206, PAYLOAD[-7:])
    assert suffix.headers["Content-Range"] == f"bytes {size - 7}-{size - 1}/{size}"

    with pytest.raises(RangeNotSatisfiable) as refused:
        await alice.fetch(deposit.artifacts_uri, range_=f"bytes={size}-")
    assert refused.value.headers["Content-Range"] == f"bytes */{size}"

    etag = (await alice.head(deposit.artifacts_uri)).headers["ETag"]
    loads = wire.recorder.loads
    unchanged = await alice.fetch(deposit.artifacts_uri, if_none_match=etag)
    assert unchanged.status == 304
    assert unchanged.headers["ETag"] == etag
    assert wire.recorder.loads == loads, "a 304 loaded the artifact"
    other = await alice.fetch(deposit.artifacts_uri, if_none_match='"AAAAAA=="')
    assert (other.status, other.body) == (200, PAYLOAD)


async def test_fetch_acl_depositor_and_admins_only(wire: Served) -> None:
    deposit = await wire.client(ALICE).deposit(b"alice's")
    for principal in (ALICE, ADMIN, CAROL):
        fetched = await wire.client(principal).fetch(deposit.artifacts_uri)
        assert fetched.body == b"alice's", principal
    with pytest.raises(Forbidden):
        await wire.client(BOB).fetch(deposit.artifacts_uri)
    with pytest.raises(Forbidden):
        await wire.client(BOB).head(deposit.artifacts_uri)
    with pytest.raises(Unauthorized) as unauthorized:
        await wire.client(None).fetch(deposit.artifacts_uri)
    assert unauthorized.value.headers["WWW-Authenticate"].startswith("Bearer")
    # Absence is answered before the ACL: BOB cannot tell absent from forbidden
    # by anything but his own artifacts.
    with pytest.raises(NotFound):
        await wire.client(BOB).fetch("eden://artifacts/" + "0" * 32)


# Well formed and absent; then not our grammar (upper case, short, a path, other schemes).
NOT_OURS = [
    "eden://artifacts/" + "0" * 32,
    "eden://artifacts/" + "A" * 32,
    "eden://artifacts/" + "0" * 31,
    "eden://artifacts/../" + "0" * 32,
    "file:///etc/passwd",
    "s3://bucket/key",
]


async def test_a_uri_that_is_not_one_of_ours_is_404_as_an_absent_one(wire: Served) -> None:
    for uri in NOT_OURS:
        with pytest.raises(NotFound):
            await wire.client(ALICE).fetch(uri)
    # Only the well-formed one was looked up; the rest never reached the backend.
    assert (wire.recorder.stats, wire.recorder.loads) == (1, 0)


async def test_request_errors(wire: Served) -> None:
    alice = wire.client(ALICE)
    with pytest.raises(BadRequest):
        await alice.fetch(None)
    with pytest.raises(Unauthorized):
        await wire.client(None).deposit(b"x")
    with pytest.raises(Unauthorized):
        await alice.as_("admin:wrong-secret").deposit(b"x")
    # The header must equal the path's id; and the path must be the one served.
    with pytest.raises(ExperimentIdMismatch):
        await wire.client(ALICE, header_experiment_id="exp-other").deposit(b"x")
    with pytest.raises(ExperimentIdMismatch):
        await wire.client(ALICE, send_experiment_header=False).deposit(b"x")
    with pytest.raises(ExperimentIdMismatch):
        await wire.client(ALICE, experiment_id="exp-other").deposit(b"x")
    with pytest.raises(ExperimentIdMismatch):
        await wire.client(ALICE, experiment_id="exp-other").fetch("eden://artifacts/" + "0" * 32)
    # Refused before a byte of the body was read: no store even began.
    assert wire.recorder.stores_begun == []
