"""``eden-blob serve`` and ``eden-blob check``: the create-only check, then the server.

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
from collections.abc import Callable

from .._config.flags import backend_from_args
from .._core.create_only import CreateOnlyReport
from .._core.errors import PreconditionNotSupported, StorageError
from .._core.protocol import ArtifactBackend
from .._server.app import serve

__all__ = ["CheckFailed", "add_check_flag", "check_report", "serve_until_signalled"]

_log = logging.getLogger("eden_storage_async.cli")
SKIP_FLAG = "--skip-create-only-check"


class CheckFailed(Exception):
    """The create-only check refused the start; ``code`` is the exit code, the
    message one line for stderr."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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


async def serve_until_signalled(
    args: argparse.Namespace, token: str | None, on_ready: Callable[[str], None]
) -> None:
    """Build the backend, check create-only (unless skipped), then serve."""
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
        await serve(
            backend,
            host=args.host,
            port=args.port,
            token=token,
            max_artifact_bytes=args.max_artifact_bytes,
            on_ready=on_ready,
        )


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
