"""The ``$metadata`` document (EDMX, OData V2), made from :mod:`cpimock.mpl.odata_model`.

It names what SAP's ``MessageProcessingLogs.edmx`` names (namespace ``com.sap.hci.api``), with
an Association and an AssociationSet for every navigation property, so that generated OData
clients (SAP's Cloud SDK, pyodata) find the entity sets, keys and navigation properties that
the entities carry.
"""

from __future__ import annotations

import functools

from lxml import etree

from cpimock.mpl.odata_model import ARTIFACT_PROPS, NS, SETS, EntityType, Nav

EDMX_NS = "http://schemas.microsoft.com/ado/2007/06/edmx"
EDM_NS = "http://schemas.microsoft.com/ado/2008/09/edm"
M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


def _edm(tag: str) -> str:
    return f"{{{EDM_NS}}}{tag}"


def _association(kind: EntityType, nav: Nav) -> str:
    return f"{kind.name}_{nav.name}"


def _roles(kind: EntityType, nav: Nav) -> tuple[str, str]:
    target = SETS[nav.target_set].name
    return kind.name, (f"{target}Target" if target == kind.name else target)


def _properties(parent: etree._Element, props: tuple[tuple[str, str], ...], key: str | None) -> None:
    for name, edm in props:
        nullable = "false" if name == key else "true"
        etree.SubElement(parent, _edm("Property"), Name=name, Type=edm, Nullable=nullable)


def _entity_type(schema: etree._Element, kind: EntityType) -> None:
    el = etree.SubElement(schema, _edm("EntityType"), Name=kind.name)
    if kind.stream:
        el.set(f"{{{M_NS}}}HasStream", "true")
    etree.SubElement(etree.SubElement(el, _edm("Key")), _edm("PropertyRef"), Name=kind.key)
    _properties(el, kind.props, kind.key)
    for nav in kind.navs:
        source, target = _roles(kind, nav)
        relationship = f"{NS}.{_association(kind, nav)}"
        etree.SubElement(
            el, _edm("NavigationProperty"), Name=nav.name, Relationship=relationship, FromRole=source, ToRole=target
        )


@functools.cache
def edmx() -> bytes:
    root = etree.Element(f"{{{EDMX_NS}}}Edmx", nsmap={"edmx": EDMX_NS}, Version="1.0")
    services = etree.SubElement(root, f"{{{EDMX_NS}}}DataServices", nsmap={"m": M_NS})
    services.set(f"{{{M_NS}}}DataServiceVersion", "2.0")
    schema = etree.SubElement(services, _edm("Schema"), nsmap={None: EDM_NS}, Namespace=NS)
    kinds = list(SETS.values())
    for kind in kinds:
        _entity_type(schema, kind)
    artifact = etree.SubElement(schema, _edm("ComplexType"), Name="IntegrationArtifact")
    _properties(artifact, ARTIFACT_PROPS, None)
    for kind in kinds:
        for nav in kind.navs:
            source, target = _roles(kind, nav)
            (from_end, to_end), target_type = nav.ends, SETS[nav.target_set].qualified
            assoc = etree.SubElement(schema, _edm("Association"), Name=_association(kind, nav))
            etree.SubElement(assoc, _edm("End"), Type=kind.qualified, Multiplicity=from_end, Role=source)
            etree.SubElement(assoc, _edm("End"), Type=target_type, Multiplicity=to_end, Role=target)
    container = etree.SubElement(schema, _edm("EntityContainer"), Name="EntityContainer")
    container.set(f"{{{M_NS}}}IsDefaultEntityContainer", "true")
    for name, kind in SETS.items():
        etree.SubElement(container, _edm("EntitySet"), Name=name, EntityType=kind.qualified)
    for name, kind in SETS.items():
        for nav in kind.navs:
            source, target = _roles(kind, nav)
            assoc_set = etree.SubElement(
                container,
                _edm("AssociationSet"),
                Name=_association(kind, nav),
                Association=f"{NS}.{_association(kind, nav)}",
            )
            etree.SubElement(assoc_set, _edm("End"), EntitySet=name, Role=source)
            etree.SubElement(assoc_set, _edm("End"), EntitySet=nav.target_set, Role=target)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
