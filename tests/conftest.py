"""Fixtures shared by the whole suite: a fresh workspace and its PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A complete default workspace (``cpimock init``) in a temporary folder; returns its root."""
    root = tmp_path / "ws"
    ensure_workspace(root)
    return root


@pytest.fixture
def pki(workspace: Path) -> Pki:
    """The PKI of the ``workspace`` fixture."""
    return Pki.load(workspace / "certs")
