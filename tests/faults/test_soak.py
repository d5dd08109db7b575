"""The fault soak: S3 and GCS backends through ``FaultProxy``, against the real servers.

Many stores at bounded concurrency through a proxy that faults requests at
random (seeded), then EVERY id checked through a clean backend that bypasses
the proxy, then every stored id loaded back through the proxy. Its counts go
to stdout (``pytest -s``) and to a JSON file.

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
import json
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eden_storage_async import (
    AlreadyExists,
    ArtifactBackend,
    NotFound,
    StorageError,
    mint_opaque_id,
)

from ..support.fault_proxy import FaultProxy
from ..support.fault_proxy_wire import Request
from ..support.s3 import fresh_prefix
from ..support.servers import RealServer
from .helpers import (
    _BY_NAME,
    _CONCURRENCY,
    _LARGE,
    _STALL_S,
    TARGETS,
    Target,
    _backend_on,
    _clean_read,
    _describe,
    _load_via,
)

pytestmark = pytest.mark.real_server

_STORES = int(os.environ.get("EDEN_FAULT_STORES", "200"))
_PHASE_CAP_S = float(os.environ.get("EDEN_FAULT_SECONDS", "20"))
_SEED = int(os.environ.get("EDEN_FAULT_SEED", "20261127"))
# No single operation may take longer: a caller hung past it is a violation.
_OP_CAP_S = 60.0
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


def _pieces(payload: bytes, size: int = 64 * 1024) -> Iterable[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]


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
