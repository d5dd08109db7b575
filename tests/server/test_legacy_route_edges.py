"""The legacy route over HTTP: ``GET /_reference/experiments/{E}/artifacts/{path}``.

The edges beside test_legacy_route.py; the walk's own rules are in
``test_legacy_unit.py``. This checks what the wire shows of them: statuses,
problem types, headers, the admission order, and that a traversal sent raw
(not normalised away by a client) is refused.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from eden_storage_async import InMemoryArtifactBackend

from .helpers import AS_A, AS_B, EXPERIMENT, SECRET_A, WORKER_A, serving


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "run").mkdir(parents=True)
    (root / "run" / "metrics.json").write_bytes(b'{"loss": 1}')
    (root / "run" / "link").symlink_to("metrics.json")
    (root / "big").write_bytes(b"x" * (1024 * 1024 + 1))
    return root


def legacy_url(artifacts_url: str, rel_path: str, experiment: str = EXPERIMENT) -> str:
    origin = artifacts_url.split("/v0/")[0]
    return f"{origin}/_reference/experiments/{experiment}/artifacts/{rel_path}"


@pytest.mark.parametrize(
    ("rel_path", "status", "problem_type"),
    [
        ("run/metrics.json", 200, None),
        ("run/link", 403, "eden://error/forbidden"),
        ("run//metrics.json", 400, "eden://reference-error/invalid-path"),
        ("run/metrics.json%00", 400, "eden://reference-error/invalid-path"),
        ("run/missing", 404, "eden://error/not-found"),
        ("run", 404, "eden://error/not-found"),
        ("big", 413, "eden://reference-error/artifact-too-large"),
    ],
)
async def test_legacy_statuses(
    artifacts_dir: Path, rel_path: str, status: int, problem_type: str | None
) -> None:
    async with (
        serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session),
        session.get(legacy_url(url, rel_path), headers=AS_A) as response,
    ):
        assert response.status == status
        if problem_type is None:
            assert await response.read() == b'{"loss": 1}'
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["Content-Length"] == "11"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith("attachment;")
            assert 'filename="metrics.json"' in disposition
            assert "filename*=UTF-8''metrics.json" in disposition
        else:
            assert response.content_type == "application/problem+json"
            assert json.loads(await response.read())["type"] == problem_type


async def test_any_authenticated_principal_may_read_and_the_header_is_optional(
    artifacts_dir: Path,
) -> None:
    async with serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session):
        for headers in (AS_A, AS_B, {"Authorization": f"Bearer {WORKER_A}:{SECRET_A}"}):
            async with session.get(legacy_url(url, "run/metrics.json"), headers=headers) as r:
                assert r.status == 200
        async with session.get(legacy_url(url, "run/metrics.json")) as response:
            assert response.status == 401
        wrong = {**AS_A, "X-Eden-Experiment-Id": "other"}
        async with session.get(legacy_url(url, "run/metrics.json"), headers=wrong) as response:
            assert response.status == 400
            assert (await response.json(content_type=None))["type"].endswith("mismatch")


async def test_unauthenticated_probes_learn_nothing(artifacts_dir: Path) -> None:
    # 401 before any filesystem answer: a missing file and a symlink look alike.
    async with serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session):
        for rel_path in ("run/missing", "run/link", "run//x", "big"):
            async with session.get(legacy_url(url, rel_path)) as response:
                assert response.status == 401


async def test_a_bound_server_refuses_other_experiments(artifacts_dir: Path) -> None:
    settings = {"artifacts_dir": artifacts_dir, "experiment_id": EXPERIMENT}
    async with (
        serving(InMemoryArtifactBackend(), **settings) as (url, session),
        session.get(legacy_url(url, "run/metrics.json", "other"), headers=AS_A) as r,
    ):
        assert r.status == 400
        assert (await r.json(content_type=None))["type"] == "eden://error/experiment-id-mismatch"


@pytest.mark.parametrize(
    "raw_path", ["run/../big", "run/%2e%2e/big", "../../../../etc/passwd", "./run/metrics.json"]
)
async def test_a_raw_traversal_is_refused(artifacts_dir: Path, raw_path: str) -> None:
    # aiohttp's client normalises "..", so the request line is written by hand.
    async with serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, _):
        host_port = url.split("/")[2]
        host, port = host_port.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        path = f"/_reference/experiments/{EXPERIMENT}/artifacts/{raw_path}"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\n"
            f"Authorization: Bearer {WORKER_A}:{SECRET_A}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["type"] == "eden://reference-error/invalid-path"


async def test_head_gives_the_headers_without_the_body(artifacts_dir: Path) -> None:
    async with (
        serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session),
        session.head(legacy_url(url, "run/metrics.json"), headers=AS_A) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Length"] == "11"
        assert await response.read() == b""


async def test_legacy_rows_are_not_served_by_the_v0_fetch(artifacts_dir: Path) -> None:
    async with serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session):
        uri = f"file://{artifacts_dir}/run/metrics.json"
        async with session.get(url, params={"uri": uri}, headers=AS_A) as response:
            assert response.status == 404


async def test_a_refused_path_is_not_logged_as_an_error(
    artifacts_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Clients choose these paths: logging each at ERROR would let anyone flood the log.
    async with serving(InMemoryArtifactBackend(), artifacts_dir=artifacts_dir) as (url, session):
        for rel_path in ("run/missing", "run/link", "run"):
            async with session.get(legacy_url(url, rel_path), headers=AS_A) as response:
                assert response.status in (403, 404)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
