"""``python -m benchmarks.migrate``'s bookkeeping: the listing check that stops a
tool that dropped an object from posting a figure, the medians and ratios, and
the environment each tool runs in. Timing itself is never asserted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.migrate.data import CANARY_PREFIX, Dataset, check_target
from benchmarks.migrate.report import Run, summarize
from benchmarks.migrate.tools import TOOLS, tool_argv, tool_env

from eden_storage_async import mint_opaque_id

from ..support.s3 import fresh_prefix
from ..support.servers import RealServer


def test_check_target_passes_every_name_at_its_size_and_names_the_canaries(
    seaweedfs: RealServer, s3: Any
) -> None:
    prefix, ids = fresh_prefix(), [mint_opaque_id() for _ in range(3)]
    for name in [*ids, f"{CANARY_PREFIX}.store"]:
        s3.put_object(Bucket=seaweedfs.bucket, Key=f"{prefix}/{name}", Body=b"abcd")
    expected = dict.fromkeys(ids, 4)
    assert check_target(s3, seaweedfs.bucket, prefix, expected) == [f"{CANARY_PREFIX}.store"]
    with pytest.raises(RuntimeError, match="1 missing, 0 not in the source, 0 of the wrong"):
        check_target(s3, seaweedfs.bucket, prefix, expected | {mint_opaque_id(): 4})
    with pytest.raises(RuntimeError, match="0 missing, 0 not in the source, 1 of the wrong size"):
        check_target(s3, seaweedfs.bucket, prefix, expected | {ids[0]: 5})


def _run(tool: str, round_no: int, wall_s: float) -> Run:
    return Run(tool, tool == "ours", round_no, objects=100, bytes=100 * 4096, wall_s=wall_s,
               cpu_s=1.0, load_before=1.0, load_after=1.0)  # fmt: skip


def test_summary_takes_medians_over_rounds_and_ours_over_each_peer() -> None:
    runs = [_run("ours", r, w) for r, w in enumerate([1.0, 0.5, 2.0])]
    runs += [_run("aws", r, w) for r, w in enumerate([2.0, 2.0, 8.0])]
    result = summarize(Dataset("small", 100, 4096), runs)
    assert result["tools"]["ours"]["obj_per_s"] == 100.0
    assert result["tools"]["aws"]["obj_per_s"] == 50.0
    assert result["tools"]["ours"]["mb_per_s"] == pytest.approx(100 * 4096 / 2**20)
    assert result["ratios"] == {"aws": 2.0}
    # Per round: 2/1, 2/0.5, 8/2 -> the median of 2, 4 and 4.
    assert result["paired_ratios"] == {"aws": 4.0}


def test_every_tool_runs_with_throwaway_keys_and_none_of_the_callers_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_PROFILE", "AWS_CA_BUNDLE", "RCLONE_CONFIG_X_TYPE", "EDEN_BLOB_TO_S3_BUCKET"):
        monkeypatch.setenv(name, "from-the-caller")
    for tool in TOOLS.values():
        env = tool_env(tool, "http://127.0.0.1:1", tmp_path, 8)
        assert "from-the-caller" not in env.values(), tool.name
        assert env["AWS_ACCESS_KEY_ID"] == "benchmark"
    aws = tool_env(TOOLS["aws"], "http://127.0.0.1:1", tmp_path, 8)
    assert "max_concurrent_requests = 8" in Path(aws["AWS_CONFIG_FILE"]).read_text()
    default = tool_env(TOOLS["aws-default"], "http://127.0.0.1:1", tmp_path, 8)
    assert "max_concurrent_requests" not in Path(default["AWS_CONFIG_FILE"]).read_text()
    rclone = tool_argv(TOOLS["rclone"], tmp_path, "b", "p", "http://127.0.0.1:1", 8)
    assert rclone[-4:] == ["--transfers", "8", "--checkers", "8"]
    assert "--transfers" not in tool_argv(TOOLS["rclone-default"], tmp_path, "b", "p", "u", 8)
