"""Fixtures shared by the whole suite: a fresh workspace and its PKI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace


@pytest.fixture(scope="session")
def workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default workspace made once per test process (its RSA keys take most of a second);
    tests get copies, never this folder."""
    root = tmp_path_factory.mktemp("template") / "ws"
    ensure_workspace(root)
    return root


@pytest.fixture
def workspace(tmp_path: Path, workspace_template: Path) -> Path:
    """A complete default workspace (``cpimock init``) in a temporary folder; returns its root.

    A copy of one made per test process: every test's workspace has the same CAs and demo key,
    and may change its copy as it likes. A test that needs a PKI of its own calls
    ``ensure_workspace`` itself."""
    root = tmp_path / "ws"
    shutil.copytree(workspace_template, root)
    return root


@pytest.fixture
def pki(workspace: Path) -> Pki:
    """The PKI of the ``workspace`` fixture."""
    return Pki.load(workspace / "certs")
