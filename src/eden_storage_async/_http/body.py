"""One buffer for a body of known length, handed out as ``bytes`` without a copy.

Why: a 32 MiB body read as socket-sized pieces and joined leaves the allocator
holding pieces (issue 16: RSS stayed about 100 MiB high after 16 concurrent
32 MiB S3 loads), and the join doubles the peak. The callers need ``bytes``
(``load`` returns exactly that type), and ``bytes(bytearray)`` would copy the
whole body once more. So on CPython the buffer *is* the ``bytes`` object:
``PyBytes_FromStringAndSize(NULL, n)`` makes one whose contents are
uninitialised, and the C API allows writing into such a just-created object
(the ``PyBytes_AsString`` docs) before anyone else holds it; the socket reads
straight into it through ``PyMemoryView_FromMemory``. Elsewhere (no
``ctypes.pythonapi``), a ``bytearray`` is filled and copied once at the end.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["blank"]

_new: Callable[[None, int], bytes] | None
_address: Callable[[bytes], int]
_view: Callable[[int, int, int], memoryview]
try:
    import ctypes

    # Fresh prototypes, not ``ctypes.pythonapi.X.restype = ...``, which would
    # change those functions for every other user in the process.
    _new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)(
        ("PyBytes_FromStringAndSize", ctypes.pythonapi)
    )
    _address = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(
        ("PyBytes_AsString", ctypes.pythonapi)
    )
    _view = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)(
        ("PyMemoryView_FromMemory", ctypes.pythonapi)
    )
except (ImportError, AttributeError):  # pragma: no cover - not CPython
    _new = None

_PYBUF_WRITE = 0x200


def blank(size: int) -> tuple[memoryview, object, Callable[[], bytes]]:
    """A writable view of ``size`` bytes, the object that owns its memory (keep
    it alive as long as the view is in use), and what returns the filled bytes."""
    if _new is not None and size > 0:
        data = _new(None, size)
        view = _view(_address(data), size, _PYBUF_WRITE)
        return view, data, lambda: data
    buffer = bytearray(size)
    return memoryview(buffer), buffer, lambda: bytes(buffer)
