"""Handing the heap's free memory back to the kernel after a flood of connections (glibc only).

Each connection in its TLS handshake holds a 256 KiB read buffer of the event loop's TLS protocol
and OpenSSL's handshake state. glibc takes such buffers from the heap once the first one has been
freed (a freed mmap chunk raises its mmap threshold), and keeps the heap's free memory when the
connections close: after thousands of half-open handshakes the process stays large although
little of its heap is in use. ``malloc_trim(0)`` returns those free pages; other C libraries
have no such call, and there this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform

log = logging.getLogger(__name__)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        lib = ctypes.CDLL("libc.so.6")
        lib.malloc_trim.argtypes = [ctypes.c_size_t]
        lib.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError) as exc:
        log.debug("glibc's malloc_trim is not reachable: %s", exc)
        return None
    return lib


def release_free_memory() -> bool:
    """Give the heap's free pages back to the kernel (``malloc_trim(0)``); True if any were."""
    lib = _glibc()
    return lib is not None and lib.malloc_trim(0) == 1
