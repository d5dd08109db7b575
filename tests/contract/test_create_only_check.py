"""``check_create_only`` on every backend of the contract: the service refuses a
second store on every upload path, and the canary stays out of the id space.

One backend is known not to pass whole, and is pinned here rather than skipped:
fake-gcs-server v1.54.0 honours ``ifGenerationMatch=0`` on multipart uploads
only; it ignores it on resumable ones (fixed upstream in fsouza/fake-gcs-server
PR #2260), so both resumable paths of ``GcsBackend`` fail the check there, with
the second store's bytes kept. Real GCS honours all three.
"""

from __future__ import annotations

import asyncio

import pytest

from eden_storage_async import ArtifactBackend, NotFound, PreconditionNotSupported, mint_opaque_id

# backend fixture param -> (paths the server honours, paths it ignores).
KNOWN_GAPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gcs-fake-gcs-server": (("multipart",), ("resumable", "resumable-stream")),
}


def _gaps(request: pytest.FixtureRequest) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    return KNOWN_GAPS.get(request.node.callspec.params["backend"])


async def test_every_upload_path_refuses_a_second_store(
    backend: ArtifactBackend, request: pytest.FixtureRequest
) -> None:
    gaps = _gaps(request)
    if gaps is not None:
        honoured, _ = gaps
        report = await backend.check_create_only(honoured)
        assert [r.path for r in report.results] == list(honoured)
        assert report.ok
        return
    report = await backend.check_create_only()
    assert report.ok
    assert report.results, "a backend with no upload path checked nothing"
    for result in report.results:
        assert result.refused, result
        assert "refused" in result.answer, result
        assert result.bytes_changed is None


async def test_a_server_that_ignores_the_precondition_is_named_per_path(
    backend: ArtifactBackend, request: pytest.FixtureRequest
) -> None:
    gaps = _gaps(request)
    if gaps is None:
        # No known gap: the whole check passes, twice (the second run meets the
        # canaries of the first, which only makes the first store refused).
        await backend.check_create_only()
        assert (await backend.check_create_only()).ok
        return
    honoured, ignored = gaps
    with pytest.raises(PreconditionNotSupported) as caught:
        await backend.check_create_only()
    message = str(caught.value)
    assert f"on {len(ignored)} of {len(honoured) + len(ignored)} upload path(s)" in message
    for path in ignored:
        assert f"{path}: answered success" in message, message
        assert "the bytes changed" in message, message
    for path in honoured:
        assert f"{path}:" not in message, message
    for path in ignored:
        with pytest.raises(PreconditionNotSupported, match=f"{path}: answered success"):
            await backend.check_create_only([path])


async def test_two_checks_at_once_both_pass(
    backend: ArtifactBackend, request: pytest.FixtureRequest
) -> None:
    gaps = _gaps(request)
    paths = gaps[0] if gaps is not None else None
    first, second = await asyncio.gather(
        backend.check_create_only(paths), backend.check_create_only(paths)
    )
    assert first.ok
    assert second.ok
    assert [r.path for r in first.results] == [r.path for r in second.results]


async def test_the_check_leaves_the_id_space_alone(
    backend: ArtifactBackend, request: pytest.FixtureRequest
) -> None:
    gaps = _gaps(request)
    report = await backend.check_create_only(gaps[0] if gaps is not None else None)
    assert report.ok
    # An id still stores and loads as before, and absent ids stay absent.
    opaque_id = mint_opaque_id()
    with pytest.raises(NotFound):
        await backend.load(opaque_id)
    await backend.store(opaque_id, b"after the check")
    assert await backend.load(opaque_id) == b"after the check"


@pytest.mark.parametrize("paths", [["no-such-path"], []])
async def test_an_unknown_path_is_a_value_error(backend: ArtifactBackend, paths: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown upload path"):
        await backend.check_create_only(paths)


async def test_the_canary_name_is_not_an_id(backend: ArtifactBackend) -> None:
    with pytest.raises(ValueError):
        await backend.load(".eden-create-only-check/put-object")
    with pytest.raises(ValueError):
        await backend.load(".eden-create-only-check.store")
