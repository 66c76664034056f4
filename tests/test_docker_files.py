"""docker/Dockerfile and docker/compose.yaml: what they name exists, and their commands work outside a container.

No container engine is needed: the image's CMD (``cpimock serve``) runs here on a free port,
and its HEALTHCHECK and the compose sender's command are run against it with the container
paths mapped to a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()
COMPOSE = (REPO / "docker" / "compose.yaml").read_text()


def instruction(name: str) -> str:
    """The text of a Dockerfile instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return line[len(name) + 1 :].strip()


def exec_form(text: str) -> list[str]:
    args = json.loads(text[text.index("[") :])
    assert all(isinstance(a, str) for a in args)
    return list(args)


def compose_command(service: str) -> list[str]:
    block = COMPOSE.split(f"\n  {service}:\n", 1)[1].split("\n  \n", 1)[0]
    lines = block.split("    command:\n", 1)[1].splitlines()
    items = []
    for line in lines:
        if not line.startswith("      - "):
            break
        value = line[len("      - ") :]
        items.append(value[1:-1] if value[:1] in "'\"" else value)
    return items


def in_here(args: list[str], root: Path, port: int) -> list[str]:
    """The container's paths and port mapped to the local workspace and server."""
    return [a.replace("/workspace", str(root)).replace(":8443", f":{port}") for a in args]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """The image's CMD, run here with the workspace in a temporary folder and any free port."""
    root = tmp_path_factory.mktemp("container") / "workspace"
    args = in_here(exec_form(instruction("CMD")), root, 0)
    assert args[:2] == ["cpimock", "serve"]
    command = [sys.executable, "-m", "cpimock", *args[1:], "--port", "0"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    port = None
    seen = []
    for line in process.stdout:  # the banner names the port; the server listens before it prints "Press"
        seen.append(line)
        found = re.search(r"https://[^/\s]+:(\d+)/http/clientCertAuth", line)
        port = port or (int(found.group(1)) if found else None)
        if line.startswith("Press Ctrl-C"):
            break
    assert port is not None, "".join(seen)
    try:
        yield root, port
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


def test_copied_paths_exist() -> None:
    copies = [line.split()[1:-1] for line in DOCKERFILE.splitlines() if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (REPO / source).exists(), source


def test_the_image_runs_as_a_user_with_the_workspace_on_a_volume() -> None:
    assert instruction("FROM").endswith("-slim")
    assert instruction("USER") == "cpimock"
    assert instruction("VOLUME") == "/workspace"
    assert "--workspace /workspace" in " ".join(exec_form(instruction("CMD")))


def test_the_healthcheck_passes_against_the_served_workspace(served: tuple[Path, int]) -> None:
    root, port = served
    check = in_here(exec_form(instruction("HEALTHCHECK")), root, port)
    assert check[:2] == ["cpimock", "call"]
    done = subprocess.run([sys.executable, "-m", "cpimock", *check[1:]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HTTP 200 OK" in done.stdout


def test_the_healthcheck_fails_without_the_workspace_root(served: tuple[Path, int]) -> None:
    root, port = served
    check = in_here(exec_form(instruction("HEALTHCHECK")), root, port)
    without_trust = [a for i, a in enumerate(check) if a != "--cacert" and check[i - 1] != "--cacert"]
    done = subprocess.run(
        [sys.executable, "-m", "cpimock", *without_trust[1:]], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "not trusted" in done.stderr


def test_the_compose_sender_calls_the_tenant_host(served: tuple[Path, int]) -> None:
    root, port = served
    sender = compose_command("sender")
    assert sender[:2] == ["cpimock", "call"]
    [alias] = re.findall(r"aliases:\n\s+- (\S+)", COMPOSE)
    assert f"https://{alias}:8443/http/" in sender[2]
    # the server certificate carries the alias, so the sender may call it by that name
    server_cert = x509.load_pem_x509_certificate((root / "certs" / "server.pem").read_bytes())
    names = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alias in names.get_values_for_type(x509.DNSName)
    # outside the compose network the alias does not resolve: call the same server by address
    here = [a.replace(alias, "127.0.0.1") for a in in_here(sender, root, port)]
    done = subprocess.run([sys.executable, "-m", "cpimock", *here[1:]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Hello compose sender" in done.stdout
