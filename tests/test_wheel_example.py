"""The packaging: the built wheel, installed into a fresh virtual environment, runs the example sender's tests.

Nothing of the source tree is importable there: the tests run in a copy of examples/sender,
with the plugin found through the wheel's ``pytest11`` entry point (``pytest -p cpimock``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sender"


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_example_sender_passes_with_the_installed_wheel(tmp_path: Path) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    plugins = project["project"].get("entry-points", {}).get("pytest11", {})
    assert plugins.get("cpimock") == "cpimock.pytest_plugin", (
        'pyproject.toml: add [project.entry-points.pytest11] cpimock = "cpimock.pytest_plugin"'
    )
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO)
    [wheel] = wheels.glob("cpimock-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # the Groovy runner compiles these on the user's machine
        assert "cpimock/steps/groovy/java/cpimock/jvm/Worker.java" in archive.namelist()

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, "pytest", "requests")

    work = tmp_path / "sender"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV")}
    where = run(python, "-c", "import cpimock; print(cpimock.__file__)", cwd=work, env=clean)
    assert Path(where.strip()).is_relative_to(env_dir)

    output = run(python, "-m", "pytest", "-p", "cpimock", "-q", "-p", "no:cacheprovider", cwd=work, env=clean)
    assert "4 passed" in output
