"""The fault soak: S3 and GCS backends through ``FaultProxy``, against the real servers.

10,000 stores per target (``soak_plan.stores_for``)
at bounded concurrency through a proxy that faults requests at random
(seeded), then EVERY id checked through a clean backend that bypasses the
proxy, then the large and streamed ids and a share
of the small ones loaded back through the proxy. Its counts go to stdout
(``pytest -s``) and to a JSON file. Marked ``soak``; CI runs it.

The invariants (docs/faults.md): a store that returned loads back
byte-exact (acknowledged-but-lost = 0, corrupted = 0); a store that raised
raised a ``StorageError`` (never ``AlreadyExists`` for our own first write,
never a raw SDK error) and its id holds nothing or the exact bytes; a load
returns the exact bytes or raises a ``StorageError`` other than ``NotFound``,
never other bytes; and RSS, after the soak and a collection, is back within
``RSS_BOUND_MIB`` of where it started. ``soak_plan.py`` holds the sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

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
from ..support.servers import RealServer, create_gcs_bucket
from .helpers import (
    _BY_NAME,
    _STALL_S,
    TARGETS,
    Target,
    _backend_on,
    _clean_read,
    _describe,
    _load_via,
)
from .soak_plan import (
    CONCURRENCY,
    PHASE_CAP_S,
    RSS_BOUND_MIB,
    SEED,
    Plan,
    bounded,
    buckets_for,
    capped,
    outcome,
    pieces,
    plans,
    rss_mib,
    stores_for,
)

pytestmark = [pytest.mark.real_server, pytest.mark.soak]

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
    # Each store's error as text (None when it returned): an exception kept
    # here would keep its traceback's frames, payloads included, alive.
    raised: dict[str, str | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    acked_but_lost: int = 0
    corrupted: int = 0

    def violation(self, text: str) -> None:
        self.violations.append(f"{self.target.name}: {text}")


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
    planned = plans(stores_for(target_name), SEED)
    prefix = fresh_prefix()
    soak = _Soak(target)
    # Each id's bucket: the server's own, or one of fresh ones dealt round-robin.
    buckets = [server.bucket]
    if buckets_for(target_name) > 1:
        buckets = [f"soak-{prefix[-8:]}-{i}" for i in range(buckets_for(target_name))]
        for name in buckets:
            await asyncio.to_thread(create_gcs_bucket, server.endpoint_url, name)
    bucket_of = {plan.opaque_id: buckets[i % len(buckets)] for i, plan in enumerate(planned)}

    async def store_one(plan: Plan) -> None:
        payload = plan.payload()
        error: Exception | None = None
        try:
            backend = faulted[bucket_of[plan.opaque_id]]
            if plan.stream:
                await capped(backend.store_stream(plan.opaque_id, pieces(payload)))
            else:
                await capped(backend.store(plan.opaque_id, payload))
        except Exception as exc:
            error = exc
            if isinstance(exc, AlreadyExists):
                soak.violation(f"store {plan.opaque_id}: AlreadyExists on our own first write")
            elif not isinstance(exc, StorageError):
                soak.violation(f"store {plan.opaque_id}: not a StorageError: {exc!r}")
        soak.raised[plan.opaque_id] = None if error is None else repr(error)[:300]
        result = outcome(error, soak.samples)
        soak.store_outcomes[result] += 1
        path = "store_stream" if plan.stream else "store large" if plan.large else "store"
        soak.by_path[f"{path}: {result}"] += 1

    stored: list[Plan] = []

    async def check_one(plan: Plan) -> None:
        payload = plan.payload()
        seen = await _clean_read(clean[bucket_of[plan.opaque_id]], plan.opaque_id)
        acked = soak.raised[plan.opaque_id] is None
        if seen == payload:
            stored.append(plan)
            soak.check_outcomes["exact" if acked else "raised-but-stored-whole"] += 1
            return
        if seen is None and not acked:
            soak.check_outcomes["raised-and-absent"] += 1
            return
        soak.check_outcomes["violation"] += 1
        if isinstance(seen, bytes):
            soak.corrupted += 1
        elif acked:
            soak.acked_but_lost += 1
        what = "acknowledged" if acked else f"failed ({soak.raised[plan.opaque_id]})"
        soak.violation(
            f"{what} store {plan.opaque_id} ({plan.size} B, stream={plan.stream}) holds "
            f"{_describe(seen, payload)}"
        )

    async def load_one(plan: Plan) -> None:
        payload = plan.payload()
        via = "load_stream" if plan.load_stream else "load"
        try:
            backend = faulted_loads[bucket_of[plan.opaque_id]]
            got = await capped(_load_via(backend, plan.opaque_id, plan.load_stream))
        except Exception as exc:
            result = outcome(exc, soak.samples)
            soak.load_outcomes[result] += 1
            soak.by_path[f"{via}: {result}"] += 1
            if isinstance(exc, NotFound) or not isinstance(exc, StorageError):
                soak.violation(f"load {plan.opaque_id} ({via}) raised {exc!r}")
            return
        soak.by_path[f"{via}: {'ok' if got == payload else 'wrong-bytes'}"] += 1
        if got != payload:
            soak.load_outcomes["wrong-bytes"] += 1
            soak.corrupted += 1
            soak.violation(f"load {plan.opaque_id} ({via}) returned {_describe(got, payload)}")
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

    @contextlib.asynccontextmanager
    async def on(endpoint_url: str) -> AsyncIterator[dict[str, ArtifactBackend]]:
        """One backend on ``endpoint_url`` for each of the soak's buckets."""
        async with contextlib.AsyncExitStack() as stack:
            yield {
                bucket: await stack.enter_async_context(
                    _backend_on(
                        target,
                        server,
                        monkeypatch,
                        endpoint_url=endpoint_url,
                        prefix=prefix,
                        bucket=bucket,
                        max_concurrency=CONCURRENCY,
                    )
                )
                for bucket in buckets
            }

    async with on(server.endpoint_url) as clean:
        # Lazy imports, clients and pools exist before the first reading.
        for backend in clean.values():
            warm = mint_opaque_id()
            await backend.store(warm, b"warm")
            await backend.load(warm)
        rss_before = rss_mib(trim=True)
        started = time.monotonic()
        async with (
            proxy(SEED, lambda r: True) as store_proxy,
            on(store_proxy.endpoint_url) as faulted,
        ):
            ran = await bounded(planned, store_one, PHASE_CAP_S)
        soak.seconds["store"] = time.monotonic() - started
        run = planned[:ran]
        started = time.monotonic()
        await bounded(run, check_one, None)
        soak.seconds["check"] = time.monotonic() - started
        started = time.monotonic()
        async with (
            proxy(SEED + 1, lambda r: True) as load_proxy,
            on(load_proxy.endpoint_url) as faulted_loads,
        ):
            loads_run = await bounded([p for p in stored if p.loaded], load_one, PHASE_CAP_S)
        soak.seconds["load"] = time.monotonic() - started
    rss_untrimmed = rss_mib()
    rss_after = rss_mib(trim=True)

    report = {
        "backend": target.name,
        "seed": SEED,
        "prefix": prefix,
        "buckets": buckets,
        "concurrency": CONCURRENCY,
        "stores_planned": len(planned),
        "stores_run": ran,
        "large_stores": sum(p.large and not p.stream for p in run),
        "stream_stores": sum(p.stream for p in run),
        "store_outcomes": dict(soak.store_outcomes),
        "outcomes_by_path": dict(sorted(soak.by_path.items())),
        "check_outcomes": dict(soak.check_outcomes),
        "acked_but_lost": soak.acked_but_lost,
        "corrupted": soak.corrupted,
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
        "rss_mib": {
            "before": round(rss_before, 1),
            "after_untrimmed": round(rss_untrimmed, 1),
            "after": round(rss_after, 1),
        },
        "seconds": {k: round(v, 1) for k, v in soak.seconds.items()},
        "error_samples": soak.samples,
        "proxy_errors": store_proxy.errors + load_proxy.errors,
        "violations": soak.violations,
    }
    path = tmp_path / f"fault-soak-{target.name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nfault soak {target.name}: {json.dumps(report)}\nwritten to {path}")

    assert not store_proxy.errors + load_proxy.errors, "the proxy itself failed"
    assert soak.acked_but_lost == 0, soak.violations[:20]
    assert soak.corrupted == 0, soak.violations[:20]
    assert not soak.violations, "\n".join(soak.violations[:20])
    assert ran == len(planned), f"only {ran} of {len(planned)} stores ran within {PHASE_CAP_S} s"
    assert len(stored) >= ran // 2, f"only {len(stored)} of {ran} stores landed"
    assert rss_after - rss_before <= RSS_BOUND_MIB, (
        f"RSS {rss_before:.0f} MiB before the soak, {rss_after:.0f} MiB after (bound"
        f" {RSS_BOUND_MIB:.0f} MiB more)"
    )
    _assert_every_kind_injected(weights, store_proxy, load_proxy)


def _assert_every_kind_injected(
    weights: dict[str, int], store_proxy: FaultProxy, load_proxy: FaultProxy
) -> None:
    """Every kind that should have happened did, so the run cannot pass by accident.

    Only downloads are corrupted, and only uploads carry a payload. A kind is
    required once its expected count reaches 12 (the chance of none is then
    about 6e-6); rarer ones are reported, not required.
    """
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
