"""Faults on the wire: S3 and GCS backends through ``FaultProxy``, against the real servers.

Two kinds of test:

* one small deterministic case per fault kind and target: the first object
  upload (or download) meets exactly that fault, and the outcome is pinned;
* the soak: many stores at bounded concurrency through a proxy that faults
  requests at random (seeded), then EVERY id checked through a clean backend
  that bypasses the proxy, then every stored id loaded back through the
  proxy. Its counts go to stdout (``pytest -s``) and to a JSON file.

The invariants (docs/faults.md): a store that returned loads back
byte-exact; a store that raised raised a ``StorageError`` (never
``AlreadyExists`` for our own first write, never a raw SDK error) and its id
holds nothing or the exact bytes; a load returns the exact bytes or raises a
``StorageError`` other than ``NotFound``, never other bytes.

``EDEN_FAULT_STORES`` (default 200 per target), ``EDEN_FAULT_SECONDS`` (the
wall-time cap of each phase, default 20), ``EDEN_FAULT_SEED`` and
``EDEN_FAULT_CONCURRENCY`` (default 32) size the soak.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from eden_storage_async import (
    AlreadyExists,
    ArtifactBackend,
    GcsBackend,
    IntegrityError,
    NotFound,
    S3Backend,
    ServiceUnavailable,
    StorageError,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from ..support.fault_proxy import FaultProxy, Flavor, Request, is_object_download, is_object_upload
from ..support.gcs import emulator_version
from ..support.s3 import fresh_prefix, raw_client, use_test_credentials
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server

_STORES = int(os.environ.get("EDEN_FAULT_STORES", "200"))
_PHASE_CAP_S = float(os.environ.get("EDEN_FAULT_SECONDS", "20"))
_SEED = int(os.environ.get("EDEN_FAULT_SEED", "20261127"))
_CONCURRENCY = int(os.environ.get("EDEN_FAULT_CONCURRENCY", "32"))
# No single operation may take longer: a caller hung past it is a violation.
_OP_CAP_S = 60.0
# Short client timeouts so a stall ends fast; the proxy holds a stalled
# exchange until the client hangs up, or _STALL_S at most.
_TIMEOUT_S = 1.0
_STALL_S = 5.0
# The one-fault cases send one request at a time, so even a loaded machine
# answers well inside this; each stall case costs one such timeout.
_RIG_TIMEOUT_S = 0.5
_RETRY = Backoff(attempts=5, base_s=0.01, cap_s=0.2, deadline_s=20.0)
# Above this, S3 store_stream goes multipart and GCS uploads go resumable, so
# the soak reaches those paths with payloads of a few hundred KiB.
_LARGE = 256 * 1024
# The soak's mix: half the faultable requests pass. Stalls are rarer because
# each costs a client timeout.
_SOAK_WEIGHTS = {
    "pass": 50,
    "reset_before": 7,
    "reset_mid_request": 7,
    "status_503": 8,
    "stall": 2,
    "truncate_response": 7,
    "corrupt_response": 7,
    "corrupt_request": 5,
    "drop_after_commit": 7,
}


def _suffix(request_path: str | None) -> str:
    # The lean path is S3Backend's default, so it gets the plain name, as in
    # tests/backends.py.
    return "-sdk" if request_path == "sdk" else ""


@dataclass(frozen=True)
class Target:
    """A backend on a real server, and why (if so) corrupt uploads are not injected.

    ``request_path`` is S3Backend's switch between the aiobotocore calls and
    the lean path, when the backend has it; each path is tested on its own.
    """

    name: str
    flavor: Flavor
    server: str
    unverified_uploads: str | None = None
    request_path: str | None = None


_MOTO_GAP = "moto 5.2.5 ignores a wrong x-amz-checksum-crc32c"
_S3_PATHS: tuple[str | None, ...] = (
    ("sdk", "lean") if "request_path" in inspect.signature(S3Backend).parameters else (None,)
)
TARGETS = [
    *(Target(f"s3-seaweedfs{_suffix(p)}", "s3", "seaweedfs", None, p) for p in _S3_PATHS),
    *(Target(f"s3-moto{_suffix(p)}", "s3", "moto", _MOTO_GAP, p) for p in _S3_PATHS),
    Target(
        "gcs-fake-gcs-server",
        "gcs",
        "fake_gcs",
        "fake-gcs-server v1.54.0 ignores an upload's crc32c and recomputes it",
    ),
]
_BY_NAME = {target.name: target for target in TARGETS}


def _path_setting(target: Target) -> dict[str, Any]:
    return {} if target.request_path is None else {"request_path": target.request_path}


@contextlib.asynccontextmanager
async def _backend_on(
    target: Target,
    server: RealServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    endpoint_url: str,
    prefix: str,
    timeout_s: float = _TIMEOUT_S,
) -> AsyncIterator[ArtifactBackend]:
    """The target's backend on ``endpoint_url`` (the proxy, or the server itself)."""
    built: ArtifactBackend
    if target.flavor == "s3":
        use_test_credentials(monkeypatch)
        built = S3Backend(
            bucket=server.bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retry=_RETRY,
            multipart_threshold=_LARGE,
            max_concurrency=_CONCURRENCY,
            **_path_setting(target),
        )
    else:
        built = GcsBackend(
            bucket=server.bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            timeout=timeout_s,
            resumable_threshold=_LARGE,
            retry=_RETRY,
            max_concurrency=_CONCURRENCY,
        )
    async with built as backend:
        yield backend


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


