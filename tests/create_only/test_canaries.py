"""Where ``check_create_only`` leaves its canaries: a fixed, small set of reserved
names per backend, however often it runs, and nothing else (no upload left open).

And that the GCS check's failure on fake-gcs-server is the emulator's, not
ours: on ``ScriptedGcs``, which enforces ``ifGenerationMatch=0`` as GCS does,
all three paths pass, and every creating request carried the precondition.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from eden_storage_async import (
    FileArtifactBackend,
    GcsBackend,
    InMemoryArtifactBackend,
    PreconditionNotSupported,
)

from ..support.gcs_scripted import ScriptedGcs
from ..support.s3 import fresh_prefix, raw_client, s3_backend_on, use_test_credentials
from ..support.servers import RealServer


@pytest.mark.parametrize("request_path", ["lean", "sdk"])
async def test_s3_leaves_two_canaries_and_no_open_upload(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch, request_path: str
) -> None:
    use_test_credentials(monkeypatch)
    prefix = fresh_prefix()
    async with s3_backend_on(seaweedfs, prefix=prefix, request_path=request_path) as backend:
        for _ in range(3):
            assert (await backend.check_create_only()).ok
    async with raw_client(seaweedfs) as client:
        listed = await client.list_objects_v2(Bucket=seaweedfs.bucket, Prefix=f"{prefix}/")
        keys = sorted(entry["Key"] for entry in listed.get("Contents", []))
        uploads = await client.list_multipart_uploads(Bucket=seaweedfs.bucket, Prefix=prefix)
    assert keys == [
        f"{prefix}/.eden-create-only-check/multipart",
        f"{prefix}/.eden-create-only-check/put-object",
    ]
    assert uploads.get("Uploads", []) == []


def _gcs_names(server: RealServer, prefix: str) -> list[str]:
    query = urllib.parse.urlencode({"prefix": f"{prefix}/"})
    url = f"{server.endpoint_url}/storage/v1/b/{server.bucket}/o?{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return sorted(item["name"] for item in json.load(response).get("items", []))


async def test_gcs_leaves_one_canary_per_path(fake_gcs: RealServer) -> None:
    prefix = fresh_prefix()
    async with GcsBackend(
        bucket=fake_gcs.bucket, prefix=prefix, endpoint_url=fake_gcs.endpoint_url
    ) as backend:
        for _ in range(2):
            # fake-gcs-server v1.54.0 ignores the precondition on resumable uploads.
            with pytest.raises(PreconditionNotSupported):
                await backend.check_create_only()
    names = await asyncio.to_thread(_gcs_names, fake_gcs, prefix)
    assert names == [
        f"{prefix}/.eden-create-only-check/multipart",
        f"{prefix}/.eden-create-only-check/resumable",
        f"{prefix}/.eden-create-only-check/resumable-stream",
    ]


async def test_file_leaves_two_canaries_beside_the_artifacts(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    async with FileArtifactBackend(root) as backend:
        for _ in range(3):
            assert (await backend.check_create_only()).ok
    assert sorted(os.listdir(root)) == [
        ".eden-create-only-check.store",
        ".eden-create-only-check.store-stream",
    ]
    # The start-up sweep of temp files leaves them alone.
    async with FileArtifactBackend(root) as again:
        assert again.swept_temp_files == 0
        assert (await again.check_create_only()).ok
    assert len(os.listdir(root)) == 2


async def test_gcs_passes_every_path_where_the_precondition_is_enforced() -> None:
    async with ScriptedGcs() as scripted:
        async with GcsBackend(
            bucket=scripted.bucket, prefix="unit", endpoint_url=scripted.endpoint_url
        ) as backend:
            report = await backend.check_create_only()
        creating = [query for op, query in scripted.calls if op in ("multipart", "initiate")]
    assert [result.path for result in report.results] == [
        "multipart",
        "resumable",
        "resumable-stream",
    ]
    assert report.ok
    # Two stores per path, each creating request with the precondition.
    assert len(creating) == 6
    assert all(query.get("ifGenerationMatch") == "0" for query in creating), creating
    assert sorted(q["uploadType"] for q in creating) == ["multipart"] * 2 + ["resumable"] * 4


async def test_paths_as_one_string_is_a_type_error() -> None:
    # "store" would otherwise be read as the paths "s", "t", "o", ...
    async with InMemoryArtifactBackend() as backend:
        with pytest.raises(TypeError, match="not one string"):
            await backend.check_create_only("store")
        assert (await backend.check_create_only(["store"])).ok
