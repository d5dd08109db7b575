"""TLS fixtures: private CAs made by trustme, and the servers that present them.

Each server starts once per module (they are module-scoped), so the whole
folder starts a handful of processes:

* ``tls_files``: a CA and a certificate for 127.0.0.1 and localhost, which
  every server presents for the cases that must succeed;
* ``other_ca``: a CA that issued none of them, for "wrong CA";
* ``localhost_only``: a CA and a certificate for "localhost" alone, presented
  by the ``*_wrong_host`` servers, reached at 127.0.0.1 for "wrong host name".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.servers import RealServer, fake_gcs_server, moto_server, seaweedfs_server
from ..support.tls import TlsFiles, make_tls_files

_STARTERS = {"seaweedfs": seaweedfs_server, "moto": moto_server, "fake-gcs": fake_gcs_server}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A private CA and a server certificate for 127.0.0.1 and localhost."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Another private CA: no server here presents a certificate it issued."""
    return make_tls_files(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture(scope="module")
def localhost_only(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a certificate naming only "localhost" (not 127.0.0.1)."""
    return make_tls_files(tmp_path_factory.mktemp("localhost-only"), "localhost")


def start(kind: str, tls: TlsFiles) -> Iterator[RealServer]:
    """Start the ``kind`` server with ``tls`` for a module-scoped fixture."""
    with _STARTERS[kind](tls=tls) as server:
        yield server
