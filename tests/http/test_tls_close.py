"""A TLS connection the client closes is closed at once, not after a close_notify
exchange that a stopping loop would never finish.

Seen in tests/tls on a loaded machine: ``aclose()`` started a TLS close, the
test's loop ended before the server's close_notify came back, and the socket
was left open (a ResourceWarning that failed a later test). A closed
connection is never used again, so the client aborts it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eden_storage_async._http.client import HttpClient

from ..support.tls import TlsFiles, make_tls_files
from .helpers import both_loops


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def silent_after_answer(tls_files: TlsFiles) -> Iterator[int]:
    """A TLS server that answers one request, then never reads again, so it
    never answers the client's close_notify."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        raw, _ = listener.accept()
        with raw, context.wrap_socket(raw, server_side=True) as tls:
            head = b""
            while b"\r\n\r\n" not in head:
                head += tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(10)
        listener.close()


@both_loops
async def test_aclose_closes_a_tls_connection_at_once(
    silent_after_answer: int, tls_files: TlsFiles
) -> None:
    context = ssl.create_default_context(cafile=str(tls_files.ca))
    client = HttpClient(
        limit=1, connect_timeout=5, read_timeout=5, ssl_context=context, user_agent="t"
    )
    response = await client.request("GET", True, "127.0.0.1", silent_after_answer, "/", {}, None)
    assert await response.read() == b"ok"
    response.release()
    (pool,) = client._pools.values()
    sock = pool._idle[-1].transport.get_extra_info("socket")
    await client.aclose()
    await asyncio.sleep(0.05)
    assert sock.fileno() == -1, "the TLS socket is still open after aclose()"
