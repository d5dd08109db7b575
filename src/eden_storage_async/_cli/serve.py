"""``eden-blob serve`` and ``eden-blob check``: the settings, the create-only check, then
the server.

Every serve setting (the principals file, the admin principals, the pinned
experiment, the legacy artifacts dir, the body timeout) is checked before the
backend is built, so a typo exits 2 without a canary ever being stored.

A server that accepts ``If-None-Match: *`` or ``ifGenerationMatch=0`` and then
ignores it overwrites artifacts without a word (s3rver, gcp-storage-emulator,
fake-gcs-server v1.54 on two of its upload types), and a deposit server on it
would hand out URIs whose bytes can change. So ``serve`` runs
``check_create_only`` before it listens, and refuses to start on a store that
fails it.

Exit codes of the check:

* 2 when the store does not enforce create-only: like a configuration error,
  starting again will not help; point it at another store, or pass
  ``--skip-create-only-check`` knowingly.
* 1 when the check itself could not run (refused credentials, a missing
  bucket, an outage): a storage failure like any other command's, often
  transient, so a supervisor may restart it; it says nothing about create-only.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from .._config.flags import backend_from_args, blob_settings_from_args
from .._core.create_only import CreateOnlyReport
from .._core.errors import ConfigError, PreconditionNotSupported, StorageError
from .._core.protocol import ArtifactBackend
from .._server.app import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_ARTIFACT_BYTES,
    check_listen_policy,
    serve,
)
from .._server.auth import Authenticator, load_principals
from .._server.binding import check_experiment_id_setting
from .._server.legacy import check_legacy_root
from .local_files import TOKEN_ENV

__all__ = [
    "CheckFailed",
    "add_check_flag",
    "add_serve_arguments",
    "check_report",
    "serve_settings",
    "serve_until_signalled",
]

_log = logging.getLogger("eden_storage_async.cli")
SKIP_FLAG = "--skip-create-only-check"


class CheckFailed(Exception):
    """The create-only check refused the start; ``code`` is the exit code, the
    message one line for stderr."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_serve_arguments(
    parser: argparse.ArgumentParser,
    *,
    port: Callable[[str], int],
    size: Callable[[str], int],
) -> None:
    """``serve``'s own flags (the storage flags are ``add_blob_arguments``'); ``port`` and
    ``size`` parse a TCP port and a byte count, as the other commands do."""
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=port, default=8080, help="default: 8080; 0 picks a free one")
    parser.add_argument(
        "--principals-file",
        metavar="FILE",
        help="one principal:secret a line (admin, or wkr_ worker ids); readable by its "
        "owner only; clients send Authorization: Bearer principal:secret",
    )
    parser.add_argument(
        "--admin-principal",
        action="append",
        default=[],
        metavar="NAME",
        help="a worker of --principals-file that may fetch every artifact, as admin may; "
        "repeat for more",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"file holding one shared bearer token, which acts as admin "
        f"[env: {TOKEN_ENV} holds the token itself]",
    )
    parser.add_argument(
        "--experiment-id",
        metavar="E",
        help="serve experiment E only; any other experiment in the path gets 400",
    )
    parser.add_argument(
        "--max-artifact-bytes",
        type=size,
        default=DEFAULT_MAX_ARTIFACT_BYTES,
        metavar="N",
        help=f"larger deposits get 413 and are not stored (default: {DEFAULT_MAX_ARTIFACT_BYTES})",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        metavar="SECONDS",
        help="a deposit that sends nothing for this long gets 408 and is not stored "
        f"(default: {DEFAULT_BODY_TIMEOUT_S:g})",
    )
    add_check_flag(parser)


def add_check_flag(parser: argparse.ArgumentParser) -> None:
    """``serve``'s opt-out of the check."""
    parser.add_argument(
        SKIP_FLAG,
        action="store_true",
        help="start without first proving that the store refuses a second store of a "
        "name (create-only); a store that ignores the precondition then overwrites "
        "artifacts silently",
    )


async def _checked(backend: ArtifactBackend, what: str) -> CreateOnlyReport:
    try:
        return await backend.check_create_only()
    except PreconditionNotSupported as exc:
        raise CheckFailed(f"{what}: {exc}", 2) from None
    except StorageError as exc:
        raise CheckFailed(
            f"{what}: the create-only check could not run: {type(exc).__name__}: {exc}", 1
        ) from None


def serve_settings(args: argparse.Namespace, token: str | None) -> dict[str, Any]:
    """The server's keywords from ``serve``'s flags, each checked; ``ConfigError`` if not.

    Blocking (it reads the principals file): call it before the loop runs.
    """
    principals = None if args.principals_file is None else load_principals(args.principals_file)
    check_listen_policy(args.host, token, principals=principals)
    # Built once here only for its checks (an --admin-principal that is not a
    # worker of the file, a token that cannot be sent); create_app builds its own.
    Authenticator(principals=principals, shared_token=token, admin_principals=args.admin_principal)
    body_timeout = DEFAULT_BODY_TIMEOUT_S if args.body_timeout is None else args.body_timeout
    if not 0 < body_timeout < math.inf:
        raise ConfigError(
            f"--body-timeout must be a positive number of seconds, got {body_timeout}"
        )
    artifacts_dir = blob_settings_from_args(args)[0]["artifacts_dir"] or None
    return {
        "token": token,
        "principals": principals,
        "admin_principals": tuple(args.admin_principal),
        "experiment_id": (
            None if args.experiment_id is None else check_experiment_id_setting(args.experiment_id)
        ),
        "max_artifact_bytes": args.max_artifact_bytes,
        "artifacts_dir": None if artifacts_dir is None else check_legacy_root(artifacts_dir),
        "body_timeout": body_timeout,
    }


async def serve_until_signalled(
    args: argparse.Namespace, settings: dict[str, Any], on_ready: Callable[[str], None]
) -> None:
    """Build the backend, check create-only (unless skipped), then serve with ``settings``
    (``serve_settings``)."""
    async with backend_from_args(args) as backend:
        if args.skip_create_only_check:
            _log.warning(
                "%s: create-only is NOT checked on %r: if the store ignores the "
                "precondition, a store overwrites an artifact without an error",
                SKIP_FLAG,
                backend,
            )
        else:
            await _checked(
                backend,
                f"eden-blob serve: refusing to start ({SKIP_FLAG} overrides)",
            )
        await serve(backend, host=args.host, port=args.port, on_ready=on_ready, **settings)


async def check_report(args: argparse.Namespace) -> str:
    """``eden-blob check``: the check's per-path results, one JSON object."""
    async with backend_from_args(args) as backend:
        report = await _checked(backend, "eden-blob check")
    return json.dumps(
        {
            "backend": report.backend,
            "paths": {result.path: result.answer for result in report.results},
        },
        sort_keys=True,
    )
