"""build_artifact_backend: what it builds and what it refuses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from eden_storage_async import (
    ArtifactBackend,
    ConfigError,
    FileArtifactBackend,
    GcsBackend,
    InMemoryArtifactBackend,
    S3Backend,
    build_artifact_backend,
)

# Every setting that belongs to one backend, the flag that must be named when
# it is misplaced, and the backend it belongs to. Written out, not derived from
# the module's table, so a wrong table entry fails here.
PER_BACKEND_SETTINGS = [
    ("artifact_blob_dir", "--artifact-blob-dir", "file"),
    ("s3_bucket", "--blob-s3-bucket", "s3"),
    ("s3_region", "--blob-s3-region", "s3"),
    ("s3_prefix", "--blob-s3-prefix", "s3"),
    ("s3_endpoint_url", "--blob-s3-endpoint-url", "s3"),
    ("s3_request_path", "--blob-s3-request-path", "s3"),
    ("gcs_bucket", "--blob-gcs-bucket", "gcs"),
    ("gcs_prefix", "--blob-gcs-prefix", "gcs"),
    ("gcs_endpoint_url", "--blob-gcs-endpoint-url", "gcs"),
    ("gcs_ca_bundle", "--blob-gcs-ca-bundle", "gcs"),
]
REQUIRED_BUCKET = {"s3": {"s3_bucket": "b"}, "gcs": {"gcs_bucket": "b"}, "file": {}}


# --- what it builds -------------------------------------------------------------------


async def test_default_is_in_memory_with_a_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eden_storage_async"):
        backend = build_artifact_backend()
    async with backend:
        assert type(backend) is InMemoryArtifactBackend
    warnings = [r for r in caplog.records if r.name == "eden_storage_async"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "NON-DURABLE" in warnings[0].getMessage()
    assert "--artifact-blob-dir" in warnings[0].getMessage()


async def test_file_mode_with_a_dir_is_durable_and_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="eden_storage_async"):
        backend = build_artifact_backend(
            blob_backend="file",
            artifact_blob_dir=tmp_path / "blobs",
            artifacts_dir=tmp_path / "legacy",
        )
    async with backend:
        assert isinstance(backend, FileArtifactBackend)
        assert backend.root == tmp_path / "blobs"
    assert "NON-DURABLE" not in caplog.text


async def test_file_mode_accepts_a_sibling_whose_name_extends_the_artifacts_dir(
    tmp_path: Path,
) -> None:
    # "/x/art2" starts with the string "/x/art" but is not inside it.
    backend = build_artifact_backend(
        artifact_blob_dir=tmp_path / "art2", artifacts_dir=tmp_path / "art"
    )
    async with backend:
        assert isinstance(backend, FileArtifactBackend)


async def test_s3_mode_builds_s3_backend_without_io(no_network: None) -> None:
    backend = build_artifact_backend(
        blob_backend="s3",
        s3_bucket="eden-bucket",
        s3_region="eu-west-3",
        s3_prefix="runs/one",
        s3_endpoint_url="http://127.0.0.1:9",
        artifacts_dir="/srv/legacy",  # accepted in every mode: legacy rows resolve through it
    )
    try:
        assert isinstance(backend, S3Backend)
        assert isinstance(backend, ArtifactBackend)
        assert backend.bucket == "eden-bucket"
        assert backend.prefix == "runs/one"
        assert "endpoint_url='http://127.0.0.1:9'" in repr(backend)
        assert "region='eu-west-3'" in repr(backend)
    finally:
        await backend.aclose()


@pytest.mark.parametrize(("given", "shown"), [("", "lean"), ("lean", "lean"), ("sdk", "sdk")])
async def test_s3_request_path_flag(no_network: None, given: str, shown: str) -> None:
    backend = build_artifact_backend(blob_backend="s3", s3_bucket="b", s3_request_path=given)
    try:
        assert f"request_path={shown!r}" in repr(backend)
    finally:
        await backend.aclose()


def test_s3_request_path_flag_refuses_other_values() -> None:
    with pytest.raises(ConfigError, match="--blob-s3-request-path"):
        build_artifact_backend(blob_backend="s3", s3_bucket="b", s3_request_path="fast")


async def test_s3_mode_passes_none_for_unset_region_and_endpoint(no_network: None) -> None:
    backend = build_artifact_backend(blob_backend="s3", s3_bucket="eden-bucket")
    try:
        assert isinstance(backend, S3Backend)
        assert backend.prefix == ""
        assert "endpoint_url=None" in repr(backend)
        assert "region=None" in repr(backend)
    finally:
        await backend.aclose()


async def test_gcs_mode_builds_gcs_backend_without_io(
    no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    backend = build_artifact_backend(
        blob_backend="gcs",
        gcs_bucket="eden-bucket",
        gcs_prefix="runs/one",
        gcs_endpoint_url="http://127.0.0.1:9",
    )
    try:
        assert isinstance(backend, GcsBackend)
        assert isinstance(backend, ArtifactBackend)
        assert backend.bucket == "eden-bucket"
        assert backend.prefix == "runs/one"
        assert "endpoint='http://127.0.0.1:9'" in repr(backend)
    finally:
        await backend.aclose()


async def test_gcs_mode_without_endpoint_targets_the_real_service(
    no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    backend = build_artifact_backend(blob_backend="gcs", gcs_bucket="eden-bucket")
    try:
        assert isinstance(backend, GcsBackend)
        assert backend.prefix == ""
        assert "endpoint='https://storage.googleapis.com'" in repr(backend)
    finally:
        await backend.aclose()


# --- what it refuses ------------------------------------------------------------------


@pytest.mark.parametrize("blob_backend", ["s3", "gcs"])
def test_bucket_is_required(blob_backend: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^--blob-{blob_backend}-bucket is required with --blob-backend {blob_backend}$",
    ):
        build_artifact_backend(blob_backend=blob_backend)


MISPLACED = [
    (blob_backend, param, flag, owner)
    for blob_backend in ("file", "s3", "gcs")
    for param, flag, owner in PER_BACKEND_SETTINGS
    if owner != blob_backend
]


@pytest.mark.parametrize(("blob_backend", "param", "flag", "owner"), MISPLACED)
def test_setting_of_another_backend_is_refused(
    tmp_path: Path, blob_backend: str, param: str, flag: str, owner: str
) -> None:
    value: Any = str(tmp_path / "blobs") if param == "artifact_blob_dir" else "x"
    kwargs: dict[str, Any] = {param: value, **REQUIRED_BUCKET[blob_backend]}
    with pytest.raises(
        ConfigError, match=rf"^{flag} requires --blob-backend {owner} \(got '{blob_backend}'\)$"
    ):
        build_artifact_backend(blob_backend=blob_backend, **kwargs)
    assert not (tmp_path / "blobs").exists(), "a refused config must not touch storage"


def test_every_problem_is_named_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        build_artifact_backend(blob_backend="s3", gcs_bucket="g", artifact_blob_dir="/x")
    message = str(caught.value)
    assert "\n" not in message
    assert "--blob-s3-bucket is required with --blob-backend s3" in message
    assert "--blob-gcs-bucket requires --blob-backend gcs (got 's3')" in message
    assert "--artifact-blob-dir requires --blob-backend file (got 's3')" in message


@pytest.mark.parametrize("name", ["azure", "S3", "", "file "])
def test_unknown_backend_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"^--blob-backend must be one of file, s3, gcs \(got '{name}'\)$"
    ):
        build_artifact_backend(blob_backend=name)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="--blob-backend"):
        build_artifact_backend(blob_backend="azure")


@pytest.mark.parametrize(
    ("blob", "legacy", "expected"),
    [
        ("art", "art", r"must differ"),
        ("art/blobs", "art", r"must not sit inside --artifacts-dir"),
        ("art/a/b/c", "art", r"must not sit inside --artifacts-dir"),
        ("data", "data/art", r"must not contain --artifacts-dir"),
        ("art/../art", "art", r"must differ"),
    ],
)
def test_blob_dir_must_not_overlap_artifacts_dir(
    tmp_path: Path, blob: str, legacy: str, expected: str
) -> None:
    (tmp_path / "art").mkdir()
    with pytest.raises(ConfigError, match=rf"^--artifact-blob-dir.*{expected}"):
        build_artifact_backend(artifact_blob_dir=tmp_path / blob, artifacts_dir=tmp_path / legacy)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"], "nothing may be created"


@pytest.mark.parametrize(
    ("link_to", "blob_under_link", "expected"),
    [
        ("art", "", r"must differ"),  # the blob dir is a symlink to the artifacts dir
        ("art", "blobs", r"must not sit inside"),  # reached through a symlinked parent
        ("art/deep", "", r"must not sit inside"),
    ],
)
def test_overlap_is_checked_after_resolving_symlinks(
    tmp_path: Path, link_to: str, blob_under_link: str, expected: str
) -> None:
    (tmp_path / link_to).mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / link_to, target_is_directory=True)
    blob_dir = tmp_path / "alias" / blob_under_link if blob_under_link else tmp_path / "alias"
    with pytest.raises(ConfigError, match=expected):
        build_artifact_backend(artifact_blob_dir=blob_dir, artifacts_dir=tmp_path / "art")


def test_overlap_through_a_symlinked_artifacts_dir(tmp_path: Path) -> None:
    (tmp_path / "data" / "art").mkdir(parents=True)
    (tmp_path / "legacy").symlink_to(tmp_path / "data" / "art", target_is_directory=True)
    with pytest.raises(ConfigError, match="must not contain --artifacts-dir"):
        build_artifact_backend(
            artifact_blob_dir=tmp_path / "data", artifacts_dir=tmp_path / "legacy"
        )
