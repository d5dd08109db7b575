"""Principals, the shared token and the fetch ACL on their own, without a server."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from eden_storage_async import ConfigError
from eden_storage_async._server import auth
from eden_storage_async._server.auth import (
    ADMIN_PRINCIPAL,
    ANONYMOUS_PRINCIPAL,
    Authenticator,
    Principal,
    Principals,
    load_principals,
)

from .wire_strategies import secrets, worker_ids

W1 = "wkr_0123456789abcdefghjkmnpqrs"
W2 = "wkr_tvwxyz0123456789abcdefghjk"
ADMIN_SECRET = "admin-secret"
W1_SECRET = "w1:secret-with-colon"
W2_SECRET = "w2-secret"
TOKEN = "shared-token"


def write(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "principals"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


def principals() -> Principals:
    return Principals.from_secrets({ADMIN_PRINCIPAL: ADMIN_SECRET, W1: W1_SECRET, W2: W2_SECRET})


# --- the principals file --------------------------------------------------------


def test_a_file_with_comments_blank_lines_and_spaces_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"# eden principals\n\nadmin:{ADMIN_SECRET}\n  {W1}:{W1_SECRET}  \r\n   # indented\n",
    )
    loaded = load_principals(path)
    assert loaded.names == {ADMIN_PRINCIPAL, W1}
    authenticator = Authenticator(principals=loaded)
    assert authenticator.authenticate(f"Bearer {W1}:{W1_SECRET}") == Principal(W1)
    assert authenticator.authenticate(f"Bearer admin:{ADMIN_SECRET}") == Principal("admin")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_load(tmp_path: Path, mode: int) -> None:
    assert load_principals(write(tmp_path, f"{W1}:{W1_SECRET}\n", mode)).names == {W1}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o610])
def test_a_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, f"{W1}:{W1_SECRET}\n", mode)
    with pytest.raises(ConfigError, match=f"group or others \\(mode {mode:04o}\\)") as info:
        load_principals(path)
    assert W1_SECRET not in str(info.value)


def test_the_mode_is_read_from_the_opened_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A check by path (os.stat) then an open would leave a window; the mode
    # must come from fstat on the descriptor that is read.
    path = write(tmp_path, f"{W1}:{W1_SECRET}\n", 0o644)

    real_stat = os.stat

    def no_stat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if target in (path, str(path)):
            raise AssertionError("os.stat by path")
        return real_stat(target, *args, **kwargs)

    monkeypatch.setattr(os, "stat", no_stat)
    with pytest.raises(ConfigError, match="group or others"):
        load_principals(path)


def test_a_symlink_to_a_private_file_is_followed(tmp_path: Path) -> None:
    # Kubernetes secret volumes are symlinks; the target is what is checked.
    target = write(tmp_path, f"{W1}:{W1_SECRET}\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert load_principals(link).names == {W1}


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_principals(fifo)


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(mode=0o700)])
def test_a_missing_path_or_a_directory_is_refused(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    path = tmp_path / "principals"
    make(path)
    with pytest.raises(ConfigError, match="principals file"):
        load_principals(path)


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_principals(path)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("no-colon-here", "expected principal:secret"),
        (f"{W1}:", "the secret must be"),
        (f"{W1}:has space", "the secret must be"),
        (f"{W1}:tab\tinside", "the secret must be"),
        (":orphan-secret", "a principal is"),
        ("alice:s3cret", "a principal is"),
        ("Admin:s3cret", "a principal is"),
        ("wkr_0123456789ABCDEFGHJKMNPQRS:s3cret", "a principal is"),
        ("wkr_0123456789abcdefghjkmnpqri:s3cret", "a principal is"),  # 'i' is not Crockford
        ("wkr_0123456789abcdefghjkmnpqr:s3cret", "a principal is"),  # 25 characters
        ("wkr_0123456789abcdefghjkmnpqrs1:s3cret", "a principal is"),
    ],
)
def test_a_malformed_line_names_its_number_not_its_content(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = write(tmp_path, f"# header\nadmin:{ADMIN_SECRET}\n{line}\n")
    with pytest.raises(ConfigError, match=f"line 3: {reason}") as info:
        load_principals(path)
    message = str(info.value)
    assert ADMIN_SECRET not in message
    assert line not in message
    secret_part = line.partition(":")[2]
    assert not secret_part or secret_part not in message
    assert "s3cret" not in message
    assert "orphan" not in message


def test_a_non_ascii_line_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"{W1}:sécret\n".encode())
    with pytest.raises(ConfigError, match="line 1: not ASCII"):
        load_principals(path)


def test_a_duplicate_principal_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"{W1}:one\n{W2}:two\n{W1}:three\n")
    with pytest.raises(ConfigError, match=f"line 3: principal '{W1}' appears twice") as info:
        load_principals(path)
    assert "three" not in str(info.value)
    assert "one" not in str(info.value)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names no principal"):
        load_principals(write(tmp_path, "# nobody\n\n"))


def test_from_secrets_checks_names_without_showing_a_malformed_one() -> None:
    with pytest.raises(ConfigError, match="malformed name") as info:
        Principals.from_secrets({"hunter2": "x"})
    assert "hunter2" not in str(info.value)


def test_repr_never_shows_a_secret() -> None:
    loaded = principals()
    authenticator = Authenticator(principals=loaded, admin_principals=[W2])
    shown = repr(loaded) + repr(authenticator) + repr(Authenticator(shared_token=TOKEN))
    for secret in (ADMIN_SECRET, W1_SECRET, W2_SECRET, TOKEN):
        assert secret not in shown
    assert "3 principals" in repr(loaded)


# --- authenticate -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {W1}:{W1_SECRET}", W1),
        (f"bearer {W1}:{W1_SECRET}", W1),
        (f"Bearer   {W1}:{W1_SECRET}  ", W1),
        (f"Bearer admin:{ADMIN_SECRET}", ADMIN_PRINCIPAL),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {W1}:{W1_SECRET}", None),
        (f"{W1}:{W1_SECRET}", None),
        (f"Bearer {W1}:{W2_SECRET}", None),
        (f"Bearer {W2}:{W1_SECRET}", None),
        (f"Bearer {W1}:{W1_SECRET}x", None),
        (f"Bearer {W1}:{W1_SECRET[:-1]}", None),
        (f"Bearer {W1}", None),
        (f"Bearer {W1_SECRET}", None),
        (f"Bearer admin:{W1_SECRET}", None),
        ("Bearer wkr_zzzzzzzzzzzzzzzzzzzzzzzzzz:anything", None),
        (f"Bearer anonymous:{ADMIN_SECRET}", None),
        (f"Bearer {ADMIN_SECRET}", None),
    ],
)
def test_authenticate_table(header: str | None, expected: str | None) -> None:
    result = Authenticator(principals=principals()).authenticate(header)
    assert (None if result is None else result.name) == expected


@given(worker_ids(), secrets(), secrets())
def test_any_worker_authenticates_with_its_own_secret_only(
    worker: str, secret: str, other: str
) -> None:
    authenticator = Authenticator(principals=Principals.from_secrets({worker: secret}))
    assert authenticator.authenticate(f"Bearer {worker}:{secret}") == Principal(worker)
    if other != secret:
        assert authenticator.authenticate(f"Bearer {worker}:{other}") is None


def test_secrets_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    authenticator = Authenticator(principals=principals())
    assert authenticator.authenticate(f"Bearer {W1}:{W1_SECRET}") == Principal(W1)
    assert len(calls) == 1
    # An unknown principal costs a compare too, against a digest of the same length.
    assert authenticator.authenticate(f"Bearer {W1[:-1]}a:{W1_SECRET}") is None
    assert len(calls) == 2
    assert all(len(a) == len(b) == 32 for a, b in calls)
    for a, b in calls:
        assert W1_SECRET.encode() not in (a, b)


def test_the_shared_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert Authenticator(shared_token=TOKEN).authenticate(f"Bearer {TOKEN}") == Principal("admin")
    assert calls


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", ADMIN_PRINCIPAL),
        (f"Bearer admin:{TOKEN}", ADMIN_PRINCIPAL),
        (f"Bearer {TOKEN}x", None),
        (f"Bearer {W1}:{TOKEN}", None),
        (f"Bearer admin:{TOKEN}x", None),
        (None, None),
    ],
)
def test_the_shared_token_is_the_admin(header: str | None, expected: str | None) -> None:
    result = Authenticator(shared_token=TOKEN).authenticate(header)
    assert (None if result is None else result.name) == expected


def test_a_shared_token_and_a_principals_file_work_together() -> None:
    workers = Principals.from_secrets({W1: W1_SECRET})
    authenticator = Authenticator(principals=workers, shared_token=TOKEN)
    assert authenticator.authenticate(f"Bearer {TOKEN}") == Principal(ADMIN_PRINCIPAL)
    assert authenticator.authenticate(f"Bearer {W1}:{W1_SECRET}") == Principal(W1)
    assert authenticator.authenticate(f"Bearer {W1}:{TOKEN}") is None


def test_admin_may_not_be_given_twice() -> None:
    with pytest.raises(ConfigError, match="admin is given twice"):
        Authenticator(principals=principals(), shared_token=TOKEN)


@pytest.mark.parametrize("token", ["", "has space", "tab\t", "é"])
def test_an_unsendable_shared_token_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="bearer token"):
        Authenticator(shared_token=token)


def test_without_auth_everyone_is_anonymous() -> None:
    authenticator = Authenticator()
    assert not authenticator.enabled
    for header in (None, "", "Bearer x:y", f"Bearer admin:{ADMIN_SECRET}"):
        assert authenticator.authenticate(header) == Principal(ANONYMOUS_PRINCIPAL)
    assert Authenticator(shared_token=TOKEN).enabled
    assert Authenticator(principals=principals()).enabled


# --- the fetch ACL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "depositor", "allowed"),
    [
        (W1, W1, True),
        (W1, W2, False),
        (W2, W1, True),  # W2 is named with --admin-principal
        (ADMIN_PRINCIPAL, W1, True),
        (ADMIN_PRINCIPAL, None, True),
        (W1, None, False),
        (W2, None, True),
        (W1, ADMIN_PRINCIPAL, False),
        (W1, ANONYMOUS_PRINCIPAL, False),
    ],
)
def test_acl_table(caller: str, depositor: str | None, allowed: bool) -> None:
    authenticator = Authenticator(principals=principals(), admin_principals=[W2])
    assert authenticator.may_fetch(Principal(caller), depositor) is allowed


def test_only_named_principals_are_admins() -> None:
    authenticator = Authenticator(principals=principals())
    assert not authenticator.may_fetch(Principal(W2), W1)
    assert not authenticator.is_admin(Principal(W2))
    assert authenticator.is_admin(Principal(ADMIN_PRINCIPAL))
    assert Authenticator(principals=principals(), admin_principals=[W2]).is_admin(Principal(W2))


def test_without_auth_the_acl_is_off() -> None:
    authenticator = Authenticator()
    assert authenticator.may_fetch(Principal(ANONYMOUS_PRINCIPAL), W1)
    assert authenticator.may_fetch(Principal(ANONYMOUS_PRINCIPAL), None)


def test_the_shared_token_admin_may_fetch_anything() -> None:
    authenticator = Authenticator(shared_token=TOKEN)
    caller = authenticator.authenticate(f"Bearer {TOKEN}")
    assert caller is not None
    assert authenticator.may_fetch(caller, W1)


@pytest.mark.parametrize(
    ("principals_", "admins"),
    [
        (None, [W1]),
        (Principals.from_secrets({W1: W1_SECRET}), [W2]),
        (Principals.from_secrets({W1: W1_SECRET}), ["wkr_typo"]),
    ],
)
def test_an_admin_principal_must_be_a_worker_of_the_file(
    principals_: Principals | None, admins: list[str]
) -> None:
    with pytest.raises(ConfigError, match="--admin-principal"):
        Authenticator(principals=principals_, admin_principals=admins)


def test_admin_named_as_admin_principal_is_accepted() -> None:
    Authenticator(shared_token=TOKEN, admin_principals=[ADMIN_PRINCIPAL])


def test_the_worker_grammar_is_edens() -> None:
    assert auth.WORKER_ID_GRAMMAR == "wkr_[0-9a-hjkmnp-tv-z]{26}"
