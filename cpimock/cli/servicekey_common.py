"""What the ``cpimock servicekey`` commands share: the validity option, the instance a key goes to,
and the one line that describes a key."""

from __future__ import annotations

from datetime import datetime

import click

from cpimock.config import Config
from cpimock.errors import ConfigError
from cpimock.pki.authority import MAX_CLIENT_DAYS
from cpimock.pki.keys import now
from cpimock.workspace.keys import add_instance, instance_with_roles
from cpimock.workspace.registry import KeyRecord

validity_option = click.option(
    "--validity",
    default=str(MAX_CLIENT_DAYS),
    show_default=True,
    metavar="TIME",
    help=f"How long the certificate is valid: days (1..{MAX_CLIENT_DAYS} as on BTP), or 12h, 30m for tests.",
)


def choose_instance(config: Config, name: str, instance: str | None, roles: list[str]) -> tuple[Config, str, bool]:
    """The instance a new key belongs to; appends [instances.NAME] when --roles asks for a new one."""
    if instance is not None:
        existing = config.instances.get(instance)
        if existing is None and roles:
            return add_instance(config, instance, roles), instance, True
        if existing is not None and roles and existing.roles != frozenset(roles):
            raise ConfigError(
                f"--roles {','.join(roles)}: instance {instance!r} has roles {', '.join(sorted(existing.roles))}; "
                "drop --roles or choose another --instance"
            )
        return config, instance, False
    if roles:
        found = instance_with_roles(config, roles)
        if found is not None:
            return config, found, False
        return add_instance(config, name, roles), name, True
    if "default" in config.instances:
        return config, "default", False
    if len(config.instances) == 1:
        return config, next(iter(config.instances)), False
    raise ConfigError(f"--instance: {config.path} has several instances; say which one the key belongs to")


def describe(record: KeyRecord) -> str:
    until = ""
    if record.not_after and record.not_before:
        start, end = datetime.fromisoformat(record.not_before), datetime.fromisoformat(record.not_after)
        current = now()
        if end < current:
            until = f", EXPIRED on {end:%Y-%m-%d %H:%M} UTC"
        elif start > current:
            until = f", valid from {start:%Y-%m-%d %H:%M} until {end:%Y-%m-%d %H:%M} UTC"
        else:
            until = f", valid until {end:%Y-%m-%d %H:%M} UTC"
    return f"type {record.key_type}{until}, instance {record.instance}"
