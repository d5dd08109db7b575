"""Listing ``GcsBackend``'s ids: the objects list under the prefix, a page per request.

Objects are named ``<prefix>/<opaque_id>``, so the listing asks for the names
that start with ``<prefix>/`` (the slash keeps a prefix ``a`` from listing
``ab/``), with ``delimiter=/``: names one level further down ("directories"
another tool wrote) are rolled up into prefixes, which are not even asked
for, and never walked. Only ``items(name),nextPageToken`` is requested, so a
page carries names and no object resources; one page is held at a time and
the page token carries the position.

Each page is retried on transient failures like every other call
(``GcsBackend._call``) and translated as they are: a listing's 404 can only be
the bucket, so it is ``BucketNotFound``, never an empty listing; a 401/403 is
``AccessDenied`` (listing needs ``storage.objects.list`` on the bucket).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, NoReturn

from .._core.errors import BucketNotFound
from .errors import scrubbed, status_of, translate
from .outcomes import Failed

if TYPE_CHECKING:
    from .backend import GcsBackend
    from .client import GcsClient

__all__ = ["id_pages"]


async def id_pages(backend: GcsBackend) -> AsyncGenerator[list[str], None]:
    """The names right under the backend's prefix, one page of the objects list at a time."""
    client = backend._client or await backend._ensure_client()
    name_prefix = f"{backend.prefix}/" if backend.prefix else ""
    where = f"gs://{backend.bucket}/{name_prefix}"
    token: str | None = None
    while True:
        fetch = functools.partial(client.list_page, name_prefix, token, backend._list_page)
        async with backend._slots:
            page = await backend._call(fetch)
        if isinstance(page, Failed):
            _fail(client, page.exc, backend.bucket, where)
        names = _names(page, name_prefix)
        if names:
            yield names
        next_token = page.get("nextPageToken")
        if not isinstance(next_token, str) or not next_token:
            return
        token = next_token


def _names(page: Mapping[str, object], name_prefix: str) -> list[str]:
    """The object names of a page, without the prefix."""
    items = page.get("items")
    names = []
    for item in items if isinstance(items, list) else ():
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name.startswith(name_prefix):
            names.append(name[len(name_prefix) :])
    return names


def _fail(client: GcsClient, exc: Exception, bucket: str, where: str) -> NoReturn:
    """Raise the listing's failure, chained to a credential-free copy of ``exc``."""
    known = client.known_secrets()
    what = f"GcsBackend: cannot list the artifacts under {where}"
    if status_of(exc) == 404:
        raise BucketNotFound(f"{what}: the bucket {bucket!r} does not exist") from scrubbed(
            exc, known
        )
    raise translate(exc, what, known, client.trust) from scrubbed(exc, known)
