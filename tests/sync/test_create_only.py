"""``SyncArtifactBackend.check_create_only``: the async check, waited for, from a thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from eden_storage_async import (
    FileArtifactBackend,
    PreconditionNotSupported,
    S3Backend,
    SyncArtifactBackend,
)

from ..support.negative_servers import use_s3rver_credentials
from ..support.s3 import fresh_prefix
from ..support.servers import RealServer


def test_the_facade_checks_files(tmp_path: Path) -> None:
    with SyncArtifactBackend(FileArtifactBackend(tmp_path / "blobs")) as facade:
        report = facade.check_create_only()
        assert report.ok
        assert [result.path for result in report.results] == ["store", "store-stream"]
        assert facade.check_create_only(["store"]).ok
        with pytest.raises(ValueError, match="unknown upload path"):
            facade.check_create_only(["multipart"])


def test_the_facade_raises_on_s3rver(s3rver: RealServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_s3rver_credentials(monkeypatch)
    backend = S3Backend(
        bucket=s3rver.bucket, endpoint_url=s3rver.endpoint_url, prefix=fresh_prefix()
    )
    with (
        SyncArtifactBackend(backend) as facade,
        pytest.raises(PreconditionNotSupported, match="put-object: answered success"),
    ):
        facade.check_create_only()
