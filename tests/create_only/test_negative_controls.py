"""``check_create_only`` against real servers that ignore the precondition.

s3rver 3.7.1 and gcp-storage-emulator accept ``If-None-Match: *`` and
``ifGenerationMatch=0`` and overwrite anyway. Each test first shows the
control is real (a second ``store`` of one id succeeds and changes the bytes:
the silent overwrite the check exists for), then that the check names every
upload path the backend uses, with what the server answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eden_storage_async import GcsBackend, PreconditionNotSupported, S3Backend, mint_opaque_id

from ..support.negative_servers import use_s3rver_credentials
from ..support.s3 import fresh_prefix, s3_backend_on
from ..support.servers import RealServer

S3_PATHS = ("put-object", "multipart")
GCS_PATHS = ("multipart", "resumable", "resumable-stream")


@pytest.fixture(params=["lean", "sdk"])
async def on_s3rver(
    request: pytest.FixtureRequest, s3rver: RealServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[S3Backend]:
    use_s3rver_credentials(monkeypatch)
    async with s3_backend_on(s3rver, request_path=request.param) as backend:
        yield backend


@pytest.fixture
async def on_gcp_emulator(gcp_emulator: RealServer) -> AsyncIterator[GcsBackend]:
    async with GcsBackend(
        bucket=gcp_emulator.bucket, prefix=fresh_prefix(), endpoint_url=gcp_emulator.endpoint_url
    ) as backend:
        yield backend


async def _overwrites(backend: S3Backend | GcsBackend) -> bool:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"first")
    await backend.store(opaque_id, b"second")  # must raise FileExistsError; does not
    return await backend.load(opaque_id) == b"second"


def _assert_names_every_path(exc: PreconditionNotSupported, paths: tuple[str, ...]) -> None:
    message = str(exc)
    assert f"does not enforce create-only on {len(paths)} of {len(paths)}" in message, message
    for path in paths:
        assert f"{path}: answered success (2xx) to a second store" in message, message
    assert message.count("the bytes changed") == len(paths), message


async def test_s3rver_overwrites_and_the_check_names_both_paths(on_s3rver: S3Backend) -> None:
    assert await _overwrites(on_s3rver)
    with pytest.raises(PreconditionNotSupported) as caught:
        await on_s3rver.check_create_only()
    _assert_names_every_path(caught.value, S3_PATHS)
    # The backend, its request path included, is named: the log line says which store.
    assert f"request_path={on_s3rver._request_path!r}" in str(caught.value)


@pytest.mark.parametrize("path", S3_PATHS)
async def test_s3rver_fails_each_path_on_its_own(on_s3rver: S3Backend, path: str) -> None:
    with pytest.raises(PreconditionNotSupported) as caught:
        await on_s3rver.check_create_only([path])
    _assert_names_every_path(caught.value, (path,))


async def test_gcp_storage_emulator_overwrites_and_the_check_names_all_three_paths(
    on_gcp_emulator: GcsBackend,
) -> None:
    assert await _overwrites(on_gcp_emulator)
    with pytest.raises(PreconditionNotSupported) as caught:
        await on_gcp_emulator.check_create_only()
    _assert_names_every_path(caught.value, GCS_PATHS)


@pytest.mark.parametrize("path", GCS_PATHS)
async def test_gcp_storage_emulator_fails_each_path_on_its_own(
    on_gcp_emulator: GcsBackend, path: str
) -> None:
    with pytest.raises(PreconditionNotSupported) as caught:
        await on_gcp_emulator.check_create_only([path])
    _assert_names_every_path(caught.value, (path,))


async def test_a_second_check_on_s3rver_still_fails(on_s3rver: S3Backend) -> None:
    # The fixed canary names are taken after the first check; a server that
    # ignores the precondition lets the next first store through too.
    for _ in range(2):
        with pytest.raises(PreconditionNotSupported):
            await on_s3rver.check_create_only()
