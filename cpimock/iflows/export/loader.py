"""``load_export``: an export on disk to the frozen description of each of its iFlows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from cpimock.iflows.export.archive import FlowFiles, Limits, PackageInfo, open_export
from cpimock.iflows.export.errors import ExportError
from cpimock.iflows.export.iflw import read_iflw
from cpimock.iflows.export.manifest import FLOW_BUNDLE_TYPES, parse_manifest
from cpimock.iflows.export.model import ExportedFlow, ReportLine, ScriptStep
from cpimock.iflows.export.parameters import ParameterResolver, read_parameters
from cpimock.iflows.export.scripts import unpack_scripts

__all__ = ["load_export"]


def load_export(
    path: str | os.PathLike[str],
    overrides: Mapping[str, str] | None = None,
    *,
    flow_overrides: Mapping[str, Mapping[str, str]] | None = None,
    limits: Limits | None = None,
    scripts: Path | None = None,
) -> list[ExportedFlow]:
    """Every iFlow of the export at *path* (one for a flow export, several for a package).

    *overrides* set parameter values for every flow, as CPI's *Configure* dialog does;
    *flow_overrides* set them for one flow, by its id (Bundle-SymbolicName), and win. A
    malformed or hostile export raises :class:`ExportError`; what cpimock cannot serve in a
    readable export is in each flow's report (``flow.errors``, ``flow.check()``). With
    *scripts*, the ``script/`` and ``lib/`` of a flow whose steps run a script are unpacked
    under that folder for the JVM (``flow.scripts``).
    """
    with open_export(path, limits) as export:
        if export.package is not None and not export.flows:
            kinds = ", ".join(sorted({resource.kind for resource in export.package.resources})) or "nothing"
            raise ExportError(f"{path}: the package {export.package.name!r} holds no integration flow ({kinds})")
        flows = []
        single = export.package is None
        for files in export.flows:
            flow = _load_flow(files, overrides or {}, flow_overrides or {}, export.package, single=single)
            runs_scripts = any(isinstance(s, ScriptStep) and s.runs for p in flow.processes for s in p.steps)
            if scripts is not None and runs_scripts:
                flow = replace(flow, scripts=unpack_scripts(files, scripts))
            flows.append(flow)
        return flows


def _load_flow(
    files: FlowFiles,
    overrides: Mapping[str, str],
    flow_overrides: Mapping[str, Mapping[str, str]],
    package: PackageInfo | None,
    *,
    single: bool,
) -> ExportedFlow:
    manifest = parse_manifest(files.read("META-INF/MANIFEST.MF"), files.origin)
    report: list[ReportLine] = []
    if manifest.bundle_type != "IntegrationFlow":
        report.append(ReportLine("info", "manifest", f"{FLOW_BUNDLE_TYPES[manifest.bundle_type]}, read as an iFlow"))
    values, types = read_parameters(files)
    own = flow_overrides.get(manifest.symbolic_name, {})
    resolver = ParameterResolver(
        values,
        types,
        {**overrides, **own},
        manifest.symbolic_name,
        report,
        warn_unknown=single or bool(own),
        single=single,
    )
    resolver.check_export_types()
    settings, channels, processes = read_iflw(files, resolver, report)
    if not any(channel.served for channel in channels):
        report.append(ReportLine("error", "sender channels", "the flow has no sender channel cpimock serves"))
    for collection in manifest.script_collections:
        report.append(ReportLine("info", "manifest", f"uses the script collection {collection!r}"))
    return ExportedFlow(
        id=manifest.symbolic_name,
        name=manifest.name,
        version=manifest.version,
        source=files.origin,
        bundle_type=manifest.bundle_type,
        channels=channels,
        processes=processes,
        settings=settings,
        parameters=resolver.parameters(),
        report=tuple(dict.fromkeys(report)),  # a local process called twice reports once
        script_collections=manifest.script_collections,
        package=package,
        files=files.names(),
    )