async def _clean_read(backend: ArtifactBackend, opaque_id: str) -> bytes | Exception | None:
    """The bytes at ``opaque_id`` seen without faults: None if absent, the error if any."""
    for attempt in range(3):
        try:
            return await backend.load(opaque_id)
        except NotFound:
            return None
        except ServiceUnavailable as exc:
            # The clean path has no faults, but the shared machine may be slow.
            if attempt == 2:
                return exc
        except Exception as exc:
            return exc
    raise AssertionError("unreachable")


def _pieces(payload: bytes, size: int = 64 * 1024) -> Iterable[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]


async def _load_via(backend: ArtifactBackend, opaque_id: str, stream: bool) -> bytes:
    if not stream:
        return await backend.load(opaque_id)
    received = bytearray()
    async with backend.load_stream(opaque_id) as chunks:
        async for chunk in chunks:
            received += chunk
    return bytes(received)


# ---------------------------------------------------------------- one fault at a time


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


def _describe(got: object, payload: bytes) -> str:
    if got is None:
        return "nothing"
    if isinstance(got, Exception):
        return f"an unreadable object ({got!r})"
    assert isinstance(got, bytes)
    if got == payload:
        return "the exact bytes"
    differ = sum(a != b for a, b in zip(got, payload, strict=False))
    return f"other bytes ({len(got)} of {len(payload)}, {differ} differ in the common part)"


# ---------------------------------------------------------------- the soak


@dataclass(frozen=True)
class _Plan:
    opaque_id: str
    size: int
    stream: bool
    seed: int

    def payload(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)


def _plans(count: int, seed: int) -> list[_Plan]:
    """Mostly small stores; 5% above ``_LARGE`` with store, 5% with store_stream."""
    rng = random.Random(seed)
    plans = []
    for _ in range(count):
        roll = rng.random()
        large = roll >= 0.90
        size = rng.randrange(_LARGE + 1, 3 * _LARGE) if large else int(rng.expovariate(1 / 4096))
        plans.append(_Plan(mint_opaque_id(), size, roll >= 0.95, rng.getrandbits(64)))
    return plans


