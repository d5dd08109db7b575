"""``eden-blob migrate`` stopped by SIGINT or SIGTERM mid-run, then run again.

A subprocess copies a few hundred artifacts from files to SeaweedFS; the
signal comes once some are at the target. It must exit non-zero (128 + the
signal), print the summary, leave only whole, verified objects, and a second
run must carry on, counting the first run's artifacts as already present.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eden_storage_async import FileArtifactBackend, MigrationReport, S3Backend
from eden_storage_async._cli.migrate import _Stop

from ..support.s3 import fresh_prefix, use_test_credentials
from ..support.servers import RealServer
from .test_migrate_servers import filled_dir, migrate_cli, s3_env, to_s3

_COUNT = 200


async def _count_at(target: S3Backend) -> int:
    # Bounded: a listing that stalls fails here, with its stack, not at the
    # suite's timeout.
    async with asyncio.timeout(20):
        return len([opaque_id async for opaque_id in target.iter_ids()])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_cleanly_and_a_second_run_carries_on(
    seaweedfs: RealServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    use_test_credentials(monkeypatch)
    src = tmp_path / "src"
    stored = await filled_dir(src, _COUNT)
    prefix = fresh_prefix()
    argv = ["--from-artifact-blob-dir", str(src), *to_s3(seaweedfs, prefix), "--concurrency", "2"]
    report_file = tmp_path / "first.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eden_storage_async._cli.main", "migrate", *argv,
        "--report", str(report_file),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=s3_env(),
    )  # fmt: skip
    async with S3Backend(
        bucket=seaweedfs.bucket, prefix=prefix, endpoint_url=seaweedfs.endpoint_url
    ) as target:
        try:
            deadline = time.monotonic() + 30
            while await _count_at(target) < 10:
                assert proc.returncode is None, "ended before the signal"
                assert time.monotonic() < deadline, "no copy began"
                await asyncio.sleep(0.02)
            proc.send_signal(signum)
            _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 10)
        err = stderr.decode()

        assert proc.returncode == 128 + signum, err
        assert "Traceback" not in err
        name = signal.Signals(signum).name
        assert f"eden-blob migrate: {name}: no new artifacts; finishing the copies in flight" in err
        summary = err.splitlines()[-1]
        assert summary.endswith("INTERRUPTED: run it again to carry on"), err
        first = json.loads(report_file.read_text())
        assert first["interrupted"] is True
        assert 10 <= first["copied"] < _COUNT
        assert f"copied {first['copied']} (" in summary

        # Nothing partial: exactly the copied artifacts are there, each whole.
        there = [opaque_id async for opaque_id in target.iter_ids()]
        assert len(there) == first["copied"]
        async with FileArtifactBackend(src) as source:
            for opaque_id in there:
                # Size, CRC32C and attributes as the source has them.
                assert await target.stat(opaque_id) == await source.stat(opaque_id)
        assert await target.load(there[0]) == stored[there[0]]

        argv[-1] = "16"  # the second run need not crawl
        code, err = await migrate_cli(*argv, "--report", tmp_path / "second.json", env=s3_env())
        assert code == 0, err
        second = json.loads((tmp_path / "second.json").read_text())
        assert second["already_present"] == first["copied"]
        assert second["copied"] == _COUNT - first["copied"]
        assert await _count_at(target) == _COUNT


async def test_a_second_signal_abandons_the_copies_in_flight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = _Stop()
    in_flight = asyncio.Event()

    async def copies_that_outlive_the_first_signal() -> MigrationReport:
        await stop.event.wait()
        in_flight.set()
        await asyncio.sleep(30)
        raise AssertionError("not abandoned")

    run = asyncio.create_task(stop.run(copies_that_outlive_the_first_signal()))
    await asyncio.sleep(0)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(in_flight.wait(), 5)
    assert stop.signal == signal.SIGINT
    os.kill(os.getpid(), signal.SIGTERM)

    assert await asyncio.wait_for(run, 5) is None
    assert stop.name == "SIGINT"  # the first signal names the stop
    assert "SIGINT: no new artifacts" in capsys.readouterr().err
