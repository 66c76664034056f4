"""pytest fixtures around :mod:`cpimock.testing`, loaded by the ``pytest11`` entry point ``cpimock``.

``cpimock_tenant``
    The session's tenant, emptied before each test (iFlows registered from Python, the MPL,
    step errors; service keys stay). After the test, an exception raised in a step fails it.
``cpimock_fresh_tenant``
    A tenant of the test's own (a new port and workspace; about a tenth of a second).
``cpimock_service_key``
    ``cpimock_service_key(name=None, roles=("ESBMessaging.send",), key_type="certificate")``
    issues a key on ``cpimock_tenant`` (``days=``, ``not_before=``, ``expired=True`` as
    :meth:`~cpimock.testing.Tenant.service_key` takes them).
``cpimock_tenant_options``
    Session-scoped keyword arguments for :class:`~cpimock.testing.ThreadedTenant`; override it in
    a ``conftest.py`` (e.g. ``{"client_auth": "required"}``).

Every tenant here serves from a thread of its own, so synchronous clients (``requests``) and
asyncio clients (``aiohttp``, ``httpx``) in any event loop can call it alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from cpimock.testing import TenantKey, ThreadedTenant

KeyFactory = Callable[..., TenantKey]


@pytest.fixture(scope="session")
def cpimock_tenant_options() -> dict[str, Any]:
    """Keyword arguments for every tenant of these fixtures; override to change them."""
    return {}


@pytest.fixture(scope="session")
def cpimock_session_tenant(cpimock_tenant_options: dict[str, Any]) -> Iterator[ThreadedTenant]:
    """The tenant shared by the whole session (use ``cpimock_tenant`` in tests)."""
    tenant = ThreadedTenant(**cpimock_tenant_options)
    tenant.start()
    try:
        yield tenant
    finally:
        tenant.stop()


@pytest.fixture
def cpimock_tenant(cpimock_session_tenant: ThreadedTenant) -> Iterator[ThreadedTenant]:
    """The session's tenant, cleared for this test; step exceptions are re-raised after it."""
    cpimock_session_tenant.clear()
    yield cpimock_session_tenant
    cpimock_session_tenant.check()


@pytest.fixture
def cpimock_fresh_tenant(cpimock_tenant_options: dict[str, Any]) -> Iterator[ThreadedTenant]:
    """A tenant for this test alone; step exceptions are re-raised after it."""
    tenant = ThreadedTenant(**cpimock_tenant_options)
    tenant.start()
    try:
        yield tenant
        tenant.check()
    finally:
        tenant.stop()


@pytest.fixture
def cpimock_service_key(cpimock_tenant: ThreadedTenant) -> KeyFactory:
    """Issue service keys on ``cpimock_tenant``: ``cpimock_service_key("s4", roles=[...])``."""

    def issue(
        name: str | None = None,
        *,
        roles: Sequence[str] = ("ESBMessaging.send",),
        key_type: Any = "certificate",
        **lifetime: Any,
    ) -> TenantKey:
        return cpimock_tenant.service_key(name, roles=roles, key_type=key_type, **lifetime)

    return issue
