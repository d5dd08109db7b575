"""Who is calling: bearer principals, the shared token, and the fetch ACL.

Requests carry ``Authorization: Bearer <principal>:<secret>``, as in the
original eden wire. ``admin`` is the admin principal; the others are workers,
named like eden's worker ids (``wkr_`` and 26 lowercase Crockford base32
characters). The principals come from ``--principals-file``, one
``principal:secret`` a line. ``--token-file`` / ``EDEN_BLOB_TOKEN`` keep
working as one shared bearer, which authenticates as ``admin``. A server with
neither authenticates everyone as ``anonymous`` and switches the ACL off,
as the original does when it runs without an admin token.

Secrets are kept as SHA-256 digests and compared with ``hmac.compare_digest``:
equal-length digests, so the comparison's time says nothing about how much of
a guess matched, nor how long the secret is. An unknown principal is compared
against a dummy digest, so it costs the same as a known one. Secrets never
appear in a repr, a log line or an error message.

Pure: no aiohttp. ``load_principals`` reads a file and so blocks; call it at
startup.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._core.errors import ConfigError

__all__ = [
    "ADMIN_PRINCIPAL",
    "ANONYMOUS_PRINCIPAL",
    "WORKER_ID_GRAMMAR",
    "Authenticator",
    "Principal",
    "Principals",
    "load_principals",
]

ADMIN_PRINCIPAL = "admin"
ANONYMOUS_PRINCIPAL = "anonymous"
WORKER_ID_GRAMMAR = "wkr_[0-9a-hjkmnp-tv-z]{26}"
_WORKER_ID = re.compile(WORKER_ID_GRAMMAR)
# A principals file is a handful of lines; a huge one is a wrong path.
_MAX_FILE_BYTES = 1024 * 1024
# Compared against when the principal is unknown, so that path costs the same.
_DUMMY_DIGEST = hashlib.sha256(b"eden-blob: no such principal").digest()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: ``admin``, a ``wkr_...`` worker, or ``anonymous``."""

    name: str


class Principals:
    """The principals of a ``--principals-file``: names and secret digests.

    The repr shows how many there are and nothing else.
    """

    def __init__(self, digests: Mapping[str, bytes]) -> None:
        self._digests = dict(digests)

    @property
    def names(self) -> frozenset[str]:
        """The principals' names."""
        return frozenset(self._digests)

    def digest(self, name: str) -> bytes | None:
        """The SHA-256 digest of ``name``'s secret, or ``None`` if unknown."""
        return self._digests.get(name)

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, str]) -> Principals:
        """Principals from ``{name: secret}``, checked as a file's lines are."""
        digests: dict[str, bytes] = {}
        for name, secret in secrets.items():
            problem = _entry_problem(name, secret)
            if problem is not None:
                raise ConfigError(f"principal {_shown(name)}: {problem}")
            digests[name] = _digest(secret)
        return cls(digests)

    def __repr__(self) -> str:
        return f"Principals(<{len(self._digests)} principals>)"


def load_principals(path: str | os.PathLike[str]) -> Principals:
    """Read ``path``, one ``principal:secret`` a line, or raise ``ConfigError``.

    Blank lines and lines starting with ``#`` are skipped; surrounding
    whitespace is ignored. A principal is ``admin`` or a worker id; a secret is
    printable ASCII without spaces (it may hold ``:``). The file must be a
    regular file that neither group nor others can read. Errors name the file
    and the line number, never the line.
    """
    data = _read_private_file(Path(path))
    digests: dict[str, bytes] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        where = f"principals file {os.fspath(path)!r} line {number}"
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: not ASCII") from None
        name, colon, secret = text.partition(":")
        if not colon:
            raise ConfigError(f"{where}: expected principal:secret")
        problem = _entry_problem(name, secret)
        if problem is not None:
            raise ConfigError(f"{where}: {problem}")
        if name in digests:
            raise ConfigError(f"{where}: principal {name!r} appears twice")
        digests[name] = _digest(secret)
    if not digests:
        raise ConfigError(f"principals file {os.fspath(path)!r} names no principal")
    return Principals(digests)


