"""A client certificate from a CA the tenant has never heard of, for a sender's rejecting twins.

The CA is a throw-away one of ``trustme`` (a library made for exactly this: test CAs in memory),
independent of cpimock's own PKI, so a refusal shows that the tenant refuses a perfectly formed
certificate for its issuer alone. The files are written next to the tenant's own keys and go
with its workspace.
"""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path

import trustme

__all__ = ["UntrustedKey"]


class UntrustedKey:
    """A client certificate and key issued by a throw-away CA that the tenant does not trust."""

    def __init__(self, name: str, folder: Path, ca_root_path: Path) -> None:
        self.name = name
        self.folder = folder
        self.ca_root_path = ca_root_path  # the tenant's root CA: what verifies the server
        self._ca = trustme.CA(organization_name="cpimock untrusted test CA")
        # trustme's leaf certificates carry both the serverAuth and the clientAuth EKU
        self._leaf = self._ca.issue_cert(f"{name}.untrusted.invalid", common_name=name)

    def __repr__(self) -> str:
        return f"<UntrustedKey {self.name} (issued by a CA the tenant does not trust)>"

    @cached_property
    def _written(self) -> tuple[Path, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        cert, key = self.folder / "cert.pem", self.folder / "key.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in self._leaf.cert_chain_pems))
        key.write_bytes(self._leaf.private_key_pem.bytes())
        key.chmod(0o600)
        return cert, key

    @property
    def cert_path(self) -> Path:
        """``cert.pem``: the certificate (curl's ``--cert``)."""
        return self._written[0]

    @property
    def key_path(self) -> Path:
        """``key.key``: its private key (curl's ``--key``)."""
        return self._written[1]

    @property
    def cert(self) -> tuple[str, str]:
        """``(cert.pem, key.key)`` as strings, for ``requests``' ``cert=``."""
        return str(self.cert_path), str(self.key_path)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the tenant and presenting this certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_root_path))
        self._leaf.configure_cert(ctx)
        return ctx
