"""``eden-blob``: store, load and stat artifacts, or run the reference deposit server.

Exit codes: 0 success; 1 the artifact is absent (``NotFound``), storage failed,
or a local file could not be read or written; 2 a usage or configuration error,
or a store that does not enforce create-only (``serve``, ``check``; ``serve.py``).
Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .._config.factory import check_settings
from .._config.flags import (
    add_blob_arguments,
    backend_from_args,
    blob_settings_from_args,
    with_env_hint,
)
from .._core.attributes import ArtifactInfo, Attributes, check_attributes
from .._core.errors import ConfigError, InvalidOpaqueId, NotFound, StorageError
from .._core.ids import mint_opaque_id, validate_opaque_id
from .._server.app import require_aiohttp
from .local_files import (
    LocalFileError,
    read_input,
    read_token,
    write_all,
    write_atomically,
)
from .loop import run
from .migrate import add_migrate_command
from .numbers import non_negative_int, port
from .serve import (
    CheckFailed,
    add_serve_arguments,
    check_report,
    serve_settings,
    serve_until_signalled,
)

__all__ = ["main"]

_PROG = "eden-blob"
_EXIT_FAILURE = 1
_EXIT_USAGE = 2


class _UsageError(Exception):
    """A command-line mistake, already phrased for stderr."""


class _Parser(argparse.ArgumentParser):
    """No abbreviations: argparse would read ``--token SECRET`` as ``--token-file``
    and then echo the secret in its error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    # argparse prints the whole usage block and exits itself; one line that
    # points at --help is easier to read in a log and lets main() pick the code.
    def error(self, message: str) -> NoReturn:
        unrecognized = "unrecognized arguments: "
        if message.startswith(unrecognized):
            # Name the options only: a stray value may be a secret pasted on the
            # wrong flag, and stderr often ends up in a log.
            options = [a for a in message.removeprefix(unrecognized).split() if a[:1] == "-"]
            message = unrecognized + (" ".join(options) or "(values not shown)")
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eden-blob`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format=f"{_PROG}: %(levelname)s: %(message)s"
    )
    command = _PROG
    try:
        args = _parser().parse_args(argv)
        command = f"{_PROG} {args.command}"
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except _UsageError as exc:
        return _fail(str(exc), _EXIT_USAGE)
    except CheckFailed as exc:
        return _fail(str(exc), exc.code)
    except (ConfigError, InvalidOpaqueId) as exc:
        return _fail(f"{command}: {exc}", _EXIT_USAGE)
    except NotFound as exc:
        return _fail(f"{command}: {exc}", _EXIT_FAILURE)
    except StorageError as exc:
        return _fail(f"{command}: {type(exc).__name__}: {exc}", _EXIT_FAILURE)
    except LocalFileError as exc:
        return _fail(f"{command}: {exc}", _EXIT_FAILURE)
    except OSError as exc:  # e.g. the port is taken
        return _fail(f"{command}: {exc.strerror or exc}", _EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PROG,
        description="Store and load artifacts in an ArtifactBackend, or serve them over HTTP.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{put,get,stat,check,serve,migrate}"
    )

    put = commands.add_parser(
        "put", help="store a file (or stdin) and print its opaque_id", description=_put.__doc__
    )
    put.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="default: stdin")
    put.add_argument("--content-type", metavar="TYPE", help="default: application/octet-stream")
    put.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one metadata entry, stored with the artifact; repeat for more",
    )
    put.set_defaults(handler=_put)

    get = commands.add_parser("get", help="load an artifact by opaque_id", description=_get.__doc__)
    get.add_argument("opaque_id", metavar="ID", help="the opaque_id printed by put")
    get.add_argument(
        "-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout"
    )
    get.add_argument(
        "--range",
        type=_slice,
        metavar="START:END",
        help="only bytes[START:END], as a Python slice: 100:200, 100:, :200; "
        "a suffix needs the = form, --range=-100:",
    )
    get.set_defaults(handler=_get)

    info = commands.add_parser(
        "stat", help="print an artifact's size, CRC32C and attributes", description=_stat.__doc__
    )
    info.add_argument("opaque_id", metavar="ID", help="the opaque_id printed by put")
    info.set_defaults(handler=_stat)

    check = commands.add_parser(
        "check",
        help="check that the store refuses a second store of a name (create-only)",
        description=_check.__doc__,
    )
    check.set_defaults(handler=_check)

    srv = commands.add_parser(
        "serve", help="run the reference deposit server", description=_serve.__doc__
    )
    add_serve_arguments(srv, port=port, size=non_negative_int)
    srv.set_defaults(handler=_serve)

    for sub in (put, get, info, check, srv):
        add_blob_arguments(sub)
    # Its own --from-/--to- storage flags, not add_blob_arguments' single set.
    add_migrate_command(commands)
    return parser


def _put(args: argparse.Namespace) -> int:
    """Store FILE (or stdin) under a freshly minted opaque_id and print the id.

    --content-type and --metadata are stored with it, atomically.
    """
    attributes = _attributes(args)
    _require_durable(args)
    data = read_input(args.file)
    # Flushed here so that a closed stdout fails inside main(), as one line.
    print(run(_store(args, data, attributes)), flush=True)
    return 0


def _attributes(args: argparse.Namespace) -> Attributes:
    # Checked before the input is read or a backend is built, like the id.
    metadata: dict[str, str] = {}
    for entry in args.metadata:
        key, sep, value = entry.partition("=")
        if not sep:
            raise _UsageError(f"{_PROG} put: error: --metadata wants KEY=VALUE, got {entry!r}")
        if key in metadata:
            raise _UsageError(f"{_PROG} put: error: --metadata {key!r} is given twice")
        metadata[key] = value
    try:
        return check_attributes(args.content_type, metadata)
    except ValueError as exc:
        raise _UsageError(f"{_PROG} put: error: {exc}") from None


def _stat(args: argparse.Namespace) -> int:
    """Print ID's size, CRC32C, content type and metadata as one JSON object."""
    validate_opaque_id(args.opaque_id)
    _require_durable(args)
    info = run(_stat_of(args, args.opaque_id))
    fields = {
        "opaque_id": args.opaque_id,
        "size": info.size,
        "crc32c": info.crc32c,
        "content_type": info.content_type,
        "metadata": dict(info.metadata),
    }
    print(json.dumps(fields, sort_keys=True), flush=True)
    return 0


def _get(args: argparse.Namespace) -> int:
    """Write the bytes stored under ID to stdout, or atomically to -o FILE.

    --range START:END writes only that slice, fetched with one ranged read.
    """
    validate_opaque_id(args.opaque_id)
    _require_durable(args)
    data = run(_load(args, args.opaque_id, args.range))
    if args.output is None or args.output == "-":
        sys.stdout.flush()
        try:
            write_all(sys.stdout.fileno(), data)
        except OSError as exc:
            raise LocalFileError(f"cannot write to stdout: {exc.strerror or exc}") from None
    else:
        write_atomically(Path(args.output), data)
    return 0


def _check(args: argparse.Namespace) -> int:
    """Store a canary twice on each upload path of the backend, under a reserved
    name, and print what each path did as JSON; exit 2 if a second store was
    not refused (the check serve runs before it listens)."""
    _require_durable(args)
    print(run(check_report(args)), flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Serve eden's artifact wire, POST and GET /v0/experiments/{E}/artifacts, until
    SIGTERM or SIGINT.

    First checks that the store refuses a second store of a name (create-only),
    and refuses to start (exit 2) if not; --skip-create-only-check overrides.
    Prints "EDEN_BLOB_LISTENING http://HOST:PORT" on stdout once ready.
    Authentication (--principals-file, --token-file or EDEN_BLOB_TOKEN) is
    required beyond loopback. --artifacts-dir also serves legacy file:// rows,
    read only.
    """
    token = read_token(args.token_file)
    settings = serve_settings(args, token)
    require_aiohttp()
    run(serve_until_signalled(args, settings, _announce))
    return 0


async def _store(args: argparse.Namespace, data: bytes, attributes: Attributes) -> str:
    async with backend_from_args(args) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(
            opaque_id, data, content_type=attributes.content_type, metadata=attributes.metadata
        )
    return opaque_id


async def _load(
    args: argparse.Namespace, opaque_id: str, bounds: tuple[int, int | None] | None
) -> bytes:
    async with backend_from_args(args) as backend:
        if bounds is None:
            return await backend.load(opaque_id)
        return await backend.load_range(opaque_id, *bounds)


async def _stat_of(args: argparse.Namespace, opaque_id: str) -> ArtifactInfo:
    async with backend_from_args(args) as backend:
        return await backend.stat(opaque_id)


def _announce(url: str) -> None:
    # A supervisor (or a test) waits for this exact line, so flush it at once.
    print(f"EDEN_BLOB_LISTENING {url}", flush=True)


def _require_durable(args: argparse.Namespace) -> None:
    # put and get open a backend only for the one call: in memory, put's id is
    # gone before it is printed and get can never find anything. Refuse that
    # before building it (and before its NON-DURABLE warning muddles stderr).
    settings, from_env = blob_settings_from_args(args)
    try:
        check_settings(settings["blob_backend"], settings)
    except ConfigError as exc:
        raise with_env_hint(exc, from_env) from None
    if settings["blob_backend"] == "file" and not settings["artifact_blob_dir"]:
        raise ConfigError(
            "needs a durable backend: pass --artifact-blob-dir DIR, "
            "or --blob-backend s3|gcs with its bucket"
        )


def _slice(text: str) -> tuple[int, int | None]:
    start, sep, end = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"not START:END: {text!r}")
    try:
        return (int(start) if start else 0, int(end) if end else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not START:END with integers: {text!r}") from None


def _fail(message: str, code: int) -> int:
    # One line whatever the message holds: log scrapers and humans read it as a unit.
    print(message.replace("\r", " ").replace("\n", " "), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
