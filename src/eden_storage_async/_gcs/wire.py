"""The bytes ``GcsBackend`` puts on the wire and reads off it: bodies, headers, statuses.

Shared by the single-request calls (``_gcs.client``) and the resumable upload
(``_gcs.resumable``). Imports aiohttp, so only those modules import it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string

import aiohttp
from multidict import CIMultiDictProxy

from .._core.attributes import DEFAULT_CONTENT_TYPE, ArtifactInfo, Attributes, caller_metadata
from .._core.errors import BackendError

__all__ = [
    "CHUNK",
    "CRC_KEY",
    "NONCE_KEY",
    "ObjectFacts",
    "Timeouts",
    "chunks",
    "crc32c_of_hash_header",
    "custom_metadata",
    "facts_of_resource",
    "info_of_resource",
    "multipart_body",
    "raise_for_status",
    "stored_crc32c",
]

# Custom metadata written with every object: a random value per store call, so
# after a 412 the backend can tell "our own write landed, its reply was lost"
# from "someone else holds the id".
NONCE_KEY = "eden-store-nonce"
# Our own copy of the CRC32C, beside the one GCS computes: a server that stores
# a body without checking the checksum it was given (fake-gcs-server v1.54.0
# does that) then still cannot hand back bytes that differ from what we sent.
CRC_KEY = "eden-crc32c"
# aiohttp reads a BytesIO in 64 KiB chunks; the same for the zero-copy stream.
CHUNK = 64 * 1024
# Above this, aiohttp warns that one bytes body holds up the loop (an error
# under the test suite), so the body goes as slices of the caller's buffer.
_ONE_PIECE_MAX = 1024 * 1024
_CRC_IN_RESOURCE = re.compile(rb'"crc32c"\s*:\s*"([A-Za-z0-9+/]{6}==)"')
_CRC_IN_HASH = re.compile(r"(?:^|,)\s*crc32c=([A-Za-z0-9+/]{6}==)\s*(?:,|$)")


@dataclass(frozen=True)
class Timeouts:
    """Per-request limits; see ``GcsBackend`` for why they are shaped this way."""

    idle_s: float
    min_bytes_per_s: float

    def small(self) -> aiohttp.ClientTimeout:
        """A request with a small body and a small reply (metadata, initiation)."""
        return aiohttp.ClientTimeout(
            total=self.idle_s, sock_connect=self.idle_s, sock_read=self.idle_s
        )

    def upload(self, size: int) -> aiohttp.ClientTimeout:
        """An upload of ``size`` bytes: the total grows with the body."""
        total = self.idle_s + size / self.min_bytes_per_s
        return aiohttp.ClientTimeout(total=total, sock_connect=self.idle_s, sock_read=self.idle_s)

    def download(self) -> aiohttp.ClientTimeout:
        """A download of unknown size: no total, but no stall longer than ``idle_s``."""
        return aiohttp.ClientTimeout(total=None, sock_connect=self.idle_s, sock_read=self.idle_s)


@dataclass(frozen=True)
class ObjectFacts:
    """What an object resource says about who wrote it and what it holds."""

    nonce: str | None
    crc32c: str | None
    own_crc32c: str | None


def custom_metadata(attributes: Attributes, nonce: str, crc: str | None) -> dict[str, str]:
    """The object's custom metadata: the caller's keys, then our bookkeeping."""
    custom = dict(attributes.metadata)
    custom[NONCE_KEY] = nonce
    if crc is not None:
        custom[CRC_KEY] = crc
    return custom


def multipart_body(
    name: str, nonce: str, crc: str, data: memoryview, attributes: Attributes
) -> tuple[bytes | AsyncIterator[memoryview | bytes], str, int]:
    """An ``uploadType=multipart`` body: the JSON resource, then the media.

    The resource carries ``crc32c`` (GCS checks the body against it and
    answers 400 on a mismatch), the content type and the custom metadata: the
    caller's, the nonce and our copy of the checksum. Returns the body, its
    Content-Type and its length. A small body is one ``bytes`` (one copy of
    4 KiB costs less than a generator); a large one is streamed from the
    caller's buffer without a copy.
    """
    boundary = secrets.token_hex(16)
    content_type = attributes.effective_content_type
    # Written out rather than json.dumps'd: the free-form values (the name, the
    # content type, the caller's metadata) are escaped by json's own C encoder;
    # the nonce (hex), the checksum (base64) and the keys (checked to
    # [a-z0-9-]) need no escaping. This is per small store, so it is measured.
    caller = "".join(
        f'"{key}":{_json_string(value)},' for key, value in attributes.metadata.items()
    )
    # The media part names the content type too: fake-gcs-server v1.54.0
    # stores that part's Content-Type over the resource's contentType.
    head = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        f'{{"name":{_json_string(name)},"contentType":{_json_string(content_type)},'
        f'"crc32c":"{crc}","metadata":{{{caller}"{NONCE_KEY}":"{nonce}","{CRC_KEY}":"{crc}"}}}}\r\n'
        f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + len(data) + len(tail)
    multipart_type = f"multipart/related; boundary={boundary}"
    if len(data) <= _ONE_PIECE_MAX:
        return b"".join((head, data, tail)), multipart_type, size
    return _joined(head, data, tail), multipart_type, size


def stored_crc32c(reply: bytes) -> str | None:
    """The ``crc32c`` of the object resource an upload answered with, if any."""
    # A search, not json.loads: the resource is about 1 KB and this runs on
    # every small store.
    found = _CRC_IN_RESOURCE.search(reply)
    return found.group(1).decode() if found else None


async def _joined(head: bytes, data: memoryview, tail: bytes) -> AsyncIterator[memoryview | bytes]:
    yield head
    async for piece in chunks(data):
        yield piece
    yield tail


async def chunks(data: memoryview) -> AsyncIterator[memoryview]:
    """The body as slices of the caller's buffer: no copy, whatever its size."""
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def crc32c_of_hash_header(headers: CIMultiDictProxy[str]) -> str | None:
    """The ``crc32c=`` value of a download's ``X-Goog-Hash`` headers, if any."""
    for value in headers.getall("X-Goog-Hash", ()):
        found = _CRC_IN_HASH.search(value)
        if found:
            return found.group(1)
    return None


