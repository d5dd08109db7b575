"""``eden-blob stat``, ``get --range`` and ``put --content-type/--metadata`` through a
real subprocess: the same rules as the library, one stderr line on every error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eden_storage_async._core.checksum import crc32c_b64

from .helpers import cli, one_error_line


def _put(blobs: Path, payload: bytes, *args: str) -> str:
    put = cli("put", "--artifact-blob-dir", blobs, *args, stdin=payload)
    assert put.returncode == 0, put.stderr
    return put.stdout.decode().strip()


def test_put_with_attributes_then_stat_prints_json(tmp_path: Path) -> None:
    payload = os.urandom(5000)
    opaque_id = _put(
        tmp_path,
        payload,
        "--content-type",
        "application/x-eden; v=2",
        "--metadata",
        "depositor=wkr_1",
        "--metadata",
        "note=a=b c",
    )
    stat = cli("stat", opaque_id, "--artifact-blob-dir", tmp_path)
    assert stat.returncode == 0, stat.stderr
    assert stat.stderr == b""
    assert json.loads(stat.stdout) == {
        "opaque_id": opaque_id,
        "size": 5000,
        "crc32c": crc32c_b64(payload),
        "content_type": "application/x-eden; v=2",
        "metadata": {"depositor": "wkr_1", "note": "a=b c"},
    }


def test_stat_without_attributes_and_of_an_absent_id(tmp_path: Path) -> None:
    opaque_id = _put(tmp_path, b"plain")
    info = json.loads(cli("stat", opaque_id, "--artifact-blob-dir", tmp_path).stdout)
    assert (info["content_type"], info["metadata"]) == ("application/octet-stream", {})
    absent = cli("stat", "0" * 32, "--artifact-blob-dir", tmp_path)
    assert absent.returncode == 1
    assert "not found" in one_error_line(absent)
    bad = cli("stat", "nope", "--artifact-blob-dir", tmp_path)
    assert bad.returncode == 2
    assert "invalid opaque artifact id" in one_error_line(bad)


@pytest.mark.parametrize(
    "spec", ["0:10", "10:", ":10", "-100:", "-100:-10", "5:5", "990:5000", "-5000:", "100:50"]
)
def test_get_range_writes_exactly_the_slice(tmp_path: Path, spec: str) -> None:
    payload = os.urandom(1000)
    opaque_id = _put(tmp_path, payload)
    got = cli("get", opaque_id, f"--range={spec}", "--artifact-blob-dir", tmp_path)
    assert got.returncode == 0, got.stderr
    start_text, _, end_text = spec.partition(":")
    start = int(start_text) if start_text else 0
    end = int(end_text) if end_text else None
    assert got.stdout == payload[start:end]


@pytest.mark.parametrize("spec", ["10", "a:b", "1.5:", "1:2:3"])
def test_a_malformed_range_is_a_usage_error(tmp_path: Path, spec: str) -> None:
    got = cli("get", "0" * 32, f"--range={spec}", "--artifact-blob-dir", tmp_path)
    assert got.returncode == 2
    assert "--range" in one_error_line(got)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--metadata", "Upper=v"], "metadata key"),
        (["--metadata", "novalue"], "KEY=VALUE"),
        (["--metadata", "k=v", "--metadata", "k=w"], "twice"),
        (["--metadata", "eden-crc32c=AAAAAA=="], "reserved"),
        (["--metadata", "k=" + "x" * 2000], "bytes"),
        (["--content-type", "a\x01b"], "content_type"),
    ],
)
def test_malformed_attributes_are_usage_errors_and_store_nothing(
    tmp_path: Path, args: list[str], says: str
) -> None:
    blobs = tmp_path / "blobs"
    put = cli("put", "--artifact-blob-dir", blobs, *args, stdin=b"x")
    assert put.returncode == 2
    assert says in one_error_line(put)
    assert not blobs.exists() or os.listdir(blobs) == []
