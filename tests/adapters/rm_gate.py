"""Events the SOAP (SAP RM) tests' steps wait on and set, so that copies of a message overlap."""

from __future__ import annotations

import threading

entered = threading.Event()  # a gated step has started
opened = threading.Event()  # the gated step may end
healed = threading.Event()  # the failing step succeeds from now on


def reset() -> None:
    for event in (entered, opened, healed):
        event.clear()