def facts_of_resource(resource: object) -> ObjectFacts:
    """The nonce, the service's CRC32C and our own copy, from an object resource."""
    if not isinstance(resource, dict):
        return ObjectFacts(None, None, None)
    custom = resource.get("metadata")
    custom = custom if isinstance(custom, dict) else {}
    values = (custom.get(NONCE_KEY), resource.get("crc32c"), custom.get(CRC_KEY))
    nonce, crc, own = (v if isinstance(v, str) else None for v in values)
    return ObjectFacts(nonce, crc, own)


def info_of_resource(resource: object, url: str) -> ArtifactInfo:
    """``stat``'s answer from an object resource: our CRC32C copy, else GCS's.

    A resource without a usable ``size`` (a decimal string in GCS's JSON) is a
    ``BackendError``: the service did not answer as GCS does.
    """
    fields: Mapping[str, object] = resource if isinstance(resource, dict) else {}
    raw = fields.get("size")
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit()):
        raise BackendError(f"GcsBackend: the metadata of {url} has no size (got {raw!r})")
    facts = facts_of_resource(resource)
    custom = fields.get("metadata")
    stored: Mapping[str, object] = custom if isinstance(custom, dict) else {}
    content_type = fields.get("contentType")
    return ArtifactInfo(
        size=int(raw),
        crc32c=facts.own_crc32c or facts.crc32c,
        content_type=content_type
        if isinstance(content_type, str) and content_type
        else DEFAULT_CONTENT_TYPE,
        metadata=caller_metadata({k: v for k, v in stored.items() if isinstance(v, str)}),
    )


async def raise_for_status(resp: aiohttp.ClientResponse) -> None:
    """Raise like the SDK does, with the body in the message, so one mapping fits both."""
    if resp.status >= 400:
        body = await resp.text(errors="replace")
        raise aiohttp.ClientResponseError(
            resp.request_info,
            (),
            status=resp.status,
            message=f"{resp.reason}: {body[:4096]}",
            headers=resp.headers,
        )
