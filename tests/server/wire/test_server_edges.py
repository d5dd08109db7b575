"""Fetch and settings edge cases, on the memory and file backends: an empty artifact,
If-None-Match forms, other methods, the other auth modes, an unbound experiment, the
principals file's mode, a backend outage and the older path form."""

from __future__ import annotations

from typing import Any

import pytest

from eden_storage_async import ConfigError

from .client import (
    BackendUnavailable,
    BadRequest,
    ExperimentIdMismatch,
    RangeNotSatisfiable,
    ReferenceProblem,
    Unauthorized,
    WireClient,
)
from .conftest import ALICE, BOB, EdgeServing, serving


async def test_an_empty_artifact(edge_serving: EdgeServing) -> None:
    async with edge_serving() as served:
        alice = served.client(ALICE)
        deposit = await alice.deposit(b"")
        assert deposit.size_bytes == 0
        fetched = await alice.fetch(deposit.artifacts_uri)
        assert (fetched.status, fetched.body, fetched.headers["Content-Length"]) == (200, b"", "0")
        with pytest.raises(RangeNotSatisfiable):
            await alice.fetch(deposit.artifacts_uri, range_="bytes=0-0")


async def test_if_none_match_forms(edge_serving: EdgeServing) -> None:
    async with edge_serving() as served:
        alice = served.client(ALICE)
        deposit = await alice.deposit(b"validated")
        etag = (await alice.head(deposit.artifacts_uri)).headers["ETag"]
        for header in ("*", f"W/{etag}", f'"other", {etag}'):
            assert (await alice.fetch(deposit.artifacts_uri, if_none_match=header)).status == 304
        assert (await alice.fetch(deposit.artifacts_uri, if_none_match='"other"')).status == 200
        # A range with a matching If-None-Match is still a 304 (RFC 9110 section 13.2.2).
        ranged = await alice.fetch(deposit.artifacts_uri, range_="bytes=0-1", if_none_match=etag)
        assert ranged.status == 304


async def test_other_methods_are_problems_too(edge_serving: EdgeServing) -> None:
    async with edge_serving() as served:
        alice = served.client(ALICE)
        async with served.session.put(alice.url, data=b"x", headers=alice.headers) as response:
            assert response.status == 405
            assert response.headers["Content-Type"] == "application/problem+json"
            assert (await response.json(content_type=None))["status"] == 405


async def test_a_shared_token_authenticates_as_admin(edge_serving: EdgeServing) -> None:
    token = "shared-token-77e1"
    async with edge_serving(principals=None, admin_principals=(), token=token) as served:
        deposit = await served.client(None).as_(token).deposit(b"shared")
        info = await served.recorder.inner.stat(deposit.opaque_id)
        assert list(info.metadata.values()) == ["admin"]
        # The original's admin bearer form works with the same token.
        admin = served.client(None).as_(f"admin:{token}")
        assert (await admin.fetch(deposit.artifacts_uri)).body == b"shared"
        with pytest.raises(Unauthorized):
            await served.client(None).fetch(deposit.artifacts_uri)


async def test_without_credentials_configured_everyone_is_anonymous(
    edge_serving: EdgeServing,
) -> None:
    async with edge_serving(principals=None, admin_principals=(), experiment_id=None) as served:
        anonymous = served.client(None, experiment_id="any-experiment")
        deposit = await anonymous.deposit(b"open")
        assert (await anonymous.fetch(deposit.artifacts_uri)).body == b"open"
        # Unbound, any experiment is served, but the header must still agree.
        with pytest.raises(ExperimentIdMismatch):
            await served.client(None, header_experiment_id="another").fetch(deposit.artifacts_uri)


async def test_an_experiment_id_outside_the_grammar_is_a_bad_request(
    edge_serving: EdgeServing,
) -> None:
    async with edge_serving(experiment_id=None) as served:
        with pytest.raises(BadRequest):
            await served.client(ALICE, experiment_id="-not-an-id").deposit(b"x")


async def test_a_world_readable_principals_file_is_refused(
    edge_serving: EdgeServing, tmp_path: Any
) -> None:
    loose = tmp_path / "loose"
    loose.write_text(f"{BOB}:bob-secret-0c2\n")
    loose.chmod(0o644)
    with pytest.raises(ConfigError):
        async with edge_serving(principals=loose, admin_principals=()):
            pass


class _Outage:
    """Every stat and store fails with a message that must stay in the server."""

    SECRET = "internal 10.1.2.3 /var/lib/secret-bucket"

    async def stat(self, opaque_id: str) -> Any:
        raise ConnectionResetError(self.SECRET)

    async def store_stream(self, opaque_id: str, chunks: Any, **attributes: Any) -> None:
        async for _ in chunks:
            pass
        raise ConnectionResetError(self.SECRET)


async def test_a_backend_outage_is_503_and_shows_no_internals(tmp_path: Any) -> None:
    async with serving(_Outage(), tmp_path) as served:  # type: ignore[arg-type]
        alice: WireClient = served.client(ALICE)
        with pytest.raises(BackendUnavailable) as stored:
            await alice.deposit(b"x")
        with pytest.raises(BackendUnavailable) as fetched:
            await alice.fetch("eden://artifacts/" + "0" * 32)
    for refused in (stored.value, fetched.value):
        assert isinstance(refused, ReferenceProblem)
        assert _Outage.SECRET not in str(refused.problem)
        assert "ConnectionResetError" not in str(refused.problem)


async def test_the_older_path_form_serves_the_same_artifact(edge_serving: EdgeServing) -> None:
    # GET .../artifacts/{opaque_id}: an older form of the original's router.
    async with edge_serving() as served:
        alice = served.client(ALICE)
        deposit = await alice.deposit(b"by id")
        url = f"{alice.url}/{deposit.opaque_id}"
        async with served.session.get(url, headers=alice.headers) as response:
            assert response.status == 200
            assert await response.read() == b"by id"
        async with served.session.get(url, headers=served.client(BOB).headers) as response:
            assert response.status == 403
