"""Where the lean path's calls go and what it takes from the aiobotocore client:
``LeanRoutedClient`` sends PutObject, GetObject and HeadObject lean and the rest to
the SDK; TLS verification is the client's own; a client behind a proxy is refused
(``LeanPathUnsupported``), which keeps ``S3Backend`` on the SDK path."""

from __future__ import annotations

import ssl

import pytest

from eden_storage_async._s3.lean.calls import LeanPathUnsupported, LeanRoutedClient, open_lean_calls

from .lean_helpers import _BUCKET, _SECRET, FakeS3, lean_on, ok, sdk_client


@pytest.mark.usefixtures("creds")
async def test_the_routed_client_sends_three_calls_lean_and_the_rest_to_the_sdk() -> None:
    async with FakeS3(ok()) as fake, lean_on(fake.server()) as (lean, client):
        routed = LeanRoutedClient(client, lean)
        assert routed.put_object == lean.put_object
        assert routed.get_object == lean.get_object
        assert routed.head_object == lean.head_object
        assert routed.create_multipart_upload == client.create_multipart_upload
        await routed.head_object(Bucket=_BUCKET, Key="k")
    assert fake.requests[0].headers["User-Agent"].startswith("eden-storage-async/")
    assert _SECRET not in repr(routed)


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("verify", [True, False])
async def test_tls_settings_are_the_clients_own(verify: bool) -> None:
    async with FakeS3(ok()) as fake, sdk_client(fake.server()) as client:
        client._endpoint.http_session._verify = verify  # as create_client(verify=...) sets it
        lean = await open_lean_calls(client, max_concurrency=1)
        try:
            context = lean._http.ssl_context
            assert context is not None
            assert context.verify_mode == (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
            assert context.check_hostname is verify
        finally:
            await lean.aclose()


@pytest.mark.usefixtures("creds")
async def test_a_client_behind_a_proxy_is_refused() -> None:
    async with (
        FakeS3(ok()) as fake,
        sdk_client(
            fake.server(), proxies={"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
        ) as client,
    ):
        with pytest.raises(LeanPathUnsupported, match="proxy"):
            await open_lean_calls(client, max_concurrency=1)
