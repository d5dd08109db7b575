"""The data a migration moves, and the check that a tool moved all of it.

The source is a ``FileArtifactBackend`` root, written by the backend itself:
one file per artifact, named by its opaque id, each with its CRC32C in an
xattr. The peers copy the same files under the same names; they ignore the
xattrs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eden_storage_async import FileArtifactBackend, mint_opaque_id, store_many

__all__ = ["CANARY_PREFIX", "DATASETS", "Dataset", "build_source", "check_target"]

KIB = 1024
MIB = 1024 * KIB
# The create-only check's canaries (``_core.create_only.CANARY_NAME``): ours
# leaves them under the target prefix, and they are not artifacts.
CANARY_PREFIX = ".eden-create-only-check"


@dataclass(frozen=True)
class Dataset:
    """``count`` artifacts of ``size`` random bytes each."""

    name: str
    count: int
    size: int

    @property
    def label(self) -> str:
        unit = f"{self.size // MIB} MiB" if self.size >= MIB else f"{self.size // KIB} KiB"
        return f"{self.count:,} x {unit}"

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


DATASETS = {
    "small": Dataset("small", 10_000, 4 * KIB),
    "large": Dataset("large", 16, 64 * MIB),
}


async def build_source(root: Path, dataset: Dataset) -> dict[str, int]:
    """Store the dataset into a file backend at ``root``; return ``{id: size}``."""
    ids = [mint_opaque_id() for _ in range(dataset.count)]

    def items() -> Iterator[tuple[str, bytes]]:
        # A generator: at most ``concurrency`` payloads exist at once (1 GiB of
        # large objects never sits in memory), and every one is its own random
        # bytes, so no layer can compress or deduplicate them.
        for opaque_id in ids:
            yield opaque_id, os.urandom(dataset.size)

    backend = FileArtifactBackend(root)
    try:
        concurrency = 64 if dataset.size <= MIB else 2
        outcomes = await store_many(backend, items(), concurrency=concurrency)
    finally:
        await backend.aclose()
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"building {dataset.label}: {len(failed)} stores failed")
    names = sorted(os.listdir(root))
    if names != sorted(ids):
        raise RuntimeError(f"{root} holds {len(names)} names, not the {len(ids)} artifacts")
    return dict.fromkeys(ids, dataset.size)


def check_target(s3: Any, bucket: str, prefix: str, expected: dict[str, int]) -> list[str]:
    """List ``bucket/prefix/`` with boto3 client ``s3``; raise unless it holds exactly
    the ``expected`` names and sizes. Return the other names it holds (ours' canaries)."""
    found: dict[str, int] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
    for page in pages:
        for obj in page.get("Contents", []):
            found[obj["Key"][len(prefix) + 1 :]] = obj["Size"]
    extras = sorted(n for n in found if n.startswith(CANARY_PREFIX))
    copied = {n: s for n, s in found.items() if not n.startswith(CANARY_PREFIX)}
    if copied != expected:
        missing = len(set(expected) - set(copied))
        stray = len(set(copied) - set(expected))
        wrong = sum(1 for n in set(copied) & set(expected) if copied[n] != expected[n])
        raise RuntimeError(
            f"{bucket}/{prefix}: {missing} missing, {stray} not in the source, "
            f"{wrong} of the wrong size (of {len(expected)})"
        )
    return extras
