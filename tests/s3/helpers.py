"""Shared by the S3 test modules: the MiB size unit, and for the ``test_unit_*``
modules scripted stand-ins for the aiobotocore client (``FakeS3Client``, and
``MultipartFake`` for streaming stores), for the error paths a real server cannot
produce.

The fakes raise real ``botocore.exceptions.ClientError``s built from the same
error-response dicts botocore's parser makes (``Error`` plus ``ResponseMetadata``
with ``HTTPStatusCode`` and ``RetryAttempts``), so the mapping under test is
the one a real reply goes through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eden_storage_async import S3Backend
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._core.retry import Backoff

_MIB = 1024 * 1024
_NO_SLEEP = Backoff(attempts=4, base_s=0.0, cap_s=0.0)

Reply = Mapping[str, Any] | BaseException | Callable[["FakeS3Client"], Mapping[str, Any]]


def client_error(
    code: str, status: int, *, operation: str = "PutObject", retry_attempts: int = 0
) -> ClientError:
    """A ClientError shaped exactly as botocore's parser builds one."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"scripted {code}"},
        "ResponseMetadata": {
            "RequestId": "REQ",
            "HTTPStatusCode": status,
            "HTTPHeaders": {},
            "RetryAttempts": retry_attempts,
        },
    }
    return ClientError(response, operation)


class FakeBody:
    """A GetObject body that records whether it was closed; ``read(n)`` gives pieces."""

    def __init__(self, data: bytes | BaseException) -> None:
        self._data = data
        self._offset = 0
        self.closed = False

    async def __aenter__(self) -> FakeBody:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True

    async def read(self, amount: int = -1) -> bytes:
        if isinstance(self._data, BaseException):
            raise self._data
        end = len(self._data) if amount < 0 else self._offset + amount
        piece = self._data[self._offset : end]
        self._offset += len(piece)
        return piece


class FakeS3Client:
    """Answers each call from its script, in order, and records the calls."""

    def __init__(
        self,
        *,
        put: list[Reply] | None = None,
        get: list[Reply] | None = None,
        head: list[Reply] | None = None,
        head_bucket: list[Reply] | None = None,
    ) -> None:
        self.scripts: dict[str, list[Reply]] = {
            "put_object": list(put or []),
            "get_object": list(get or []),
            "head_object": list(head or []),
            "head_bucket": list(head_bucket or []),
        }
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    async def _answer(self, method: str, kwargs: dict[str, Any]) -> Mapping[str, Any]:
        self.calls.append((method, kwargs))
        await asyncio.sleep(0)
        reply = self.scripts[method].pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(self)
        return reply

    async def put_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("put_object", kwargs)

    async def get_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("get_object", kwargs)

    async def head_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("head_object", kwargs)

    async def head_bucket(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("head_bucket", kwargs)

    async def close(self) -> None:
        self.closed = True

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True


def head_of(client: FakeS3Client, *, nonce: str | None = None, size: int = 4) -> Reply:
    """A HeadObject answer: ``nonce`` (default: the one our PutObject sent) and ``size``."""

    def answer(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("put_object")[0]["Metadata"]["eden-write-nonce"]
        return {"Metadata": {"eden-write-nonce": nonce or sent}, "ContentLength": size}

    return answer


async def received(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An UploadPart's arguments with a streamed ``Body`` read into ``bytes``, as a
    server would receive it: the backend refills the part buffer after each part."""
    body = kwargs.get("Body")
    if isinstance(body, AsyncIterable):
        kwargs = {**kwargs, "Body": b"".join([piece async for piece in body])}
    return kwargs


class MultipartFake(FakeS3Client):
    """Multipart calls always succeed, except ``complete_multipart_upload``, which is scripted."""

    def __init__(self, *, complete: list[Reply]) -> None:
        super().__init__()
        self.scripts["complete_multipart_upload"] = list(complete)

    async def create_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("create_multipart_upload", kwargs))
        return {"UploadId": f"upload-{len(self.calls_to('create_multipart_upload'))}"}

    async def upload_part(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("upload_part", await received(kwargs)))
        return {"ETag": f"etag-{kwargs['PartNumber']}"}

    async def complete_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("complete_multipart_upload", kwargs)

    async def abort_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("abort_multipart_upload", kwargs))
        return {}


def backend_on(client: FakeS3Client, **kwargs: Any) -> S3Backend:
    kwargs.setdefault("bucket", "eden-unit")
    kwargs.setdefault("conflict_backoff", _NO_SLEEP)
    kwargs.setdefault("retry", _NO_SLEEP)
    return S3Backend(client=client, **kwargs)


def _crc(data: bytes) -> str:
    return crc32c_b64(data)
