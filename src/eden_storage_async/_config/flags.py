"""The ``--blob-backend`` flags, so every argparse program configures storage the same way.

The flags come from the tables in ``_config.factory``; nothing here restates a rule.
Each flag falls back to an environment variable derived from its name
(``--blob-s3-bucket`` -> ``EDEN_BLOB_S3_BUCKET``), and a flag on the command
line always wins. None of them carries a credential: S3 and GCS use their
SDK's default chain (instance profile, workload identity, env, key file).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping

from .._core.errors import ConfigError
from .._core.protocol import ArtifactBackend
from .factory import (
    ARTIFACTS_DIR_FLAG,
    BACKEND_FLAGS,
    BLOB_BACKEND_FLAG,
    BlobFlag,
    build_artifact_backend,
)

__all__ = ["add_blob_arguments", "backend_from_args", "blob_settings_from_args"]


def _all_flags() -> Iterator[BlobFlag]:
    yield BLOB_BACKEND_FLAG
    yield ARTIFACTS_DIR_FLAG
    for flags in BACKEND_FLAGS.values():
        yield from flags


def add_blob_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--blob-backend`` and every per-backend flag to ``parser``, in one group.

    Read them back with ``backend_from_args``.
    """
    group = parser.add_argument_group(
        "blob storage",
        "Where artifacts are stored. Each flag falls back to the environment "
        "variable shown; the flag wins. Credentials come from the SDK's default "
        "chain, never from a flag.",
    )
    for flag in _all_flags():
        # default=None, not the env value: "not on the command line" must stay
        # distinguishable so the environment is read when the backend is built.
        group.add_argument(
            flag.flag,
            dest=flag.dest,
            default=None,
            # "--blob-s3-endpoint-url" shows as URL, "--artifacts-dir" as DIR.
            metavar=(
                "|".join(BACKEND_FLAGS)
                if flag is BLOB_BACKEND_FLAG
                else flag.flag.rsplit("-", 1)[1].upper()
            ),
            help=f"{flag.help} [env: {flag.env_var}]",
        )


def blob_settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Return the ``build_artifact_backend`` keywords and the env vars they came from.

    A flag given on the command line wins, even when empty: ``--blob-s3-bucket ''``
    is how an operator cancels an inherited ``EDEN_BLOB_S3_BUCKET``.
    """
    env = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    from_env: list[str] = []
    for flag in _all_flags():
        value = getattr(args, flag.dest, None)
        if value is None and flag.env_var in env:
            value = env[flag.env_var]
            if value:
                from_env.append(flag.env_var)
        settings[flag.param] = value or ""
    settings["blob_backend"] = settings["blob_backend"] or "file"
    return settings, from_env


def backend_from_args(
    args: argparse.Namespace, *, environ: Mapping[str, str] | None = None
) -> ArtifactBackend:
    """Build the ``ArtifactBackend`` that the flags of ``add_blob_arguments`` describe.

    ``environ`` defaults to ``os.environ``. Raises ``ConfigError`` naming the
    flag; when environment variables took part, the message lists them too, so
    an inherited variable is easy to spot.
    """
    settings, from_env = blob_settings_from_args(args, environ)
    try:
        return build_artifact_backend(**settings)
    except ConfigError as exc:
        raise with_env_hint(exc, from_env) from None


def with_env_hint(exc: ConfigError, from_env: list[str]) -> ConfigError:
    """``exc`` with the environment variables that supplied values, if any."""
    if not from_env:
        return exc
    return ConfigError(f"{exc} (set from the environment: {', '.join(from_env)})")
