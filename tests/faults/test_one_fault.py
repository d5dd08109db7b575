"""Faults on the wire, one at a time: S3 and GCS backends through ``FaultProxy``,
against the real servers.

One small deterministic case per fault kind and target: the first object upload
(or download) meets exactly that fault, and the outcome is pinned. Where a
server keeps an upload damaged in flight, ``test_corrupted_upload_gap`` pins
that the library still refuses the bytes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from eden_storage_async import (
    ArtifactBackend,
    IntegrityError,
    ServiceUnavailable,
    mint_opaque_id,
)

from ..support.fault_proxy import FaultProxy
from ..support.fault_proxy_wire import is_object_download, is_object_upload
from ..support.gcs import emulator_version
from ..support.s3 import fresh_prefix, raw_client
from ..support.servers import RealServer
from .helpers import (
    _BY_NAME,
    _STALL_S,
    _TIMEOUT_S,
    TARGETS,
    Target,
    _backend_on,
    _clean_read,
    _describe,
    _load_via,
)

pytestmark = pytest.mark.real_server

# The one-fault cases send one request at a time, so even a loaded machine
# answers well inside this; each stall case costs one such timeout.
_RIG_TIMEOUT_S = 0.5


@contextlib.asynccontextmanager
async def _through_proxy(
    target: Target,
    server: RealServer,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    timeout_s: float = _TIMEOUT_S,
    **proxy_settings: Any,
) -> AsyncIterator[tuple[FaultProxy, ArtifactBackend]]:
    """A ``FaultProxy`` in front of ``server``, and the target's backend pointed at it."""
    async with (
        FaultProxy(server.endpoint_url, flavor=target.flavor, **proxy_settings) as proxy,
        _backend_on(
            target,
            server,
            monkeypatch,
            endpoint_url=proxy.endpoint_url,
            prefix=prefix,
            timeout_s=timeout_s,
        ) as backend,
    ):
        yield proxy, backend


@dataclass
class _Rig:
    """One target's backend behind one proxy, shared by a module's one-fault cases.

    Building an S3 client costs most of a second; each case re-arms the proxy
    instead of building its own.
    """

    target: Target
    proxy: FaultProxy
    backend: ArtifactBackend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[_Rig]:
    """The target named by the test's ``rig`` parameter, behind an idle ``FaultProxy``."""
    target = _BY_NAME[request.param]
    server: RealServer = request.getfixturevalue(target.server)
    with pytest.MonkeyPatch.context() as monkeypatch:
        async with _through_proxy(
            target, server, monkeypatch, fresh_prefix(), _RIG_TIMEOUT_S, stall_s=_STALL_S
        ) as (proxy, backend):
            yield _Rig(target, proxy, backend)


# The faults every request can meet; each direction adds its own corruption.
_TRANSPORT_CASES = (
    "pass",
    "reset_before",
    "reset_mid_request",
    "status_503",
    "stall@request",
    "stall@response",
    "truncate_response",
    "drop_after_commit",
)
_STORE_CASES = [
    pytest.param(target.name, case, id=f"{target.name}-{case}")
    for target in TARGETS
    for case in (*_TRANSPORT_CASES, "corrupt_request")
    # Where the server keeps a corrupted upload, test_corrupted_upload_gap pins it.
    if case != "corrupt_request" or target.unverified_uploads is None
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("rig", "case"), _STORE_CASES, indirect=["rig"])
async def test_one_fault_on_a_store(rig: _Rig, case: str) -> None:
    target, proxy, backend = rig.target, rig.proxy, rig.backend
    kind, _, stall_at = case.partition("@")
    opaque_id, payload = mint_opaque_id(), os.urandom(3000)
    outcome: Exception | None = None
    proxy.arm(
        script=[kind],
        stall_at=stall_at or "either",  # type: ignore[arg-type]
        faultable=lambda r: is_object_upload(target.flavor, r),
    )
    try:
        await backend.store(opaque_id, payload)
    except Exception as exc:
        outcome = exc
    injected = dict(proxy.counts)
    proxy.arm()  # nothing faultable: the read below is clean
    stored = await _clean_read(backend, opaque_id)
    assert injected.get(kind, 0) >= 1, f"the proxy did not inject {kind}: {proxy.log}"
    assert not proxy.errors
    if kind == "corrupt_request":
        refused = isinstance(outcome, IntegrityError) and stored is None
        assert refused or (outcome is None and stored == payload), (
            f"{case} on {target.name}: store gave {outcome!r} and the id holds "
            f"{_describe(stored, payload)}; a body damaged in flight must be refused "
            "(IntegrityError, nothing stored) or re-sent whole"
        )
        return
    assert outcome is None, f"{case} on {target.name}: store raised {outcome!r}"
    assert stored == payload, f"{case} on {target.name}: id holds {_describe(stored, payload)}"


