"""``GcsBackend``'s TLS settings and how TLS failures are classed (unit level).

End to end, over real TLS servers, is tests/tls/. Here: ``ca_bundle``'s
checks, a bundle that cannot be used (a ``TlsError`` at first use that opens
nothing), a handshake the server refuses (``TlsError`` at once, one
connection), and which ``ssl`` errors are lasting and which stay transient.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from eden_storage_async import ConfigError, GcsBackend, TlsError, mint_opaque_id
from eden_storage_async._gcs.errors import is_transient
from eden_storage_async._gcs.lean import LeanUpload
from eden_storage_async._gcs.tls import TlsFailure

from ..support.gcs_scripted import ScriptedGcs
from ..support.loopback import LoopbackServer
from ..support.tls import TlsFiles, make_tls_files
from .helpers import backend_for


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


def test_ca_bundle_with_a_session_of_ones_own_is_refused(scripted: ScriptedGcs) -> None:
    with pytest.raises(ConfigError, match="ca_bundle cannot be combined with session"):
        backend_for(scripted, session=object(), ca_bundle="/etc/ssl/ca.pem")


def test_an_empty_ca_bundle_is_refused(scripted: ScriptedGcs) -> None:
    with pytest.raises(ConfigError, match="ca_bundle must name a PEM file"):
        backend_for(scripted, ca_bundle="")


async def _store(backend: GcsBackend) -> None:
    await backend.store(mint_opaque_id(), b"data")


async def _load(backend: GcsBackend) -> None:
    await backend.load(mint_opaque_id())


_CALLS = {"store": _store, "lean store": _store, "load": _load}


def _unusable(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pem"
    if kind == "directory":
        path.mkdir()
    elif kind == "not a certificate":
        path.write_text("-----BEGIN NOTHING-----\n")
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "No such file or directory"),
        ("directory", "Is a directory"),
        ("not a certificate", "no CA certificate could be read from it"),
    ],
)
@pytest.mark.parametrize("call", ["store", "load"])
async def test_an_unusable_ca_bundle_is_tls_error_naming_it_and_opens_nothing(
    scripted: ScriptedGcs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    reason: str,
    call: str,
) -> None:
    opened: list[str] = []
    session_init, lean_init = aiohttp.ClientSession.__init__, LeanUpload.__init__

    def counting_session(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        opened.append("session")
        session_init(self, *args, **kwargs)

    def counting_lean(self: LeanUpload, *args: Any, **kwargs: Any) -> None:
        opened.append("lean")
        lean_init(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_session)
    monkeypatch.setattr(LeanUpload, "__init__", counting_lean)
    bundle = _unusable(tmp_path, kind)
    https = scripted.endpoint_url.replace("http://", "https://")
    backend = GcsBackend(bucket=scripted.bucket, endpoint_url=https, ca_bundle=bundle)
    async with backend:
        for _ in range(2):  # every call says so, not only the first
            with pytest.raises(TlsError) as caught:
                await _CALLS[call](backend)
            message = str(caught.value)
            assert repr(str(bundle)) in message
            assert "ca_bundle" in message
            assert "--blob-gcs-ca-bundle" in message
            assert reason in message
    assert opened == []
    assert scripted.calls == []


class _PlainHttp(LoopbackServer):
    """Answers anything with a plain-HTTP 400, as a server without TLS would."""

    grace_s = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.read(65536)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.mark.parametrize("call", ["lean store", "load"])
async def test_a_handshake_the_server_refuses_is_tls_error_at_once(
    tls_files: TlsFiles, call: str
) -> None:
    # https to a server that speaks plain HTTP: ssl's WRONG_VERSION_NUMBER,
    # which every attempt would meet again.
    async with _PlainHttp() as server:
        https = f"https://127.0.0.1:{server.port}"
        async with GcsBackend(
            bucket="eden-bucket", endpoint_url=https, ca_bundle=tls_files.ca
        ) as backend:
            with pytest.raises(TlsError, match="the TLS handshake failed") as caught:
                await _CALLS[call](backend)
    assert server.connections == 1
    assert "not retried" in str(caught.value)


_KEY = ConnectionKey("127.0.0.1", 443, True, True, None, None, None, None)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (
            aiohttp.ClientConnectorCertificateError(_KEY, ssl.SSLCertVerificationError(1, "x")),
            False,
        ),
        (aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLError(1, "WRONG_VERSION_NUMBER")), False),
        # Cut short by the peer or the network: another attempt may succeed.
        (aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLEOFError(8, "EOF")), True),
        (aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLZeroReturnError(6, "closed")), True),
        (aiohttp.ClientConnectorError(_KEY, ConnectionResetError(104, "reset")), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_which_tls_failures_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_the_lean_path_s_lasting_tls_failure_is_not_retried() -> None:
    lean = TlsFailure("127.0.0.1:443", "TLS with 127.0.0.1:443 failed")
    lean.__cause__ = ssl.SSLCertVerificationError(1, "x")
    assert not is_transient(lean)
