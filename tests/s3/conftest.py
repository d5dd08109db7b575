"""Fixtures shared by the S3 test modules: each real S3 server in turn (``server``),
and the lean tests' credentials (``creds``)."""

from __future__ import annotations

import pytest

from ..support.s3 import use_test_credentials
from ..support.servers import RealServer
from .lean_helpers import _ACCESS_KEY, _SECRET, _credentials


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    """Each real S3 server in turn, with dummy credentials in the default chain."""
    use_test_credentials(monkeypatch)
    found: RealServer = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)
