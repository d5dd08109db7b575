"""A client of our own that speaks eden's artifact wire, and nothing more lenient.

It writes the deposit's multipart body itself (one ``file`` part, from bytes or
streamed from an async iterator), so the tests control every byte on the wire,
and it checks each reply against the wire as the issue states it: the deposit
reply has exactly its three fields, a fetch carries the recorded Content-Type
with no charset added plus the delivery and caching headers, and an error is
``application/problem+json`` whose ``type`` maps to one exception class. Any
deviation is an ``AssertionError``, so the test that met it fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

__all__ = [
    "BOUNDARY",
    "CACHE_CONTROL",
    "BackendUnavailable",
    "BadRequest",
    "Deposit",
    "ExperimentIdMismatch",
    "Fetched",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RangeNotSatisfiable",
    "ReferenceProblem",
    "RequestTimeout",
    "Unauthorized",
    "WireClient",
    "WireError",
    "multipart_body",
]

BOUNDARY = "wire-test-boundary-6c1f0e"
CACHE_CONTROL = "private, max-age=31536000, immutable"
_URI = re.compile(r"eden://artifacts/([0-9a-f]{32})")
_PROBLEM_KEYS = {"type", "title", "status", "detail"}


class WireError(Exception):
    """A problem+json reply; ``status`` and ``problem`` are as received."""

    status = 0

    def __init__(self, problem: Mapping[str, Any], headers: CIMultiDictProxy[str]) -> None:
        super().__init__(f"{problem.get('status')} {problem.get('type')}: {problem.get('detail')}")
        self.problem = dict(problem)
        self.headers = headers


class BadRequest(WireError):
    status = 400


class ExperimentIdMismatch(WireError):
    status = 400


class Unauthorized(WireError):
    status = 401


class Forbidden(WireError):
    status = 403


class NotFound(WireError):
    status = 404


class PayloadTooLarge(WireError):
    status = 413


class ReferenceProblem(WireError):
    """A type of the reference server's own (``eden://reference-error/...``)."""


class RequestTimeout(ReferenceProblem):
    """408: the deposit's body stalled."""

    status = 408


class RangeNotSatisfiable(ReferenceProblem):
    """416; ``Content-Range: bytes */<size>`` names the real size."""

    status = 416


class BackendUnavailable(ReferenceProblem):
    """503: the storage backend failed; the detail shows none of its internals."""

    status = 503


_BY_TYPE: dict[str, type[WireError]] = {
    "eden://error/bad-request": BadRequest,
    "eden://error/experiment-id-mismatch": ExperimentIdMismatch,
    "eden://error/unauthorized": Unauthorized,
    "eden://error/forbidden": Forbidden,
    "eden://error/not-found": NotFound,
    "eden://error/payload-too-large": PayloadTooLarge,
}
_REFERENCE_BY_STATUS: dict[int, type[WireError]] = {
    408: RequestTimeout,
    416: RangeNotSatisfiable,
    503: BackendUnavailable,
}


@dataclass(frozen=True)
class Deposit:
    """The deposit reply, once checked to hold exactly its three fields."""

    artifacts_uri: str
    size_bytes: int
    content_type: str

    @property
    def opaque_id(self) -> str:
        match = _URI.fullmatch(self.artifacts_uri)
        assert match is not None, self.artifacts_uri
        return match[1]


