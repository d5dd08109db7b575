"""Create-only, atomic asyncio storage for immutable artifacts.

One Protocol, ``ArtifactBackend`` (``store`` / ``load`` / ``aclose``), and
backends for memory, the local filesystem, S3 and GCS. Everything public is
re-exported here; the modules behind it are private.
"""

from ._base import BackendBase
from ._errors import (
    AccessDenied,
    AlreadyExists,
    BackendClosed,
    BackendError,
    BucketNotFound,
    ConfigError,
    ConflictRetriesExhausted,
    InvalidOpaqueId,
    MissingDependency,
    NotFound,
    PreconditionNotSupported,
    ServiceUnavailable,
    StorageError,
    UnsafeFileType,
)
from ._file import FileArtifactBackend
from ._ids import Payload, mint_opaque_id, validate_opaque_id
from ._memory import InMemoryArtifactBackend
from ._protocol import ArtifactBackend

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "ArtifactBackend",
    "BackendBase",
    "BackendClosed",
    "BackendError",
    "BucketNotFound",
    "ConfigError",
    "ConflictRetriesExhausted",
    "FileArtifactBackend",
    "InMemoryArtifactBackend",
    "InvalidOpaqueId",
    "MissingDependency",
    "NotFound",
    "Payload",
    "PreconditionNotSupported",
    "ServiceUnavailable",
    "StorageError",
    "UnsafeFileType",
    "__version__",
    "mint_opaque_id",
    "validate_opaque_id",
]
