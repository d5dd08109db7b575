"""Fixtures shared by the factory and the flag tests: ``no_network``."""

from __future__ import annotations

import socket
from typing import Any

import pytest


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any DNS lookup or connect: construction must do no I/O."""

    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError("network I/O during construction")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
