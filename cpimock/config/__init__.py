"""``cpimock.toml``: the workspace's frozen settings and their validation.

:mod:`cpimock.config.model` holds the settings, :mod:`cpimock.config.load` reads the file (the only
I/O here), :mod:`cpimock.config.iflows` checks the ``[[iflows]]`` tables. Every error names the key
path (``iflows[2].address``) and the fix.
"""

from cpimock.config.iflows import address_problem, normal_address, role_problem
from cpimock.config.load import load_config, parse_config
from cpimock.config.model import (
    ADAPTERS,
    AUTH_METHODS,
    CONFIG_NAME,
    DEFAULT_MAX_ATTACHMENT_MB,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_ROLE,
    IFLOW_LOG_LEVELS,
    Adapter,
    Authorization,
    ClientAuthSetting,
    Config,
    ExportConfig,
    FlowSettings,
    IdocChannel,
    IFlowConfig,
    InstanceConfig,
    JournalConfig,
    OAuthConfig,
    ServerConfig,
    SoapChannel,
    SubjectPair,
    TenantConfig,
    iflow_log_level,
)

__all__ = [
    "ADAPTERS",
    "AUTH_METHODS",
    "CONFIG_NAME",
    "DEFAULT_MAX_ATTACHMENT_MB",
    "DEFAULT_MAX_BODY_MB",
    "DEFAULT_ROLE",
    "IFLOW_LOG_LEVELS",
    "Adapter",
    "Authorization",
    "ClientAuthSetting",
    "Config",
    "ExportConfig",
    "FlowSettings",
    "IFlowConfig",
    "IdocChannel",
    "InstanceConfig",
    "JournalConfig",
    "OAuthConfig",
    "ServerConfig",
    "SoapChannel",
    "SubjectPair",
    "TenantConfig",
    "address_problem",
    "iflow_log_level",
    "load_config",
    "normal_address",
    "parse_config",
    "role_problem",
]
