"""The fetch ACL: the depositor and the admins may fetch an artifact, anyone else gets
403; an absent artifact is a 404 before the ACL is asked. The depositor is
recorded with the artifact as its ``eden-depositor`` attribute.

Pure server logic over ``stat``'s metadata, so it runs on memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eden_storage_async import InMemoryArtifactBackend, mint_opaque_id

from .helpers import (
    AS_A,
    AS_B,
    AUTH,
    BINDING,
    TOKEN,
    WORKER_A,
    WORKER_B,
    RecordingBackend,
    artifact,
    deposit,
    expect_problem,
    serving,
)

AS_ADMIN_PRINCIPAL = {"Authorization": f"Bearer admin:{TOKEN}", **BINDING}


@pytest.fixture
async def memory() -> AsyncIterator[RecordingBackend]:
    async with RecordingBackend(InMemoryArtifactBackend()) as backend:
        yield backend


async def test_the_depositor_and_admins_may_fetch_and_no_one_else(
    memory: RecordingBackend,
) -> None:
    async with serving(memory) as (url, session):
        opaque_id = await deposit(session, url, b"a's", headers=AS_A)
        assert (await memory.inner.stat(opaque_id)).metadata == {"eden-depositor": WORKER_A}
        for headers in (AS_A, AUTH, AS_ADMIN_PRINCIPAL):
            async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
                assert response.status == 200, headers
                assert await response.read() == b"a's"
        async with session.get(url, params=artifact(opaque_id), headers=AS_B) as response:
            await expect_problem(response, 403, "eden://error/forbidden")
        async with session.head(url, params=artifact(opaque_id), headers=AS_B) as response:
            assert response.status == 403
        async with session.get(f"{url}/{opaque_id}", headers=AS_B) as response:
            await expect_problem(response, 403, "eden://error/forbidden")


async def test_an_absent_artifact_is_404_before_the_acl(memory: RecordingBackend) -> None:
    async with (
        serving(memory) as (url, session),
        session.get(url, params=artifact(mint_opaque_id()), headers=AS_B) as response,
    ):
        await expect_problem(response, 404, "eden://error/not-found")


async def test_an_admin_principal_may_fetch_any_artifact(memory: RecordingBackend) -> None:
    async with serving(memory, admin_principals=[WORKER_B]) as (url, session):
        opaque_id = await deposit(session, url, b"a's", headers=AS_A)
        async with session.get(url, params=artifact(opaque_id), headers=AS_B) as response:
            assert response.status == 200
            assert await response.read() == b"a's"
        # And an admin's own artifact stays the admins' (and the depositor's).
        own = await deposit(session, url, b"b's", headers=AS_B)
        async with session.get(url, params=artifact(own), headers=AS_A) as response:
            assert response.status == 403


async def test_an_artifact_without_a_depositor_is_left_to_the_admins(
    memory: RecordingBackend,
) -> None:
    opaque_id = mint_opaque_id()
    await memory.inner.store(opaque_id, b"stored by another tool")
    async with serving(memory) as (url, session):
        async with session.get(url, params=artifact(opaque_id), headers=AS_A) as response:
            await expect_problem(response, 403, "eden://error/forbidden")
        async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
            assert response.status == 200


async def test_without_authentication_everyone_is_anonymous_and_may_fetch(
    memory: RecordingBackend,
) -> None:
    async with serving(memory, token=None, principals=None) as (url, session):
        opaque_id = await deposit(session, url, b"open", headers=BINDING)
        assert (await memory.inner.stat(opaque_id)).metadata == {"eden-depositor": "anonymous"}
        # Whatever a client presents, it is not checked.
        headers = {"Authorization": "Bearer anything", **BINDING}
        async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
            assert response.status == 200
            assert await response.read() == b"open"
