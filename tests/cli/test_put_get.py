"""``eden-blob put`` and ``get`` through a real subprocess: exit codes, stdout bytes,
stderr lines, and where the bytes land."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eden_storage_async import mint_opaque_id, validate_opaque_id

from .helpers import clean_env, cli, one_error_line


def test_put_then_get_round_trip(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 64 + b"\r\n\x00tail"
    source = tmp_path / "in.bin"
    source.write_bytes(payload)
    blobs = tmp_path / "blobs"
    put = cli("put", source, "--artifact-blob-dir", blobs)
    assert put.returncode == 0, put.stderr
    assert put.stderr == b""
    opaque_id = put.stdout.decode().removesuffix("\n")
    assert validate_opaque_id(opaque_id) == opaque_id
    assert (blobs / opaque_id).read_bytes() == payload
    got = cli("get", opaque_id, "--artifact-blob-dir", blobs)
    assert got.returncode == 0, got.stderr
    assert got.stdout == payload  # raw bytes: no newline added, nothing translated


@pytest.mark.parametrize("stdin_args", [["-"], []], ids=["dash", "default"])
def test_put_reads_stdin(tmp_path: Path, stdin_args: list[str]) -> None:
    payload = os.urandom(4096)
    put = cli("put", *stdin_args, "--artifact-blob-dir", tmp_path, stdin=payload)
    assert put.returncode == 0, put.stderr
    opaque_id = put.stdout.decode().strip()
    assert (tmp_path / opaque_id).read_bytes() == payload


def test_get_to_a_file_replaces_it_atomically(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    opaque_id = cli("put", "--artifact-blob-dir", blobs, stdin=b"new").stdout.decode().strip()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "artifact.bin"
    target.write_bytes(b"old content that is longer")
    # A second name for the old file: a rename leaves it alone, while writing
    # into the file in place (what a reader could catch half done) changes it.
    old_link = tmp_path / "old-link"
    os.link(target, old_link)
    got = cli("get", opaque_id, "-o", target, "--artifact-blob-dir", blobs)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b""
    assert target.read_bytes() == b"new"
    assert old_link.read_bytes() == b"old content that is longer"
    assert os.listdir(out_dir) == ["artifact.bin"], "no temp file may be left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_get_to_an_unwritable_place_exits_1_and_leaves_nothing(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    opaque_id = cli("put", "--artifact-blob-dir", blobs, stdin=b"x").stdout.decode().strip()
    got = cli("get", opaque_id, "-o", tmp_path / "missing" / "f", "--artifact-blob-dir", blobs)
    assert got.returncode == 1
    assert "cannot write" in one_error_line(got)
    (tmp_path / "a-dir").mkdir()
    got = cli("get", opaque_id, "-o", tmp_path / "a-dir", "--artifact-blob-dir", blobs)
    assert got.returncode == 1
    assert "cannot write" in one_error_line(got)
    assert os.listdir(tmp_path / "a-dir") == []
    assert sorted(os.listdir(tmp_path)) == ["a-dir", "blobs"]


def test_get_to_a_reader_that_goes_away_exits_1(tmp_path: Path) -> None:
    payload = os.urandom(4 * 1024 * 1024)  # far more than a pipe holds
    put = cli("put", "--artifact-blob-dir", tmp_path, stdin=payload)
    opaque_id = put.stdout.decode().strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eden_storage_async._cli.main", "get", opaque_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(EDEN_ARTIFACT_BLOB_DIR=str(tmp_path)),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == payload[:10]
    proc.stdout.close()  # the writer is mid-artifact: the rest cannot be delivered
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1, "a truncated artifact must not exit 0"
    line = one_error_line(subprocess.CompletedProcess([], 1, b"", stderr))
    assert "cannot write to stdout" in line


def test_flags_come_from_the_environment(tmp_path: Path) -> None:
    env = clean_env(EDEN_ARTIFACT_BLOB_DIR=str(tmp_path))
    put = cli("put", "-", stdin=b"via env", env=env)
    assert put.returncode == 0, put.stderr
    opaque_id = put.stdout.decode().strip()
    assert cli("get", opaque_id, env=env).stdout == b"via env"


def test_get_of_an_absent_id_exits_1(tmp_path: Path) -> None:
    opaque_id = mint_opaque_id()
    got = cli("get", opaque_id, "--artifact-blob-dir", tmp_path)
    assert got.returncode == 1
    assert got.stdout == b""
    line = one_error_line(got)
    assert line.startswith("eden-blob get: ")
    assert opaque_id in line
    assert "not found" in line


def test_another_storage_error_exits_1(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    put = cli("put", "--artifact-blob-dir", not_a_dir, stdin=b"x")
    assert put.returncode == 1
    assert "BackendError" in one_error_line(put)


def test_an_unreadable_input_exits_1(tmp_path: Path) -> None:
    put = cli("put", tmp_path / "absent", "--artifact-blob-dir", tmp_path / "blobs")
    assert put.returncode == 1
    assert "cannot read" in one_error_line(put)
