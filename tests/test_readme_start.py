"""The README's two first commands work exactly as written in a fresh checkout: the first installs
cpimock into a new venv and serves a tenant that the printed curl line calls; the second installs
the test extras and runs pytest (narrowed by PYTEST_ADDOPTS to one file here, the command unchanged)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("```\n", 2)[1]
    return [line.split("   #", 1)[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    target = tmp_path / "cpimock"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, timeout=120)
    return target


def shell_env(tmp_path: Path) -> dict[str, str]:
    """A shell whose python3 is this interpreter (3.11+), without this test run's venv or pytest options."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_the_readme_starts_with_two_commands_that_say_where_to_run_them() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "In a checkout of this repository" in text.split("```", 1)[0]
    first, second = readme_commands()
    assert first.endswith("cpimock serve")
    assert second.endswith("python -m pytest")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_first_command_serves_a_tenant_that_the_printed_curl_line_calls(checkout: Path, tmp_path: Path) -> None:
    first, _ = readme_commands()
    env = shell_env(tmp_path) | {"CPIMOCK_SERVE_PORT": "0"}  # the README's port may be taken here
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", first], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 600  # the install, then the start
            while "listening on" not in log.read_text(errors="replace"):
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            output = log.read_text(errors="replace")
            # the line that calls the HTTPS demo iFlow (the next one sends the demo IDoc)
            [curl] = [
                line.strip()
                for line in output.splitlines()
                if line.strip().startswith("curl --cert") and "/http/" in line
            ]
            called = subprocess.run(["bash", "-c", curl], cwd=checkout, capture_output=True, text=True, timeout=60)
            assert called.returncode == 0, called.stderr
            assert called.stdout.startswith("Hello Ada"), called.stdout
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")[-3000:]
    assert re.search(r"created cpimock.toml", output)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_second_command_installs_the_test_extras_and_runs_pytest(checkout: Path, tmp_path: Path) -> None:
    _, second = readme_commands()
    env = shell_env(tmp_path)
    assert second.startswith("python3 -m venv .venv && ")  # it needs nothing the first made
    env["PYTEST_ADDOPTS"] = "-q -p no:cacheprovider tests/test_clock.py"
    done = subprocess.run(["bash", "-c", second], cwd=checkout, env=env, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-2000:]
