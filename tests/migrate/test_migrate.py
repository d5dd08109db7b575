"""``migrate`` per artifact: copied, already present, conflict, failed; on memory and files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from eden_storage_async import (
    BucketNotFound,
    CreateOnlyReport,
    InMemoryArtifactBackend,
    NotFound,
    PreconditionNotSupported,
    migrate,
)
from eden_storage_async._core.checksum import crc32c_b64

from .helpers import Scripted, crc_lie, fill, make_backend

KINDS = ["memory", "file"]


@pytest.mark.parametrize("kind", KINDS)
async def test_copies_every_artifact_with_its_attributes(kind: str, tmp_path: Path) -> None:
    async with (
        make_backend(kind, tmp_path / "a") as source,
        make_backend(kind, tmp_path / "b") as target,
    ):
        stored = await fill(source, 30, size=1000)
        report = await migrate(source, target, concurrency=4)

        assert (report.copied, report.already_present, report.ok) == (30, 0, True)
        # Summed after each copy's await, so concurrent copies all count.
        assert report.bytes_copied == 30 * 1000
        for opaque_id, data in stored.items():
            assert await target.load(opaque_id) == data
            info = await target.stat(opaque_id)
            assert info == await source.stat(opaque_id)
            assert info.content_type == "text/x-test"
            assert set(info.metadata) == {"index"}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_second_run_finds_everything_present_by_stat_alone(
    kind: str, tmp_path: Path
) -> None:
    async with make_backend(kind, tmp_path / "a") as source, Scripted() as target:
        await fill(source, 12)
        await migrate(source, target)
        target.calls.clear()

        again = await migrate(source, target)

        assert (again.copied, again.already_present, again.bytes_copied) == (0, 12, 0)
        assert again.ok
        # Only stat on the target (beside the create-only check's canary stores):
        # no byte of an artifact was read or written.
        assert target.calls["store_stream"] == 0
        assert target.calls["load_stream"] == 0
        assert target.calls["stat"] == 12


async def test_a_different_object_at_the_target_is_a_conflict_left_alone() -> None:
    async with InMemoryArtifactBackend() as source, InMemoryArtifactBackend() as target:
        stored = await fill(source, 3)
        clash, same_size = list(stored)[:2]
        await target.store(clash, b"someone else's bytes")
        await target.store(same_size, b"\xff" * len(stored[same_size]))

        report = await migrate(source, target)

        assert report.copied == 1
        assert set(report.conflicts) == {clash, same_size}
        assert "the target holds 20 B" in report.conflicts[clash]
        assert crc32c_b64(b"\xff" * 100) in report.conflicts[same_size]
        assert not report.ok
        assert await target.load(clash) == b"someone else's bytes"
        assert await target.load(same_size) == b"\xff" * 100


async def test_a_failed_copy_is_recorded_and_the_run_goes_on() -> None:
    async with InMemoryArtifactBackend() as source, Scripted() as target:
        stored = await fill(source, 5)
        broken = list(stored)[2]
        target.fail.add(broken)

        report = await migrate(source, target)

        assert report.copied == 4
        assert report.failed == {broken: f"ServiceUnavailable: scripted outage storing {broken}"}
        with pytest.raises(NotFound):
            await target.stat(broken)


@pytest.mark.parametrize("kind", KINDS)
async def test_bytes_that_do_not_match_the_source_crc32c_are_never_stored(
    kind: str, tmp_path: Path
) -> None:
    async with Scripted() as source, make_backend(kind, tmp_path / "b") as target:
        stored = await fill(source, 3)
        damaged = list(stored)[1]
        source.lies[damaged] = crc_lie(crc32c_b64(b"other bytes"))

        report = await migrate(source, target)

        assert report.copied == 2
        assert report.failed[damaged].startswith("IntegrityError: ")
        assert "nothing was stored" in report.failed[damaged]
        with pytest.raises(NotFound):
            await target.stat(damaged)
        if kind == "file":
            # No temp file either: the aborted store left nothing behind.
            names = set(_names(tmp_path / "b"))
            assert names == set(stored) - {damaged} | {n for n in names if "check" in n}


async def test_a_target_that_reports_other_bytes_after_the_store_is_a_failure() -> None:
    async with InMemoryArtifactBackend() as source, Scripted() as target:
        stored = await fill(source, 1)
        (opaque_id,) = stored
        target.lies[opaque_id] = crc_lie("AAAAAA==")

        report = await migrate(source, target)

        assert report.copied == 0
        assert "after the store the target reports" in report.failed[opaque_id]


async def test_a_source_without_a_crc32c_is_checked_against_the_bytes_read() -> None:
    async with Scripted() as source, Scripted() as target:
        stored = await fill(source, 2)
        first, second = stored
        source.lies[first] = crc_lie(None)
        target.lies[second] = crc_lie(None)
        await target.store(second, stored[second])

        report = await migrate(source, target)

        assert (report.copied, report.already_present, report.ok) == (1, 1, True)
        assert (await target.stat(first)).crc32c == crc32c_b64(stored[first])
        # The present one kept no CRC32C at the target, so it was read to compare.
        assert target.calls["load_stream"] == 1


@pytest.mark.parametrize(("theirs", "outcome"), [("same", "present"), ("other", "conflict")])
async def test_a_concurrent_writer_of_the_id_is_classified_not_overwritten(
    theirs: str, outcome: str
) -> None:
    async with InMemoryArtifactBackend() as source, Scripted() as target:
        stored = await fill(source, 1)
        (opaque_id,) = stored
        target.race[opaque_id] = stored[opaque_id] if theirs == "same" else b"theirs"

        report = await migrate(source, target)

        assert report.copied == 0
        assert report.already_present == (outcome == "present")
        assert (opaque_id in report.conflicts) == (outcome == "conflict")
        assert not report.failed


async def test_a_dry_run_compares_and_writes_nothing(tmp_path: Path) -> None:
    async with InMemoryArtifactBackend() as source, make_backend("file", tmp_path) as target:
        stored = await fill(source, 4)
        present, clash = list(stored)[:2]
        await target.store(present, stored[present])
        await target.store(clash, b"other")
        before = _names(tmp_path)

        report = await migrate(source, target, dry_run=True)

        assert (report.would_copy, report.copied, report.already_present) == (2, 0, 1)
        assert list(report.conflicts) == [clash]
        assert report.bytes_copied == 200
        assert report.dry_run
        # Not even the create-only check's canary.
        assert _names(tmp_path) == before


async def test_create_only_is_checked_before_anything_is_copied() -> None:
    class Ignores(InMemoryArtifactBackend):
        async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
            raise PreconditionNotSupported("scripted: a second store was accepted")

    async with InMemoryArtifactBackend() as source, Ignores() as target:
        await fill(source, 3)
        with pytest.raises(PreconditionNotSupported):
            await migrate(source, target)
        assert [i async for i in target.iter_ids()] == []


async def test_a_listing_error_is_raised_as_itself() -> None:
    class Gone(InMemoryArtifactBackend):
        def iter_ids(self) -> AsyncIterator[str]:
            return self._gone()

        async def _gone(self) -> AsyncIterator[str]:
            if self._closed is False:  # always: an async generator that fails at once
                raise BucketNotFound("scripted: no such bucket")
            yield ""

    async with Gone() as source, InMemoryArtifactBackend() as target:
        with pytest.raises(BucketNotFound, match="no such bucket"):
            await migrate(source, target)


async def test_bad_arguments_are_refused_before_any_io() -> None:
    async with Scripted() as backend, Scripted() as other:
        for bad in (0, -1, True, 1.5):
            with pytest.raises(ValueError, match="concurrency"):
                await migrate(backend, other, concurrency=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="same backend"):
            await migrate(backend, backend)
        assert not other.calls
        assert not backend.calls


def _names(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


async def test_a_target_that_keeps_answering_absent_is_stored_to_without_a_stat_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with InMemoryArtifactBackend() as source, Scripted() as target:
        stored = await fill(source, 40)
        ids = list(stored)  # the memory backend lists in insertion order
        await target.store(ids[35], stored[ids[35]])
        await target.store(ids[37], b"other")
        target.calls.clear()

        report = await migrate(source, target, concurrency=1)

        assert (report.copied, report.already_present, list(report.conflicts)) == (38, 1, [ids[37]])
        # 32 stats found nothing; then ids[32:35] were stored straight away;
        # ids[35] was refused (create-only) and stat'ed to compare, which put
        # the run back on stat first for ids[36:40]; and one stat after each
        # of the 38 copies.
        assert target.calls["stat"] == 32 + 1 + 4 + 38

        monkeypatch.setattr("eden_storage_async._migrate.run._Probe._STORE_FIRST_MAX", 50)
        async with Scripted() as fresh:
            await migrate(source, fresh, concurrency=1)
            # Above the size limit, every artifact is stat'ed first.
            assert fresh.calls["stat"] == 40 + 40
