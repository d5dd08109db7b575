"""``S3Backend``'s settings: their defaults, each with its reason, and their checks.

Every check runs at construction and raises ``ConfigError`` (a ``ValueError``),
so a bad setting fails at start-up, before any I/O.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from .._core.errors import ConfigError
from .._core.retry import Backoff

__all__ = [
    "DEFAULT_CONFLICT_BACKOFF",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MULTIPART_THRESHOLD",
    "DEFAULT_PART_SIZE",
    "DEFAULT_READ_TIMEOUT_S",
    "DEFAULT_RETRY",
    "MIN_PART_SIZE",
    "check_settings",
]

# S3's floor for every multipart part but the last.
MIN_PART_SIZE = 5 * 1024 * 1024
# S3's 409 ConditionalRequestConflict means "nothing written, try again"; four
# attempts over at most ~0.35 s of jittered sleep, then ConflictRetriesExhausted.
DEFAULT_CONFLICT_BACKOFF = Backoff(attempts=4, base_s=0.05, cap_s=1.0)
DEFAULT_MAX_CONCURRENCY = 64
# store_stream buffers up to this much before switching to a multipart upload,
# whose parts are this size.
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024

# A connect on a LAN or within a region takes milliseconds; 5 s still covers
# two lost SYNs (the kernel re-sends at 1 s and 3 s) before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
# The longest silence accepted while waiting for any byte of an answer. S3's
# first byte comes in well under a second, and a slow CompleteMultipartUpload
# sends whitespace while it works, so 30 s of nothing means a hung server.
DEFAULT_READ_TIMEOUT_S = 30.0
# Four tries (botocore's standard mode makes three), sleeping up to 0.1, 0.2
# and 0.4 s (full jitter; the 2 s cap matters only with more attempts), and no
# retry that would start more than 30 s after the first try, so a caller hears
# of an outage within about 30 s plus one attempt's timeouts.
DEFAULT_RETRY = Backoff(attempts=4, base_s=0.1, cap_s=2.0, deadline_s=30.0)


def check_settings(
    *,
    bucket: object,
    prefix: object,
    endpoint_url: str | None,
    max_concurrency: object,
    multipart_threshold: object,
    part_size: object,
    connect_timeout: object,
    read_timeout: object,
    retry: object,
) -> None:
    """Raise ``ConfigError`` for the first setting that is wrong."""
    if not isinstance(bucket, str) or not bucket or "/" in bucket:
        raise ConfigError(f"bucket must be a non-empty name without '/', got {bucket!r}")
    if not isinstance(prefix, str):
        raise ConfigError(f"prefix must be a str, got {prefix!r}")
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
        raise ConfigError(f"part_size must be an int of at least 5 MiB, got {part_size!r}")
    if not isinstance(multipart_threshold, int) or multipart_threshold < 0:
        raise ConfigError(
            f"multipart_threshold must be a non-negative int, got {multipart_threshold!r}"
        )
    _check_timeouts(connect_timeout, read_timeout, retry)
    if endpoint_url is not None and (urlsplit(endpoint_url).username is not None):
        raise ConfigError(
            "endpoint_url must not hold user info; credentials come from the default chain"
        )


def _check_timeouts(connect_timeout: object, read_timeout: object, retry: object) -> None:
    """Raise ``ConfigError`` unless both timeouts are positive finite seconds and
    ``retry`` is a ``Backoff``: an infinite or zero timeout would let a hung
    server hang a caller forever, or fail every call."""
    for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    if not isinstance(retry, Backoff):
        raise ConfigError(f"retry must be a Backoff, got {retry!r}")
