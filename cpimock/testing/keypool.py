"""RSA keys generated ahead of need, for code that issues many certificates (the testing API).

An RSA 2048 key takes tens of milliseconds to generate; certificates signed for an existing
key take well under one. :class:`KeyPool` keeps a few keys ready and refills itself on a
daemon thread that ends as soon as the pool is full again (OpenSSL releases the GIL while it
generates, so the refill does not slow the caller down). Every key is handed out once.
"""

from __future__ import annotations

import atexit
import threading

from cpimock.pki.keys import PrivateKey, generate_key

# enough for the keys one test usually issues, small enough to fill while a tenant starts
DEFAULT_SIZE = 4


class KeyPool:
    """Fresh RSA 2048 private keys, each handed out once."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._keys: list[PrivateKey] = []
        self._lock = threading.Lock()
        self._filling = False
        self._closing = False
        self._thread: threading.Thread | None = None
        # a daemon thread killed by the interpreter's exit in the middle of OpenSSL's key
        # generation aborts the process ("exception not rethrown"): let it finish first
        atexit.register(self.close)

    def __len__(self) -> int:
        return len(self._keys)

    def take(self) -> PrivateKey:
        """A key nobody else got: from the pool when one is ready, else generated now."""
        with self._lock:
            key = self._keys.pop() if self._keys else None
        self.fill()
        return key if key is not None else generate_key()

    def fill(self) -> None:
        """Start refilling in the background unless the pool is full or already filling."""
        with self._lock:
            if self._closing or self._filling or len(self._keys) >= self.size:
                return
            self._filling = True
            self._thread = threading.Thread(target=self._refill, name="cpimock-keypool", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop refilling and wait for a key generation in progress (a fraction of a second)."""
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _refill(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closing or len(self._keys) >= self.size:
                        return
                key = generate_key()
                with self._lock:
                    self._keys.append(key)
        finally:
            with self._lock:
                self._filling = False


# one pool per process: tenants come and go, keys do not care which tenant certifies them
POOL = KeyPool()
