"""``migrate``: copy every artifact of one backend to another, create-only and verified.

Per artifact, cheapest question first: ``target.stat``. Absent, the bytes
stream from ``source.load_stream`` into ``target.store_stream`` with their
attributes, the CRC32C folded as they pass; present, the size and CRC32C are
compared and nothing is written. So a second run over the same data costs two
``stat`` calls per artifact and no transfer, which is what makes it resumable.
(On a target that keeps answering "absent", small artifacts skip the first
stat: ``_Probe``.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

from .._core.attributes import ArtifactInfo
from .._core.checksum import Crc32c
from .._core.errors import IntegrityError, NotFound
from .._core.pool import run_workers
from .._core.protocol import ArtifactBackend
from .progress import Progress
from .report import MigrationReport, Tally

__all__ = ["migrate"]


async def migrate(
    source: ArtifactBackend,
    target: ArtifactBackend,
    *,
    concurrency: int = 32,
    dry_run: bool = False,
    progress: bool = False,
    stop: asyncio.Event | None = None,
) -> MigrationReport:
    """Copy every artifact of ``source`` that ``target`` lacks; never overwrite one.

    Before anything is copied, ``target.check_create_only()`` proves the target
    refuses a second store (``PreconditionNotSupported`` if not; skipped in a
    dry run, which writes nothing, not even the check's canary). Then each id of
    ``source.iter_ids()`` is, by what ``target.stat`` says:

    * absent: streamed across with its content type and metadata, its CRC32C
      checked against the source's as the bytes pass (a mismatch aborts the
      store, which then leaves nothing) and the target's ``stat`` checked after
      it; counted in ``copied``.
    * present with the same size and CRC32C: ``already_present``, untouched.
    * present with other bytes: a conflict, reported and never overwritten.

    A failed copy is recorded in ``failed`` and the run goes on. At most
    ``concurrency`` artifacts are in flight; the listing streams, so memory
    stays bounded whatever the count. ``dry_run=True`` lists and compares and
    counts ``would_copy``. ``progress=True`` shows a tqdm bar on stderr.

    ``stop``: when set, no new artifact is started, the copies in flight
    finish, and the report says ``interrupted``. Cancelling the call instead
    abandons the copies in flight, which leave nothing at the target (the
    store contract), and raises ``CancelledError``. An error from the listing
    itself (a missing bucket, refused credentials) is raised as it is; what
    was copied stays copied, and a second run skips it.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    if source is target:
        raise ValueError("source and target are the same backend")
    started = time.perf_counter()
    if not dry_run:
        await target.check_create_only()
    stop = asyncio.Event() if stop is None else stop
    tally = Tally()
    bar = Progress(enabled=progress, dry_run=dry_run)
    ids = source.iter_ids()
    # Workers share one listing: pulling from it awaits (a page fetch), and
    # two workers must not be inside one async iterator at once.
    pull = asyncio.Lock()
    listed_all = False
    probe = _Probe()

    async def worker() -> None:
        nonlocal listed_all
        while True:
            async with pull:
                if stop.is_set() or listed_all:
                    return
                try:
                    opaque_id = await anext(ids)
                except StopAsyncIteration:
                    listed_all = True
                    return
            await _one(source, target, opaque_id, dry_run=dry_run, tally=tally, probe=probe)
            bar.advance(tally)

    try:
        await run_workers(worker, concurrency)
    finally:
        closing = getattr(ids, "aclose", None)
        if closing is not None:
            await closing()
        bar.close()
    return tally.freeze(
        seconds=time.perf_counter() - started,
        dry_run=dry_run,
        interrupted=not listed_all,
        source=repr(source),
        target=repr(target),
    )


class _Probe:
    """Whether to ``stat`` the target before a copy, or to store straight away.

    The stat is what makes a resumed run cheap: an artifact already there
    costs one stat, not an upload. On a fresh target it only ever answers
    "absent", and that answer is the dearest one (S3 settles each 404 with a
    HeadBucket, ``_s3/stat.py``). So after ``_SWITCH_AFTER`` absent answers in
    a row, small artifacts are stored with no stat first: create-only is
    enforced by the service (checked before the run), so a taken id is refused,
    never overwritten, and then compared as usual. Listings come in the same
    order run after run, so a resumed run meets the artifacts it already
    copied first, in a block, and stays on stat until that block ends.
    """

    _SWITCH_AFTER = 32
    # Above this, a refused upload would waste more than a stat costs.
    _STORE_FIRST_MAX = 1024 * 1024

    def __init__(self) -> None:
        self._absent_in_a_row = 0

    def stat_first(self, size: int) -> bool:
        return size > self._STORE_FIRST_MAX or self._absent_in_a_row < self._SWITCH_AFTER

    def saw(self, present: bool) -> None:
        self._absent_in_a_row = 0 if present else self._absent_in_a_row + 1


