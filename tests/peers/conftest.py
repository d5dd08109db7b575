"""The peers' fixtures: the tools must be installed, and a plain boto3 client
places and reads back the objects at the target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..support.s3 import use_test_credentials
from ..support.servers import RealServer
from .helpers import require_peers


@pytest.fixture(autouse=True)
def _peers_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    require_peers()
    # For the S3Backend that places a target in-process; every tool gets its
    # own environment (benchmarks.migrate.tools.tool_env).
    use_test_credentials(monkeypatch)


@pytest.fixture(scope="package")
def s3(seaweedfs: RealServer) -> Iterator[Any]:
    """boto3 on the session's SeaweedFS, with throwaway keys (it accepts any)."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=seaweedfs.endpoint_url, region_name="us-east-1",
        aws_access_key_id="eden-test-key", aws_secret_access_key="eden-test-secret",
    )  # fmt: skip
    try:
        yield client
    finally:
        client.close()
