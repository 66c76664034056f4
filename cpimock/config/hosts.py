"""The tenant's host names: the addresses its service keys carry, the names its server
certificate lists, and which ``Host`` values name one of its routes.

A real tenant answers on Cloud Foundry routes: the runtime host
``<subdomain>.it-cpi<NNN>-rt.cfapps.<region>[-00x].hana.ondemand.com`` (iFlows, the ``url`` of an
``integration-flow`` key), the same host without ``-rt`` (the OData API), and the XSUAA token
hosts ``<subdomain>.authentication[.cert].<region>.hana.ondemand.com`` (``tokenurl``; the bare
region, without ``-00x``). With ``[tenant] host`` set, cpimock answers on those names (mapped to
127.0.0.1 in the hosts file) and its keys carry them; without it, keys carry ``localhost``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cpimock.config.model import Config

# <subdomain>.<it-cpiNNN>-rt.cfapps.<region>[-00x].hana.ondemand.com (SAP's runtime host shape)
_RUNTIME = re.compile(
    r"^(?P<sub>[a-z0-9][a-z0-9-]*)\.(?P<cluster>[a-z0-9-]+)-rt\.cfapps\."
    r"(?P<region>[a-z]{2}[0-9]+)(?P<ext>-[0-9]+)?\.(?P<domain>hana\.ondemand\.com)$"
)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def valid_host_name(value: str) -> bool:
    """Whether *value* is a DNS name a tenant can answer on (no scheme, port, path or IP literal)."""
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )


@dataclass(frozen=True, slots=True)
class TenantHosts:
    """The names one tenant answers on, and the URLs its keys carry for a port.

    *runtime* is ``[tenant] host`` (None: keys carry ``localhost``, every ``Host`` is served).
    """

    runtime: str | None
    api: str | None = None
    token: str | None = None
    token_cert: str | None = None

    @classmethod
    def of(cls, config: Config) -> TenantHosts:
        host = config.tenant.host
        if host is None:
            return cls(None)
        match = _RUNTIME.match(host)
        if match is None:  # a name of the user's own: iFlows, API and tokens all on it
            return cls(host, host, host, host)
        sub, region, domain = match["sub"], match["region"], match["domain"]
        api = f"{sub}.{match['cluster']}.cfapps.{region}{match['ext'] or ''}.{domain}"
        return cls(host, api, f"{sub}.authentication.{region}.{domain}", f"{sub}.authentication.cert.{region}.{domain}")

    def base_url(self, port: int) -> str:
        """The ``url`` of a service key: the runtime host (or localhost) at *port*."""
        return _url(self.runtime or "localhost", port)

    def token_url(self, port: int, *, certificate: bool = False) -> str:
        """The ``tokenurl`` of a key: the mTLS token host for certificate keys, as BTP writes it."""
        host = (self.token_cert if certificate else self.token) or "localhost"
        return _url(host, port) + "/oauth/token"

    def token_urls(self, port: int) -> tuple[str, ...]:
        """Every token URL the token endpoint answers as (the issuers of its tokens)."""
        urls = [_url("localhost", port) + "/oauth/token"]
        for host in (self.token, self.token_cert):
            if host is not None:
                urls.append(_url(host, port) + "/oauth/token")
        return tuple(dict.fromkeys(urls))

    def certificate_names(self) -> list[str]:
        """The names the server certificate lists besides localhost and the loopback addresses."""
        return list(dict.fromkeys(h for h in (self.runtime, self.api, self.token, self.token_cert) if h))

    def routes(self, bound: str | None = None) -> frozenset[str]:
        """The ``Host`` names (without port) a request may carry: the tenant's routes, the
        loopback names, and *bound* (the address the server listens on) when it is an IP literal."""
        names = {*self.certificate_names(), *LOOPBACK_NAMES}
        if bound is not None and _is_ip(bound):
            names.add(bound.strip("[]").lower())
        return frozenset(names)


def host_name(value: str) -> str:
    """A ``Host`` header's name without its port, lower case (``[::1]:8443`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}" if port == 443 else f"https://{shown}:{port}"
