"""Creating a workspace, or completing one, without overwriting keys: ``cpimock.toml``, the PKI
under ``certs/``, the demo step and the demo service key; and loading one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cpimock.config import CONFIG_NAME, Config, load_config
from cpimock.config.hosts import TenantHosts
from cpimock.errors import ConfigError
from cpimock.pki.keys import KeyBatch, KeySource, generate_key, write_file
from cpimock.pki.store import Pki
from cpimock.workspace.keys import issue_service_key, keys_dir, point_keys, served_port
from cpimock.workspace.registry import Registry
from cpimock.workspace.revocation import rebuild_crl
from cpimock.workspace.tenant_host import set_tenant_host

DEMO_KEY = "demo-sender"


DEMO_STEP = "iflows/demo.py"


# the SOAP and IDoc demo iFlows' steps and the IDoc the printed curl line sends: written with a new
# cpimock.toml, which names them (a workspace made before they existed keeps its own iFlows)
DEMO_IDOC = "iflows/ORDERS05.xml"
CXF_DEMO_FILES = ("iflows/idoc_demo.py", "iflows/soap_demo.py", DEMO_IDOC)
# the demo step's Groovy twin, for a workspace that switches the demo iFlow to it
DEMO_GROOVY = "iflows/demo.groovy"


DEFAULT_CONFIG = """\
# cpimock workspace: a local stand-in for one SAP Cloud Integration tenant.
# Reference of every key: see the README; the server reads this file at start.

[tenant]
name = "mytenant"
region = "eu10"
# The runtime host of the real tenant (the url of its service keys). Set, it is served as CPI
# serves it: service keys carry it (and the tenant's token hosts), the server certificate lists
# them, and a request for another host gets the router's 404 (localhost and 127.0.0.1 stay
# served). Map it to this machine in /etc/hosts ("127.0.0.1 <host>"; the README lists the
# names) so that senders keep their production URL. Unset, keys carry https://localhost:<port>.
# host = "mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com"

[server]
host = "127.0.0.1"
port = 8443
# client_auth = "auto"          # "required" | "optional" | "auto"
# trust = ["certs/extra-roots.pem"]   # more CA bundles whose client certificates are accepted
# workers = 1
# cxf_case_sensitive = true     # whether /cxf/ addresses match with their case

# A service instance of Process Integration Runtime (plan integration-flow): its roles are
# what every service key of the instance may do.
[instances.default]
roles = ["ESBMessaging.send"]
# subjects = [{ subject = "CN=s4-client, O=ACME, C=DE", issuer = "CN=ACME CA, O=ACME, C=DE" }]

# One integration flow with an HTTPS sender channel, called at https://127.0.0.1:8443/http/clientCertAuth
[[iflows]]
id = "clientCertAuth"
address = "/clientCertAuth"
steps = ["iflows/demo.py:process"]
# steps = ["iflows/demo.groovy"]  # the same step in Groovy, run as CPI runs it (needs Java and Groovy)
csrf = false
# authorization = "user-role"     # or "client-certificate" (then list client_certificates)
# role = "ESBMessaging.send"      # the role the sender's instance must hold
# client_certificates = [{ subject = "CN=demo-sender, ...", issuer = "CN=cpimock Client CA, ..." }]
# allowed_headers = ["SAP_ApplicationID", "X-Custom-.*"]   # names or regular expressions; "*" = all
# max_body_mb = 40
# return_exception_to_sender = false
# state = "started"               # or "stopped" (answers 503 like an undeployed flow)
# timeout_s = 60
# auth_methods = ["certificate", "basic", "oauth"]
# log_level = "INFO"              # NONE, DEBUG (keeps script log properties), ERROR, TRACE

# An IDoc sender channel, called as an S/4 XML-HTTP port does (docs/s4hana.md), at
# https://127.0.0.1:8443/cxf/idoc/orders; `cpimock serve` prints a curl line that sends iflows/ORDERS05.xml
[[iflows]]
id = "idocOrders"
adapter = "idoc"                  # "https" (the default) | "soap" | "soap-rm" | "idoc"
address = "/idoc/orders"          # under /cxf/; also answers /idoc/orders/..., the longest address wins
steps = ["iflows/idoc_demo.py:process"]
# invalid_xml_characters = "throw"  # idoc: or "remove", "substitute" (with #)
# idoc_answer = "empty"           # idoc: or "idoc-assign" (an envelope mapping IDoc numbers)

