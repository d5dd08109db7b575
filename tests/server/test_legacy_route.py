"""Legacy ``file://`` rows through ``--artifacts-dir``, at the original's reference route:
read only, authenticated, refusing symlinks and traversal; 503 when not configured.

The walk's own rules are unit-tested in test_legacy_unit.py; this is the HTTP side.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from eden_storage_async import InMemoryArtifactBackend

from .helpers import AS_A, AUTH, BINDING, EXPERIMENT, expect_problem, serving


@pytest.fixture
async def memory() -> AsyncIterator[InMemoryArtifactBackend]:
    async with InMemoryArtifactBackend() as backend:
        yield backend


@pytest.fixture
def legacy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "runs" / "r1" / "model é.bin").write_bytes(b"legacy bytes")
    (root / "big.bin").write_bytes(b"x" * (1024 * 1024 + 1))
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    return root


def legacy_url(url: str, rel: str, experiment: str = EXPERIMENT) -> URL:
    base = URL(url)
    return base.with_path(f"/_reference/experiments/{experiment}/artifacts/{rel}", encoded=True)


async def test_a_legacy_file_is_served_read_only(
    memory: InMemoryArtifactBackend, legacy_dir: Path
) -> None:
    async with serving(memory, artifacts_dir=legacy_dir) as (url, session):
        target = legacy_url(url, "runs/r1/model%20%C3%A9.bin")
        async with session.get(target, headers=AS_A) as response:
            assert response.status == 200, await response.text()
            assert await response.read() == b"legacy bytes"
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["Content-Length"] == "12"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Content-Disposition"] == (
                "attachment; filename=\"model _.bin\"; filename*=UTF-8''model%20%C3%A9.bin"
            )
        # The experiment header is optional there, but must agree when given.
        auth_only = {"Authorization": AUTH["Authorization"]}
        async with session.get(target, headers=auth_only) as response:
            assert response.status == 200
        wrong = {**AUTH, "X-Eden-Experiment-Id": "other"}
        async with session.get(target, headers=wrong) as response:
            await expect_problem(response, 400, "eden://error/experiment-id-mismatch")
        async with session.get(target, headers=BINDING) as response:
            await expect_problem(response, 401, "eden://error/unauthorized")
        async with session.post(target, headers=AUTH) as response:
            await expect_problem(response, 405, "eden://reference-error/method-not-allowed")


@pytest.mark.parametrize(
    ("rel", "status", "problem_type"),
    [
        ("absent.bin", 404, "eden://error/not-found"),
        ("runs", 404, "eden://error/not-found"),
        ("runs/%2e%2e/%2e%2e/outside.txt", 400, "eden://reference-error/invalid-path"),
        ("link.txt", 403, "eden://error/forbidden"),
        ("big.bin", 413, "eden://reference-error/artifact-too-large"),
    ],
)
async def test_what_a_legacy_row_may_not_reach(
    memory: InMemoryArtifactBackend, legacy_dir: Path, rel: str, status: int, problem_type: str
) -> None:
    async with (
        serving(memory, artifacts_dir=legacy_dir) as (url, session),
        session.get(legacy_url(url, rel), headers=AUTH) as response,
    ):
        document = await expect_problem(response, status, problem_type)
    assert str(legacy_dir) not in document["detail"]


async def test_without_artifacts_dir_legacy_serving_is_disabled(
    memory: InMemoryArtifactBackend,
) -> None:
    async with (
        serving(memory) as (url, session),
        session.get(legacy_url(url, "runs/r1/x"), headers=AUTH) as response,
    ):
        await expect_problem(response, 503, "eden://reference-error/artifact-serving-disabled")