async def _one(
    source: ArtifactBackend,
    target: ArtifactBackend,
    opaque_id: str,
    *,
    dry_run: bool,
    tally: Tally,
    probe: _Probe,
) -> None:
    try:
        info = await source.stat(opaque_id)
        there = None
        if dry_run or probe.stat_first(info.size):
            there = await _stat_if_present(target, opaque_id)
            probe.saw(there is not None)
        if there is None and dry_run:
            tally.would_copy += 1
            tally.bytes_copied += info.size
            return
        if there is None:
            try:
                # Not ``tally.bytes_copied += await ...``: that reads the total
                # before the await, and another worker's bytes would be lost.
                size = await _copy(source, target, opaque_id, info)
                tally.bytes_copied += size
                tally.copied += 1
                return
            except FileExistsError:
                # Stored without a stat first, or another writer stored the
                # id between our stat and our store: compare what is there.
                probe.saw(True)
                there = await target.stat(opaque_id)
        conflict = await _difference(source, target, opaque_id, info, there)
        if conflict is None:
            tally.already_present += 1
        else:
            tally.conflicts[opaque_id] = conflict
    except Exception as exc:  # recorded per artifact, by design; the run goes on
        # Type and message only: messages never carry a credential (the
        # contract), and a traceback would not fit the report.
        tally.failed[opaque_id] = f"{type(exc).__name__}: {exc}"


async def _stat_if_present(backend: ArtifactBackend, opaque_id: str) -> ArtifactInfo | None:
    try:
        return await backend.stat(opaque_id)
    except NotFound:
        return None


async def _difference(
    source: ArtifactBackend,
    target: ArtifactBackend,
    opaque_id: str,
    info: ArtifactInfo,
    there: ArtifactInfo,
) -> str | None:
    """None when the target's object has the source's size and CRC32C, else what differs."""
    if there.size == info.size:
        # A side that keeps no CRC32C (files on a filesystem without user
        # xattrs, objects written by another tool) is read once to get one:
        # same size alone never proves same bytes.
        mine = info.crc32c or await _streamed_crc(source, opaque_id)
        theirs = there.crc32c or await _streamed_crc(target, opaque_id)
        if mine == theirs:
            return None
    else:
        mine, theirs = info.crc32c or "unknown", there.crc32c or "unknown"
    return (
        f"the target holds {there.size} B with CRC32C {theirs}; "
        f"the source has {info.size} B with CRC32C {mine}"
    )


async def _copy(
    source: ArtifactBackend, target: ArtifactBackend, opaque_id: str, info: ArtifactInfo
) -> int:
    """Stream one artifact across, checked end to end; return its size."""
    crc = Crc32c()
    chunks = _checked_chunks(source, opaque_id, info, crc)
    try:
        await target.store_stream(
            opaque_id, chunks, content_type=info.content_type, metadata=info.metadata
        )
    finally:
        # Closed here, not by the garbage collector: the source's stream (a
        # file descriptor, a pooled connection) is released before the next copy.
        await chunks.aclose()
    # The store succeeded, so the object exists; what matters now is that the
    # target reports the bytes that were sent, not merely a 2xx.
    stored = await target.stat(opaque_id)
    got = stored.crc32c or await _streamed_crc(target, opaque_id)
    if stored.size != crc.size or got != crc.b64():
        raise IntegrityError(
            f"{opaque_id}: after the store the target reports {stored.size} B with CRC32C "
            f"{got}, but {crc.size} B with CRC32C {crc.b64()} were sent; the next run "
            f"reports it as a conflict"
        )
    return crc.size


async def _checked_chunks(
    source: ArtifactBackend, opaque_id: str, info: ArtifactInfo, crc: Crc32c
) -> AsyncGenerator[bytes, None]:
    """The source's chunks, folded into ``crc``; raises, so the store aborts and
    leaves nothing, if they are not the bytes the source's ``stat`` describes."""
    async with source.load_stream(opaque_id) as stream:
        async for chunk in stream:
            crc.update(chunk)
            if crc.size > info.size:
                raise IntegrityError(
                    f"{opaque_id}: the source streamed more than the {info.size} B its stat reports"
                )
            yield chunk
    if crc.size != info.size or (info.crc32c is not None and crc.b64() != info.crc32c):
        raise IntegrityError(
            f"{opaque_id}: the source streamed {crc.size} B with CRC32C {crc.b64()}, but its "
            f"stat reports {info.size} B with CRC32C {info.crc32c}; nothing was stored"
        )


async def _streamed_crc(backend: ArtifactBackend, opaque_id: str) -> str:
    crc = Crc32c()
    async with backend.load_stream(opaque_id) as stream:
        async for chunk in stream:
            crc.update(chunk)
    return crc.b64()
