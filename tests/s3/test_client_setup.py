"""Building ``S3Backend``'s client (issue 16): an unreadable CA bundle (finding 4)
and the proxy fallback (finding 8), on both request paths.

Before: ``AWS_CA_BUNDLE`` naming a missing file raised a bare
``FileNotFoundError`` on the lean path (no path in it) and left one more
aiobotocore client open per call; the SDK path retried it as a transient
``HTTPClientError`` and raised ``ServiceUnavailable``. A proxy turned the lean
path off without a word, and ``repr`` still said ``request_path='lean'``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import pytest

from eden_storage_async import S3Backend, ServiceUnavailable, TlsError

from .lean_helpers import _NO_SLEEP, FakeS3, backend_on_fake, ok

_ID = "0123456789abcdef0123456789abcdef"
PATHS = pytest.mark.parametrize("path", ["lean", "sdk"])


@pytest.fixture
def open_clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many aiobotocore clients are entered and not yet exited."""
    from aiobotocore.session import AioSession

    counts = {"open": 0, "made": 0}
    original = AioSession.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        context = original(self, *args, **kwargs)

        class Counted:
            async def __aenter__(self) -> Any:
                client = await context.__aenter__()
                counts["open"] += 1
                counts["made"] += 1
                return client

            async def __aexit__(self, *exc_info: Any) -> Any:
                counts["open"] -= 1
                return await context.__aexit__(*exc_info)

        return Counted()

    monkeypatch.setattr(AioSession, "create_client", create_client)
    return counts


@PATHS
@pytest.mark.usefixtures("creds")
async def test_a_missing_aws_ca_bundle_is_a_tls_error_naming_it_and_leaks_nothing(
    path: Literal["lean", "sdk"],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_clients: dict[str, int],
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    monkeypatch.setenv("AWS_CA_BUNDLE", str(missing))
    async with FakeS3(ok()) as fake, backend_on_fake(fake, path) as backend:
        for _ in range(3):
            with pytest.raises(TlsError) as caught:
                await backend.store(_ID, b"x")
            assert open_clients["open"] == 0
        message = str(caught.value)
        assert "AWS_CA_BUNDLE" in message
        assert str(missing) in message
        assert "No such file or directory" in message
    # Nothing was sent: the bundle is read before a client exists.
    assert fake.requests == []


@pytest.mark.usefixtures("creds")
async def test_the_config_files_ca_bundle_is_named_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_clients: dict[str, int]
) -> None:
    garbage = tmp_path / "not-a-bundle.pem"
    garbage.write_text("not a certificate\n")
    config = tmp_path / "config"
    config.write_text(f"[default]\nca_bundle = {garbage}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    async with FakeS3(ok()) as fake, backend_on_fake(fake, "lean") as backend:
        with pytest.raises(TlsError, match="ca_bundle in the AWS config file") as caught:
            await backend.load(_ID)
    assert str(garbage) in str(caught.value)
    assert open_clients["open"] == 0


@pytest.mark.usefixtures("creds")
async def test_the_proxy_fallback_is_logged_once_and_shown_in_repr(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = "http://proxyuser:pr0xy-s3cret@127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG, logger="eden_storage_async")
    async with FakeS3(ok()) as fake, backend_on_fake(fake, "lean") as backend:
        assert "request_path='lean'" in repr(backend)
        for _ in range(2):
            # The SDK path goes to the (unreachable) proxy, as configured.
            with pytest.raises(ServiceUnavailable):
                await backend.store(_ID, b"x")
        shown = repr(backend)
    assert "request_path='sdk' (asked 'lean': proxy configured)" in shown
    fallbacks = [r for r in caplog.records if "proxy" in r.getMessage()]
    assert len(fallbacks) == 1
    assert fallbacks[0].levelno == logging.WARNING
    assert fallbacks[0].name.startswith("eden_storage_async")
    assert "request_path='sdk'" in fallbacks[0].getMessage()
    for text in [shown, *(r.getMessage() for r in caplog.records)]:
        assert "pr0xy-s3cret" not in text
        assert "proxyuser" not in text
    assert fake.requests == []  # everything went to the proxy


async def test_a_client_passed_in_shows_the_sdk_path() -> None:
    from .helpers import FakeS3Client

    backend = S3Backend(bucket="b", client=FakeS3Client(), retry=_NO_SLEEP)
    assert "request_path='sdk' (asked 'lean': client passed in)" in repr(backend)
    assert "request_path='sdk')" in repr(S3Backend(bucket="b", request_path="sdk"))
