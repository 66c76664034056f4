"""The sender adapters a server serves, by kind, and the endpoint that serves them."""

from __future__ import annotations

from cpimock.adapters.endpoint import Endpoint, EndpointContext
from cpimock.adapters.https import HttpsAdapter
from cpimock.adapters.idoc_sender import IdocAdapter
from cpimock.adapters.sap_rm_sender import SapRmAdapter
from cpimock.adapters.seam import SenderAdapter
from cpimock.adapters.soap_sender import SoapAdapter
from cpimock.identity.csrf import CsrfGuard
from cpimock.iflows.model import PREFIXES

__all__ = ["make_endpoint"]


def make_endpoint(context: EndpointContext, csrf: CsrfGuard) -> Endpoint:
    """The iFlow endpoint with every adapter cpimock serves; a path under ``/cxf/`` that no channel
    serves is answered by the SOAP 1.x adapter (a SOAP fault), any other by the HTTPS one."""
    adapters: dict[str, SenderAdapter] = {
        "https": HttpsAdapter(csrf),
        "soap": SoapAdapter(),
        "soap-rm": SapRmAdapter(),
        "idoc": IdocAdapter(),
    }
    fallback = {"https": "https", "soap": "soap", "soap-rm": "soap", "idoc": "soap"}
    prefixes = {PREFIXES[kind]: fallback[kind] for kind in PREFIXES}
    return Endpoint(context, adapters, prefixes)
