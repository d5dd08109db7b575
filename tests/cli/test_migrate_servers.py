"""``eden-blob migrate`` against real servers: file to S3 (SeaweedFS), file to
GCS (fake-gcs-server), bucket to bucket, a conflict at a bucket, and a target
that ignores create-only (s3rver), each through the command in a subprocess."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from eden_storage_async import (
    ArtifactBackend,
    FileArtifactBackend,
    GcsBackend,
    NotFound,
    S3Backend,
)
from eden_storage_async._cli.main import main

from ..migrate.helpers import fill
from ..support.s3 import S3_TEST_ENV, fresh_prefix, use_test_credentials
from ..support.servers import RealServer
from .helpers import clean_env, cli, one_error_line


def s3_env(**extra: str) -> dict[str, str]:
    return clean_env(**{**S3_TEST_ENV, **extra})


def to_s3(server: RealServer, prefix: str, side: str = "to") -> list[str]:
    return [
        f"--{side}-blob-backend", "s3",
        f"--{side}-blob-s3-bucket", server.bucket,
        f"--{side}-blob-s3-prefix", prefix,
        f"--{side}-blob-s3-endpoint-url", server.endpoint_url,
    ]  # fmt: skip


async def filled_dir(root: Path, count: int) -> dict[str, bytes]:
    async with FileArtifactBackend(root) as backend:
        return await fill(backend, count)


async def migrate_cli(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = await asyncio.to_thread(cli, "migrate", *args, env=env)
    text = result.stderr.decode()
    assert "Traceback" not in text, text
    return result.returncode, text


async def same_as_source(target: ArtifactBackend, stored: dict[str, bytes]) -> None:
    for opaque_id, data in stored.items():
        assert await target.load(opaque_id) == data
        info = await target.stat(opaque_id)
        assert info.content_type == "text/x-test"
        assert dict(info.metadata) == {"index": str(list(stored).index(opaque_id))}


async def test_file_to_s3_then_again(
    seaweedfs: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    stored = await filled_dir(tmp_path / "src", 12)
    prefix = fresh_prefix()
    argv: list[str | Path] = [
        "--from-artifact-blob-dir",
        tmp_path / "src",
        *to_s3(seaweedfs, prefix),
    ]

    code, err = await migrate_cli(*argv, "--report", tmp_path / "r.json", env=s3_env())

    assert code == 0, err
    assert "copied 12 (1.2 KiB), already present 0, conflicts 0, failed 0" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["target"].startswith(f"S3Backend(bucket='{seaweedfs.bucket}', prefix='{prefix}'")
    async with S3Backend(
        bucket=seaweedfs.bucket, prefix=prefix, endpoint_url=seaweedfs.endpoint_url
    ) as target:
        await same_as_source(target, stored)

    code, err = await migrate_cli(*argv, env=s3_env())
    assert code == 0, err
    assert "copied 0 (0 B), already present 12, conflicts 0, failed 0" in err


def _gcs_flags(server: RealServer, prefix: str) -> list[str | Path]:
    return [
        "--to-blob-backend", "gcs",
        "--to-blob-gcs-bucket", server.bucket,
        "--to-blob-gcs-prefix", prefix,
        "--to-blob-gcs-endpoint-url", server.endpoint_url,
    ]  # fmt: skip


async def test_file_to_fake_gcs_server_is_refused_by_the_create_only_check(
    fake_gcs: RealServer, tmp_path: Path
) -> None:
    # fake-gcs-server v1.54 accepts a second resumable upload of a name
    # (docs/gcs.md): migrate must refuse it, as serve does, and copy nothing.
    stored = await filled_dir(tmp_path / "src", 2)
    prefix = fresh_prefix()
    code, err = await migrate_cli(
        "--from-artifact-blob-dir", tmp_path / "src", *_gcs_flags(fake_gcs, prefix)
    )
    assert code == 2
    assert "refusing to copy anything" in err
    assert "resumable: answered success (2xx) to a second store" in err
    async with GcsBackend(
        bucket=fake_gcs.bucket, prefix=prefix, endpoint_url=fake_gcs.endpoint_url
    ) as target:
        for opaque_id in stored:
            with pytest.raises(NotFound):
                await target.stat(opaque_id)


def test_file_to_gcs_copies_on_the_path_the_emulator_enforces(
    fake_gcs: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small artifacts take GCS's single-request upload, which fake-gcs-server
    # does enforce; check only that path, so the copy itself runs on the
    # emulator (in-process: the patch must reach the command's backend).
    checked: list[object] = []
    real_check = GcsBackend.check_create_only

    async def multipart_only(self: GcsBackend, paths: object = None) -> object:
        checked.append(paths)
        return await real_check(self, ["multipart"])

    monkeypatch.setattr(GcsBackend, "check_create_only", multipart_only)
    stored = asyncio.run(filled_dir(tmp_path / "src", 6))
    prefix = fresh_prefix()

    code = main(["migrate", "--from-artifact-blob-dir", str(tmp_path / "src"),
                 *map(str, _gcs_flags(fake_gcs, prefix))])  # fmt: skip

    assert code == 0
    assert checked == [None]  # the command asked for the whole check

    async def verify() -> None:
        async with GcsBackend(
            bucket=fake_gcs.bucket, prefix=prefix, endpoint_url=fake_gcs.endpoint_url
        ) as target:
            await same_as_source(target, stored)

    asyncio.run(verify())


async def test_bucket_to_bucket_with_env_settings(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    old, new = fresh_prefix(), fresh_prefix()
    async with S3Backend(
        bucket=seaweedfs.bucket, prefix=old, endpoint_url=seaweedfs.endpoint_url
    ) as source:
        stored = await fill(source, 5)
    env = s3_env(
        EDEN_BLOB_FROM_BACKEND="s3",
        EDEN_BLOB_FROM_S3_BUCKET=seaweedfs.bucket,
        EDEN_BLOB_FROM_S3_PREFIX=old,
        EDEN_BLOB_FROM_S3_ENDPOINT_URL=seaweedfs.endpoint_url,
        EDEN_BLOB_TO_BACKEND="s3",
        EDEN_BLOB_TO_S3_BUCKET=seaweedfs.bucket,
        EDEN_BLOB_TO_S3_PREFIX=new,
        EDEN_BLOB_TO_S3_ENDPOINT_URL=seaweedfs.endpoint_url,
    )
    code, err = await migrate_cli(env=env)
    assert code == 0, err
    assert "copied 5 (500 B)" in err
    async with S3Backend(
        bucket=seaweedfs.bucket, prefix=new, endpoint_url=seaweedfs.endpoint_url
    ) as target:
        await same_as_source(target, stored)

    # The same bucket and prefix on both sides is refused before any I/O.
    env["EDEN_BLOB_TO_S3_PREFIX"] = old + "/"
    code, err = await migrate_cli(env=env)
    assert code == 2
    assert "the same or one inside the other" in err


async def test_a_conflict_at_the_bucket_is_left_alone(
    seaweedfs: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    stored = await filled_dir(tmp_path / "src", 3)
    clash = sorted(stored)[1]
    prefix = fresh_prefix()
    async with S3Backend(
        bucket=seaweedfs.bucket, prefix=prefix, endpoint_url=seaweedfs.endpoint_url
    ) as target:
        await target.store(clash, b"deposited elsewhere")
        code, err = await migrate_cli(
            "--from-artifact-blob-dir", tmp_path / "src", *to_s3(seaweedfs, prefix), env=s3_env()
        )
        assert code == 1
        assert f"eden-blob migrate: conflict {clash}: the target holds 19 B" in err
        assert "copied 2 (200 B), already present 0, conflicts 1, failed 0" in err
        assert await target.load(clash) == b"deposited elsewhere"


async def test_a_target_that_ignores_create_only_gets_nothing(
    s3rver: RealServer, tmp_path: Path
) -> None:
    await filled_dir(tmp_path / "src", 2)
    env = s3_env(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER")
    result = await asyncio.to_thread(
        cli, "migrate", "--from-artifact-blob-dir", tmp_path / "src",
        *to_s3(s3rver, "migrate-check"), env=env,
    )  # fmt: skip
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("eden-blob migrate: refusing to copy anything: "), line
    assert "does not enforce create-only" in line
