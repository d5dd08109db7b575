"""Create-only, atomic asyncio storage for immutable artifacts.

One Protocol, ``ArtifactBackend`` (``store`` / ``load`` / ``stat`` /
``load_range``, streaming, ``aclose``), backends for memory, the local
filesystem, S3 and GCS, and ``SyncArtifactBackend`` for synchronous code. Everything public is
re-exported here; the modules behind it are private.
"""

from ._bulk import StoreOutcome, store_many
from ._config.factory import build_artifact_backend
from ._config.flags import add_blob_arguments, backend_from_args
from ._core.attributes import ArtifactInfo
from ._core.base import BackendBase
from ._core.create_only import CreateOnlyReport, PathResult
from ._core.errors import (
    AccessDenied,
    AlreadyExists,
    BackendClosed,
    BackendError,
    BucketNotFound,
    ConfigError,
    ConflictRetriesExhausted,
    IntegrityError,
    InvalidOpaqueId,
    MissingDependency,
    NotFound,
    PreconditionNotSupported,
    ServiceUnavailable,
    StorageError,
    TlsError,
    UnsafeFileType,
)
from ._core.ids import Payload, mint_opaque_id, validate_opaque_id
from ._core.protocol import ArtifactBackend
from ._core.retry import Backoff
from ._file.backend import FileArtifactBackend
from ._gcs.backend import GcsBackend
from ._memory import InMemoryArtifactBackend
from ._migrate import MigrationReport, migrate
from ._s3.backend import S3Backend
from ._server.app import create_app
from ._sync import SyncArtifactBackend

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "ArtifactBackend",
    "ArtifactInfo",
    "BackendBase",
    "BackendClosed",
    "BackendError",
    "Backoff",
    "BucketNotFound",
    "ConfigError",
    "ConflictRetriesExhausted",
    "CreateOnlyReport",
    "FileArtifactBackend",
    "GcsBackend",
    "InMemoryArtifactBackend",
    "IntegrityError",
    "InvalidOpaqueId",
    "MigrationReport",
    "MissingDependency",
    "NotFound",
    "PathResult",
    "Payload",
    "PreconditionNotSupported",
    "S3Backend",
    "ServiceUnavailable",
    "StorageError",
    "StoreOutcome",
    "SyncArtifactBackend",
    "TlsError",
    "UnsafeFileType",
    "__version__",
    "add_blob_arguments",
    "backend_from_args",
    "build_artifact_backend",
    "create_app",
    "migrate",
    "mint_opaque_id",
    "store_many",
    "validate_opaque_id",
]
