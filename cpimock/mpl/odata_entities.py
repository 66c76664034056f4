"""The MPL's records as the API's entities: MessageProcessingLog and the entities around it.

What cpimock does not keep is an empty set, as on a tenant that has none: adapter attributes
(no adapter of cpimock writes any), message store entries (no iFlow step persists a message),
and runs (cpimock keeps no run steps; the steps' outcome is the message's ``Status`` and its
ErrorInformation's ``LastErrorModelStepId``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from cpimock.mpl.odata_model import EMPTY, Entity, Expanded, Value
from cpimock.mpl.odata_store import PropertyRow, Store
from cpimock.mpl.record import MplRecord, StoredAttachment

PROPERTIES = "MessageProcessingLogCustomHeaderProperties"
ALWAYS_EMPTY = ("MessageStoreEntries", "AdapterAttributes", "Runs")


@dataclass(frozen=True, slots=True)
class Shape:
    """What of an entity to write: ``$select`` (None: everything) and ``$expand``."""

    select: tuple[str, ...] | None = None
    expand: tuple[str, ...] = ()

    def values(self, values: dict[str, Value]) -> dict[str, Value]:
        if self.select is None:
            return values
        return {k: v for k, v in values.items() if k in self.select}

    def links(self, navs: Collection[str]) -> list[str]:
        return [n for n in navs if self.select is None or n in self.select or n in self.expand]


WHOLE = Shape()


class Shaper:
    def __init__(self, store: Store, base: str, component: str) -> None:
        self.store = store
        self.base = base.rstrip("/")
        self.component = component

    def mpl(self, rec: MplRecord, shape: Shape = WHOLE) -> Entity:
        flow = rec.integration_flow_name
        values: dict[str, Value] = {
            "MessageGuid": rec.message_guid,
            "CorrelationId": rec.correlation_id,
            "ApplicationMessageId": rec.application_message_id,
            "ApplicationMessageType": rec.application_message_type,
            "LogStart": rec.log_start,
            "LogEnd": rec.log_end,
            "Sender": rec.sender,
            "Receiver": rec.receiver,
            "IntegrationFlowName": flow,
            "Status": rec.status,
            "AlternateWebLink": f"{self.base.rsplit('/api/v1', 1)[0]}/monitor#{rec.message_guid}",
            "IntegrationArtifact": {
                "Id": flow,
                "Name": rec.integration_artifact_name or flow,
                "Type": "INTEGRATION_FLOW" if flow else None,
                "PackageId": None,
                "PackageName": None,
            },
            "LogLevel": rec.log_level,
            "CustomStatus": rec.effective_custom_status,
            "ArchivingStatus": "NOT_RELEVANT",
            "ArchivingSenderChannelMessages": False,
            "ArchivingReceiverChannelMessages": False,
            "ArchivingLogAttachments": False,
            "ArchivingPersistedMessages": False,
            "TransactionId": rec.transaction_id,
            "PreviousComponentName": None,
            "LocalComponentName": self.component,
            "OriginComponentName": self.component,
            "PredecessorMessageGuid": None,
        }
        item = Entity("MessageProcessingLogs", rec.message_guid, shape.values(values))
        navs = [n.name for n in item.type.navs]
        item.links = {n: self.navigation(rec, n) if n in shape.expand else None for n in shape.links(navs)}
        return item

    def navigation(self, rec: MplRecord, nav: str) -> Expanded:
        """A navigation property of a message, expanded."""
        guid = rec.message_guid
        if nav == "CustomHeaderProperties":
            return [self.custom_header(pid, guid, name, value) for pid, name, value in self.store.properties(guid)]
        if nav == "Attachments":
            return [self.attachment(guid, a) for a in self.store.attachments(guid)]
        if nav == "ErrorInformation":
            return self.error_information(rec) or EMPTY
        assert nav in ALWAYS_EMPTY, nav
        return []

    def custom_header(self, pid: int, guid: str, name: str, value: str, shape: Shape = WHOLE) -> Entity:
        item = Entity(PROPERTIES, str(pid), shape.values({"Id": str(pid), "Name": name, "Value": value}))
        if "Log" in shape.expand:
            rec = self.store.get(guid)
            item.links = {"Log": EMPTY if rec is None else self.mpl(rec)}
        elif shape.links(["Log"]):
            item.links = {"Log": None}
        return item

    def property_row(self, row: PropertyRow, shape: Shape = WHOLE) -> Entity:
        pid, guid, name, value = row
        return self.custom_header(pid, guid, name, value, shape)

    def attachment(self, guid: str, att: StoredAttachment) -> Entity:
        key = str(att.id)
        values: dict[str, Value] = {
            "Id": key,
            "MessageGuid": guid,
            "TimeStamp": att.timestamp,
            "Name": att.name,
            "ContentType": att.content_type,
            "PayloadSize": att.size,
        }
        return Entity("MessageProcessingLogAttachments", key, values, media_type=att.content_type)

    def error_information(self, rec: MplRecord) -> Entity | None:
        if rec.error_text() is None:
            return None
        kind = f"REFUSED_{rec.refusal_stage.upper()}" if rec.refusal_stage else "PROCESSING"
        values: dict[str, Value] = {
            "MessageGuid": rec.message_guid,
            "Type": kind,
            "LastErrorModelStepId": rec.error_step,
        }
        return Entity("MessageProcessingLogErrorInformations", rec.message_guid, values, media_type="text/plain")
