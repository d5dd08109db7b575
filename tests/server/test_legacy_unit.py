"""Legacy ``file://`` rows on their own: the descriptor walk, its refusals, and its threads."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blockbuster import BlockBuster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eden_storage_async import ConfigError, NotFound
from eden_storage_async._server import legacy
from eden_storage_async._server.legacy import (
    DEFAULT_LEGACY_MAX_BYTES,
    LegacyForbidden,
    LegacyInvalidPath,
    LegacyNotFound,
    LegacyRefused,
    LegacyServingDisabled,
    LegacyTooLarge,
    LegacyUnavailable,
    check_legacy_root,
    open_legacy,
)

from .legacy_support import fds_settle_at, open_fds, read

_real_open = os.open


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "exp" / "run").mkdir(parents=True)
    (root / "exp" / "run" / "metrics.json").write_bytes(b'{"loss": 1}')
    (root / "top.bin").write_bytes(b"top")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"OUTSIDE")
    return root


async def test_a_file_is_served_with_its_size_and_name(root: Path) -> None:
    async with open_legacy(root, "exp/run/metrics.json") as opened:
        assert (opened.size, opened.name) == (11, "metrics.json")
        chunks = [chunk async for chunk in opened.chunks(chunk_size=4)]
    assert chunks == [b'{"lo', b'ss":', b" 1}"]
    assert await read(root, "top.bin") == b"top"


async def test_no_descriptor_is_left_open(root: Path) -> None:
    before = open_fds()
    await read(root, "exp/run/metrics.json")
    for rel_path in ("exp/missing", "exp/run", "exp/../top.bin"):
        with pytest.raises(LegacyRefused):
            await read(root, rel_path)
    with pytest.raises(LegacyTooLarge):
        await read(root, "top.bin", max_bytes=2)
    assert open_fds() == before


# --- symlinks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "target", "request_path"),
    [
        ("exp/run/link.json", "metrics.json", "exp/run/link.json"),  # terminal, inside
        ("exp/run/leak", "../../../outside/secret", "exp/run/leak"),  # terminal, outside
        ("exp/linkdir", "run", "exp/linkdir/metrics.json"),  # intermediate, inside
        ("exp/out", "../../outside", "exp/out/secret"),  # intermediate, outside
        ("exp/run/dirlink", ".", "exp/run/dirlink"),  # terminal, to a directory
        ("abs", "/", "abs/etc/passwd"),  # intermediate, absolute
    ],
)
async def test_a_symlink_at_any_segment_is_forbidden(
    root: Path, link: str, target: str, request_path: str
) -> None:
    (root / link).symlink_to(target)
    with pytest.raises(LegacyForbidden) as info:
        await read(root, request_path)
    assert info.value.status == 403


async def test_o_nofollow_alone_never_follows_a_symlink(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refusal is the open's own O_NOFOLLOW, with no look before it that a
    # race could slip past. The lstat after a refusal only picks the status:
    # Linux, like macOS, says ENOTDIR for a symlink opened with O_DIRECTORY.
    monkeypatch.setattr(legacy, "_is_symlink", lambda segment, dir_fd: False)
    (root / "exp" / "out").symlink_to("../../outside")
    (root / "exp" / "run" / "leak").symlink_to("../../../outside/secret")
    with pytest.raises(LegacyForbidden):  # ELOOP at the last segment
        await read(root, "exp/run/leak")
    with pytest.raises(LegacyNotFound):  # ENOTDIR in the middle: still not followed
        await read(root, "exp/out/secret")


async def test_a_symlink_swapped_in_just_before_the_open_is_refused(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def swapping_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if path == "metrics.json":
            (root / "exp" / "run" / "metrics.json").unlink()
            (root / "exp" / "run" / "metrics.json").symlink_to(tmp_path / "outside" / "secret")
        return _real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", swapping_open)
    with pytest.raises(LegacyForbidden):
        await read(root, "exp/run/metrics.json")


async def test_a_directory_swapped_for_a_symlink_mid_walk_is_not_followed(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once "exp" is open, renaming it and putting a symlink to the outside in
    # its place changes nothing: the walk goes on from the descriptor.
    (tmp_path / "outside" / "run").mkdir()
    (tmp_path / "outside" / "run" / "metrics.json").write_bytes(b"OUTSIDE")

    def swapping_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        fd = _real_open(path, flags, mode, **kwargs)
        if path == "exp":
            (root / "exp").rename(root / "exp-old")
            (root / "exp").symlink_to(tmp_path / "outside")
        return fd

    monkeypatch.setattr(os, "open", swapping_open)
    assert await read(root, "exp/run/metrics.json") == b'{"loss": 1}'


async def test_a_symlinked_root_is_refused(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(root)
    with pytest.raises(LegacyUnavailable):
        await read(link, "top.bin")
    with pytest.raises(ConfigError, match="artifacts-dir"):
        check_legacy_root(link)


async def test_ancestors_of_the_root_may_be_symlinks(root: Path, tmp_path: Path) -> None:
    (tmp_path / "parent-link").symlink_to(tmp_path)
    assert await read(tmp_path / "parent-link" / "artifacts", "top.bin") == b"top"


# --- traversal ----------------------------------------------------------------------

BAD_PATHS = [
    "",
    ".",
    "..",
    "../outside/secret",
    "exp/../top.bin",
    "exp/./run/metrics.json",
    "/etc/passwd",
    "exp//run/metrics.json",
    "exp/run/",
    "top.bin\0",
    "exp/ru\0n/metrics.json",
]


@pytest.mark.parametrize("rel_path", BAD_PATHS)
async def test_traversal_is_a_bad_request_before_any_filesystem_call(
    root: Path, monkeypatch: pytest.MonkeyPatch, rel_path: str
) -> None:
    def no_open(*args: object, **kwargs: object) -> int:
        raise AssertionError("the filesystem was touched")

    monkeypatch.setattr(os, "open", no_open)
    with pytest.raises(LegacyInvalidPath) as info:
        await read(root, rel_path)
    assert info.value.status == 400
    assert isinstance(info.value, ValueError)


segment = st.text(alphabet="ab.\0/", max_size=4)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.lists(segment, min_size=1, max_size=5).map("/".join))
async def test_any_path_with_a_bad_segment_is_refused(root: Path, rel_path: str) -> None:
    segments = rel_path.split("/")
    bad = "\0" in rel_path or any(s in {"", ".", ".."} for s in segments)
    try:
        await read(root, rel_path)
    except LegacyInvalidPath:
        assert bad
    except LegacyNotFound:
        assert not bad


# --- what is not a servable file ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "rel_path"),
    [
        (lambda root: None, "missing"),
        (lambda root: None, "exp/missing/metrics.json"),
        (lambda root: None, "exp/run"),  # a directory
        (lambda root: None, "top.bin/metrics.json"),  # a file where a directory should be
        (lambda root: None, "x" * 300),  # ENAMETOOLONG
        (lambda root: os.mkfifo(root / "fifo"), "fifo"),  # would block an open without O_NONBLOCK
        (lambda root: os.mkfifo(root / "exp" / "fifo"), "exp/fifo/x"),
    ],
)
async def test_anything_but_a_regular_file_is_not_found(
    root: Path, make: Callable[[Path], None], rel_path: str
) -> None:
    make(root)
    with pytest.raises(LegacyNotFound) as info:
        async with asyncio.timeout(5):
            await read(root, rel_path)
    assert info.value.status == 404
    assert isinstance(info.value, NotFound)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EIO, errno.EMFILE])
async def test_a_filesystem_failure_is_not_a_404(
    root: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def failing_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if path == "metrics.json":
            raise OSError(code, os.strerror(code))
        return _real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(LegacyUnavailable) as info:
        await read(root, "exp/run/metrics.json")
    assert not isinstance(info.value, NotFound)
    assert info.value.status == 503
    assert str(root) not in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


async def test_a_missing_root_is_unavailable_not_absent(tmp_path: Path) -> None:
    with pytest.raises(LegacyUnavailable):
        await read(tmp_path / "nowhere", "top.bin")


# --- the size cap ---------------------------------------------------------------------


async def test_the_size_cap(root: Path) -> None:
    (root / "big").write_bytes(b"x" * 1000)
    assert len(await read(root, "big", max_bytes=1000)) == 1000
    with pytest.raises(LegacyTooLarge) as info:
        await read(root, "big", max_bytes=999)
    assert info.value.status == 413
    (root / "empty").write_bytes(b"")
    assert await read(root, "empty", max_bytes=0) == b""


async def test_the_default_cap_is_the_originals(root: Path) -> None:
    assert DEFAULT_LEGACY_MAX_BYTES == 1024 * 1024
    (root / "big").write_bytes(b"x" * (DEFAULT_LEGACY_MAX_BYTES + 1))
    with pytest.raises(LegacyTooLarge):
        await read(root, "big")


async def test_a_file_that_grows_is_served_as_opened_one_that_shrinks_fails(root: Path) -> None:
    path = root / "changing"
    path.write_bytes(b"12345678")
    async with open_legacy(root, "changing") as opened:
        with path.open("ab") as grow:
            grow.write(b"more")
        assert b"".join([chunk async for chunk in opened.chunks()]) == b"12345678"
    async with open_legacy(root, "changing") as opened:
        os.truncate(path, 4)
        with pytest.raises(LegacyUnavailable, match="changed"):
            async for _ in opened.chunks(chunk_size=2):
                pass


# --- threads and cancellation -----------------------------------------------------------


async def test_every_filesystem_call_runs_off_the_loop(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.current_thread()
    threads: list[threading.Thread] = []
    for name in ("open", "fstat", "pread"):
        real = getattr(os, name)

        def recording(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            threads.append(threading.current_thread())
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, recording)
    assert await read(root, "exp/run/metrics.json") == b'{"loss": 1}'
    assert len(threads) >= 5
    assert loop_thread not in threads


async def test_serving_passes_blockbuster(root: Path) -> None:
    (root / "link").symlink_to("top.bin")
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        assert await read(root, "exp/run/metrics.json") == b'{"loss": 1}'
        with pytest.raises(LegacyForbidden):
            await read(root, "link")
    finally:
        blockbuster.deactivate()


async def test_a_cancelled_open_still_closes_its_descriptor(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_fstat = os.fstat

    def slow_fstat(fd: int) -> os.stat_result:
        entered.set()
        release.wait(5)
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", slow_fstat)
    before = open_fds()
    task = asyncio.create_task(read(root, "top.bin"))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert await fds_settle_at(before) == before


async def test_a_cancelled_read_closes_after_the_thread_is_done(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_pread = os.pread
    closed_while_reading: list[bool] = []

    def slow_pread(fd: int, n: int, offset: int) -> bytes:
        entered.set()
        release.wait(5)
        data = real_pread(fd, n, offset)  # EBADF here if the fd were closed early
        closed_while_reading.append(False)
        return data

    monkeypatch.setattr(os, "pread", slow_pread)
    before = open_fds()
    task = asyncio.create_task(read(root, "top.bin"))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert open_fds() == before + 1  # still open: the thread is reading it
    release.set()
    assert await fds_settle_at(before) == before
    assert closed_while_reading == [False]


# --- the root check, and the error table ------------------------------------------------


def test_check_legacy_root(root: Path, tmp_path: Path) -> None:
    assert check_legacy_root(root) == root
    for wrong in (tmp_path / "nowhere", root / "top.bin"):
        with pytest.raises(ConfigError, match="artifacts-dir"):
            check_legacy_root(wrong)


@pytest.mark.parametrize(
    ("error", "status", "problem_type"),
    [
        (LegacyInvalidPath, 400, "eden://reference-error/invalid-path"),
        (LegacyForbidden, 403, "eden://error/forbidden"),
        (LegacyNotFound, 404, "eden://error/not-found"),
        (LegacyTooLarge, 413, "eden://reference-error/artifact-too-large"),
        (LegacyUnavailable, 503, "eden://reference-error/legacy-artifacts-unavailable"),
        (LegacyServingDisabled, 503, "eden://reference-error/artifact-serving-disabled"),
    ],
)
def test_error_table(error: type[LegacyRefused], status: int, problem_type: str) -> None:
    assert (error.status, error.problem_type) == (status, problem_type)
    assert error.title