# A SOAP 1.x sender channel (Request-Reply) at https://127.0.0.1:8443/cxf/demo/echo; its WSDL at ...?wsdl
[[iflows]]
id = "soapEcho"
adapter = "soap"
address = "/demo/echo"
steps = ["iflows/soap_demo.py:process"]
# The keys of the HTTPS channel above apply to SOAP and IDoc channels too, but csrf; and:
# message_exchange_pattern = "request-reply"   # soap: or "one-way"
# processing = "ws-standard"      # soap, one-way: or "robust" (answer after the steps, errors as faults)
# wsdl = "iflows/OrderService.wsdl"   # soap, soap-rm: the channel's WSDL; without it a generic one
# service = "p1:OrderService"     # the WSDL's service and port (CPI's Service and Endpoint)
# port = "p1:OrderPortSoap11"
# ws_addressing = false           # soap: accept WS-Addressing headers
# one_way_status = 202            # or 200 (with an empty envelope): the one-way acknowledgement
# max_attachment_mb = 100         # SOAP with attachments and MTOM: the attachments together (soap, soap-rm, idoc)
# duplicates = "acknowledge"      # soap-rm: or "process" (run the steps again for a repeated message id)

# An iFlow exported from CPI's design view, served with its own sender channels and steps
# (`cpimock iflow add Flow.zip` writes such a table; `cpimock iflow inspect` says what it serves):
# [[iflows]]
# export = "iflows/Orders_Inbound.zip"
# [iflows.parameters]
# "HTTP Address" = "/orders"
"""


def server_hosts(config: Config) -> list[str]:
    """The names the server certificate carries besides localhost: the tenant's runtime, API and token hosts."""
    return TenantHosts.of(config).certificate_names()


def load_workspace(root: Path) -> tuple[Config, Pki, Registry]:
    """An existing workspace; ConfigError/PkiError tell the user to run ``cpimock init``."""
    config = load_config(root / CONFIG_NAME)
    return config, Pki.load(config.certs_dir), Registry.load(config.certs_dir)


def _key_source(config: Config, demo_key: Path) -> KeySource:
    """A new PKI's keys (root CA, client CA, server, and the demo key's) generated at once; a
    workspace with its ``certs`` folder needs one key at most (a server certificate for new hosts)."""
    if config.certs_dir.exists():
        return generate_key
    demo = "default" in config.instances and not demo_key.exists()
    return KeyBatch(4 if demo else 3)


def ensure_workspace(
    root: Path, tenant_host: str | None = None, *, key_source: KeySource | None = None
) -> tuple[Config, list[Path]]:
    """Create what is missing of the workspace in *root* and return its config and the new files.

    *tenant_host* sets ``[tenant] host`` first: the server certificate is issued for it (anew if it
    named other hosts) and the workspace's own keys carry it. New private keys (the CAs', the
    server's, the demo key's) come from *key_source*; by default a workspace without a ``certs``
    folder gets them generated at once, on threads.
    """
    created: list[Path] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{root}: cannot create the workspace folder ({exc.strerror}); choose another") from None
    config_path = root / CONFIG_NAME
    new_config = not config_path.exists()
    if new_config:
        write_file(config_path, DEFAULT_CONFIG.encode())
        created.append(config_path)
    config = load_config(config_path)
    if tenant_host is not None:
        config = set_tenant_host(config, tenant_host)
    demo_key = keys_dir(config) / f"{DEMO_KEY}.json"
    if key_source is None:
        key_source = _key_source(config, demo_key)
    pki, made = Pki.ensure(config.certs_dir, server_hosts(config), key_source)
    created += made
    for name in (DEMO_STEP, *((DEMO_GROOVY, *CXF_DEMO_FILES) if new_config else ())):
        demo = root / name
        if not demo.exists():
            write_file(demo, resources.files("cpimock.workspace").joinpath(f"templates/{name}").read_bytes())
            created.append(demo)
    registry = Registry.load(config.certs_dir)
    if pki.crl_path in made:  # a lost CRL: the registry still knows which keys were revoked
        rebuild_crl(pki, registry)
    if DEMO_KEY not in registry.records and not demo_key.exists() and "default" in config.instances:
        _, record = issue_service_key(config, pki, registry, DEMO_KEY, "default", key_source=key_source)
        created.append(config.root / str(record.file))
    if tenant_host is not None:
        point_keys(config, registry, served_port(config, registry))
    return config, created
