"""Checking and normalizing ``GcsBackend`` settings, and the lazy SDK import; stdlib only."""

from __future__ import annotations

import importlib
import os
import re
from urllib.parse import urlsplit, urlunsplit

from .._core.errors import ConfigError, MissingDependency

__all__ = [
    "DEFAULT_ENDPOINT",
    "STREAM_PIECE",
    "check_bucket",
    "check_ca_bundle",
    "check_limits",
    "import_sdk",
    "normalize_endpoint",
    "normalize_prefix",
    "without_userinfo",
]

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
# A streamed upload sends the body in pieces of this size: GCS wants every
# piece but the last to be a multiple of 256 KiB, and holding one piece at a
# time is what bounds store_stream's memory.
STREAM_PIECE = 8 * 1024 * 1024
# GCS bucket naming rules. The SDK puts the name into URL paths unquoted, so
# anything outside them is refused here rather than sent.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
# An object name is at most 1024 bytes; leave room for "/" and the 32-char id.
_MAX_PREFIX_BYTES = 1024 - 33
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PIP_HINT = "pip install 'eden-storage-async[gcs]'"


def import_sdk() -> None:
    """Import the ``gcs`` extra now, so a missing one fails at construction."""
    try:
        for module in ("aiohttp", "gcloud.aio.auth", "gcloud.aio.storage"):
            importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"GcsBackend needs gcloud-aio-storage and aiohttp, which are not installed: "
            f"run {_PIP_HINT}"
        ) from exc


def check_limits(
    timeout: float, min_throughput: float, max_concurrency: int, resumable_threshold: int
) -> None:
    """Raise ``ConfigError`` for a limit that cannot work."""
    for name, value in (("timeout", timeout), ("min_throughput", min_throughput)):
        if not value > 0:
            raise ConfigError(f"GcsBackend: {name} must be positive, got {value!r}")
    if max_concurrency < 1:
        raise ConfigError(f"GcsBackend: max_concurrency must be at least 1, got {max_concurrency}")
    if resumable_threshold < 0:
        raise ConfigError("GcsBackend: resumable_threshold must not be negative")


def check_ca_bundle(ca_bundle: str | os.PathLike[str] | None, session: object) -> str | None:
    """The CA bundle's path as text, or None. No I/O: the file is read at first use."""
    if ca_bundle is None:
        return None
    if session is not None:
        raise ConfigError(
            "GcsBackend: ca_bundle cannot be combined with session: a session of your own "
            "brings its own TLS (give its connector an ssl context instead)"
        )
    path = os.fspath(ca_bundle)
    if not isinstance(path, str) or not path:
        raise ConfigError("GcsBackend: ca_bundle must name a PEM file of CA certificates")
    return path


def check_bucket(bucket: object) -> str:
    """Return ``bucket`` if it is a valid GCS bucket name, else raise ``ConfigError``."""
    if not isinstance(bucket, str) or _BUCKET.fullmatch(bucket) is None:
        raise ConfigError(f"GcsBackend: {bucket!r} is not a valid GCS bucket name")
    return bucket


def normalize_prefix(prefix: object) -> str:
    """``prefix`` without leading or trailing slashes, so names never get "//" or a leading "/"."""
    if not isinstance(prefix, str):
        raise ConfigError(f"GcsBackend: prefix must be a str, got {type(prefix).__name__}")
    stripped = prefix.strip("/")
    segments = stripped.split("/") if stripped else []
    if (
        _CONTROL.search(stripped)
        or len(stripped.encode()) > _MAX_PREFIX_BYTES
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        raise ConfigError(
            f"GcsBackend: prefix {prefix!r} is not usable: no control characters, "
            "empty, '.' or '..' segments, and at most 991 bytes"
        )
    return stripped


def normalize_endpoint(endpoint: str) -> str:
    """An http(s) API root without a trailing slash."""
    # STORAGE_EMULATOR_HOST is often "host:port"; the SDK would add http:// with
    # a DeprecationWarning, so it is added here instead.
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    if urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"GcsBackend: endpoint {without_userinfo(endpoint)!r} is not http(s)")
    return endpoint.rstrip("/")


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed, fit for a repr or a message."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
