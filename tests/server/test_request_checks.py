"""What the server checks before the backend sees a byte: the bearer, the experiment
binding, the ``uri``. A refused request stores nothing, and every refusal is
problem+json with eden's type.

None of it depends on the backend, so it runs on memory only (``recorded``
below), through a real HTTP client over loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from eden_storage_async import InMemoryArtifactBackend, mint_opaque_id

from .helpers import (
    AUTH,
    BINDING,
    EXPERIMENT,
    SECRET_A,
    TOKEN,
    WORKER_A,
    RecordingBackend,
    artifact,
    deposit,
    expect_problem,
    file_form,
    serving,
)


@pytest.fixture
async def recorded() -> AsyncIterator[RecordingBackend]:
    async with RecordingBackend(InMemoryArtifactBackend()) as backend:
        yield backend


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        f"Bearer {WORKER_A}:{SECRET_A}x",
        f"Bearer {WORKER_A}:",
        f"Bearer wkr_{'z' * 26}:{SECRET_A}",
    ],
)
async def test_missing_or_wrong_bearer_is_401_and_nothing_is_stored(
    server: tuple[str, aiohttp.ClientSession],
    recorded: RecordingBackend,
    authorization: str | None,
) -> None:
    url, session = server
    headers = dict(BINDING)
    if authorization is not None:
        headers["Authorization"] = authorization
    async with session.post(url, data=file_form(b"x"), headers=headers) as response:
        await expect_problem(response, 401, "eden://error/unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        # The body of a refused deposit is not read: the connection is closed.
        assert response.headers.get("Connection", "").lower() == "close"
        assert TOKEN not in await response.text()
    async with session.get(url, params=artifact(mint_opaque_id()), headers=headers) as response:
        await expect_problem(response, 401, "eden://error/unauthorized")
    assert recorded.stored == []
    assert recorded.stats == []


async def test_authentication_comes_before_the_binding(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    # A wrong bearer and a wrong experiment: the client learns only the first.
    url, session = server
    headers = {"Authorization": "Bearer wrong", "X-Eden-Experiment-Id": "other"}
    async with session.post(url, data=file_form(b"x"), headers=headers) as response:
        await expect_problem(response, 401, "eden://error/unauthorized")


@pytest.mark.parametrize("header", [None, "", "other", EXPERIMENT.upper(), "x" * 200])
async def test_experiment_header_must_match_the_path(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend, header: str | None
) -> None:
    url, session = server
    headers = {"Authorization": AUTH["Authorization"]}
    if header is not None:
        headers["X-Eden-Experiment-Id"] = header
    async with session.post(url, data=file_form(b"x"), headers=headers) as response:
        await expect_problem(response, 400, "eden://error/experiment-id-mismatch")
    async with session.get(url, params=artifact(mint_opaque_id()), headers=headers) as response:
        await expect_problem(response, 400, "eden://error/experiment-id-mismatch")
    assert recorded.stored == []


async def test_a_pinned_experiment_refuses_every_other(recorded: RecordingBackend) -> None:
    async with serving(recorded, experiment_id="pinned") as (url, session):
        async with session.post(url, data=file_form(b"x"), headers=AUTH) as response:
            document = await expect_problem(response, 400, "eden://error/experiment-id-mismatch")
        assert "pinned" in document["detail"]
        pinned = url.replace(f"/{EXPERIMENT}/", "/pinned/")
        headers = {**AUTH, "X-Eden-Experiment-Id": "pinned"}
        opaque_id = await deposit(session, pinned, b"pinned", headers=headers)
    assert recorded.stored == [opaque_id]


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("uri", "eden://artifacts/" + "a" * 32), ("uri", "eden://artifacts/" + "b" * 32)],
    ],
    ids=["missing", "twice"],
)
async def test_a_missing_or_repeated_uri_is_400(
    server: tuple[str, aiohttp.ClientSession], query: list[tuple[str, str]]
) -> None:
    url, session = server
    async with session.get(url, params=query, headers=AUTH) as response:
        await expect_problem(response, 400, "eden://error/bad-request")


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "eden://artifacts/",
        "eden://artifacts/" + "A" * 32,
        "eden://artifacts/" + "a" * 31,
        "eden://artifacts/" + "a" * 32 + "/x",
        "eden://artifacts/" + "a" * 32 + "\n",
        "s3://bucket/" + "a" * 32,
        "file:///etc/passwd",
        "eden://artifacts/../" + "a" * 29,
    ],
    ids=repr,
)
async def test_a_uri_that_is_not_ours_is_404_like_an_absent_one(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend, uri: str
) -> None:
    url, session = server
    async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
        await expect_problem(response, 404, "eden://error/not-found")
    assert recorded.stats == []


@pytest.mark.parametrize(
    "experiment_id", ["..", ".hidden", "-x", "x" * 129, "a%20b", "a%2Fb", "caf%C3%A9", "a;b"]
)
async def test_malformed_experiment_id_is_400_and_nothing_is_stored(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend, experiment_id: str
) -> None:
    url, session = server
    bad = url.replace(f"/{EXPERIMENT}/", f"/{experiment_id}/")
    headers = {**AUTH, "X-Eden-Experiment-Id": experiment_id}
    # encoded=True: the id reaches the server exactly as written here.
    async with session.post(URL(bad, encoded=True), data=file_form(b"x"), headers=headers) as r:
        await expect_problem(r, 400, "eden://error/bad-request")
    uri = f"eden://artifacts/{mint_opaque_id()}"
    async with session.get(URL(bad + "?uri=" + uri, encoded=True), headers=headers) as r:
        await expect_problem(r, 400, "eden://error/bad-request")
    assert recorded.stored == []


@pytest.mark.parametrize("experiment_id", ["x" * 128, "A.b_c-9", "0"])
async def test_well_formed_experiment_ids_are_accepted(
    server: tuple[str, aiohttp.ClientSession], experiment_id: str
) -> None:
    url, session = server
    other = url.replace(f"/{EXPERIMENT}/", f"/{experiment_id}/")
    headers = {**AUTH, "X-Eden-Experiment-Id": experiment_id}
    assert await deposit(session, other, b"y", headers=headers)


@pytest.mark.parametrize(
    ("method", "where", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/v0/experiments/e/other", 404),
        ("PUT", None, 405),
        ("DELETE", None, 405),
    ],
)
async def test_unknown_routes_and_methods_are_problem_json(
    server: tuple[str, aiohttp.ClientSession], method: str, where: str | None, status: int
) -> None:
    url, session = server
    target = url if where is None else str(URL(url).with_path(where))
    async with session.request(method, target, headers=AUTH) as response:
        if status == 405:
            await expect_problem(response, 405, "eden://reference-error/method-not-allowed")
            assert "GET" in response.headers["Allow"]
        else:
            await expect_problem(response, 404, "eden://error/not-found")
