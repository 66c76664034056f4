"""Reading a CPI iFlow export (a flow zip, a package zip, or a folder) into a frozen description."""

from __future__ import annotations

from cpimock.iflows.export.archive import Limits, PackageInfo, PackageResource
from cpimock.iflows.export.errors import ExportError
from cpimock.iflows.export.loader import load_export
from cpimock.iflows.export.model import (
    Adapter,
    ClientCertificate,
    CollaborationSettings,
    ContentModifierStep,
    ExportedFlow,
    IdocOptions,
    IntegrationProcess,
    Parameter,
    ReportLine,
    ScriptStep,
    SenderChannel,
    SoapOptions,
    Step,
    UnsupportedStep,
)
from cpimock.iflows.export.report import render_report

__all__ = [
    "Adapter",
    "ClientCertificate",
    "CollaborationSettings",
    "ContentModifierStep",
    "ExportError",
    "ExportedFlow",
    "IdocOptions",
    "IntegrationProcess",
    "Limits",
    "PackageInfo",
    "PackageResource",
    "Parameter",
    "ReportLine",
    "ScriptStep",
    "SenderChannel",
    "SoapOptions",
    "Step",
    "UnsupportedStep",
    "load_export",
    "render_report",
]