_LOAD_CASES = [
    pytest.param(target.name, case, via, id=f"{target.name}-{case}-{via}")
    for target in TARGETS
    for case in (*_TRANSPORT_CASES, "corrupt_response")
    # load_stream differs from load only in how a body arrives.
    for via in ("load", "load_stream")
    if via == "load" or case in ("pass", "truncate_response", "corrupt_response")
]
# What a load may raise instead of returning the bytes, per fault: anything
# else (and any other bytes) is a failure.
_LOAD_MAY_RAISE: dict[str, type[Exception] | tuple[()]] = {
    "truncate_response": ServiceUnavailable,
    "corrupt_response": IntegrityError,
}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("rig", "case", "via"), _LOAD_CASES, indirect=["rig"])
async def test_one_fault_on_a_load(rig: _Rig, case: str, via: str) -> None:
    target, proxy, backend = rig.target, rig.proxy, rig.backend
    kind, _, stall_at = case.partition("@")
    opaque_id, payload = mint_opaque_id(), os.urandom(3000)
    proxy.arm()
    await backend.store(opaque_id, payload)
    proxy.arm(
        script=[kind],
        stall_at=stall_at or "either",  # type: ignore[arg-type]
        faultable=lambda r: is_object_download(target.flavor, r),
    )
    loaded: bytes | Exception
    try:
        loaded = await _load_via(backend, opaque_id, via == "load_stream")
    except Exception as exc:
        loaded = exc
    assert proxy.counts[kind] >= 1, f"the proxy did not inject {kind}: {proxy.log}"
    assert not proxy.errors
    if isinstance(loaded, Exception):
        allowed = _LOAD_MAY_RAISE.get(kind, ())
        assert isinstance(loaded, allowed), f"{case} on {target.name} via {via}: raised {loaded!r}"
    else:
        assert loaded == payload, (
            f"{case} on {target.name} via {via}: returned {_describe(loaded, payload)}"
        )


@pytest.mark.parametrize(
    "target_name", [t.name for t in TARGETS if t.unverified_uploads is not None]
)
async def test_corrupted_upload_gap(
    target_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins why the soak injects no ``corrupt_request`` here: the emulator keeps a
    body damaged in flight, where real S3 and GCS refuse a CRC32C mismatch.

    The library must still not pass the damage off as the artifact: either
    the store reports it (``IntegrityError``) or every load refuses it.
    """
    target = _BY_NAME[target_name]
    server: RealServer = request.getfixturevalue(target.server)
    opaque_id, payload, prefix = mint_opaque_id(), os.urandom(3000), fresh_prefix()
    outcome: Exception | None = None
    async with _through_proxy(
        target,
        server,
        monkeypatch,
        prefix,
        script=["corrupt_request"],
        faultable=lambda r: is_object_upload(target.flavor, r),
    ) as (proxy, backend):
        try:
            await backend.store(opaque_id, payload)
        except Exception as exc:
            outcome = exc
    assert proxy.counts["corrupt_request"] == 1
    if target.flavor == "gcs":
        assert emulator_version().startswith("v1.54.0")
    # The gap itself: the server kept the damaged body.
    kept = await _raw_bytes(target, server, f"{prefix}/{opaque_id}")
    assert len(kept) == len(payload)
    assert sum(a != b for a, b in zip(kept, payload, strict=True)) == 1, (
        f"{target.unverified_uploads}: expected the one flipped byte to be kept"
    )
    async with _backend_on(
        target, server, monkeypatch, endpoint_url=server.endpoint_url, prefix=prefix
    ) as clean:
        seen = await _clean_read(clean, opaque_id)
    assert isinstance(outcome, IntegrityError) or isinstance(seen, IntegrityError), (
        f"FINDING on {target.name} ({target.unverified_uploads}): the store gave "
        f"{outcome!r} and a load gave {_describe(seen, payload)}; one of them must "
        "raise IntegrityError"
    )
    assert outcome is None or isinstance(outcome, IntegrityError)
    assert seen is not None


async def _raw_bytes(target: Target, server: RealServer, key: str) -> bytes:
    """The object's bytes as the server holds them, read around the backend."""
    if target.flavor == "s3":
        async with raw_client(server) as client:
            obj = await client.get_object(Bucket=server.bucket, Key=key)
            async with obj["Body"] as body:
                data: bytes = await body.read()
                return data
    import aiohttp

    url = f"{server.endpoint_url}/storage/v1/b/{server.bucket}/o/{quote(key, safe='')}"
    async with aiohttp.ClientSession() as session, session.get(url, params={"alt": "media"}) as r:
        assert r.status == 200
        return await r.read()
