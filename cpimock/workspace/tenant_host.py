"""``[tenant] host`` in ``cpimock.toml``, set from the command line (``init`` and ``serve --tenant-host``).

The file is edited with tomlkit, which keeps the user's comments and layout; the result is
read back as a whole before it is written, so a name cpimock would refuse never lands in it.
"""

from __future__ import annotations

import tomllib

import tomlkit

from cpimock.config import Config, load_config, parse_config
from cpimock.config.hosts import valid_host_name
from cpimock.errors import ConfigError
from cpimock.pki.keys import write_file


def set_tenant_host(config: Config, host: str, flag: str = "--tenant-host") -> Config:
    """Write ``[tenant] host = HOST`` (replacing another); returns the configuration as it now is."""
    wanted = host.strip().lower()
    if not valid_host_name(wanted):
        raise ConfigError(
            f"{flag} {host}: not a host name; give the tenant's runtime host as its service keys show it "
            "without https:// (mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com)"
        )
    if config.tenant.host == wanted:
        return config
    document = tomlkit.parse(config.path.read_text(encoding="utf-8"))
    tenant = document.get("tenant")
    if tenant is None:
        tenant = tomlkit.table()
        document["tenant"] = tenant
    tenant["host"] = wanted
    new = tomlkit.dumps(document)
    parse_config(tomllib.loads(new), config.root, source=f"{flag} {wanted}")
    write_file(config.path, new.encode())
    return load_config(config.path)
