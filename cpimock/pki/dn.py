"""Distinguished names: read what people write, compare what certificates carry.

Names are compared by structure: the sequence of RDNs, each the set of its (attribute type,
value) pairs, types by OID. Values go through one folding, :func:`fold`, modelled on the
canonical form of Java's ``X500Principal`` (CPI's runtime is Java). A certificate's name
becomes a :class:`DnKey` from its OIDs and values directly (:func:`name_key`); its text form is
never read back, because text loses the structure: ``CN=erp+O=ACME`` is one RDN, and a value
may hold any character, a NUL included.

People write DNs in several shapes: RFC 4514 (``CN=a,O=b,C=DE``, most specific first), the same
with spaces or ``;``, OpenSSL's slash form (``/C=DE/O=b/CN=a``, least specific first) or SAP's
lower-case trace form (``cn=a, o=b, c=de``). :func:`parse_dn` reads them all and refuses a
string it cannot read one way only (a stray quote, a bad escape, an empty RDN, an unknown
attribute name, a NUL) with :class:`DnError` saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

# (OID, folded value); a value that is not a string (x500UniqueIdentifier) stays bytes
AttributeKey = tuple[str, str | bytes]
RdnKey = tuple[AttributeKey, ...]


class DnError(ValueError):
    """A DN string that cannot be read unambiguously."""


def fold(value: str) -> str:
    """The one value comparison: case-folded, runs of spaces made one, leading and trailing ones gone.

    Java's ``X500Principal.CANONICAL`` upper- then lower-cases, collapses and trims spaces, and
    applies NFKD. Unicode case folding agrees with upper-then-lower for every ASCII letter and
    is stable when applied twice (upper-then-lower is not, for U+1E9E). Only U+0020 counts as
    a space, and there is no NFKD: any other character, a NUL, a tab or a full-width letter,
    compares as itself, so a configured pair never matches a name that merely looks like it.
    """
    return " ".join(part for part in value.split(" ") if part).casefold()


def _ava_order(ava: AttributeKey) -> tuple[str, bool, str]:
    oid, value = ava
    return oid, isinstance(value, bytes), value.hex() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class DnKey:
    """What two DNs are compared by: their RDNs, least specific first (as encoded in a
    certificate), each RDN its sorted (OID, folded value) pairs. Equal keys, same name.

    ``str()`` is a canonical RFC 4514 text (most specific first, folded values, special and
    unprintable characters escaped) that :func:`parse_dn` reads back to an equal key.
    """

    rdns: tuple[RdnKey, ...]

    @classmethod
    def of(cls, rdns: Iterable[Iterable[tuple[str, str | bytes]]]) -> DnKey:
        folded = (((oid, fold(v) if isinstance(v, str) else v) for oid, v in rdn) for rdn in rdns)
        return cls(tuple(tuple(sorted(rdn, key=_ava_order)) for rdn in folded))

    def __str__(self) -> str:
        return ",".join(
            "+".join(f"{_SHORT_NAMES.get(oid, oid)}={_escape(value)}" for oid, value in rdn)
            for rdn in reversed(self.rdns)
        )


def name_key(name: x509.Name) -> DnKey:
    """The comparison key of a certificate's name, from its OIDs and values."""
    return DnKey.of(((a.oid.dotted_string, a.value) for a in rdn) for rdn in name.rdns)


def normalised_name(name: x509.Name) -> str:
    """The canonical text of a certificate name (``str`` of its :class:`DnKey`), as the key
    registry stores it."""
    return str(name_key(name))


def name_to_dn(name: x509.Name) -> str:
    """RFC 4514 text of a certificate name, most specific first (as SAP prints it)."""
    return name.rfc4514_string()


# --- the canonical text ----------------------------------------------------------------------