@dataclass
class _Soak:
    target: Target
    store_outcomes: Counter[str] = field(default_factory=Counter)
    check_outcomes: Counter[str] = field(default_factory=Counter)
    load_outcomes: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    # The first few messages of each error class, for the report.
    samples: dict[str, list[str]] = field(default_factory=dict)
    raised: dict[str, Exception | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def violation(self, text: str) -> None:
        self.violations.append(f"{self.target.name}: {text}")


async def _bounded(
    items: list[_Plan], op: Callable[[_Plan], Awaitable[None]], cap_s: float | None
) -> int:
    """Run ``op`` on ``items`` with ``_CONCURRENCY`` workers; stop starting at the cap."""
    loop = asyncio.get_running_loop()
    deadline = None if cap_s is None else loop.time() + cap_s
    pending = iter(items)
    started = 0

    async def worker() -> None:
        nonlocal started
        for item in pending:
            if deadline is not None and loop.time() > deadline:
                return
            started += 1
            await op(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(_CONCURRENCY):
            group.create_task(worker())
    return started


def _outcome(exc: BaseException | None, samples: dict[str, list[str]] | None = None) -> str:
    if exc is None:
        return "ok"
    name = type(exc).__name__
    if samples is not None and len(kept := samples.setdefault(name, [])) < 3:
        kept.append(str(exc)[:300])
    return name


async def _capped(operation: Awaitable[Any]) -> Any:
    """Await ``operation``; a caller hung past ``_OP_CAP_S`` raises ``_Hung``."""
    timeout = asyncio.timeout(_OP_CAP_S)
    try:
        async with timeout:
            return await operation
    except TimeoutError:
        if timeout.expired():
            raise _Hung from None
        raise


class _Hung(Exception):
    """An operation outlived ``_OP_CAP_S``."""


@pytest.mark.parametrize("target_name", [t.name for t in TARGETS])
async def test_soak(
    target_name: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    target = _BY_NAME[target_name]
    server: RealServer = request.getfixturevalue(target.server)
    weights = dict(_SOAK_WEIGHTS)
    if target.unverified_uploads is not None:
        weights["corrupt_request"] = 0  # pinned in test_corrupted_upload_gap
    plans = _plans(_STORES, _SEED)
    prefix = fresh_prefix()
    soak = _Soak(target)

    async def store_one(plan: _Plan) -> None:
        payload = plan.payload()
        try:
            if plan.stream:
                await _capped(faulted.store_stream(plan.opaque_id, _pieces(payload)))
            else:
                await _capped(faulted.store(plan.opaque_id, payload))
        except Exception as exc:
            soak.raised[plan.opaque_id] = exc
            if isinstance(exc, AlreadyExists):
                soak.violation(f"store {plan.opaque_id}: AlreadyExists on our own first write")
            elif not isinstance(exc, StorageError):
                soak.violation(f"store {plan.opaque_id}: not a StorageError: {exc!r}")
        else:
            soak.raised[plan.opaque_id] = None
        outcome = _outcome(soak.raised[plan.opaque_id], soak.samples)
        soak.store_outcomes[outcome] += 1
        path = "store_stream" if plan.stream else "store large" if plan.size > _LARGE else "store"
        soak.by_path[f"{path}: {outcome}"] += 1

    stored: list[_Plan] = []

    async def check_one(plan: _Plan) -> None:
        payload = plan.payload()
        seen = await _clean_read(clean, plan.opaque_id)
        acked = soak.raised[plan.opaque_id] is None
        if seen == payload:
            stored.append(plan)
            soak.check_outcomes["exact" if acked else "raised-but-stored-whole"] += 1
            return
        if seen is None and not acked:
            soak.check_outcomes["raised-and-absent"] += 1
            return
        soak.check_outcomes["violation"] += 1
        what = "acknowledged" if acked else f"failed ({soak.raised[plan.opaque_id]!r})"
        soak.violation(
            f"{what} store {plan.opaque_id} ({plan.size} B, stream={plan.stream}) holds "
            f"{_describe(seen, payload)}"
        )

    async def load_one(plan: _Plan) -> None:
        payload = plan.payload()
        stream = plan.seed % 4 == 0  # a quarter through load_stream
        via = "load_stream" if stream else "load"
        try:
            got = await _capped(_load_via(faulted_loads, plan.opaque_id, stream))
        except Exception as exc:
            outcome = _outcome(exc, soak.samples)
            soak.load_outcomes[outcome] += 1
            soak.by_path[f"{via}: {outcome}"] += 1
            if isinstance(exc, NotFound) or not isinstance(exc, StorageError):
                soak.violation(f"load {plan.opaque_id} (stream={stream}) raised {exc!r}")
            return
        soak.by_path[f"{via}: {'ok' if got == payload else 'wrong-bytes'}"] += 1
        if got != payload:
            soak.load_outcomes["wrong-bytes"] += 1
            soak.violation(
                f"load {plan.opaque_id} (stream={stream}) returned {_describe(got, payload)}"
            )
        else:
            soak.load_outcomes["ok"] += 1

    def proxy(seed: int, faultable: Callable[[Request], bool]) -> FaultProxy:
        return FaultProxy(
            server.endpoint_url,
            flavor=target.flavor,
            weights=weights,
            seed=seed,
            stall_s=_STALL_S,
            faultable=faultable,
        )

    def on(endpoint_url: str) -> contextlib.AbstractAsyncContextManager[ArtifactBackend]:
        return _backend_on(target, server, monkeypatch, endpoint_url=endpoint_url, prefix=prefix)

    started = time.monotonic()
    async with proxy(_SEED, lambda r: True) as store_proxy, on(store_proxy.endpoint_url) as faulted:
        ran = await _bounded(plans, store_one, _PHASE_CAP_S)
    soak.seconds["store"] = time.monotonic() - started
    run = plans[:ran]
    started = time.monotonic()
    async with on(server.endpoint_url) as clean:
        await _bounded(run, check_one, None)
    soak.seconds["check"] = time.monotonic() - started
    started = time.monotonic()
    async with (
        proxy(_SEED + 1, lambda r: True) as load_proxy,
        on(load_proxy.endpoint_url) as faulted_loads,
    ):
        loads_run = await _bounded(stored, load_one, _PHASE_CAP_S)
    soak.seconds["load"] = time.monotonic() - started

    report = {
        "backend": target.name,
        "seed": _SEED,
        "prefix": prefix,
        "stores_planned": len(plans),
        "stores_run": ran,
        "large_stores": sum(p.size > _LARGE for p in run),
        "stream_stores": sum(p.stream for p in run),
        "store_outcomes": dict(soak.store_outcomes),
        "outcomes_by_path": dict(sorted(soak.by_path.items())),
        "check_outcomes": dict(soak.check_outcomes),
        "loads_run": loads_run,
        "load_outcomes": dict(soak.load_outcomes),
        "store_phase_faults": dict(store_proxy.counts),
        "store_phase_stalls": dict(store_proxy.stalls),
        "store_phase_not_applicable": dict(store_proxy.not_applicable),
        "load_phase_faults": dict(load_proxy.counts),
        "load_phase_not_applicable": dict(load_proxy.not_applicable),
        "excluded": {"corrupt_request": target.unverified_uploads}
        if target.unverified_uploads
        else {},
        "seconds": {k: round(v, 1) for k, v in soak.seconds.items()},
        "error_samples": soak.samples,
        "proxy_errors": store_proxy.errors + load_proxy.errors,
        "violations": soak.violations,
    }
    path = tmp_path / f"fault-soak-{target.name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nfault soak {target.name}: {json.dumps(report)}\nwritten to {path}")

    assert not store_proxy.errors + load_proxy.errors, "the proxy itself failed"
    assert not soak.violations, "\n".join(soak.violations[:20])
    assert ran >= min(_STORES, 100), f"only {ran} stores ran within {_PHASE_CAP_S} s"
    assert len(stored) >= ran // 2, f"only {len(stored)} of {ran} stores landed"
    # Every kind that should have happened did, so the run cannot pass by
    # accident. Only downloads are corrupted, and only uploads carry a payload.
    # A kind is required once its expected count reaches 12 (the chance of
    # none is then about 6e-6); rarer ones are reported, not required.
    total_weight = sum(weights.values())
    missing = []
    for phase, faulted_proxy, never in (
        ("store", store_proxy, "corrupt_response"),
        ("load", load_proxy, "corrupt_request"),
    ):
        requests = sum(faulted_proxy.counts.values())
        assert requests - faulted_proxy.counts["pass"] > requests // 4, f"{phase}: few faults"
        for kind, weight in weights.items():
            expected = requests * weight / total_weight
            if kind != never and expected >= 12 and not faulted_proxy.counts[kind]:
                missing.append(f"{kind} ({phase} phase, {expected:.0f} expected)")
    assert not missing, f"the soak never injected {missing}"
