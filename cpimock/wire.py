"""Header names on the wire that both sides of a call know: the tenant sets them, senders read them."""

from __future__ import annotations

__all__ = ["LOG_ID_HEADER", "MPL_ID_HEADER"]

# CPI's: the id of the message processing log entry of a call whose iFlow ran
MPL_ID_HEADER = "SAP_MessageProcessingLogID"
# cpimock's, on every answer it logged (refusals too): `cpimock messages show ID` tells all
LOG_ID_HEADER = "Cpimock-Message-Id"