# the names RFC 4514 (and Java's canonical form) print; every other type is printed as its OID
_SHORT_NAMES = {
    NameOID.COMMON_NAME.dotted_string: "CN",
    NameOID.LOCALITY_NAME.dotted_string: "L",
    NameOID.STATE_OR_PROVINCE_NAME.dotted_string: "ST",
    NameOID.ORGANIZATION_NAME.dotted_string: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string: "OU",
    NameOID.COUNTRY_NAME.dotted_string: "C",
    NameOID.STREET_ADDRESS.dotted_string: "STREET",
    NameOID.DOMAIN_COMPONENT.dotted_string: "DC",
    NameOID.USER_ID.dotted_string: "UID",
}
_ESCAPED = frozenset(',+"\\<>;')


def _escape(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "#" + value.hex()
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch in _ESCAPED or (i == 0 and ch == "#"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:  # control and other invisible characters: hex, so a DN stays one readable line
            out.append("".join(f"\\{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)


# --- reading what people write ---------------------------------------------------------------

# attribute names as OpenSSL, Java, Windows and SAP write them (compared upper-cased)
_NAMES = {
    **dict.fromkeys(("CN", "COMMONNAME"), NameOID.COMMON_NAME),
    **dict.fromkeys(("C", "COUNTRYNAME"), NameOID.COUNTRY_NAME),
    **dict.fromkeys(("L", "LOCALITYNAME"), NameOID.LOCALITY_NAME),
    **dict.fromkeys(("ST", "S", "STATEORPROVINCENAME"), NameOID.STATE_OR_PROVINCE_NAME),
    **dict.fromkeys(("O", "ORGANIZATIONNAME"), NameOID.ORGANIZATION_NAME),
    **dict.fromkeys(("OU", "ORGANIZATIONALUNITNAME"), NameOID.ORGANIZATIONAL_UNIT_NAME),
    **dict.fromkeys(("STREET", "STREETADDRESS"), NameOID.STREET_ADDRESS),
    **dict.fromkeys(("DC", "DOMAINCOMPONENT"), NameOID.DOMAIN_COMPONENT),
    **dict.fromkeys(("UID", "USERID"), NameOID.USER_ID),
    **dict.fromkeys(("EMAILADDRESS", "EMAIL", "E"), NameOID.EMAIL_ADDRESS),
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    **dict.fromkeys(("T", "TITLE"), NameOID.TITLE),
    **dict.fromkeys(("GN", "GIVENNAME"), NameOID.GIVEN_NAME),
    **dict.fromkeys(("SN", "SURNAME"), NameOID.SURNAME),
    "INITIALS": NameOID.INITIALS,
    "GENERATIONQUALIFIER": NameOID.GENERATION_QUALIFIER,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "PSEUDONYM": NameOID.PSEUDONYM,
    "POSTALCODE": NameOID.POSTAL_CODE,
    "BUSINESSCATEGORY": NameOID.BUSINESS_CATEGORY,
}
_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
_OID_RE = re.compile(r"\d+(\.\d+)+")
_HEX = frozenset("0123456789abcdefABCDEF")
# what a backslash may escape (RFC 4514 section 3), besides two hex digits
_ESCAPABLE = frozenset(',+"\\<>;=# ')


def parse_dn(text: str) -> DnKey:
    """Read a DN as people write it into its comparison key.

    Raises :class:`DnError` (a ValueError) naming the problem when *text* cannot be read
    one way only.
    """
    return _Reader(text).dn()


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.slash = text.lstrip(" ").startswith("/")
        # RDN separators: "/" in OpenSSL's form (where "," is part of a value), else "," or ";"
        self.separators = "/" if self.slash else ",;"
        self.pos = 0

    def fail(self, problem: str) -> DnError:
        return DnError(f"{problem} in DN {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def dn(self) -> DnKey:
        for ch in self.text:
            if ch == "\x00":
                raise self.fail("a NUL character")
            if ch < " " or ch == "\x7f":
                raise self.fail(f"the control character U+{ord(ch):04X}")
        self.skip_spaces()
        if not self.peek():
            raise DnError("an empty DN; write it like CN=sender, O=ACME, C=DE")
        if self.slash:
            self.pos += 1
        rdns = [self.rdn()]
        while self.peek():  # rdn() stops only at a separator or the end
            self.pos += 1
            rdns.append(self.rdn())
        if not self.slash:
            rdns.reverse()  # RFC 4514 writes the most specific RDN first; keys keep the encoded order
        return DnKey.of(rdns)

    def rdn(self) -> list[tuple[str, str]]:
        avas = [self.ava()]
        while self.peek() == "+":
            self.pos += 1
            avas.append(self.ava())
        if len({(oid, fold(value)) for oid, value in avas}) < len(avas):
            raise self.fail("the same attribute and value twice in one RDN")
        return avas

    def ava(self) -> tuple[str, str]:
        self.skip_spaces()
        start = self.pos
        match = _TYPE_RE.match(self.text, self.pos)
        if match is None:
            if not self.peek() or self.peek() in self.separators:
                raise self.fail("an empty RDN (a separator at the start, at the end or twice in a row)")
            raise self.fail(f"an attribute name expected at {self.text[start : start + 12]!r}")
        self.pos = match.end()
        oid = self.attribute_type(match.group())
        self.skip_spaces()
        if self.peek() != "=":
            raise self.fail(f"{self.text[start : self.pos].strip()!r} is not followed by '='")
        self.pos += 1
        self.skip_spaces()
        value = self.quoted() if self.peek() == '"' else self.unquoted()
        if "\x00" in value:
            raise self.fail("a NUL character (escaped as \\00)")
        self.skip_spaces()
        if self.peek() and self.peek() != "+" and self.peek() not in self.separators:
            raise self.fail(f"unexpected {self.peek()!r} after a quoted value")
        return oid, value

    def attribute_type(self, name: str) -> str:
        if name.upper().startswith("OID."):
            name = name[4:]
        if name[:1].isdigit():
            if not _OID_RE.fullmatch(name):
                raise self.fail(f"{name!r} is not an OID")
            try:
                return x509.ObjectIdentifier(name).dotted_string
            except ValueError:
                raise self.fail(f"{name!r} is not a valid OID") from None
        oid = _NAMES.get(name.upper())
        if oid is None:
            raise self.fail(
                f"unknown attribute name {name!r}; use CN, O, OU, L, ST, C, DC, UID, EMAILADDRESS, "
                "SERIALNUMBER, ... or the attribute's OID (2.5.4.3=...)"
            )
        return oid.dotted_string

    def escape(self, extra: str = "") -> str:
        """The character(s) of the escape sequence(s) at ``\\``: one special, or UTF-8 hex bytes."""
        raw = bytearray()
        while self.peek() == "\\":
            pair = self.text[self.pos + 1 : self.pos + 3]
            if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
                raw.append(int(pair, 16))
                self.pos += 3
                continue
            if raw:
                break
            ch = pair[:1]
            if not ch:
                raise self.fail("a '\\' at the end with nothing to escape")
            if ch not in _ESCAPABLE and ch not in extra:
                bad = "\\" + ch
                raise self.fail(f'the bad escape {bad!r}; escape only , + " \\ < > ; = # space, or hex (\\2C)')
            self.pos += 2
            return ch
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("escaped bytes that are not UTF-8") from None

    def quoted(self) -> str:
        self.pos += 1  # the opening quote
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("an unbalanced quote")
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                out.append(self.escape(extra="/"))
            else:
                out.append(ch)
                self.pos += 1

    def unquoted(self) -> str:
        out: list[str] = []
        kept = 0  # length without the trailing unescaped spaces, which only format the string
        if self.peek() == "#":
            raise self.fail("a hex value (#...); write the value as text, or escape a leading '#' as '\\#'")
        while True:
            ch = self.peek()
            if not ch or ch == "+" or ch in self.separators:
                return "".join(out[:kept])
            if ch == "\\":
                out.append(self.escape(extra="/" if self.slash else ""))
                kept = len(out)
                continue
            if ch == '"':
                raise self.fail("a quote inside a value; quote the whole value, or escape it as '\\\"'")
            out.append(ch)
            self.pos += 1
            if ch != " ":
                kept = len(out)
