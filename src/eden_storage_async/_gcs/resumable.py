"""GCS resumable uploads, driven on the backend's own session.

Not through gcloud-aio-storage: it retries the final PUT 5 times on *any*
error, a 412 included, sleeping 1+2+4+8 s in between, so a reused id would take
about 15 s to surface and a PUT whose reply was lost would come back as a 412
on our own object. It also sends the body from a copy; here the caller's buffer
goes out as it is.

Two shapes (https://cloud.google.com/storage/docs/performing-resumable-uploads):

* ``upload``: a body of known size, one PUT. Its CRC32C rides in the
  initiating request's resource, so GCS checks the body when it completes.
* ``upload_stream``: a stream of unknown length in pieces of a multiple of
  256 KiB. Its CRC32C is known only at the end, so it goes on the final piece
  as ``X-Goog-Hash: crc32c=...``. A transient failure of a piece is retried
  from the offset the session reports (a status query), so a reset costs one
  piece, not the upload.

Both carry ``ifGenerationMatch=0`` on the initiation: the final PUT answers 412
if the name is taken. The object's attributes (``contentType``, the custom
metadata) ride in the initiation's resource, so the object is created with
them; every PUT names the same content type, because fake-gcs-server v1.54.0
stores the final PUT's ``Content-Type`` over the resource's.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from .._core.attributes import Attributes
from .._core.checksum import Crc32c
from .._core.retry import Backoff, retrying
from .._core.settle import settle
from .config import STREAM_PIECE
from .errors import SessionGone, is_transient
from .wire import Timeouts, chunks, custom_metadata, raise_for_status

__all__ = ["Resumable"]

# A 308's Range header: the bytes the service holds, "bytes=0-N".
_RANGE = re.compile(r"bytes=0-(\d+)")
_GRANULE = 256 * 1024


@dataclass(frozen=True)
class Resumable:
    """Resumable uploads to one bucket's upload URL on one aiohttp session."""

    session: aiohttp.ClientSession
    upload_url: str
    timeouts: Timeouts
    retry: Backoff
    auth_headers: Callable[[], Awaitable[dict[str, str]]]
    # Whether a failed piece may be resumed through a status query. Off for
    # an emulator: fake-gcs-server v1.54.0 *completes* the upload with the
    # bytes held so far when asked for its status, which would publish a
    # partial object (pinned in tests/gcs/test_emulator_gaps.py).
    resume: bool = True

    async def upload(
        self, name: str, data: memoryview, nonce: str, crc: str, attributes: Attributes
    ) -> None:
        """Create ``name`` from ``data`` with one PUT, not retried here: the
        backend retries the whole store, and a 412 comes straight back to it."""
        uri = await self.initiate(name, nonce, attributes, size=len(data), crc=crc)
        content_type = attributes.effective_content_type
        # No Authorization header: the session URI is the credential, and it
        # may name another host than the API root.
        async with self.session.put(
            uri,
            data=chunks(data),
            headers={"Content-Type": content_type, "Content-Length": str(len(data))},
            timeout=self.timeouts.upload(len(data)),
        ) as resp:
            await raise_for_status(resp)
            await resp.read()

    async def initiate(
        self, name: str, nonce: str, attributes: Attributes, *, size: int | None, crc: str | None
    ) -> str:
        """Start a resumable upload with ``ifGenerationMatch=0``; return its session URI."""
        content_type = attributes.effective_content_type
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": content_type,
            **(await self.auth_headers()),
        }
        if size is not None:
            headers["X-Upload-Content-Length"] = str(size)
        resource: dict[str, object] = {"name": name, "contentType": content_type}
        if crc is not None:
            # GCS checks the completed body against it and refuses a mismatch.
            resource["crc32c"] = crc
        resource["metadata"] = custom_metadata(attributes, nonce, crc)
        async with self.session.post(
            self.upload_url,
            params={"uploadType": "resumable", "name": name, "ifGenerationMatch": "0"},
            data=json.dumps(resource),
            headers=headers,
            timeout=self.timeouts.small(),
        ) as resp:
            await raise_for_status(resp)
            location: str = resp.headers["Location"]
        return location

    async def upload_stream(
        self,
        name: str,
        head: bytearray,
        rest: AsyncIterator[memoryview],
        nonce: str,
        crc: Crc32c,
        attributes: Attributes,
        *,
        piece: int = STREAM_PIECE,
    ) -> int:
        """Create ``name`` from ``head`` then ``rest``; return its size.

        ``crc`` (fresh) is fed every byte as it is read, so after a failure at
        the final piece the caller still holds the whole object's checksum.
        Nothing is visible before the final piece is accepted. On any failure
        or cancellation before then, the session is cancelled (DELETE).
        """
        if piece <= 0 or piece % _GRANULE:
            raise ValueError("piece must be a positive multiple of 256 KiB")
        crc.update(head)
        # Retried here, not by the backend: the caller's chunks are already
        # being read. A session left behind by a lost reply expires unused.
        uri = await retrying(
            lambda: self.initiate(name, nonce, attributes, size=None, crc=None),
            should_retry=is_transient,
            backoff=self.retry,
        )
        content_type = attributes.effective_content_type
        offset = 0
        buffer = head
        try:
            while True:
                # Strictly more than a piece, so a non-empty last piece always
                # remains: it is the one that carries the total and commits.
                while len(buffer) <= piece:
                    chunk = await anext(rest, None)
                    if chunk is None:
                        break
                    crc.update(chunk)
                    buffer += chunk
                if len(buffer) <= piece:
                    break
                body = bytes(buffer[:piece])
                del buffer[:piece]
                kept = await self._send(uri, body, offset, content_type, total=None, crc=None)
                if kept <= offset:
                    raise aiohttp.ClientPayloadError(
                        f"resumable upload made no progress at byte {offset}"
                    )
                if kept < offset + len(body):
                    # The service kept fewer bytes than sent: send the rest again.
                    buffer[0:0] = body[kept - offset :]
                offset = kept
            total = offset + len(buffer)
            body = bytes(buffer)
            buffer.clear()
            kept = await self._send(uri, body, offset, content_type, total=total, crc=crc.b64())
            if kept != total:
                raise aiohttp.ClientPayloadError(
                    f"resumable upload ended at byte {kept} of {total}"
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await settle(self._cancel(uri))
            raise
        return total

    async def _send(
        self,
        uri: str,
        body: bytes,
        offset: int,
        content_type: str,
        *,
        total: int | None,
        crc: str | None,
    ) -> int:
        """PUT ``body`` at ``offset``; return how many bytes the service holds.

        A transient failure is retried per ``retry``: the session is asked how
        far it got (the PUT may have landed whole, in part or not at all), and
        the piece goes on from there. An offset that would leave a non-final
        piece off the 256 KiB grid is returned instead, and the caller re-sends
        from it.
        """
        if not self.resume:
            return await self._put(uri, memoryview(body), offset, content_type, total, crc)
        end = offset + len(body)
        failed = False

        async def attempt() -> int:
            nonlocal failed
            start = offset
            if failed:
                kept = await self._status(uri, total)
                if kept is None:
                    return end
                # Go on from where the session is, if what is left of this
                # piece is a valid piece (a multiple of 256 KiB, unless last).
                resumable = (
                    offset <= kept <= end
                    if total is not None
                    else (offset <= kept < end and (kept - offset) % _GRANULE == 0)
                )
                if not resumable:
                    return kept
                start = kept
            try:
                view = memoryview(body)[start - offset :]
                return await self._put(uri, view, start, content_type, total, crc)
            except Exception:
                failed = True
                raise

        return await retrying(attempt, should_retry=is_transient, backoff=self.retry)

    async def _put(
        self,
        uri: str,
        body: memoryview,
        offset: int,
        content_type: str,
        total: int | None,
        crc: str | None,
    ) -> int:
        last = offset + len(body) - 1
        size = "*" if total is None else str(total)
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Content-Range": f"bytes {offset}-{last}/{size}" if body else f"bytes */{size}",
        }
        if crc is not None:
            # GCS checks the whole object against it when this piece completes it.
            headers["X-Goog-Hash"] = f"crc32c={crc}"
        request = self._request(uri, chunks(body), headers, self.timeouts.upload(len(body)))
        if total is None:
            kept = await request
        else:
            # The commit point: once on the wire it may land whatever the
            # caller does, so a cancellation waits for its answer.
            kept = await settle(request)
        return offset + len(body) if kept is None else kept

    async def _status(self, uri: str, total: int | None) -> int | None:
        """How many bytes the session holds; None once the upload is complete."""
        size = "*" if total is None else str(total)
        headers = {"Content-Length": "0", "Content-Range": f"bytes */{size}"}
        return await self._request(uri, None, headers, self.timeouts.small())

    async def _request(
        self,
        uri: str,
        data: AsyncIterator[memoryview] | None,
        headers: dict[str, str],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request limit
    ) -> int | None:
        """PUT to the session; the bytes held after a 308, or None when complete."""
        # 308 is GCS's "Resume Incomplete" here, not a redirect.
        async with self.session.put(
            uri, data=data, headers=headers, timeout=timeout, allow_redirects=False
        ) as resp:
            if resp.status == 308:
                await resp.read()
                held = _RANGE.fullmatch(resp.headers.get("Range", ""))
                return int(held.group(1)) + 1 if held else 0
            if resp.status in (404, 410):
                # Not the bucket: the initiation found it. The session expired,
                # was cancelled, or (on the emulator) has finished.
                raise SessionGone(f"the resumable upload session answered {resp.status}")
            await raise_for_status(resp)
            await resp.read()
        return None

    async def _cancel(self, uri: str) -> None:
        async with self.session.delete(uri, timeout=self.timeouts.small()) as resp:
            await resp.read()
