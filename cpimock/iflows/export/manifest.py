"""``META-INF/MANIFEST.MF``: which bundle an export is, and whether it is an integration flow.

An OSGi manifest is ``Name: value`` lines, each at most 72 bytes; a longer value goes on in
continuation lines that start with one space. The main section ends at the first empty line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cpimock.iflows.export.errors import ExportError

__all__ = ["FLOW_BUNDLE_TYPES", "Manifest", "parse_manifest"]

# REST and SOAP API artifacts are integration flows with a fixed sender, exported the same way
FLOW_BUNDLE_TYPES = {
    "IntegrationFlow": "an integration flow",
    "RESTAPIProvider": "a REST API artifact",
    "SOAPAPIProvider": "a SOAP API artifact",
}
_OTHER_BUNDLES = {
    "ScriptCollection": "a script collection",
    "ValueMapping": "a value mapping",
    "MessageMapping": "a message mapping",
    "FunctionLibraries": "a function library",
    "ODataService": "an OData API",
    "ImportedArchives": "imported archives",
}
_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Manifest:
    symbolic_name: str  # Bundle-SymbolicName without its directives (; singleton:=true): the iFlow's id
    name: str
    version: str
    bundle_type: str
    script_collections: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]

    @property
    def kind(self) -> str:
        """The bundle type in words (``an integration flow``, ``a REST API artifact``)."""
        return FLOW_BUNDLE_TYPES.get(self.bundle_type, self.bundle_type)


def parse_manifest(data: bytes, origin: str) -> Manifest:
    """The manifest of an integration flow; :class:`ExportError` for anything else or a malformed file."""
    where = f"{origin}: META-INF/MANIFEST.MF"
    if len(data) > _MAX_BYTES:
        raise ExportError(f"{where} is {len(data):,} bytes; a manifest is a few kilobytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(f"{where} is not UTF-8 (byte {exc.start}); the export is damaged") from None
    headers = _headers(text, where)
    values = dict(headers)
    bundle_type = values.get("SAP-BundleType", "")
    if bundle_type not in FLOW_BUNDLE_TYPES:
        what = _OTHER_BUNDLES.get(bundle_type)
        if what is not None:
            reason = f"it is {what} ({bundle_type}), not an integration flow"
        elif bundle_type:
            reason = f"its SAP-BundleType is {bundle_type!r}, not IntegrationFlow"
        else:
            reason = "it names no SAP-BundleType, so it is no CPI integration flow export"
        raise ExportError(f"{where}: {reason}; cpimock serves integration flows: export the iFlow itself")
    symbolic = values.get("Bundle-SymbolicName", "").split(";", 1)[0].strip()
    if not symbolic:
        raise ExportError(f"{where} has no Bundle-SymbolicName, the iFlow's id; the export is damaged")
    return Manifest(
        symbolic_name=symbolic,
        name=values.get("Bundle-Name", "").strip() or symbolic,
        version=values.get("Bundle-Version", "").strip(),
        bundle_type=bundle_type,
        script_collections=_script_collections(values.get("Require-Capability", "")),
        headers=tuple(headers),
    )


def _headers(text: str, where: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line:
            break  # the main section ends here; per-entry sections follow
        if line.startswith(" "):
            if not headers:
                raise ExportError(f"{where}: line {number} continues a header that does not exist")
            name, value = headers[-1]
            headers[-1] = (name, value + line[1:])
            continue
        name, separator, value = line.partition(":")
        if not separator or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
            raise ExportError(f"{where}: line {number} is not 'Name: value' ({line[:60]!r}); the export is damaged")
        headers.append((name, value[1:] if value.startswith(" ") else value))
    return headers


def _script_collections(capabilities: str) -> tuple[str, ...]:
    """The script collections named in Require-Capability (``scriptcollection.<Name>;...``)."""
    names = []
    for clause in _clauses(capabilities):
        namespace = clause.split(";", 1)[0].strip()
        if namespace.startswith("scriptcollection."):
            names.append(namespace[len("scriptcollection.") :])
    return tuple(names)


def _clauses(header: str) -> list[str]:
    """Split an OSGi header at the commas outside quoted strings."""
    clauses: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            clauses.append("".join(current))
            current = []
        else:
            current.append(char)
    clauses.append("".join(current))
    return [clause for clause in clauses if clause.strip()]
