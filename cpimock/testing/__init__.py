"""A throw-away tenant for a sender's own tests: start, register iFlows, issue keys, assert on the MPL.

::

    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[answer])      # plain functions are steps
        key = tenant.service_key("s4")                       # a Certificate service key
        async with aiohttp.ClientSession() as s:
            await s.post(flow.url, data=b"...", ssl=key.ssl_context())
        [record] = tenant.messages(iflow=flow.id)

:class:`Tenant` runs the real :class:`cpimock.http.server.Server` on the caller's event loop;
:class:`ThreadedTenant` (``with ThreadedTenant() as tenant:``) runs it on a thread of its own,
for synchronous clients such as ``requests``. Both listen on an ephemeral loopback port, in a
temporary workspace copied from one made per process (so all tenants of a process share one
CA unless ``fresh_pki=True``), and remove it when stopped; a tenant left running is stopped
at interpreter exit.

An exception raised inside a step is kept and re-raised by :meth:`check` (and on leaving the
``with`` block), so a broken handler fails the test that called it. No pytest in here: the
fixtures are in :mod:`cpimock.pytest_plugin`.
"""

from cpimock.testing.base import IFlow, StepFailed
from cpimock.testing.keys import TenantKey
from cpimock.testing.tenant import Tenant, ThreadedTenant
from cpimock.testing.untrusted import UntrustedKey

__all__ = ["IFlow", "StepFailed", "Tenant", "TenantKey", "ThreadedTenant", "UntrustedKey"]
