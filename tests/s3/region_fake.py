"""``RegionalS3``: a scripted loopback S3 whose bucket lives in one region and
which answers a request signed for any other region as AWS does.

A real server cannot do regions, so this fake follows what AWS sends (and what
botocore's ``S3RegionRedirectorv2`` reads): ``answer`` picks one of

* ``"301"``: 301 ``PermanentRedirect`` with ``x-amz-bucket-region``;
* ``"301-bare"``: the same without the header or a region in the body, so
  only a HeadBucket tells;
* ``"400"``: 400 ``AuthorizationHeaderMalformed`` naming the region in
  ``<Region>`` (a HEAD gets a bare 400 with the header, having no body);
* ``"307"``: 307 ``TemporaryRedirect`` with a ``Location`` (``location``, by
  default this server's own URL for the object) and the header;
* ``"307-bare"``: the same without the header.

``serve=False`` gives the wrong-region answer to every object request, however signed.

HeadBucket always names the region in ``x-amz-bucket-region`` (200 when signed
for it, else 301), as AWS does. Requests signed for the bucket's region are
served from memory: PUT (``If-None-Match: *`` answers 412 on a taken key), GET
and HEAD of an object. ``requests`` lists ``(method, path, signed region)``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..support.loopback import LoopbackApp

__all__ = ["RegionalS3"]

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request")
_XML = "<?xml version='1.0' encoding='UTF-8'?>"


class RegionalS3(LoopbackApp):
    """See the module docstring; ``async with RegionalS3(...) as fake``."""

    def __init__(
        self,
        bucket: str,
        region: str,
        answer: str,
        location: str | None = None,
        *,
        serve: bool = True,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.answer = answer
        self.location = location
        self.serve = serve
        self.requests: list[tuple[str, str, str | None]] = []
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}

    def regions_signed(self) -> list[str | None]:
        return [region for _, _, region in self.requests]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        found = _SCOPE.search(request.headers.get("Authorization", ""))
        signed = found.group(1) if found else None
        self.requests.append((request.method, request.path, signed))
        body = await request.read()
        here = {"x-amz-bucket-region": self.region}
        if request.path.rstrip("/") == f"/{self.bucket}":
            return web.Response(status=200 if signed == self.region else 301, headers=here)
        if signed != self.region or not self.serve:
            return self._wrong_region(request)
        key = request.path.removeprefix(f"/{self.bucket}/")
        if request.method == "PUT":
            if request.headers.get("If-None-Match") == "*" and key in self.objects:
                return _error(412, "PreconditionFailed", "", {})
            kept = {
                name.lower(): value
                for name, value in request.headers.items()
                if name.lower().startswith("x-amz-meta-") or name.lower() == "content-type"
            }
            self.objects[key] = (body, kept)
            return web.Response(status=200, headers={"ETag": '"e"'})
        if key not in self.objects:
            return _error(404, "NoSuchKey", "", {}, head=request.method == "HEAD")
        data, kept = self.objects[key]
        headers = {**kept, "ETag": '"e"', "Content-Length": str(len(data))}
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=data, headers=headers)

    def _wrong_region(self, request: web.Request) -> web.StreamResponse:
        head = request.method == "HEAD"
        header = {"x-amz-bucket-region": self.region}
        answer = self.answer
        if answer in ("301", "301-bare"):
            extra = header if answer == "301" else {}
            return _error(301, "PermanentRedirect", "", extra, head=head)
        if answer == "400":
            region = f"<Region>{self.region}</Region>"
            return _error(400, "AuthorizationHeaderMalformed", region, header, head=head)
        location = self.location or f"{self.endpoint_url}{request.path}"
        extra = {"Location": location, **(header if answer == "307" else {})}
        return _error(307, "TemporaryRedirect", "", extra, head=head)


def _error(
    status: int, code: str, more: str, headers: dict[str, str], *, head: bool = False
) -> web.Response:
    text = f"{_XML}<Error><Code>{code}</Code><Message>scripted</Message>{more}</Error>"
    extra: dict[str, Any] = {"Content-Type": "application/xml", **headers}
    return web.Response(status=status, body=None if head else text.encode(), headers=extra)
