"""The operations a WSDL-based channel offers, and which one a request is for.

A CPI SOAP channel with *Service Definition* ``WSDL`` names the WSDL file, a service and a port
(``p1:Name``: the prefix stands for the WSDL's target namespace). CXF dispatches a request to
the operation whose input payload element the Body carries and refuses one it has no
operation for; :func:`match_operation` does the same with what :func:`operations_of` read.
Only document/literal WSDLs are read: RPC-style bindings and encoded bodies are refused, as
CPI refuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lxml import etree

from cpimock.adapters.soap.protocol import QName, SoapError, SoapVersion
from cpimock.adapters.soap.wsdl import WSDL11, WSDL_SOAP11, WSDL_SOAP12, WsdlError, read_wsdl

__all__ = ["Operation", "match_operation", "operations_of"]

_SOAP_BINDINGS = {WSDL_SOAP11: SoapVersion.V11, WSDL_SOAP12: SoapVersion.V12}
# wsdl:import chains deeper than this are not WSDLs people write, but loops
_MAX_IMPORT_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a SOAP port: its payload elements, SOAP action and the versions it is bound for."""

    name: str
    input: QName | None
    output: QName | None
    soap_action: str | None
    one_way: bool
    versions: frozenset[SoapVersion]


def _qname(element: etree._Element, value: str | None, what: str) -> QName:
    if not value:
        raise WsdlError(f"{what} has no name")
    prefix, _, local = value.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if prefix and namespace is None:
        raise WsdlError(f"{what} refers to {value!r}, whose prefix {prefix!r} is not declared")
    return QName(namespace, local)


def _w(name: str) -> str:
    return f"{{{WSDL11}}}{name}"


def _definitions(
    root: etree._Element, resolve: Callable[[str], bytes] | None, depth: int = 0
) -> Iterator[etree._Element]:
    """*root* and the definitions it imports (through *resolve*), depth first."""
    if depth > _MAX_IMPORT_DEPTH:
        raise WsdlError(f"the WSDL imports more than {_MAX_IMPORT_DEPTH} levels deep")
    yield root
    for imported in root.iterfind(_w("import")):
        location = imported.get("location")
        if not location:
            continue
        if resolve is None:
            raise WsdlError(f"the WSDL imports {location!r}; cpimock was given no way to read it")
        yield from _definitions(
            read_wsdl(resolve(location), what=f"the imported WSDL {location!r}"), resolve, depth + 1
        )


def _named(roots: Sequence[etree._Element], tag: str) -> dict[QName, etree._Element]:
    found: dict[QName, etree._Element] = {}
    for root in roots:
        tns = root.get("targetNamespace")
        for element in root.iterfind(_w(tag)):
            found[QName(tns, element.get("name") or "")] = element
    return found


def _pick(candidates: Sequence[etree._Element], wanted: str | None, what: str) -> list[etree._Element]:
    if wanted is None:
        return list(candidates)
    local = wanted.rpartition(":")[2]
    chosen = [element for element in candidates if element.get("name") == local]
    if not chosen:
        names = ", ".join(element.get("name") or "?" for element in candidates) or "none"
        raise WsdlError(f"the WSDL has no {what} {wanted!r}; it has {names}")
    return chosen


def _body_element(
    binding_op: etree._Element, direction: str, message: etree._Element | None, soap_ns: str, where: str
) -> QName | None:
    if message is None:
        return None
    body = binding_op.find(f"{_w(direction)}/{{{soap_ns}}}body")
    if body is not None and body.get("use", "literal") != "literal":
        raise WsdlError(f"{where} has an encoded {direction} body; CPI supports document/literal WSDLs only")
    wanted = (body.get("parts") or "").split() if body is not None else []
    parts = [part for part in message.iterfind(_w("part")) if not wanted or part.get("name") in wanted]
    if len(parts) > 1:
        raise WsdlError(f"{where} puts {len(parts)} parts into its {direction} body; document/literal allows one")
    if not parts:
        return None
    if parts[0].get("element") is None:
        raise WsdlError(
            f"{where} describes its {direction} by a type, as RPC style does; CPI supports document/literal"
        )
    return _qname(parts[0], parts[0].get("element"), where)


