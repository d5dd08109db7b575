"""``build_artifact_backend``: one validated place that turns settings into a backend.

The rules live in tables, not in branches: ``BACKEND_FLAGS`` lists, per
backend, the settings that only make sense with it (and which one is
required), and ``_BUILDERS`` says how to construct it. A new backend is one
entry in each. Every rejection is a ``ConfigError`` naming the flag, so a
server can print it as one line and exit before it touches storage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._core.errors import ConfigError
from .._core.protocol import ArtifactBackend
from .._file.backend import FileArtifactBackend
from .._memory import InMemoryArtifactBackend

__all__ = [
    "ARTIFACTS_DIR_FLAG",
    "BACKEND_FLAGS",
    "BLOB_BACKEND_FLAG",
    "BlobFlag",
    "build_artifact_backend",
]

_log = logging.getLogger("eden_storage_async")

PathSetting = str | os.PathLike[str] | None


@dataclass(frozen=True)
class BlobFlag:
    """One keyword of ``build_artifact_backend`` and the flag and env var that carry it."""

    param: str
    flag: str
    help: str
    required: bool = False

    @property
    def dest(self) -> str:
        """The argparse attribute name: ``--blob-s3-bucket`` gives ``blob_s3_bucket``."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env_var(self) -> str:
        """The environment fallback: ``--blob-s3-bucket`` gives ``EDEN_BLOB_S3_BUCKET``."""
        return "EDEN_" + self.dest.upper()


BLOB_BACKEND_FLAG = BlobFlag(
    "blob_backend", "--blob-backend", "where artifacts are stored: file, s3 or gcs (default: file)"
)
# Not tied to a backend: the legacy file:// artifacts keep resolving through it
# whatever --blob-backend says, so it is accepted in every mode.
ARTIFACTS_DIR_FLAG = BlobFlag(
    "artifacts_dir",
    "--artifacts-dir",
    "the legacy file:// artifacts directory; --artifact-blob-dir must not overlap it",
)

# One table per backend: the settings that belong to it alone. A setting given
# under another backend is refused rather than ignored, because a silently
# ignored bucket means artifacts land somewhere the operator did not choose.
BACKEND_FLAGS: Mapping[str, tuple[BlobFlag, ...]] = {
    "file": (
        BlobFlag(
            "artifact_blob_dir",
            "--artifact-blob-dir",
            "directory for FileArtifactBackend; without it, file mode keeps artifacts "
            "in memory (NON-DURABLE)",
        ),
    ),
    "s3": (
        BlobFlag("s3_bucket", "--blob-s3-bucket", "S3 bucket (required with s3)", required=True),
        BlobFlag("s3_region", "--blob-s3-region", "S3 region (default: the SDK's chain)"),
        BlobFlag("s3_prefix", "--blob-s3-prefix", "key prefix inside the S3 bucket"),
        BlobFlag(
            "s3_endpoint_url",
            "--blob-s3-endpoint-url",
            "endpoint of an S3-compatible service (MinIO, SeaweedFS, ...)",
        ),
        BlobFlag(
            "s3_request_path",
            "--blob-s3-request-path",
            "lean (default: PUT/GET/HEAD signed by botocore, sent by our own HTTP/1.1 client) "
            "or sdk (everything through aiobotocore)",
        ),
    ),
    "gcs": (
        BlobFlag(
            "gcs_bucket", "--blob-gcs-bucket", "GCS bucket (required with gcs)", required=True
        ),
        BlobFlag("gcs_prefix", "--blob-gcs-prefix", "object name prefix inside the GCS bucket"),
        BlobFlag(
            "gcs_endpoint_url",
            "--blob-gcs-endpoint-url",
            "endpoint of a GCS-compatible service (an emulator)",
        ),
        BlobFlag(
            "gcs_ca_bundle",
            "--blob-gcs-ca-bundle",
            "PEM file of the CAs that GCS server certificates must chain to, in place of "
            "the system store (default: the system store, which honours SSL_CERT_FILE)",
        ),
    ),
}


def _build_file(settings: Mapping[str, str]) -> ArtifactBackend:
    blob_dir = settings["artifact_blob_dir"]
    if not blob_dir:
        _log.warning(
            "NON-DURABLE in-memory backend: --blob-backend file without --artifact-blob-dir "
            "keeps artifacts in process memory, and every one is lost when the process "
            "exits. Pass --artifact-blob-dir DIR (or --blob-backend s3|gcs) to keep them."
        )
        return InMemoryArtifactBackend()
    if settings["artifacts_dir"]:
        _check_no_overlap(blob_dir, settings["artifacts_dir"])
    return FileArtifactBackend(blob_dir)


def _build_s3(settings: Mapping[str, str]) -> ArtifactBackend:
    # Imported here: the module pulls in aiobotocore, an optional extra.
    from .._s3.backend import S3Backend

    request_path: Literal["lean", "sdk"]
    given = settings["s3_request_path"] or "lean"
    if given == "lean":
        request_path = "lean"
    elif given == "sdk":
        request_path = "sdk"
    else:
        raise ConfigError(f"--blob-s3-request-path must be lean or sdk (got {given!r})")
    return S3Backend(
        bucket=settings["s3_bucket"],
        region=settings["s3_region"] or None,
        prefix=settings["s3_prefix"],
        endpoint_url=settings["s3_endpoint_url"] or None,
        request_path=request_path,
    )


