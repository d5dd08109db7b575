"""The --blob-backend flags: ``add_blob_arguments`` and ``backend_from_args``, each flag
with its EDEN_* environment variable, and what the flags build."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import eden_storage_async._config.flags as flags_module
from eden_storage_async import (
    ArtifactBackend,
    ConfigError,
    FileArtifactBackend,
    GcsBackend,
    InMemoryArtifactBackend,
    S3Backend,
    TlsError,
    add_blob_arguments,
    backend_from_args,
    mint_opaque_id,
)

# (build_artifact_backend keyword, flag, environment variable)
ALL_FLAGS = [
    ("blob_backend", "--blob-backend", "EDEN_BLOB_BACKEND"),
    ("artifacts_dir", "--artifacts-dir", "EDEN_ARTIFACTS_DIR"),
    ("artifact_blob_dir", "--artifact-blob-dir", "EDEN_ARTIFACT_BLOB_DIR"),
    ("s3_bucket", "--blob-s3-bucket", "EDEN_BLOB_S3_BUCKET"),
    ("s3_region", "--blob-s3-region", "EDEN_BLOB_S3_REGION"),
    ("s3_prefix", "--blob-s3-prefix", "EDEN_BLOB_S3_PREFIX"),
    ("s3_endpoint_url", "--blob-s3-endpoint-url", "EDEN_BLOB_S3_ENDPOINT_URL"),
    ("s3_request_path", "--blob-s3-request-path", "EDEN_BLOB_S3_REQUEST_PATH"),
    ("gcs_bucket", "--blob-gcs-bucket", "EDEN_BLOB_GCS_BUCKET"),
    ("gcs_prefix", "--blob-gcs-prefix", "EDEN_BLOB_GCS_PREFIX"),
    ("gcs_endpoint_url", "--blob-gcs-endpoint-url", "EDEN_BLOB_GCS_ENDPOINT_URL"),
    ("gcs_ca_bundle", "--blob-gcs-ca-bundle", "EDEN_BLOB_GCS_CA_BUNDLE"),
]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_blob_arguments(parser)
    return parser.parse_args(argv)


def test_the_flags_are_exactly_these_and_none_takes_a_credential() -> None:
    parser = argparse.ArgumentParser()
    add_blob_arguments(parser)
    options = {o for action in parser._actions for o in action.option_strings} - {"-h", "--help"}
    assert options == {flag for _, flag, _ in ALL_FLAGS}
    for option in options:
        assert not any(w in option for w in ("key", "secret", "token", "password", "credential"))


@pytest.mark.parametrize(("param", "flag", "env_var"), ALL_FLAGS)
def test_each_flag_falls_back_to_its_env_var_and_the_flag_wins(
    monkeypatch: pytest.MonkeyPatch, param: str, flag: str, env_var: str
) -> None:
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> ArtifactBackend:
        seen.append(kwargs)
        return InMemoryArtifactBackend()

    monkeypatch.setattr(flags_module, "build_artifact_backend", record)
    backend_from_args(parse([]), environ={env_var: "from-env"})
    backend_from_args(parse([flag, "from-flag"]), environ={env_var: "from-env"})
    backend_from_args(parse([flag, "from-flag"]), environ={})
    assert [call[param] for call in seen] == ["from-env", "from-flag", "from-flag"]
    # Every other keyword stayed at its "not given" value.
    not_given = {p: ("file" if p == "blob_backend" else "") for p, _, _ in ALL_FLAGS}
    for call in seen:
        assert set(call) == set(not_given)
        assert {k: v for k, v in call.items() if k != param} == {
            k: v for k, v in not_given.items() if k != param
        }


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDEN_ARTIFACT_BLOB_DIR", str(tmp_path / "from-env"))
    backend = backend_from_args(parse([]))
    assert isinstance(backend, FileArtifactBackend)
    assert backend.root == tmp_path / "from-env"


async def test_flag_beats_env_for_a_real_build(tmp_path: Path) -> None:
    env = {"EDEN_ARTIFACT_BLOB_DIR": str(tmp_path / "env-dir")}
    backend = backend_from_args(
        parse(["--artifact-blob-dir", str(tmp_path / "flag-dir")]), environ=env
    )
    async with backend:
        assert isinstance(backend, FileArtifactBackend)
        assert backend.root == tmp_path / "flag-dir"
    assert not (tmp_path / "env-dir").exists()


def test_an_empty_flag_cancels_an_inherited_env_var() -> None:
    env = {"EDEN_BLOB_S3_BUCKET": "inherited"}
    with pytest.raises(
        ConfigError,
        match=r"^--blob-s3-bucket requires --blob-backend s3 \(got 'file'\) "
        r"\(set from the environment: EDEN_BLOB_S3_BUCKET\)$",
    ):
        backend_from_args(parse([]), environ=env)
    backend = backend_from_args(parse(["--blob-s3-bucket", ""]), environ=env)
    assert isinstance(backend, InMemoryArtifactBackend)


def test_env_selected_backend_is_validated_and_named() -> None:
    with pytest.raises(ConfigError) as caught:
        backend_from_args(parse([]), environ={"EDEN_BLOB_BACKEND": "s3"})
    assert "--blob-s3-bucket is required with --blob-backend s3" in str(caught.value)
    assert "EDEN_BLOB_BACKEND" in str(caught.value)


def test_empty_backend_env_var_means_the_default() -> None:
    backend = backend_from_args(parse([]), environ={"EDEN_BLOB_BACKEND": ""})
    assert isinstance(backend, InMemoryArtifactBackend)


async def test_s3_from_flags_and_env(no_network: None) -> None:
    args = parse(["--blob-backend", "s3", "--blob-s3-prefix", "p"])
    backend = backend_from_args(args, environ={"EDEN_BLOB_S3_BUCKET": "env-bucket"})
    try:
        assert isinstance(backend, S3Backend)
        assert (backend.bucket, backend.prefix) == ("env-bucket", "p")
    finally:
        await backend.aclose()


async def test_gcs_from_flags_and_env(no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    args = parse(["--blob-gcs-bucket", "flag-bucket", "--blob-gcs-endpoint-url", "http://h:1"])
    env = {"EDEN_BLOB_BACKEND": "gcs", "EDEN_BLOB_GCS_BUCKET": "env-bucket"}
    backend = backend_from_args(args, environ=env)
    try:
        assert isinstance(backend, GcsBackend)
        assert backend.bucket == "flag-bucket"
        assert "endpoint='http://h:1'" in repr(backend)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("given_by", ["flag", "env"])
async def test_gcs_ca_bundle_reaches_the_backend_and_a_missing_one_is_named(
    no_network: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given_by: str
) -> None:
    # Construction reads nothing; the first call reads the bundle and fails
    # with the setting and the path named, before any connection is tried.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    missing = str(tmp_path / "no-such-ca.pem")
    argv = ["--blob-backend", "gcs", "--blob-gcs-bucket", "eden-bucket"]
    env: dict[str, str] = {}
    if given_by == "flag":
        argv += ["--blob-gcs-ca-bundle", missing]
    else:
        env["EDEN_BLOB_GCS_CA_BUNDLE"] = missing
    backend = backend_from_args(parse(argv), environ=env)
    try:
        assert isinstance(backend, GcsBackend)
        with pytest.raises(TlsError) as caught:
            await backend.load(mint_opaque_id())
    finally:
        await backend.aclose()
    message = str(caught.value)
    assert missing in message
    assert "--blob-gcs-ca-bundle" in message
    assert "EDEN_BLOB_GCS_CA_BUNDLE" in message
    assert "No such file or directory" in message
