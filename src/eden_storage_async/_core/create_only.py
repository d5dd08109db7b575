"""``check_create_only``: prove the service refuses a second store, on every upload path.

Some servers accept ``If-None-Match: *`` or ``ifGenerationMatch=0`` and then
ignore it (s3rver 3.7.1, gcp-storage-emulator, fake-gcs-server v1.54 on its
media and resumable uploads; rgw's posix backend shipped an inverted check):
the second store answers 200 and overwrites. Only a 501 says so out loud, so
the check stores a canary twice on each path and looks at the second answer.

The canary's name: fixed per upload path, ``.eden-create-only-check`` then the
path, under the backend's prefix. Not an opaque id (32 lowercase hex, no dot,
no slash), so ``load`` can never address it and no listing of ids shows it.
Fixed rather than random because the check runs at every server start and
needs no delete permission: a random name would leave two objects per path per
start, for ever; a fixed one leaves at most one per path. Two processes that
check at once both pass (one wins each first store, the other is refused), and
a canary left by an earlier check only means the first store is refused
already, which is the proof sought.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import AlreadyExists, PreconditionNotSupported

__all__ = ["CANARY_NAME", "CanaryPath", "CreateOnlyReport", "PathResult", "run_create_only_check"]

# Starts with a dot: never an opaque id, and sorted apart from them in any listing.
CANARY_NAME = ".eden-create-only-check"


@dataclass(frozen=True)
class CanaryPath:
    """One upload path of a backend: how a store on it is made, under a reserved name.

    ``store(name, body)`` stores ``body`` at ``name`` through the very code that
    stores artifacts on that path, and raises ``AlreadyExists`` when the service
    refuses it as taken. ``load(name)`` reads it back (checked, as a load is).
    """

    path: str
    name: str
    store: Callable[[str, bytes], Awaitable[None]]
    load: Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True)
class PathResult:
    """What one upload path did with a second store of the canary."""

    path: str
    refused: bool
    # What the service answered, in words: "refused the second store (AlreadyExists: ...)".
    answer: str
    # After an accepted second store: whether the stored bytes are now the second
    # body (True), still the first (False), or could not be read (None).
    bytes_changed: bool | None = None


@dataclass(frozen=True)
class CreateOnlyReport:
    """The outcome of ``check_create_only``: one ``PathResult`` per path checked."""

    backend: str
    results: tuple[PathResult, ...]

    @property
    def ok(self) -> bool:
        """True when every path checked refused the second store."""
        return all(result.refused for result in self.results)

    def result(self, path: str) -> PathResult:
        """The result of ``path``; ``KeyError`` if it was not checked."""
        for result in self.results:
            if result.path == path:
                return result
        raise KeyError(path)


def select_paths(available: Sequence[CanaryPath], paths: Iterable[str] | None) -> list[CanaryPath]:
    """The paths to check, all by default; a name the backend lacks is a ValueError."""
    if paths is None:
        return list(available)
    if isinstance(paths, str):
        raise TypeError("paths must be an iterable of path names, not one string")
    by_name = {path.path: path for path in available}
    wanted = list(dict.fromkeys(paths))
    unknown = [name for name in wanted if name not in by_name]
    if unknown or not wanted:
        raise ValueError(
            f"unknown upload path(s) {unknown or wanted!r}; this backend has {sorted(by_name)}"
        )
    return [by_name[name] for name in wanted]


async def run_create_only_check(
    backend: str, available: Sequence[CanaryPath], paths: Iterable[str] | None = None
) -> CreateOnlyReport:
    """Store the canary twice on each path; raise ``PreconditionNotSupported`` naming
    every path whose second store was accepted. Other errors (access, outage)
    propagate as they are: they say nothing about create-only."""
    results = [await _check_path(path) for path in select_paths(available, paths)]
    report = CreateOnlyReport(backend=backend, results=tuple(results))
    failed = [result for result in results if not result.refused]
    if failed:
        details = "; ".join(f"{result.path}: {result.answer}" for result in failed)
        raise PreconditionNotSupported(
            f"{backend} does not enforce create-only on {len(failed)} of {len(results)} "
            f"upload path(s): {details}"
        )
    return report


async def _check_path(path: CanaryPath) -> PathResult:
    # Different random bodies: a read-back can tell which write the service kept.
    first = _body(path.path, "first")
    second = _body(path.path, "second")
    try:
        await path.store(path.name, first)
        await path.store(path.name, second)
    except AlreadyExists as exc:
        # A refused first store is proof too: the canary is there from an earlier check.
        return PathResult(path.path, True, f"refused a store of a taken name ({exc})")
    except PreconditionNotSupported as exc:
        # A 501 to the precondition: said out loud, but the same verdict.
        return PathResult(path.path, False, f"refused the precondition itself ({exc})")
    changed: bool | None
    try:
        stored = await path.load(path.name)
    except Exception:  # the verdict stands without the read-back
        changed, kept = None, "the stored bytes could not be read back"
    else:
        changed = stored != first
        kept = "the bytes changed" if changed else "the bytes did not change"
    answer = f"answered success (2xx) to a second store of {path.name!r}, {kept}"
    return PathResult(path.path, False, answer, changed)


def _body(path: str, which: str) -> bytes:
    return f"eden create-only check: {path}, {which} store, {secrets.token_hex(8)}\n".encode()
