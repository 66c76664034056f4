"""The entity model of CPI's MPL OData API: entity types, their properties and navigation, sets.

One description serves ``$metadata``, the JSON renderer and the Atom renderer, so what the
metadata document promises and what the entities carry cannot drift apart. Names and types
follow SAP's ``MessageProcessingLogs`` EDMX (namespace ``com.sap.hci.api``) plus the properties
that live tenants add (``ArchivingStatus`` and friends, ``PredecessorMessageGuid``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

NS = "com.sap.hci.api"

STRING = "Edm.String"
DATETIME = "Edm.DateTime"
INT64 = "Edm.Int64"
BOOLEAN = "Edm.Boolean"
ARTIFACT = f"{NS}.IntegrationArtifact"


@dataclass(frozen=True, slots=True)
class Nav:
    """A navigation property: its name, the entity set it leads to, and whether to many."""

    name: str
    target_set: str
    many: bool
    # a link from a part back to its message (many of them to one message)
    parent: bool = False

    @property
    def ends(self) -> tuple[str, str]:
        """The multiplicities of the association's source and target ends."""
        if self.parent:
            return "*", "1"
        return "1", "*" if self.many else "0..1"


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str
    key: str
    props: tuple[tuple[str, str], ...]  # (name, EDM type), in the order entities carry them
    navs: tuple[Nav, ...] = ()
    # a media entity (m:HasStream): its bytes are at .../$value
    stream: bool = False

    @property
    def qualified(self) -> str:
        return f"{NS}.{self.name}"

    def nav(self, name: str) -> Nav | None:
        return next((n for n in self.navs if n.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.props) + tuple(n.name for n in self.navs)


def _strings(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, STRING) for n in names)


ARTIFACT_PROPS = _strings("Id", "Name", "Type", "PackageId", "PackageName")

MPL = EntityType(
    "MessageProcessingLog",
    "MessageGuid",
    (
        *_strings("MessageGuid", "CorrelationId", "ApplicationMessageId", "ApplicationMessageType"),
        ("LogStart", DATETIME),
        ("LogEnd", DATETIME),
        *_strings("Sender", "Receiver", "IntegrationFlowName", "Status", "AlternateWebLink"),
        ("IntegrationArtifact", ARTIFACT),
        *_strings("LogLevel", "CustomStatus", "ArchivingStatus"),
        ("ArchivingSenderChannelMessages", BOOLEAN),
        ("ArchivingReceiverChannelMessages", BOOLEAN),
        ("ArchivingLogAttachments", BOOLEAN),
        ("ArchivingPersistedMessages", BOOLEAN),
        *_strings(
            "TransactionId",
            "PreviousComponentName",
            "LocalComponentName",
            "OriginComponentName",
            "PredecessorMessageGuid",
        ),
    ),
    (
        Nav("CustomHeaderProperties", "MessageProcessingLogCustomHeaderProperties", True),
        Nav("MessageStoreEntries", "MessageStoreEntries", True),
        Nav("ErrorInformation", "MessageProcessingLogErrorInformations", False),
        Nav("AdapterAttributes", "MessageProcessingLogAdapterAttributes", True),
        Nav("Attachments", "MessageProcessingLogAttachments", True),
        Nav("Runs", "MessageProcessingLogRuns", True),
    ),
)
CUSTOM_HEADER_PROPERTY = EntityType(
    "MessageProcessingLogCustomHeaderProperty",
    "Id",
    _strings("Id", "Name", "Value"),
    (Nav("Log", "MessageProcessingLogs", False, parent=True),),
)
ATTACHMENT = EntityType(
    "MessageProcessingLogAttachment",
    "Id",
    (*_strings("Id", "MessageGuid"), ("TimeStamp", DATETIME), *_strings("Name", "ContentType"), ("PayloadSize", INT64)),
    stream=True,
)
ERROR_INFORMATION = EntityType(
    "MessageProcessingLogErrorInformation",
    "MessageGuid",
    _strings("MessageGuid", "Type", "LastErrorModelStepId"),
    stream=True,
)
ADAPTER_ATTRIBUTE = EntityType(
    "MessageProcessingLogAdapterAttribute",
    "Id",
    _strings("Id", "AdapterId", "AdapterMessageId", "Name", "Value"),
    (Nav("MessageProcessingLog", "MessageProcessingLogs", False, parent=True),),
)
RUN = EntityType(
    "MessageProcessingLogRun",
    "Id",
    (("Id", STRING), ("RunStart", DATETIME), ("RunStop", DATETIME), *_strings("LogLevel", "OverallState", "ProcessId")),
)
MESSAGE_STORE_ENTRY = EntityType(
    "MessageStoreEntry",
    "Id",
    (*_strings("Id", "MessageGuid", "MessageStoreId"), ("TimeStamp", DATETIME), ("HasAttachments", BOOLEAN)),
    stream=True,
)

# entity set -> type, in the order of the service document
SETS: dict[str, EntityType] = {
    "MessageProcessingLogs": MPL,
    "MessageProcessingLogAttachments": ATTACHMENT,
    "MessageProcessingLogCustomHeaderProperties": CUSTOM_HEADER_PROPERTY,
    "MessageProcessingLogErrorInformations": ERROR_INFORMATION,
    "MessageProcessingLogAdapterAttributes": ADAPTER_ATTRIBUTE,
    "MessageProcessingLogRuns": RUN,
    "MessageStoreEntries": MESSAGE_STORE_ENTRY,
}

Value = str | bool | int | dt.datetime | dict[str, str | None] | None


@dataclass(slots=True)
class Entity:
    """One entity as both renderers write it.

    *values* holds the properties to write (those of ``$select``), *links* the navigation
    properties to write: a name mapped to ``None`` is a deferred link, to a list or an Entity
    (or ``EMPTY`` for a to-one without target) an expanded one.
    """

    set_name: str
    key: str
    values: dict[str, Value]
    links: dict[str, Expanded | None] = field(default_factory=dict)
    media_type: str | None = None

    @property
    def type(self) -> EntityType:
        return SETS[self.set_name]

    @property
    def path(self) -> str:
        """The entity's address relative to the service root."""
        return f"{self.set_name}('{self.key.replace(chr(39), chr(39) * 2)}')"


class _Empty:
    """An expanded to-one navigation property without a target (CPI's ``null``)."""


EMPTY = _Empty()
Expanded = list[Entity] | Entity | _Empty


@dataclass(slots=True)
class Feed:
    """A collection as both renderers write it: the page of entities, ``__count``, the next link."""

    set_name: str
    entities: list[Entity]
    path: str  # relative to the service root: the set, or an entity's navigation property
    count: int | None = None
    next_url: str | None = None
