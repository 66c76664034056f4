"""What the end-to-end tests share: editing a running workspace, reading its service keys, and
sending a test tenant raw bytes over TLS."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

from cpimock.config import load_config
from cpimock.pki.store import Pki
from cpimock.testing import ThreadedTenant
from cpimock.workspace.keys import issue_service_key, keys_dir
from cpimock.workspace.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "iflows"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def add_iflow(root: Path, iflow_id: str, address: str, steps: list[str], **settings: Any) -> None:
    """Append an ``[[iflows]]`` table to the workspace's cpimock.toml (``csrf = false`` unless given,
    for HTTPS channels)."""
    if settings.get("adapter", "https") == "https":
        settings.setdefault("csrf", False)
    lines = [
        "",
        "[[iflows]]",
        f"id = {toml_value(iflow_id)}",
        f"address = {toml_value(address)}",
        f"steps = {toml_value(steps)}",
    ]
    lines += [f"{name} = {toml_value(value)}" for name, value in settings.items()]
    with (root / "cpimock.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n".join(lines) + "\n")


def add_instance(root: Path, name: str, roles: list[str]) -> None:
    with (root / "cpimock.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n[instances.{name}]\nroles = {toml_value(roles)}\n")


def set_toml(root: Path, old: str, new: str) -> None:
    """Replace one exact piece of cpimock.toml."""
    path = root / "cpimock.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in cpimock.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def copy_example(root: Path, name: str) -> str:
    """Copy ``examples/iflows/<name>`` into the workspace's iflows/ and return its relative path."""
    target = root / "iflows" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(EXAMPLES / name, target)
    return f"iflows/{name}"


def write_step(root: Path, name: str, source: str) -> str:
    target = root / "iflows" / name
    target.parent.mkdir(exist_ok=True)
    target.write_text(source, encoding="utf-8")
    return f"iflows/{name}"


def issue_secret_key(root: Path, name: str, instance: str = "default") -> dict[str, Any]:
    """Issue a ``clientid-secret`` service key, as `cpimock servicekey create --key-type clientid-secret` does.

    Returns the key's ``oauth`` object (clientid, clientsecret, url, tokenurl).
    """
    config = load_config(root / "cpimock.toml")
    issue_service_key(
        config, Pki.load(config.certs_dir), Registry.load(config.certs_dir), name, instance, key_type="clientid-secret"
    )
    return service_key(root, name)["oauth"]  # type: ignore[no-any-return]


def service_key(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((keys_dir(load_config(root / "cpimock.toml")) / f"{name}.json").read_text())
    return data


def raw_exchange(tenant: ThreadedTenant, request: bytes) -> str:
    """*request*, as bytes no HTTP client would write, over the demo key's TLS connection to
    *tenant*; the answer, read until the server closes the connection."""
    context = tenant.demo_key.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", tenant.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer.decode("latin-1")
