"""The one errors module.

Every error the library raises on purpose derives from ``StorageError``; the
ones a caller already knows how to catch also derive from the builtin::

    StorageError
    ├── NotFound                      the object is absent, and nothing else
    ├── AlreadyExists                 also FileExistsError: the id is taken
    ├── InvalidOpaqueId               also ValueError: not 32 lowercase hex
    ├── ConfigError                   also ValueError: a bad setting or flag
    ├── MissingDependency             also ImportError: an extra is not installed
    ├── BackendClosed                 the backend was closed with aclose()
    └── BackendError                  the service failed; never "absent"
        ├── BucketNotFound            the bucket itself is missing
        ├── AccessDenied              credentials were refused (403)
        ├── PreconditionNotSupported  create-only not enforced (501, check_create_only)
        ├── ConflictRetriesExhausted  409 ConditionalRequestConflict past the bound
        ├── UnsafeFileType            a symlink or non-regular file at the path
        ├── TlsError                  the certificate did not verify; never retried
        ├── IntegrityError            bytes do not match their stored CRC32C
        └── ServiceUnavailable        5xx, throttling, timeout or transport failure

A payload that is not bytes-like raises the builtin ``TypeError``.

Messages name the backend, the bucket and the id, and never a credential.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BackendClosed",
    "BackendError",
    "BucketNotFound",
    "ConfigError",
    "ConflictRetriesExhausted",
    "IntegrityError",
    "InvalidOpaqueId",
    "MissingDependency",
    "NotFound",
    "PreconditionNotSupported",
    "ServiceUnavailable",
    "StorageError",
    "TlsError",
    "UnsafeFileType",
]


class StorageError(Exception):
    """Base class of every error eden_storage_async raises on purpose."""


class NotFound(StorageError):
    """The object is absent. Raised by ``load`` for that reason alone."""


class AlreadyExists(StorageError, FileExistsError):
    """``store`` found the id taken; the stored object was left untouched."""


class InvalidOpaqueId(StorageError, ValueError):
    """The id is not 32 lowercase hex characters; raised before any I/O."""


class ConfigError(StorageError, ValueError):
    """A setting or flag is missing, unknown or contradicts another."""


class MissingDependency(StorageError, ImportError):
    """A backend's optional SDK is not installed; the message names the extra."""


class BackendClosed(StorageError):
    """The backend was used after ``aclose()``."""


class BackendError(StorageError):
    """The storage service or filesystem failed in a way that is not "absent"."""


class BucketNotFound(BackendError):
    """The bucket (or root) itself is missing: a deployment error, not a miss."""


class AccessDenied(BackendError):
    """The service refused the credentials from the default chain."""


class PreconditionNotSupported(BackendError):
    """The service cannot enforce create-only, so the write was refused."""


class ConflictRetriesExhausted(BackendError):
    """Concurrent conditional writes kept conflicting (409) past the retry bound."""


class UnsafeFileType(BackendError):
    """A symlink or a non-regular file stands where an object should be."""


class ServiceUnavailable(BackendError):
    """A transient failure (5xx, throttling, timeout, reset) outlived the retries."""


class TlsError(BackendError):
    """TLS could not be set up: the server's certificate did not verify (an
    untrusted CA, a wrong host name) or the configured CA bundle cannot be read.

    A deployment error, never retried: the next attempt would fail the same way.
    """


class IntegrityError(BackendError):
    """Bytes failed their CRC32C check; a load never hands such bytes back.

    On ``store`` it means the service refused a body that arrived damaged, and
    nothing was written; on ``load`` the object (or its transfer) is corrupt.
    """