@dataclass(frozen=True)
class Fetched:
    """A successful GET or HEAD (200, 206 or 304): status, headers and body as received."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def _part_head(filename: str | None, content_type: str | None, name: str = "file") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"--{BOUNDARY}", f"Content-Disposition: {disposition}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart_body(
    data: bytes, *, filename: str | None = "artifact", content_type: str | None = None
) -> bytes:
    """One ``file`` part holding ``data``, framed with ``BOUNDARY``."""
    return _part_head(filename, content_type) + data + _TAIL


async def _streamed_body(
    chunks: AsyncIterable[bytes], filename: str, content_type: str | None
) -> AsyncIterator[bytes]:
    yield _part_head(filename, content_type)
    async for chunk in chunks:
        yield chunk
    yield _TAIL


class WireClient:
    """Deposit, fetch and HEAD on one experiment, as one principal (or none)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        experiment_id: str,
        *,
        bearer: str | None = None,
        header_experiment_id: str | None = None,
        send_experiment_header: bool = True,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.experiment_id = experiment_id
        self.url = f"{base_url}/v0/experiments/{experiment_id}/artifacts"
        self.headers: dict[str, str] = {}
        if send_experiment_header:
            self.headers["X-Eden-Experiment-Id"] = header_experiment_id or experiment_id
        if bearer is not None:
            self.headers["Authorization"] = f"Bearer {bearer}"

    def as_(self, bearer: str | None) -> WireClient:
        """The same experiment, as another principal (``None``: no Authorization)."""
        return WireClient(self.session, self.base_url, self.experiment_id, bearer=bearer)

    async def deposit(
        self,
        data: bytes | AsyncIterable[bytes],
        *,
        filename: str = "artifact",
        content_type: str | None = "application/octet-stream",
    ) -> Deposit:
        """POST one ``file`` part; a streamed ``data`` goes out chunked."""
        body: bytes | AsyncIterator[bytes]
        if isinstance(data, bytes):
            body = multipart_body(data, filename=filename, content_type=content_type)
        else:
            body = _streamed_body(data, filename, content_type)
        return await self.deposit_raw(body, f"multipart/form-data; boundary={BOUNDARY}")

    async def deposit_raw(
        self, body: bytes | AsyncIterator[bytes], content_type: str | None
    ) -> Deposit:
        """POST ``body`` as it is, under the request Content-Type given (none if None)."""
        headers = dict(self.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        async with self.session.post(self.url, data=body, headers=headers) as response:
            raw = await response.read()
            if response.status != 201:
                _raise_problem(response, raw)
            assert response.content_type == "application/json", response.headers
            document = json.loads(raw)
        return _checked_deposit(document)

    async def fetch(
        self,
        uri: str | None,
        *,
        range_: str | None = None,
        if_none_match: str | None = None,
        method: str = "GET",
    ) -> Fetched:
        """GET (or HEAD) ``?uri=``; ``uri=None`` sends no uri at all."""
        headers = dict(self.headers)
        if range_ is not None:
            headers["Range"] = range_
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        params = {} if uri is None else {"uri": uri}
        async with self.session.request(
            method, self.url, params=params, headers=headers, auto_decompress=False
        ) as response:
            raw = await response.read()
            if response.status not in (200, 206, 304):
                if method == "HEAD":
                    _raise_head_problem(response)
                _raise_problem(response, raw)
            fetched = Fetched(response.status, response.headers, raw)
        _check_delivery_headers(fetched, method)
        return fetched

    async def head(self, uri: str) -> Fetched:
        """HEAD ``?uri=``: the GET's headers, no body."""
        return await self.fetch(uri, method="HEAD")


def _checked_deposit(document: Any) -> Deposit:
    assert isinstance(document, dict), document
    assert set(document) == {"artifacts_uri", "size_bytes", "content_type"}, document
    uri, size, content_type = (
        document["artifacts_uri"],
        document["size_bytes"],
        document["content_type"],
    )
    assert isinstance(uri, str), document
    assert _URI.fullmatch(uri), document
    # bool is an int in Python, not on the wire: the original's strict model refuses it.
    assert type(size) is int, document
    assert size >= 0, document
    assert isinstance(content_type, str), document
    assert content_type, document
    return Deposit(uri, size, content_type)


def _check_delivery_headers(fetched: Fetched, method: str) -> None:
    headers = fetched.headers
    assert headers.get("ETag", "").startswith('"'), f"no strong ETag: {headers}"
    assert headers.get("Cache-Control") == CACHE_CONTROL, headers
    if fetched.status == 304:
        assert fetched.body == b"", fetched.body[:80]
        return
    assert "Content-Length" in headers, f"no Content-Length: {headers}"
    if method == "GET":
        assert int(headers["Content-Length"]) == len(fetched.body), headers
    else:
        assert fetched.body == b"", "HEAD answered with a body"
    disposition = headers.get("Content-Disposition", "")
    assert disposition.startswith("attachment"), headers
    assert "filename=" in disposition, disposition
    assert "filename*=" in disposition, disposition
    assert headers.get("X-Content-Type-Options") == "nosniff", headers
    assert "Content-Encoding" not in headers, headers
    if fetched.status == 206:
        assert headers.get("Content-Range", "").startswith("bytes "), headers


def _raise_head_problem(response: aiohttp.ClientResponse) -> None:
    # A HEAD answer has no body to read the type from: the status must do.
    assert response.headers.get("Content-Type") == "application/problem+json", response.headers
    by_status = {cls.status: cls for cls in (*_BY_TYPE.values(), *_REFERENCE_BY_STATUS.values())}
    by_status[400] = BadRequest  # a mismatch is a 400 too; without the body, just that
    cls = by_status.get(response.status, ReferenceProblem)
    raise cls({"status": response.status}, response.headers)


def _raise_problem(response: aiohttp.ClientResponse, raw: bytes) -> None:
    # Exactly the media type: a charset parameter is not defined for it.
    assert response.headers.get("Content-Type") == "application/problem+json", (
        response.status,
        response.headers,
        raw[:200],
    )
    problem = json.loads(raw)
    assert isinstance(problem, dict), problem
    assert _PROBLEM_KEYS <= set(problem) <= _PROBLEM_KEYS | {"instance"}, problem
    assert problem["status"] == response.status, problem
    assert isinstance(problem["title"], str), problem
    assert isinstance(problem["detail"], str), problem
    kind = problem["type"]
    cls: type[WireError]
    if kind in _BY_TYPE:
        cls = _BY_TYPE[kind]
        assert cls.status == response.status, problem
    else:
        # What eden's wire has no word for gets a type of the server's own.
        assert kind.startswith("eden://reference-error/"), problem
        cls = _REFERENCE_BY_STATUS.get(response.status, ReferenceProblem)
    if cls is RangeNotSatisfiable:
        content_range = response.headers.get("Content-Range", "")
        assert re.fullmatch(r"bytes \*/\d+", content_range), response.headers
    raise cls(problem, response.headers)
