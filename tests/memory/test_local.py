"""RSS after a burst of large stores and loads, on the in-process backends.

Each case runs ``burst.py`` in a fresh interpreter (``helpers.measure``).
"""

from __future__ import annotations

from pathlib import Path

from .helpers import WITHIN_MIB, assert_burst_returns, assert_stream_bounded, measure


def test_memory_backend_loads_leave_nothing_behind() -> None:
    # The memory backend's stored objects ARE its data (16 x 32 MiB), so only
    # the loads are judged: handing them out must not leave more behind.
    figures = measure({"backend": "memory", "scenario": "burst"})
    loads = figures["after_loads"] - figures["after_stores"]
    assert loads <= WITHIN_MIB, f"16 loads left RSS {loads:.0f} MiB higher: {figures}"


def test_file_backend_burst_returns(tmp_path: Path) -> None:
    # Before the fix: +320 to +384 MiB after the stores, every idle store
    # thread keeping its last call's 32 MiB payload alive.
    assert_burst_returns(
        measure({"backend": "file", "scenario": "burst", "root": str(tmp_path / "blobs")})
    )


def test_file_backend_stream_of_fresh_chunks_is_bounded(tmp_path: Path) -> None:
    # Before the fix: +66 MiB after store_stream and +76 after load_stream, one
    # 1 MiB chunk kept alive by each idle thread of the store pool.
    assert_stream_bounded(
        measure({"backend": "file", "scenario": "stream", "root": str(tmp_path / "blobs")})
    )
