"""The server's failure paths and settings: backend failures a real service cannot be
made to produce (a scripted backend), what reaches the log, ``create_app``'s
arguments, and the listen policy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from eden_storage_async import (
    AccessDenied,
    ConfigError,
    InMemoryArtifactBackend,
    IntegrityError,
    NotFound,
    ServiceUnavailable,
    create_app,
    mint_opaque_id,
)
from eden_storage_async._server.app import check_listen_policy

from .helpers import (
    AS_A,
    AUTH,
    BINDING,
    PRINCIPALS,
    SECRET_A,
    TOKEN,
    WORKER_A,
    FailingBackend,
    RecordingBackend,
    artifact,
    deposit,
    expect_problem,
    file_form,
    serving,
)

UNAVAILABLE = "eden://reference-error/backend-unavailable"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ServiceUnavailable("s3 said 503 for key=AKIAEXAMPLESECRET"), "ServiceUnavailable"),
        (AccessDenied("403 for AKIAEXAMPLESECRET"), "AccessDenied"),
        (RuntimeError("bug with AKIAEXAMPLESECRET"), "BackendError"),
    ],
)
async def test_backend_failure_is_503_problem_without_internals(
    error: Exception, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="eden_storage_async"):
        async with serving(FailingBackend(error)) as (url, session):
            async with session.post(url, data=file_form(b"x"), headers=AUTH) as response:
                document = await expect_problem(response, 503, UNAVAILABLE)
                text = await response.text()
            assert kind in document["detail"]
            uri = artifact(mint_opaque_id())
            async with session.get(url, params=uri, headers=AUTH) as response:
                await expect_problem(response, 503, UNAVAILABLE)
                text += await response.text()
    assert "AKIAEXAMPLESECRET" not in text  # the message stays in the server's log
    assert "AKIAEXAMPLESECRET" in caplog.text


async def test_not_found_from_store_is_not_a_404() -> None:
    # NotFound means "absent" only for a read; a store that says it is a failure.
    async with (
        serving(FailingBackend(NotFound("bucket gone"))) as (url, session),
        session.post(url, data=file_form(b"x"), headers=AUTH) as response,
    ):
        await expect_problem(response, 503, UNAVAILABLE)


class _BreaksMidStream(RecordingBackend):
    """Loads start fine, then fail after the first chunk: the headers are gone by then."""

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk"
            raise IntegrityError("bytes do not match their CRC32C")

        yield chunks()


async def test_a_load_failing_mid_body_cuts_the_body_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = _BreaksMidStream(InMemoryArtifactBackend())
    with caplog.at_level(logging.ERROR, logger="eden_storage_async"):
        async with serving(backend) as (url, session):
            opaque_id = await deposit(session, url, b"0123456789" * 100)
            # A server that left the body open would make the client wait forever.
            within = aiohttp.ClientTimeout(total=10)
            query = artifact(opaque_id)
            async with session.get(url, params=query, headers=AUTH, timeout=within) as response:
                assert response.status == 200
                # Fewer bytes than Content-Length: the client knows it is broken.
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
    assert "IntegrityError" in caplog.text
    await backend.aclose()


async def test_secrets_never_reach_a_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with InMemoryArtifactBackend() as backend, serving(backend) as (url, session):
            await deposit(session, url, b"x")
            await deposit(session, url, b"y", headers=AS_A)
            wrong = {"Authorization": f"Bearer {WORKER_A}:{SECRET_A}-wrong", **BINDING}
            async with session.post(url, data=file_form(b"x"), headers=wrong):
                pass
    assert caplog.records, "the access log should have recorded the requests"
    assert TOKEN not in caplog.text
    assert SECRET_A not in caplog.text


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "naïve", "line\n"])
def test_create_app_refuses_an_unsendable_token(token: str) -> None:
    with pytest.raises(ConfigError, match="bearer token"):
        create_app(FailingBackend(RuntimeError()), token=token)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_artifact_bytes": -1}, "max_artifact_bytes"),
        ({"body_timeout": 0}, "body_timeout"),
        ({"body_timeout": float("inf")}, "body_timeout"),
        ({"experiment_id": "../x"}, "--experiment-id"),
        ({"admin_principals": ["wkr_" + "9" * 26], "principals": PRINCIPALS}, "admin-principal"),
    ],
)
def test_create_app_refuses_a_bad_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(FailingBackend(RuntimeError()), **settings)  # type: ignore[arg-type]


def test_create_app_refuses_a_principals_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "principals"
    path.write_text(f"{WORKER_A}:{SECRET_A}\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as caught:
        create_app(FailingBackend(RuntimeError()), principals=path)
    assert SECRET_A not in str(caught.value)
    os.chmod(path, 0o600)
    create_app(FailingBackend(RuntimeError()), principals=path)


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
def test_loopback_needs_no_authentication(host: str) -> None:
    check_listen_policy(host, None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "::", "192.168.1.10", "example.com", "::ffff:127.0.0.1"]
)
def test_beyond_loopback_a_token_or_principals_are_required(host: str) -> None:
    with pytest.raises(ConfigError, match="without a bearer token"):
        check_listen_policy(host, None)
    check_listen_policy(host, TOKEN)
    check_listen_policy(host, None, principals=PRINCIPALS)
