"""``eden-blob migrate`` on files: flags, env fallbacks, exit codes, summary and report.

In-process through ``main()``: every case here is decided before or without a
server, so a subprocess per case would only add start-up time.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from eden_storage_async import ConfigError, FileArtifactBackend
from eden_storage_async._cli.main import main
from eden_storage_async._config.flags import check_distinct

from ..migrate.helpers import fill


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("EDEN_", "AWS_", "GOOGLE_")):
            monkeypatch.delenv(name)


def _fill_dir(root: Path, count: int) -> dict[str, bytes]:
    # Sync tests: main() runs its own event loop, which cannot nest in a test's.
    async def filled() -> dict[str, bytes]:
        async with FileArtifactBackend(root) as backend:
            return await fill(backend, count)

    return asyncio.run(filled())


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str]]:
    code = main(["migrate", *map(str, argv)])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return code, captured.err.splitlines()


def _dirs(src: Path, dst: Path) -> list[str | Path]:
    return ["--from-artifact-blob-dir", src, "--to-artifact-blob-dir", dst]


def test_copies_then_finds_everything_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    stored = _fill_dir(src, 5)
    report = tmp_path / "report.json"

    code, err = _run(capsys, *_dirs(src, dst), "--report", report, "--concurrency", "2")

    assert code == 0, err
    assert err == ["eden-blob migrate: copied 5 (500 B), already present 0, conflicts 0, "
                   f"failed 0, in {err[0].rsplit('in ', 1)[1]}"]  # fmt: skip
    fields = json.loads(report.read_text())
    assert (fields["copied"], fields["already_present"], fields["bytes"]) == (5, 0, 500)
    assert sorted(p.name for p in dst.iterdir() if not p.name.startswith(".")) == sorted(stored)

    code, err = _run(capsys, *_dirs(src, dst))
    assert code == 0
    assert "copied 0 (0 B), already present 5, conflicts 0, failed 0" in err[-1]


def test_a_conflict_exits_1_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    stored = _fill_dir(src, 3)
    clash = sorted(stored)[0]
    dst.mkdir()

    async def store_clash() -> None:
        async with FileArtifactBackend(dst) as target:
            await target.store(clash, b"not the source's bytes")

    asyncio.run(store_clash())
    report = tmp_path / "r.json"

    code, err = _run(capsys, *_dirs(src, dst), "--report", report)

    assert code == 1
    assert err[0].startswith(f"eden-blob migrate: conflict {clash}: the target holds 22 B")
    assert "copied 2 (200 B), already present 0, conflicts 1, failed 0" in err[-1]
    assert json.loads(report.read_text())["conflicts"] == [clash]
    assert (dst / clash).read_bytes() == b"not the source's bytes"


def test_damaged_source_bytes_are_a_failure_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    stored = _fill_dir(src, 2)
    damaged = sorted(stored)[1]
    (src / damaged).write_bytes(b"\xee" * 100)  # same size, other bytes: bit rot

    code, err = _run(capsys, *_dirs(src, dst))

    assert code == 1
    assert err[0].startswith(f"eden-blob migrate: failed {damaged}: IntegrityError: ")
    assert "copied 1 (100 B), already present 0, conflicts 0, failed 1" in err[-1]
    assert not (dst / damaged).exists()


def test_a_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _fill_dir(src, 4)
    dst.mkdir()

    code, err = _run(capsys, *_dirs(src, dst), "--dry-run")

    assert code == 0
    assert "dry run: would copy 4 (400 B), already present 0" in err[-1]
    assert list(dst.iterdir()) == []


def test_env_fallbacks_name_both_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _fill_dir(src, 2)
    monkeypatch.setenv("EDEN_BLOB_FROM_ARTIFACT_BLOB_DIR", str(src))
    monkeypatch.setenv("EDEN_BLOB_TO_BACKEND", "file")
    monkeypatch.setenv("EDEN_BLOB_TO_ARTIFACT_BLOB_DIR", str(tmp_path / "elsewhere"))

    # The flag wins over the environment.
    code, err = _run(capsys, "--to-artifact-blob-dir", dst)

    assert code == 0, err
    assert "copied 2" in err[-1]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to-artifact-blob-dir", "DST"],
         "--from-blob-backend file needs --from-artifact-blob-dir DIR: without it the "
         "backend is in memory (NON-DURABLE)"),
        (["--from-artifact-blob-dir", "SRC"],
         "--to-blob-backend file needs --to-artifact-blob-dir DIR"),
        (["--from-artifact-blob-dir", "SRC", "--to-blob-backend", "s3"],
         "--to-blob-s3-bucket is required with --to-blob-backend s3"),
        (["--from-artifact-blob-dir", "SRC", "--to-artifact-blob-dir", "DST",
          "--to-blob-s3-bucket", "b", "--from-blob-gcs-prefix", "p"],
         "--from-blob-gcs-prefix requires --from-blob-backend gcs (got 'file'); "
         "--to-blob-s3-bucket requires --to-blob-backend s3 (got 'file')"),
        (["--from-blob-backend", "ftp"], "--from-blob-backend must be one of file, s3, gcs"),
        (["--from-artifact-blob-dir", "SRC", "--to-artifact-blob-dir", "SRC"],
         "are the same directory or one holds the other"),
        (["--from-artifact-blob-dir", "SRC", "--to-artifact-blob-dir", "SRC/inner"],
         "are the same directory or one holds the other"),
        (["--from-artifact-blob-dir", "SRC/..", "--to-artifact-blob-dir", "DST"],
         "are the same directory or one holds the other"),
        (["--from-blob-backend", "s3", "--from-blob-s3-bucket", "b",
          "--from-blob-s3-request-path", "fast", "--to-artifact-blob-dir", "DST"],
         "--blob-s3-request-path must be lean or sdk (got 'fast') (in the --from-* flags)"),
        (["--from-artifact-blob-dir", "SRC", "--to-artifact-blob-dir", "DST"],
         "--from-artifact-blob-dir 'SRC' is not a directory"),
        (["--artifact-blob-dir", "SRC"], "unrecognized arguments: --artifact-blob-dir"),
        (["--concurrency", "0"], "argument --concurrency: must be at least 1: '0'"),
    ],
)  # fmt: skip
def test_configuration_errors_exit_2_before_any_io(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    argv = [a.replace("SRC", str(src)).replace("DST", str(dst)) for a in argv]
    message = message.replace("SRC", str(src))

    code, err = _run(capsys, *argv)

    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("eden-blob"), err
    assert message in err[0]
    assert not src.exists()
    assert not dst.exists()


def test_a_stray_setting_from_the_environment_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDEN_BLOB_TO_S3_BUCKET", "inherited")
    code, err = _run(capsys, *_dirs(tmp_path / "a", tmp_path / "b"))
    assert code == 2
    assert err == [
        "eden-blob migrate: --to-blob-s3-bucket requires --to-blob-backend s3 (got 'file') "
        "(set from the environment: EDEN_BLOB_TO_S3_BUCKET)"
    ]


def _bucket(kind: str, bucket: str, prefix: str, endpoint: str = "") -> dict[str, str]:
    return {
        "blob_backend": kind,
        f"{kind}_bucket": bucket,
        f"{kind}_prefix": prefix,
        f"{kind}_endpoint_url": endpoint,
    }


@pytest.mark.parametrize("kind", ["s3", "gcs"])
@pytest.mark.parametrize(
    ("first", "second"),
    [("", ""), ("a", "a/"), ("", "a"), ("a", "a/b"), ("/a/b/", "a")],
)
def test_one_bucket_with_nested_prefixes_is_the_same_store(
    kind: str, first: str, second: str
) -> None:
    with pytest.raises(ConfigError, match="the same or one inside the other"):
        check_distinct(_bucket(kind, "b", first), _bucket(kind, "b", second))


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (_bucket("s3", "b", "a"), _bucket("s3", "b", "ab")),  # beside, not inside
        (_bucket("s3", "b", "a"), _bucket("s3", "c", "a")),
        (_bucket("s3", "b", ""), _bucket("s3", "b", "", "http://127.0.0.1:9000")),
        (_bucket("gcs", "b", ""), _bucket("s3", "b", "")),
    ],
)
def test_other_buckets_prefixes_or_services_are_distinct(
    source: dict[str, str], target: dict[str, str]
) -> None:
    check_distinct(source, target)