def _build_gcs(settings: Mapping[str, str]) -> ArtifactBackend:
    # Imported here: the module pulls in gcloud-aio-storage, an optional extra.
    from .._gcs.backend import GcsBackend

    return GcsBackend(
        bucket=settings["gcs_bucket"],
        prefix=settings["gcs_prefix"],
        endpoint_url=settings["gcs_endpoint_url"] or None,
        ca_bundle=settings["gcs_ca_bundle"] or None,
    )


_BUILDERS: Mapping[str, Callable[[Mapping[str, str]], ArtifactBackend]] = {
    "file": _build_file,
    "s3": _build_s3,
    "gcs": _build_gcs,
}


def build_artifact_backend(
    *,
    blob_backend: str = "file",
    artifact_blob_dir: PathSetting = None,
    artifacts_dir: PathSetting = None,
    s3_bucket: str = "",
    s3_region: str = "",
    s3_prefix: str = "",
    s3_endpoint_url: str = "",
    s3_request_path: str = "",
    gcs_bucket: str = "",
    gcs_prefix: str = "",
    gcs_endpoint_url: str = "",
    gcs_ca_bundle: PathSetting = None,
) -> ArtifactBackend:
    """Validate the settings and construct the ``ArtifactBackend`` they name.

    ``file`` with ``artifact_blob_dir`` gives ``FileArtifactBackend``; ``file``
    without it gives ``InMemoryArtifactBackend`` and logs a NON-DURABLE
    warning. ``s3`` and ``gcs`` need a bucket and use the SDK's default
    credential chain; construction does no I/O (``gcs_ca_bundle`` is read at
    first use, and a file that cannot be read raises ``TlsError`` then). An empty string means "not
    given". Raises ``ConfigError`` (a ``ValueError``) naming the offending flag,
    and ``MissingDependency`` when the backend's extra is not installed.
    """
    settings = {
        "artifact_blob_dir": _text(artifact_blob_dir),
        "artifacts_dir": _text(artifacts_dir),
        "s3_bucket": s3_bucket,
        "s3_region": s3_region,
        "s3_prefix": s3_prefix,
        "s3_endpoint_url": s3_endpoint_url,
        "s3_request_path": s3_request_path,
        "gcs_bucket": gcs_bucket,
        "gcs_prefix": gcs_prefix,
        "gcs_endpoint_url": gcs_endpoint_url,
        "gcs_ca_bundle": _text(gcs_ca_bundle),
    }
    check_settings(blob_backend, settings)
    return _BUILDERS[blob_backend](settings)


def check_settings(
    blob_backend: str,
    settings: Mapping[str, str],
    *,
    name: Callable[[BlobFlag], str] = lambda flag: flag.flag,
) -> None:
    """Raise ``ConfigError`` unless the backend is known and its table is satisfied.

    Every problem is named at once, on one line, so an operator fixes them in
    one pass instead of one restart per flag. ``name`` gives the flag as the
    operator typed it (``eden-blob migrate`` prefixes ``--from-``/``--to-``).
    """
    backend_flag = name(BLOB_BACKEND_FLAG)
    if blob_backend not in BACKEND_FLAGS:
        raise ConfigError(
            f"{backend_flag} must be one of {', '.join(BACKEND_FLAGS)} (got {blob_backend!r})"
        )
    problems: list[str] = []
    for owner, flags in BACKEND_FLAGS.items():
        for flag in flags:
            given = bool(settings[flag.param])
            if owner != blob_backend and given:
                problems.append(
                    f"{name(flag)} requires {backend_flag} {owner} (got {blob_backend!r})"
                )
            elif owner == blob_backend and flag.required and not given:
                problems.append(f"{name(flag)} is required with {backend_flag} {owner}")
    if problems:
        raise ConfigError("; ".join(problems))


def _check_no_overlap(blob_dir: str, artifacts_dir: str) -> None:
    # The two trees must stay apart: FileArtifactBackend sweeps temp files in its
    # root, and a legacy file:// path inside the blob dir (or the reverse) would
    # let one tree's files be served or removed as the other's. Symlinks are
    # resolved first, so an alias cannot hide the overlap.
    blob = Path(blob_dir).resolve()
    legacy = Path(artifacts_dir).resolve()
    blob_flag, legacy_flag = "--artifact-blob-dir", ARTIFACTS_DIR_FLAG.flag
    if blob == legacy:
        raise ConfigError(f"{blob_flag} and {legacy_flag} must differ: both are {str(blob)!r}")
    if blob.is_relative_to(legacy):
        raise ConfigError(
            f"{blob_flag} {str(blob)!r} must not sit inside {legacy_flag} {str(legacy)!r}"
        )
    if legacy.is_relative_to(blob):
        raise ConfigError(
            f"{blob_flag} {str(blob)!r} must not contain {legacy_flag} {str(legacy)!r}"
        )


def _text(path: PathSetting) -> str:
    return "" if path is None else os.fspath(path)
