"""Which way imports may point between the package's folders, read from the source.

The layout (docs/architecture.md) is a promise: the core imports no backend and
no SDK, the HTTP client imports no backend, a backend imports no other backend,
and each SDK is imported only inside its own backend's folder. This test reads
every ``import`` in ``src/`` (function-level and ``TYPE_CHECKING`` ones
included, since a lazy import is still a dependency) and fails on any import
that the table below does not allow. A new folder or a new third-party import
has to be added here on purpose.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import eden_storage_async

PACKAGE = "eden_storage_async"
SRC = Path(eden_storage_async.__file__).parent

# Each top-level room (a folder, or a module at the top) and the rooms of ours
# it may import. A room may always import itself.
ALLOWED_ROOMS: Mapping[str, frozenset[str]] = {
    "_core": frozenset(),
    "_http": frozenset(),
    "_memory": frozenset({"_core"}),
    "_file": frozenset({"_core"}),
    "_s3": frozenset({"_core", "_http"}),
    "_gcs": frozenset({"_core", "_http"}),
    "_bulk": frozenset({"_core"}),
    "_sync": frozenset({"_core"}),
    "_config": frozenset({"_core", "_memory", "_file", "_s3", "_gcs"}),
    "_migrate": frozenset({"_core"}),
    "_server": frozenset({"_core", "_config"}),
    "_cli": frozenset({"_core", "_config", "_server", "_bulk", "_migrate"}),
    "__init__": frozenset(
        {
            "_core",
            "_memory",
            "_file",
            "_s3",
            "_gcs",
            "_bulk",
            "_sync",
            "_config",
            "_server",
            "_migrate",
        }
    ),
}

# Each third-party module and the rooms that may import it. The standard
# library is free everywhere.
ALLOWED_THIRD_PARTY: Mapping[str, frozenset[str]] = {
    # The base dependency: CRC32C, in the core only (_core/checksum.py).
    "google_crc32c": frozenset({"_core"}),
    # llhttp's bindings: the lean request path's response parser.
    "httptools": frozenset({"_http"}),
    "aiobotocore": frozenset({"_s3"}),
    "botocore": frozenset({"_s3"}),
    "gcloud": frozenset({"_gcs"}),
    # gcloud-aio-storage's transport; the S3 SDK path translates its payload
    # error; the reference server is an aiohttp app.
    "aiohttp": frozenset({"_s3", "_gcs", "_server"}),
    "multidict": frozenset({"_gcs", "_server"}),
    "yarl": frozenset({"_gcs"}),
    "tqdm": frozenset({"_bulk", "_migrate"}),
    "uvloop": frozenset({"_cli"}),
}


def _room(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path, root: Path, package: str) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, as (line, absolute dotted name)."""
    rel = path.relative_to(root).with_suffix("")
    here = [package, *rel.parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or ""
                continue
            base = here[: len(here) - (node.level - 1)]
            if node.module:
                yield node.lineno, ".".join([*base, node.module])
            else:
                for alias in node.names:
                    yield node.lineno, ".".join([*base, alias.name])


def _allowed(room: str, name: str, package: str) -> bool:
    parts = name.split(".")
    if parts[0] == package:
        target = parts[1] if len(parts) > 1 else "__init__"
        return target == room or target in ALLOWED_ROOMS[room]
    if parts[0] in sys.stdlib_module_names or parts[0] == "__future__":
        return True
    return room in ALLOWED_THIRD_PARTY.get(parts[0], frozenset())


def violations(root: Path, package: str = PACKAGE) -> list[str]:
    """Every import under ``root`` that the tables above do not allow."""
    found = []
    for path in sorted(root.rglob("*.py")):
        room = _room(path, root)
        where = f"{path.relative_to(root)}"
        if room not in ALLOWED_ROOMS:
            found.append(f"{where}: room {room!r} has no entry in ALLOWED_ROOMS")
            continue
        for line, name in _imports(path, root, package):
            if not _allowed(room, name, package):
                found.append(f"{where}:{line}: {room} may not import {name}")
    return found


def test_every_import_in_the_package_follows_the_layout() -> None:
    assert violations(SRC) == []


def test_every_room_of_the_package_is_in_the_table() -> None:
    rooms = {_room(path, SRC) for path in SRC.rglob("*.py")}
    assert rooms == set(ALLOWED_ROOMS)


def _plant(root: Path, relpath: str, text: str) -> None:
    path = root / PACKAGE / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_check_catches_each_kind_of_bad_import(tmp_path: Path) -> None:
    """The rules can fail: a planted tree with one bad import of each kind."""
    _plant(tmp_path, "__init__.py", "from ._core.errors import StorageError\n")
    _plant(tmp_path, "_core/errors.py", "import os\nimport botocore\n")
    _plant(tmp_path, "_core/base.py", "from .._s3 import backend\n")
    _plant(tmp_path, "_http/client.py", "def f():\n    from .._gcs.backend import GcsBackend\n")
    _plant(tmp_path, "_file/backend.py", "from .._s3.config import S3Settings\n")
    _plant(tmp_path, "_gcs/client.py", "from gcloud.aio import storage\nimport aiobotocore\n")
    _plant(tmp_path, "_s3/lean/calls.py", "from ..._http.client import HttpClient\n")
    _plant(tmp_path, "_extra/mod.py", "")
    found = violations(tmp_path / PACKAGE)
    assert found == [
        "_core/base.py:1: _core may not import eden_storage_async._s3",
        "_core/errors.py:2: _core may not import botocore",
        "_extra/mod.py: room '_extra' has no entry in ALLOWED_ROOMS",
        "_file/backend.py:1: _file may not import eden_storage_async._s3.config",
        "_gcs/client.py:2: _gcs may not import aiobotocore",
        "_http/client.py:2: _http may not import eden_storage_async._gcs.backend",
    ]