def operations_of(
    wsdl: bytes,
    *,
    service: str | None = None,
    port: str | None = None,
    resolve: Callable[[str], bytes] | None = None,
) -> tuple[Operation, ...]:
    """The operations of the SOAP ports of *service* (the WSDL's only service if ``None``) in *wsdl*.

    *service* and *port* may carry CPI's prefix (``p1:OrderService``); *port* narrows to one
    port. *resolve* reads a file a ``wsdl:import`` names (from the export's ``wsdl/`` folder);
    without it such an import is refused. Raises :class:`WsdlError` for a WSDL cpimock cannot
    serve a channel from.
    """
    roots = list(_definitions(read_wsdl(wsdl), resolve))
    services = [element for root in roots for element in root.iterfind(_w("service"))]
    chosen = _pick(services, service, "service")
    if service is None and len(chosen) != 1:
        raise WsdlError(f"the WSDL has {len(chosen)} services; name the channel's service")
    messages, port_types, bindings = (_named(roots, tag) for tag in ("message", "portType", "binding"))
    found: dict[tuple[str, QName | None, str | None], Operation] = {}
    for port_element in _pick(list(chosen[0].iterfind(_w("port"))), port, "port"):
        binding = bindings.get(_qname(port_element, port_element.get("binding"), "a port's binding"))
        if binding is None:
            raise WsdlError(f"port {port_element.get('name')!r} names a binding the WSDL does not define")
        soap = next((child for child in binding if etree.QName(child).namespace in _SOAP_BINDINGS), None)
        if soap is None:
            continue  # an HTTP or other non-SOAP binding
        soap_ns = etree.QName(soap).namespace or ""
        port_type = port_types.get(_qname(binding, binding.get("type"), "a binding's port type"))
        if port_type is None:
            raise WsdlError(f"binding {binding.get('name')!r} names a port type the WSDL does not define")
        for bound in binding.iterfind(_w("operation")):
            name = bound.get("name") or ""
            where = f"operation {name!r}"
            soap_op = bound.find(f"{{{soap_ns}}}operation")
            style = (soap_op.get("style") if soap_op is not None else None) or soap.get("style") or "document"
            if style != "document":
                raise WsdlError(f"{where} is {style}-style; CPI supports document/literal WSDLs only")
            abstract = next((op for op in port_type.iterfind(_w("operation")) if op.get("name") == name), None)
            if abstract is None:
                raise WsdlError(f"{where} is bound but not in port type {port_type.get('name')!r}")
            ends = {}
            for direction in ("input", "output"):
                declared = abstract.find(_w(direction))
                message = None
                if declared is not None:
                    message = messages.get(_qname(declared, declared.get("message"), where))
                    if message is None:
                        raise WsdlError(f"{where} names a message the WSDL does not define")
                ends[direction] = (declared is not None, _body_element(bound, direction, message, soap_ns, where))
            action = soap_op.get("soapAction") if soap_op is not None else None
            key = (name, ends["input"][1], action)
            versions = {_SOAP_BINDINGS[soap_ns]} | (set(found[key].versions) if key in found else set())
            found[key] = Operation(
                name, ends["input"][1], ends["output"][1], action or None, not ends["output"][0], frozenset(versions)
            )
    if not found:
        raise WsdlError("the WSDL's service has no SOAP port (soap:binding or soap12:binding)")
    return tuple(found.values())


def match_operation(
    operations: Sequence[Operation], payload: QName | None, action: str | None, version: SoapVersion
) -> Operation:
    """The operation a request with *payload* element and SOAP *action* is for, or a client :class:`SoapError`.

    The payload element decides, as in CXF; the action chooses among operations that share an
    element. An operation only bound for the other SOAP version does not match.
    """
    candidates = [op for op in operations if op.input == payload]
    if not candidates:
        expected = ", ".join(str(op.input) for op in operations if op.input is not None) or "an empty Body"
        raise SoapError(
            f"the payload element {payload or '(none)'} is not the input of any operation of the channel's WSDL; "
            f"it expects {expected}",
            version=version,
        )
    bound = [op for op in candidates if version in op.versions]
    if not bound:
        raise SoapError(
            f"the channel's WSDL binds operation {candidates[0].name!r} for SOAP "
            f"{' and '.join(sorted(v.value for v in candidates[0].versions))} only, not SOAP {version.value}",
            version=version,
        )
    by_action = [op for op in bound if action and op.soap_action == action]
    return (by_action or bound)[0]
