"""What an iFlow is, whichever way it was described: its sender channels, its steps, its settings.

An ``[[iflows]]`` table of ``cpimock.toml`` and a CPI export both become an :class:`IFlow` before
anything is served. A sender channel (:class:`Channel`) is one way in: CPI's adapter, its
address, who may call and how much they may send. The server routes a request to a channel
(:class:`Route`), asks the channel whether the caller may call, and runs the iFlow's steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cpimock.config import DEFAULT_MAX_BODY_MB, DEFAULT_ROLE, IFlowConfig, SubjectPair

Adapter = Literal["https"]
Authorization = Literal["user-role", "client-certificate"]

# the path prefix CPI serves each adapter under
PREFIXES: dict[str, str] = {"https": "/http"}


@dataclass(frozen=True, slots=True)
class Channel:
    """One sender channel: how a sender reaches the iFlow, and who may."""

    iflow_id: str
    adapter: Adapter
    address: str
    authorization: Authorization = "user-role"
    role: str = DEFAULT_ROLE
    client_certificates: tuple[SubjectPair, ...] = ()
    csrf: bool = True
    max_body_mb: float = DEFAULT_MAX_BODY_MB

    @property
    def prefix(self) -> str:
        """``/http`` for the HTTPS adapter."""
        return PREFIXES[self.adapter]

    @property
    def url_path(self) -> str:
        """What a sender calls: the prefix and the address (``/http/orders``)."""
        return self.prefix + self.address

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class IFlow:
    """An integration flow as the tenant serves it."""

    id: str
    channels: tuple[Channel, ...]
    steps: tuple[str, ...] = ()
    allowed_headers: tuple[str, ...] = ()
    return_exception_to_sender: bool = False
    state: Literal["started", "stopped"] = "started"
    timeout_s: float = 60.0
    auth_methods: frozenset[str] = frozenset({"certificate", "basic", "oauth"})


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: the iFlow, the channel it came in by, and the part of the path the
    address matched beyond itself (``CamelHttpPath``)."""

    iflow: IFlow
    channel: Channel
    path: str = ""


def from_config(table: IFlowConfig) -> IFlow:
    """The iFlow an ``[[iflows]]`` table describes: one channel, the table's settings."""
    channel = Channel(
        iflow_id=table.id,
        adapter="https",
        address=table.address,
        authorization=table.authorization,
        role=table.role,
        client_certificates=table.client_certificates,
        csrf=table.csrf,
        max_body_mb=table.max_body_mb,
    )
    return IFlow(
        id=table.id,
        channels=(channel,),
        steps=table.steps,
        allowed_headers=table.allowed_headers,
        return_exception_to_sender=table.return_exception_to_sender,
        state=table.state,
        timeout_s=table.timeout_s,
        auth_methods=table.auth_methods,
    )
