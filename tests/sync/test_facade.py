"""``SyncArtifactBackend`` on its own: the original sync backends' behaviour, many
threads at once, streams fed from the calling thread, and the lifecycle. The
whole contract also runs through it (tests/support/backends.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from eden_storage_async import (
    ArtifactInfo,
    BackendClosed,
    FileArtifactBackend,
    InMemoryArtifactBackend,
    NotFound,
    SyncArtifactBackend,
    mint_opaque_id,
)


@pytest.fixture
def facade(tmp_path: Path) -> Iterator[SyncArtifactBackend]:
    with SyncArtifactBackend(FileArtifactBackend(tmp_path / "blobs")) as built:
        yield built


def test_it_behaves_as_the_original_sync_backends(facade: SyncArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    facade.store(opaque_id, b"first", content_type="text/plain", metadata={"who": "me"})
    with pytest.raises(FileExistsError):
        facade.store(opaque_id, b"second")
    assert facade.load(opaque_id) == b"first"
    assert facade.load_range(opaque_id, 1, -1) == b"irs"
    info = facade.stat(opaque_id)
    assert isinstance(info, ArtifactInfo)
    assert (info.size, info.content_type, dict(info.metadata)) == (5, "text/plain", {"who": "me"})
    with pytest.raises(NotFound):
        facade.load(mint_opaque_id())
    # The original's message, which its callers and tests match on.
    with pytest.raises(ValueError, match=r"^invalid opaque artifact id 'nope'"):
        facade.load("nope")
    with pytest.raises(ValueError, match=r"^invalid opaque artifact id"):
        facade.store("A" * 32, b"x")


def test_many_threads_at_once(facade: SyncArtifactBackend) -> None:
    def work(n: int) -> None:
        for _ in range(10):
            opaque_id = mint_opaque_id()
            payload = f"{n}-{opaque_id}".encode() * 50
            facade.store(opaque_id, payload)
            assert facade.load(opaque_id) == payload
            assert facade.stat(opaque_id).size == len(payload)

    with ThreadPoolExecutor(16) as pool:
        for result in [pool.submit(work, n) for n in range(16)]:
            result.result()


def test_a_stream_is_read_in_the_calling_thread(facade: SyncArtifactBackend) -> None:
    readers: set[int] = set()

    def chunks() -> Iterator[bytes]:
        for i in range(50):
            readers.add(threading.get_ident())
            yield bytes([i]) * 10_000

    opaque_id = mint_opaque_id()
    facade.store_stream(opaque_id, chunks(), metadata={"k": "v"})
    assert readers == {threading.get_ident()}
    assert facade.load(opaque_id) == b"".join(bytes([i]) * 10_000 for i in range(50))
    assert dict(facade.stat(opaque_id).metadata) == {"k": "v"}


def test_one_reused_buffer_for_every_chunk_is_safe(facade: SyncArtifactBackend) -> None:
    buffer = bytearray(4096)

    def chunks() -> Iterator[bytearray]:
        for i in range(64):
            buffer[:] = bytes([i]) * 4096
            yield buffer

    opaque_id = mint_opaque_id()
    facade.store_stream(opaque_id, chunks())
    assert facade.load(opaque_id) == b"".join(bytes([i]) * 4096 for i in range(64))


def test_a_failing_stream_raises_its_error_and_stores_nothing(facade: SyncArtifactBackend) -> None:
    class Boom(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise Boom("the source broke")

    opaque_id = mint_opaque_id()
    with pytest.raises(Boom, match="the source broke"):
        facade.store_stream(opaque_id, chunks())
    with pytest.raises(NotFound):
        facade.stat(opaque_id)
    facade.store(opaque_id, b"the id is still free")


def test_a_stream_to_a_taken_id_stops_reading_and_raises(facade: SyncArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    facade.store(opaque_id, b"first")
    with pytest.raises(FileExistsError):
        facade.store_stream(opaque_id, (b"y" * 1000 for _ in range(20)))
    assert facade.load(opaque_id) == b"first"


def test_load_stream_whole_and_ranged(facade: SyncArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    data = bytes(range(256)) * 10_000
    facade.store(opaque_id, data)
    with facade.load_stream(opaque_id) as chunks:
        assert b"".join(chunks) == data
    with facade.load_stream(opaque_id, start=-1000, end=-10) as chunks:
        assert b"".join(chunks) == data[-1000:-10]
    with pytest.raises(NotFound), facade.load_stream(mint_opaque_id()):
        pass


def test_a_call_from_its_own_loop_is_an_error_not_a_deadlock() -> None:
    class CallsBack(InMemoryArtifactBackend):
        facade: SyncArtifactBackend

        async def _load(self, opaque_id: str) -> bytes:
            # Runs on the facade's loop thread: the facade would wait for itself.
            return self.facade.load(opaque_id)

    backend = CallsBack()
    with SyncArtifactBackend(backend) as facade:
        backend.facade = facade
        opaque_id = mint_opaque_id()
        facade.store(opaque_id, b"x")
        with pytest.raises(RuntimeError, match="its own event loop"):
            facade.load(opaque_id)


def test_after_close_a_thread_given_the_loop_threads_old_ident_gets_backend_closed() -> None:
    # Once the loop thread has ended, the system may give its ident to a new
    # thread (a to_thread worker did, in a contract run): that caller must get
    # BackendClosed, not "called from its own event loop".
    facade = SyncArtifactBackend(InMemoryArtifactBackend())
    facade.close()

    class ReusedIdent:
        ident = threading.get_ident()

    facade._thread = ReusedIdent()  # type: ignore[assignment]
    with pytest.raises(BackendClosed):
        facade.store(mint_opaque_id(), b"x")


def test_close_closes_the_backend_and_refuses_more(tmp_path: Path) -> None:
    backend = InMemoryArtifactBackend()
    facade = SyncArtifactBackend(backend)
    facade.store(mint_opaque_id(), b"x")
    facade.close()
    facade.close()
    with pytest.raises(BackendClosed):
        facade.load(mint_opaque_id())
    with pytest.raises(BackendClosed):
        facade.store(mint_opaque_id(), b"x")
    assert not facade._thread.is_alive()
    assert "InMemoryArtifactBackend" in repr(facade)


def test_close_waits_for_calls_under_way(tmp_path: Path) -> None:
    facade = SyncArtifactBackend(FileArtifactBackend(tmp_path))
    ids = [mint_opaque_id() for _ in range(32)]
    with ThreadPoolExecutor(8) as pool:
        stores = [pool.submit(facade.store, i, b"z" * 200_000) for i in ids]
        # Some stores are under way, some not yet handed over, when close runs.
        for store in stores[:4]:
            store.result()
        facade.close()
        outcomes = [type(s.exception()) if s.exception() else None for s in stores]
    assert set(outcomes) <= {None, BackendClosed}
    stored = [i for i, outcome in zip(ids, outcomes, strict=True) if outcome is None]
    with SyncArtifactBackend(FileArtifactBackend(tmp_path)) as again:
        for opaque_id in stored:
            assert again.load(opaque_id) == b"z" * 200_000


def test_an_open_stream_finishes_while_close_waits_for_it(tmp_path: Path) -> None:
    facade = SyncArtifactBackend(FileArtifactBackend(tmp_path))
    opaque_id = mint_opaque_id()
    data = bytes(range(256)) * 20_000
    facade.store(opaque_id, data)
    with ThreadPoolExecutor(1) as pool, facade.load_stream(opaque_id) as chunks:
        first = next(chunks)
        closing = pool.submit(facade.close)
        while not facade._closed:  # close() has begun: it refuses new calls now
            time.sleep(0.001)
        # close() is waiting for this stream; its reads and its exit go on.
        rest = b"".join(chunks)
        assert not closing.done()
    closing.result(timeout=30)
    assert first + rest == data
