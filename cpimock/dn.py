"""Distinguished names: parse what people write, compare what certificates carry.

Users paste DNs in several shapes: RFC 4514 (``CN=a,O=b,C=DE``, most specific first), the
same with spaces, OpenSSL's slash form (``/C=DE/O=b/CN=a``, least specific first) or SAP's
lower-cased trace form (``cn=a, o=b, c=de``). :func:`normalise_dn` maps them all to one
canonical string so that a configured pair matches the certificate it means.
"""

from __future__ import annotations

import re

from cryptography import x509

# short names as OpenSSL and SAP print them, mapped to the canonical upper-case key
_ALIASES = {
    "COMMONNAME": "CN",
    "ORGANIZATIONNAME": "O",
    "ORGANIZATIONALUNITNAME": "OU",
    "LOCALITYNAME": "L",
    "STATEORPROVINCENAME": "ST",
    "COUNTRYNAME": "C",
    "EMAILADDRESS": "EMAILADDRESS",
    "E": "EMAILADDRESS",
    "S": "ST",
    "SERIALNUMBER": "SERIALNUMBER",
    "DOMAINCOMPONENT": "DC",
}
_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9\-]*$|^\d+(\.\d+)+$")


def _split(text: str, sep: str) -> list[str]:
    """Split on *sep* but not on escaped separators or inside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch in sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise ValueError(f"unbalanced quote in DN {text!r}")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def parse_dn(text: str) -> list[tuple[str, str]]:
    """Parse *text* into ``(KEY, value)`` pairs, most specific (CN) first.

    Raises ValueError with the reason when *text* is not a DN.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty DN")
    slash_form = text.startswith("/")
    raw = _split(text[1:], "/") if slash_form else _split(text, ",;")
    pairs: list[tuple[str, str]] = []
    for rdn in raw:
        if not rdn.strip():
            raise ValueError(f"empty component in DN {text!r}")
        for atom in _split(rdn, "+"):
            key, eq, value = atom.partition("=")
            key = key.strip()
            if not eq or not _KEY_RE.match(key):
                raise ValueError(f"{atom.strip()!r} in DN {text!r} is not KEY=value")
            key = _ALIASES.get(key.upper().replace(" ", ""), key.upper())
            pairs.append((key, _unescape(value)))
    if slash_form:
        pairs.reverse()
    return pairs


def normalise_dn(text: str) -> str:
    """Canonical form of a DN string for comparison: ``CN=a,OU=b,O=c,C=de``, lower-cased values."""
    return _canonical(parse_dn(text))


# characters that RFC 4514 escapes in a value; escaped again so that the canonical form of
# one attribute whose value holds an escaped comma never equals that of two attributes
_SPECIAL = re.compile(r'([\\,+"<>;])')


def _value(value: str) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(value.split()).lower())


def _canonical(pairs: list[tuple[str, str]]) -> str:
    return ",".join(f"{k}={_value(v)}" for k, v in pairs)


def name_to_dn(name: x509.Name) -> str:
    """RFC 4514 text of a certificate name, most specific first (as SAP prints it)."""
    return name.rfc4514_string()


def normalised_name(name: x509.Name) -> str:
    """Canonical comparison form of a certificate name (see :func:`normalise_dn`)."""
    return normalise_dn(name.rfc4514_string())
