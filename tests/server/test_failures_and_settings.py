"""The server's failure paths and settings: backend failures a real service cannot be
made to produce (a scripted backend), what reaches the log, ``create_app``'s
arguments, and the listen policy.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from eden_storage_async import (
    AccessDenied,
    ConfigError,
    NotFound,
    ServiceUnavailable,
    create_app,
    mint_opaque_id,
)
from eden_storage_async._server.app import check_listen_policy

from .helpers import AUTH, TOKEN, FailingBackend, RecordingBackend, deposit, serving


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ServiceUnavailable("s3 said 503 for key=AKIAEXAMPLESECRET"), "ServiceUnavailable"),
        (AccessDenied("403 for AKIAEXAMPLESECRET"), "AccessDenied"),
        (RuntimeError("bug with AKIAEXAMPLESECRET"), "BackendError"),
    ],
)
async def test_backend_failure_is_503_json_without_traceback(
    error: Exception, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="eden_storage_async"):
        async with serving(FailingBackend(error)) as (url, session):
            async with session.post(url, data=b"x", headers=AUTH) as response:
                assert response.status == 503
                assert response.content_type == "application/json"
                text = await response.text()
                assert (await response.json())["kind"] == kind
            uri = f"eden://artifacts/{mint_opaque_id()}"
            async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
                assert response.status == 503
                text += await response.text()
    assert "Traceback" not in text
    assert "AKIAEXAMPLESECRET" not in text  # the message stays in the server's log
    assert "AKIAEXAMPLESECRET" in caplog.text
    assert caplog.records, "a backend failure must be logged"


async def test_not_found_from_store_is_not_a_404() -> None:
    # NotFound means "absent" only for load; anywhere else it is a failure.
    async with (
        serving(FailingBackend(NotFound("bucket gone"))) as (url, session),
        session.post(url, data=b"x", headers=AUTH) as response,
    ):
        assert response.status == 503


async def test_the_token_never_reaches_a_log(
    recorded: RecordingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serving(recorded) as (url, session):
            await deposit(session, url, b"x")
            async with session.post(url, data=b"x", headers={"Authorization": "Bearer no"}):
                pass
    assert caplog.records, "the access log should have recorded the requests"
    assert TOKEN not in caplog.text


async def test_without_a_token_no_authorization_is_needed(recorded: RecordingBackend) -> None:
    async with (
        serving(recorded, token=None) as (url, session),
        session.post(url, data=b"open") as response,
    ):
        assert response.status == 201


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "naïve", "line\n"])
def test_create_app_refuses_an_unsendable_token(token: str) -> None:
    with pytest.raises(ConfigError, match="bearer token"):
        create_app(FailingBackend(RuntimeError()), token=token)


def test_create_app_refuses_a_negative_limit() -> None:
    with pytest.raises(ConfigError, match="max_artifact_bytes"):
        create_app(FailingBackend(RuntimeError()), max_artifact_bytes=-1)


def test_create_app_without_aiohttp_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['aiohttp'] = None\n"
        "import eden_storage_async as e\n"
        "try:\n"
        "    e.create_app(e.InMemoryArtifactBackend())\n"
        "except e.MissingDependency as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pip install 'eden-storage-async[server]'" in result.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    check_listen_policy(host, None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "::", "192.168.1.10", "example.com", "::ffff:127.0.0.1"]
)
def test_beyond_loopback_a_token_is_required(host: str) -> None:
    with pytest.raises(ConfigError, match="without a bearer token"):
        check_listen_policy(host, None)
    check_listen_policy(host, TOKEN)
