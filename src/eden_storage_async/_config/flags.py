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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._core.errors import ConfigError
from .._core.protocol import ArtifactBackend
from .factory import (
    ARTIFACTS_DIR_FLAG,
    BACKEND_FLAGS,
    BLOB_BACKEND_FLAG,
    BlobFlag,
    build_artifact_backend,
    check_settings,
)

__all__ = [
    "SideFlag",
    "add_blob_arguments",
    "add_side_blob_arguments",
    "backend_from_args",
    "blob_settings_from_args",
    "check_distinct",
    "side_backend_from_args",
    "side_settings_from_args",
]


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
    _add_flags(group, (SideFlag(flag) for flag in _all_flags()))


def blob_settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Return the ``build_artifact_backend`` keywords and the env vars they came from.

    A flag given on the command line wins, even when empty: ``--blob-s3-bucket ''``
    is how an operator cancels an inherited ``EDEN_BLOB_S3_BUCKET``.
    """
    return _read_settings(args, (SideFlag(flag) for flag in _all_flags()), environ)


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


# ``eden-blob migrate`` names two backends, so every storage flag exists twice:
# ``--from-blob-s3-bucket`` and ``--to-blob-s3-bucket``, each with its own env
# var. The legacy ``--artifacts-dir`` is not a storage flag (it only guards the
# blob dir against overlapping it) and has no prefixed form.


@dataclass(frozen=True)
class SideFlag:
    """A ``BlobFlag`` as one command spells it: ``side`` is ``from`` or ``to`` for
    one side of ``migrate``'s pair, None for the plain flag."""

    blob: BlobFlag
    side: str | None = None

    @property
    def flag(self) -> str:
        """``--blob-s3-bucket`` gives ``--from-blob-s3-bucket``."""
        if self.side is None:
            return self.blob.flag
        return f"--{self.side}-{self.blob.flag.removeprefix('--')}"

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env_var(self) -> str:
        """``--blob-s3-bucket`` gives ``EDEN_BLOB_FROM_S3_BUCKET``: one ``BLOB``, not two."""
        if self.side is None:
            return self.blob.env_var
        base = self.blob.dest.upper().removeprefix("BLOB_")
        return f"EDEN_BLOB_{self.side.upper()}_{base}"


def _side_flags(side: str) -> Iterator[SideFlag]:
    for flag in _all_flags():
        if flag is not ARTIFACTS_DIR_FLAG:
            yield SideFlag(flag, side)


def add_side_blob_arguments(parser: argparse.ArgumentParser, side: str, title: str) -> None:
    """Add one side's prefixed storage flags (``side`` is ``from`` or ``to``), in one group."""
    group = parser.add_argument_group(
        f"{title} (--{side}-*)",
        f"Every --blob-backend flag, prefixed --{side}-; each falls back to the "
        "environment variable shown, and the flag wins.",
    )
    _add_flags(group, _side_flags(side))


def side_settings_from_args(
    args: argparse.Namespace, side: str, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """One side's ``build_artifact_backend`` keywords and the env vars they came from."""
    settings, from_env = _read_settings(args, _side_flags(side), environ)
    settings[ARTIFACTS_DIR_FLAG.param] = ""
    return settings, from_env


def side_backend_from_args(
    args: argparse.Namespace, side: str, *, environ: Mapping[str, str] | None = None
) -> ArtifactBackend:
    """Build one side's durable ``ArtifactBackend``; ``ConfigError`` names prefixed flags.

    ``file`` without a directory is refused, not built in memory: an in-memory
    source is empty and an in-memory target loses every artifact at exit.
    """
    settings, from_env = side_settings_from_args(args, side, environ)
    try:
        check_side_settings(settings, side)
        try:
            return build_artifact_backend(**settings)
        except ConfigError as exc:
            # A rule the tables do not hold (e.g. an unknown request path)
            # names the unprefixed flag; say which side it belongs to.
            raise ConfigError(f"{exc} (in the --{side}-* flags)") from None
    except ConfigError as exc:
        raise with_env_hint(exc, from_env) from None


def check_side_settings(settings: Mapping[str, str], side: str) -> None:
    """``check_settings`` with the side's flag names, and no in-memory backend."""
    check_settings(settings["blob_backend"], settings, name=lambda flag: SideFlag(flag, side).flag)
    if settings["blob_backend"] == "file" and not settings["artifact_blob_dir"]:
        backend = SideFlag(BLOB_BACKEND_FLAG, side).flag
        blob_dir = SideFlag(BACKEND_FLAGS["file"][0], side).flag
        raise ConfigError(
            f"{backend} file needs {blob_dir} DIR: without it the backend is in memory "
            "(NON-DURABLE), empty as a source and lost at exit as a target"
        )


def check_distinct(source: Mapping[str, str], target: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` when the two sides' settings name the same store, or
    nested parts of one: a directory inside the other, or one bucket with one
    prefix inside the other (an empty prefix holds every other)."""
    kind = source["blob_backend"]
    if kind != target["blob_backend"]:
        return
    if kind == "file":
        mine = Path(source["artifact_blob_dir"]).resolve()
        theirs = Path(target["artifact_blob_dir"]).resolve()
        if mine.is_relative_to(theirs) or theirs.is_relative_to(mine):
            raise ConfigError(
                f"--from-artifact-blob-dir {str(mine)!r} and --to-artifact-blob-dir "
                f"{str(theirs)!r} are the same directory or one holds the other"
            )
        return
    bucket, prefix, endpoint = (f"{kind}_bucket", f"{kind}_prefix", f"{kind}_endpoint_url")
    same_place = source[bucket] == target[bucket] and _endpoint(source[endpoint]) == _endpoint(
        target[endpoint]
    )
    if same_place and _nested(source[prefix], target[prefix]):
        raise ConfigError(
            f"source and target are the same {kind} bucket {source[bucket]!r} with prefixes "
            f"{source[prefix]!r} and {target[prefix]!r}, the same or one inside the other; "
            "give the target another bucket or a prefix beside the source's"
        )


def _endpoint(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _nested(first: str, second: str) -> bool:
    # By path segment, as the backends build keys ("<prefix>/<id>"): "a" holds
    # "a/b", but "ab" does not hold "a".
    mine = [part for part in first.strip("/").split("/") if part]
    theirs = [part for part in second.strip("/").split("/") if part]
    shorter = min(len(mine), len(theirs))
    return mine[:shorter] == theirs[:shorter]


def _add_flags(group: argparse._ArgumentGroup, flags: Iterable[SideFlag]) -> None:
    for flag in flags:
        # default=None, not the env value: "not on the command line" must stay
        # distinguishable so the environment is read when the backend is built.
        group.add_argument(
            flag.flag,
            dest=flag.dest,
            default=None,
            # "--blob-s3-endpoint-url" shows as URL, "--artifacts-dir" as DIR.
            metavar=(
                "|".join(BACKEND_FLAGS)
                if flag.blob is BLOB_BACKEND_FLAG
                else flag.flag.rsplit("-", 1)[1].upper()
            ),
            help=f"{flag.blob.help} [env: {flag.env_var}]",
        )


def _read_settings(
    args: argparse.Namespace, flags: Iterable[SideFlag], environ: Mapping[str, str] | None
) -> tuple[dict[str, str], list[str]]:
    env = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    from_env: list[str] = []
    for flag in flags:
        value = getattr(args, flag.dest, None)
        if value is None and flag.env_var in env:
            value = env[flag.env_var]
            if value:
                from_env.append(flag.env_var)
        settings[flag.blob.param] = value or ""
    settings["blob_backend"] = settings["blob_backend"] or "file"
    return settings, from_env
