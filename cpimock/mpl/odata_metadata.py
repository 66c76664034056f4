"""A minimal ``$metadata`` document for the part of CPI's MPL API that cpimock serves.

It follows the names of SAP's ``MessageProcessingLogs.edmx`` so that generated OData clients
find the entity sets, keys and navigation properties they expect.
"""

from __future__ import annotations

_S = "Edm.String"
_D = "Edm.DateTime"
_MPL = (
    ("MessageGuid", _S),
    ("CorrelationId", _S),
    ("ApplicationMessageId", _S),
    ("ApplicationMessageType", _S),
    ("LogStart", _D),
    ("LogEnd", _D),
    ("Sender", _S),
    ("Receiver", _S),
    ("IntegrationFlowName", _S),
    ("Status", _S),
    ("AlternateWebLink", _S),
    ("IntegrationArtifact", "com.sap.hci.api.IntegrationArtifact"),
    ("LogLevel", _S),
    ("CustomStatus", _S),
    ("TransactionId", _S),
    ("PreviousComponentName", _S),
    ("LocalComponentName", _S),
    ("OriginComponentName", _S),
)


def _props(props: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<Property Name="{n}" Type="{t}" Nullable="true"/>' for n, t in props)


def _nav(name: str, rel: str, to_role: str) -> str:
    return f'<NavigationProperty Name="{name}" Relationship="com.sap.hci.api.{rel}" FromRole="MPL" ToRole="{to_role}"/>'


EDMX = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">'
    '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
    ' m:DataServiceVersion="2.0">'
    '<Schema Namespace="com.sap.hci.api" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
    '<EntityType Name="MessageProcessingLog"><Key><PropertyRef Name="MessageGuid"/></Key>'
    + _props(_MPL)
    + _nav("CustomHeaderProperties", "MPL_CustomHeaderProperties", "CustomHeaderProperty")
    + _nav("Attachments", "MPL_Attachments", "Attachment")
    + _nav("ErrorInformation", "MPL_ErrorInformation", "ErrorInformation")
    + "</EntityType>"
    '<ComplexType Name="IntegrationArtifact">'
    + _props((("Id", _S), ("Name", _S), ("Type", _S), ("PackageId", _S), ("PackageName", _S)))
    + "</ComplexType>"
    '<EntityType Name="MessageProcessingLogCustomHeaderProperty"><Key><PropertyRef Name="Id"/></Key>'
    + _props((("Id", _S), ("Name", _S), ("Value", _S)))
    + "</EntityType>"
    '<EntityType Name="MessageProcessingLogAttachment" m:HasStream="true"><Key><PropertyRef Name="Id"/></Key>'
    + _props(
        (
            ("Id", _S),
            ("MessageGuid", _S),
            ("TimeStamp", _D),
            ("Name", _S),
            ("ContentType", _S),
            ("PayloadSize", "Edm.Int64"),
        )
    )
    + "</EntityType>"
    '<EntityType Name="MessageProcessingLogErrorInformation" m:HasStream="true">'
    '<Key><PropertyRef Name="MessageGuid"/></Key>'
    + _props((("MessageGuid", _S), ("Type", _S), ("LastErrorModelStepId", _S)))
    + "</EntityType>"
    '<EntityContainer Name="EntityContainer" m:IsDefaultEntityContainer="true">'
    '<EntitySet Name="MessageProcessingLogs" EntityType="com.sap.hci.api.MessageProcessingLog"/>'
    '<EntitySet Name="MessageProcessingLogCustomHeaderProperties"'
    ' EntityType="com.sap.hci.api.MessageProcessingLogCustomHeaderProperty"/>'
    '<EntitySet Name="MessageProcessingLogAttachments" EntityType="com.sap.hci.api.MessageProcessingLogAttachment"/>'
    '<EntitySet Name="MessageProcessingLogErrorInformations"'
    ' EntityType="com.sap.hci.api.MessageProcessingLogErrorInformation"/>'
    "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
)
