"""TLS for the real servers: a private CA made by trustme, and a TCP proxy that counts.

* ``make_tls_files``: a fresh CA and a server certificate for the names given
  (by default ``127.0.0.1`` and ``localhost``), written as PEM files a server
  process can read, plus the CA's PEM for the client to trust.
* ``ConnectionCounter``: a plain TCP proxy on 127.0.0.1 in front of a TLS
  server. It does not terminate TLS (the certificate the client sees is the
  server's own); it counts the connections opened through it, so a test can
  prove that a failed handshake was not tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from .loopback import LoopbackServer

__all__ = ["ConnectionCounter", "TlsFiles", "make_tls_files"]

DEFAULT_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """A server's certificate chain and key, and the CA that issued it."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts only this CA, for the harness's own probes.

        It skips the host-name check: a server whose certificate names only
        "localhost" must still be probed at 127.0.0.1. The backends under test
        check names.
        """
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        return context


def make_tls_files(directory: Path, *names: str) -> TlsFiles:
    """A new CA and a certificate for ``names`` (default: 127.0.0.1 and localhost)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert(*(names or DEFAULT_NAMES))
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    # The leaf first, then the chain: what every server here expects in one file.
    with files.cert.open("wb") as out:
        for blob in issued.cert_chain_pems:
            out.write(blob.bytes())
    issued.private_key_pem.write_to_path(str(files.key))
    return files


class ConnectionCounter(LoopbackServer):
    """A TCP proxy to ``127.0.0.1:upstream_port`` that counts what it accepts."""

    # A refused handshake ends both sides at once; let the handler see it.
    grace_s = 1.0

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self._upstream_port = upstream_port
        self.connections = 0

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:PORT``: the host name the certificates are checked for."""
        return f"https://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward one connection both ways until either side closes."""
        self.connections += 1
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
            async with asyncio.TaskGroup() as group:
                group.create_task(_pump(reader, up_writer))
                group.create_task(_pump(up_reader, writer))
        except* (_Ended, ConnectionError):
            pass
        finally:
            for stream in (writer, up_writer):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(ConnectionError):
                        await stream.wait_closed()


class _Ended(Exception):
    """One side closed: end the whole connection."""


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while chunk := await source.read(65536):
        sink.write(chunk)
        await sink.drain()
    raise _Ended