class Authenticator:
    """Turns an ``Authorization`` header into a ``Principal``, and answers the fetch ACL."""

    def __init__(
        self,
        *,
        principals: Principals | None = None,
        shared_token: str | None = None,
        admin_principals: Iterable[str] = (),
    ) -> None:
        if shared_token is not None and not _is_sendable(shared_token):
            raise ConfigError("the bearer token must be non-empty printable ASCII without spaces")
        if (
            shared_token is not None
            and principals is not None
            and ADMIN_PRINCIPAL in principals.names
        ):
            raise ConfigError(
                "admin is given twice: by the principals file and by the shared token "
                "(--token-file or EDEN_BLOB_TOKEN); keep one"
            )
        workers = frozenset() if principals is None else principals.names - {ADMIN_PRINCIPAL}
        admins = frozenset(admin_principals)
        for name in sorted(admins - {ADMIN_PRINCIPAL}):
            if name not in workers:
                raise ConfigError(
                    f"--admin-principal {name!r} is not a worker of the principals file"
                )
        self._principals = principals
        self._token_digest = None if shared_token is None else _digest(shared_token)
        self._admins = admins | {ADMIN_PRINCIPAL}

    @property
    def enabled(self) -> bool:
        """Whether callers must authenticate (a principals file or a shared token)."""
        return self._principals is not None or self._token_digest is not None

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller named by the ``Authorization`` header value, or ``None`` (401).

        Without a principals file and a token, everyone is ``anonymous``.
        """
        if not self.enabled:
            return Principal(ANONYMOUS_PRINCIPAL)
        scheme, _, bearer = (authorization or "").partition(" ")
        bearer = bearer.strip()
        if scheme.lower() != "bearer" or not bearer:
            return None
        name, colon, secret = bearer.partition(":")
        matched: Principal | None = None
        if self._token_digest is not None:
            # Both forms: today's "Bearer <token>" and the original's admin
            # bearer "Bearer admin:<token>". Which one is tried says nothing
            # secret: it depends on the presented name alone.
            whole = hmac.compare_digest(_digest(bearer), self._token_digest)
            as_admin = name == ADMIN_PRINCIPAL and hmac.compare_digest(
                _digest(secret), self._token_digest
            )
            if whole or as_admin:
                matched = Principal(ADMIN_PRINCIPAL)
        if self._principals is not None and colon:
            stored = self._principals.digest(name)
            expected = _DUMMY_DIGEST if stored is None else stored
            if hmac.compare_digest(_digest(secret), expected) and stored is not None:
                matched = Principal(name)
        return matched

    def is_admin(self, principal: Principal) -> bool:
        """Whether ``principal`` is ``admin`` or named with ``--admin-principal``."""
        return principal.name in self._admins

    def may_fetch(self, principal: Principal, depositor: str | None) -> bool:
        """Whether ``principal`` may fetch an artifact ``depositor`` stored.

        The depositor and the admins (``admin`` and each ``--admin-principal``)
        may; with authentication off, everyone may. An artifact with no recorded
        depositor is left to the admins.
        """
        if not self.enabled:
            return True
        if self.is_admin(principal):
            return True
        return depositor is not None and principal.name == depositor

    def __repr__(self) -> str:
        return (
            f"Authenticator(enabled={self.enabled}, principals={self._principals!r}, "
            f"shared_token={'set' if self._token_digest is not None else None}, "
            f"admins={sorted(self._admins)!r})"
        )


def _read_private_file(path: Path) -> bytes:
    # O_NONBLOCK so a FIFO at the path cannot hang the start; the type and mode
    # are then read from the opened descriptor, so nothing can be swapped in
    # between the check and the read. Symlinks are followed on purpose: a
    # Kubernetes secret volume is a symlink farm, and the file it points at is
    # what gets checked.
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigError(
            f"cannot read principals file {os.fspath(path)!r}: {exc.strerror}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"principals file {os.fspath(path)!r} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"principals file {os.fspath(path)!r} is open to group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it"
            )
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 64 * 1024):
            chunks.append(chunk)
            total += len(chunk)
            if total > _MAX_FILE_BYTES:
                raise ConfigError(
                    f"principals file {os.fspath(path)!r} is larger than {_MAX_FILE_BYTES} bytes"
                )
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(
            f"cannot read principals file {os.fspath(path)!r}: {exc.strerror}"
        ) from None
    finally:
        os.close(fd)


def _entry_problem(name: str, secret: str) -> str | None:
    if name != ADMIN_PRINCIPAL and _WORKER_ID.fullmatch(name) is None:
        return f"a principal is {ADMIN_PRINCIPAL!r} or {WORKER_ID_GRAMMAR}"
    if not _is_sendable(secret):
        return "the secret must be non-empty printable ASCII without spaces"
    return None


def _shown(name: str) -> str:
    # A name that is not a principal may be a secret pasted in the wrong
    # place: show it only when it has a principal's shape.
    if name == ADMIN_PRINCIPAL or _WORKER_ID.fullmatch(name) is not None:
        return repr(name)
    return "(malformed name)"


def _digest(secret: str) -> bytes:
    # surrogateescape: a header value aiohttp decoded from odd bytes still hashes.
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def _is_sendable(secret: str) -> bool:
    return bool(secret) and secret.isascii() and secret.isprintable() and " " not in secret
