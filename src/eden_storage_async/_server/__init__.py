"""The reference server behind ``eden-blob serve``: eden's artifact wire over any backend.

``app`` (create_app, serve, drain), ``state`` (settings, admission), ``problems``
(problem+json), ``deposit`` (multipart into store_stream), ``fetch`` and
``conditional`` (streamed fetch, Range, ETag), ``legacy_fetch`` (legacy file://
rows); ``auth``, ``binding`` and ``legacy`` are pure and import no aiohttp.
"""
