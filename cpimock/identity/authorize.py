"""May a caller use a channel: the role of its service instance, or its certificate's DN pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cpimock.identity.directory import PairLike
from cpimock.identity.model import Identity, Refusal
from cpimock.pki.dn import DnKey


class AccessRule(Protocol):
    """What a sender channel says about who may call it (``iflows.model.Channel`` fits)."""

    @property
    def iflow_id(self) -> str: ...
    @property
    def authorization(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def client_certificates(self) -> Sequence[PairLike]: ...


def authorize(
    identity: Identity, iflow: AccessRule, subject_key: DnKey | None, issuer_key: DnKey | None
) -> Refusal | None:
    """May *identity* call *iflow*? None when yes; a 403 refusal with CPI's wording when not.

    *subject_key*/*issuer_key* are the DN keys of the presented certificate (None when the
    caller used Basic or OAuth).
    """
    if iflow.authorization == "client-certificate":
        if subject_key is None or issuer_key is None:
            return Refusal(
                403,
                f"integration flow {iflow.iflow_id} accepts only client certificates listed in its channel; "
                f"the caller authenticated with {identity.method}",
            )
        for pair in iflow.client_certificates:
            if pair.subject == subject_key and pair.issuer == issuer_key:
                return None
        # SAP's trace text (KBA 3538749), lower-cased canonical DNs as SAP prints them
        subject, issuer = str(subject_key).lower(), str(issuer_key).lower()
        return Refusal(
            403,
            f"Unauthorized. Subject and issuer (subject: {subject}; issuer: {issuer}) "
            "of the provided certificate is not contained in the accepted subjectAndIssuers list "
            "of the integration flow.",
        )
    if iflow.role not in identity.roles:
        have = ", ".join(sorted(identity.roles)) or "no roles"
        where = f"service instance {identity.instance!r}" if identity.instance else "the caller"
        return Refusal(
            403,
            f"{where} lacks the role {iflow.role} that integration flow {iflow.iflow_id} requires (it has: {have}); "
            f"add it to roles of [instances.{identity.instance or 'NAME'}] in cpimock.toml",
        )
    return None
