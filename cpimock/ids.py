"""Random ids made on the request path: unique, not secret.

The process's own pseudo-random generator, seeded from the OS and seeded again in every forked
worker (a forked copy would repeat the parent's ids), spares a system call per id: an id made
with ``os.urandom`` (``uuid.uuid4``) costs a ``getrandom`` call and a ``UUID`` object on every
answer. Nothing here may guard anything: secrets (CSRF tokens, client secrets, token ids) come
from :mod:`secrets`.
"""

from __future__ import annotations

import os
import random

__all__ = ["random_bits", "random_uuid"]

_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)

random_bits = _random.getrandbits


# a version 4 UUID's fixed bits: the version nibble (4) and the variant (binary 10, RFC 9562)
_UUID_KEEP = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_UUID_SET = 0x4000 << 64 | 0x8000 << 48


def random_uuid() -> str:
    """A version 4 (random) UUID in its usual text form, ``xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx``."""
    text = "%032x" % (_random.getrandbits(128) & _UUID_KEEP | _UUID_SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
