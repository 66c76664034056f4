"""Edits to a test workspace that the identity tests share: trust bundles, DN lists, a partner CA.

Each edit changes ``cpimock.toml`` the way a user would (uncommenting the default file's
examples), so the server reads it through the same validation as a hand-written file.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from cpimock.pki.authority import Authority, build_certificate
from cpimock.pki.dn import name_to_dn
from cpimock.pki.keys import cert_to_pem, now

from .hostile import DAY, dn, rsa_key


def trust_also(root: Path, *bundles: Path) -> None:
    """Configure ``[server] trust`` with *bundles* (copied into the workspace)."""
    names = []
    for i, bundle in enumerate(bundles):
        target = root / "certs" / f"extra-{i}.pem"
        target.write_bytes(bundle.read_bytes())
        names.append(f'"certs/extra-{i}.pem"')
    config = root / "cpimock.toml"
    text = config.read_text().replace("# trust = [", f"trust = [{', '.join(names)}]\n# [", 1)
    assert "trust = [" in text
    config.write_text(text)


def _pair(subject: x509.Name | str, issuer: x509.Name | str) -> str:
    def text(name: x509.Name | str) -> str:
        return json.dumps(name if isinstance(name, str) else name_to_dn(name), ensure_ascii=False)

    return f"{{ subject = {text(subject)}, issuer = {text(issuer)} }}"


def list_subject(root: Path, subject: x509.Name | str, issuer: x509.Name | str) -> None:
    """List the pair under ``[instances.default] subjects`` (DN strings are written as given)."""
    config = root / "cpimock.toml"
    text = config.read_text().replace("# subjects = [", f"subjects = [{_pair(subject, issuer)}]\n# [", 1)
    assert "\nsubjects = [" in text
    config.write_text(text)


def add_dn_iflow(root: Path, address: str, subject: x509.Name | str, issuer: x509.Name | str) -> str:
    """Append a DN-mode iFlow at *address* that accepts only the pair; returns its /http/ path."""
    name = address.strip("/")
    with (root / "cpimock.toml").open("a") as config:
        config.write(
            f'\n[[iflows]]\nid = "{name}"\naddress = "/{name}"\nsteps = ["iflows/demo.py:process"]\ncsrf = false\n'
            f'authorization = "client-certificate"\nclient_certificates = [{_pair(subject, issuer)}]\n'
        )
    return f"/http/{name}"


def partner_ca(tmp: Path, name: str = "ACME Root CA") -> tuple[Authority, Path]:
    """A partner's root CA (not the workspace's) and the PEM bundle that trusts it."""
    key = rsa_key()
    start = now() - DAY
    cert = build_certificate(
        subject=dn(name),
        public_key=key.public_key(),
        issuer=None,
        issuer_key=key,
        not_before=start,
        not_after=start + 400 * DAY,
        ca_path_length=None,
    )
    bundle = tmp / f"{name.replace(' ', '-').lower()}.pem"
    bundle.write_bytes(cert_to_pem(cert))
    return Authority(cert, key), bundle
