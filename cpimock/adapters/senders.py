"""The sender adapters a server serves, by kind, and the endpoint that serves them.

An adapter's module is imported when the server first needs that kind: at start for the
kinds of the workspace's channels (:meth:`~cpimock.adapters.endpoint.Endpoint.check`), else at
the first request for a channel of that kind (one a reload added), and the SOAP 1.x adapter at
the first ``/cxf/`` path that no channel serves (it answers with a SOAP fault). A workspace of
HTTPS channels alone does not load the SOAP and IDoc code at start.
"""

from __future__ import annotations

import importlib
import threading

from cpimock.adapters.endpoint import Endpoint, EndpointContext
from cpimock.adapters.https import HttpsAdapter
from cpimock.adapters.seam import SenderAdapter
from cpimock.identity.csrf import CsrfGuard
from cpimock.iflows.model import PREFIXES

__all__ = ["ADAPTERS", "Adapters", "make_endpoint"]

# the /cxf/ adapters: each kind's class as "module:class", imported when that kind is first needed
ADAPTERS: dict[str, str] = {
    "soap": "cpimock.adapters.soap_sender:SoapAdapter",
    "soap-rm": "cpimock.adapters.sap_rm_sender:SapRmAdapter",
    "idoc": "cpimock.adapters.idoc_sender:IdocAdapter",
}
# which adapter answers a request under a kind's prefix that no channel serves
_FALLBACK = {"https": "https", "soap": "soap", "soap-rm": "soap", "idoc": "soap"}


class Adapters:
    """The sender adapters of one server by kind: HTTPS made at once, the others when first asked for."""

    def __init__(self, https: HttpsAdapter) -> None:
        self._made: dict[str, SenderAdapter] = {"https": https}
        self._lock = threading.Lock()

    def get(self, kind: str, /) -> SenderAdapter | None:
        """The adapter of *kind*, its module imported on first use; ``None`` for a kind cpimock does not serve."""
        adapter = self._made.get(kind)
        if adapter is not None:
            return adapter
        spec = ADAPTERS.get(kind)
        if spec is None:
            return None
        with self._lock:  # a reload's check and a request may ask for the same kind at once
            adapter = self._made.get(kind)
            if adapter is None:
                module, _, name = spec.partition(":")
                made = getattr(importlib.import_module(module), name)()
                if not isinstance(made, SenderAdapter):
                    raise TypeError(f"{spec} is not a SenderAdapter")
                adapter = self._made[kind] = made
        return adapter


def make_endpoint(context: EndpointContext, csrf: CsrfGuard) -> Endpoint:
    """The iFlow endpoint with every adapter cpimock serves; a path under ``/cxf/`` that no channel
    serves is answered by the SOAP 1.x adapter (a SOAP fault), any other by the HTTPS one."""
    prefixes = {PREFIXES[kind]: _FALLBACK[kind] for kind in PREFIXES}
    return Endpoint(context, Adapters(HttpsAdapter(csrf)), prefixes)
