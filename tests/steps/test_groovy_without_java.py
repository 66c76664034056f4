"""Without Java and Groovy: one line says what to install and which steps need it; the rest works."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cpimock.message import Message
from cpimock.steps.groovy import GroovyUnavailable
from cpimock.steps.groovy.toolchain import find_toolchain
from cpimock.steps.pipeline import StepError, load_pipeline

from .groovy_support import write


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("JAVA_HOME", "CPIMOCK_JAVA_HOME", "CPIMOCK_GROOVY_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))


def test_without_java_the_error_says_what_to_install(no_java: None) -> None:
    with pytest.raises(GroovyUnavailable, match=r"install it with `apt-get install groovy default-jdk-headless`"):
        find_toolchain()


def test_a_groovy_home_without_jars_is_named(tmp_path: Path) -> None:
    with pytest.raises(GroovyUnavailable, match=r"has no lib/\*\.jar; name an unpacked Groovy distribution"):
        find_toolchain(tmp_path)


async def test_groovy_steps_fail_with_the_install_line_and_python_steps_still_run(
    no_java: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "iflows/script1.groovy", "def processData(message) { message }")
    write(tmp_path, "iflows/echo.py", "def process(message):\n    message.body = b'python ran'\n")

    python_only = load_pipeline(["iflows/echo.py:process"], tmp_path)
    assert (await python_only.run(Message(b""), 5)).body == b"python ran"

    with caplog.at_level(logging.WARNING, logger="cpimock.steps.groovy"):
        mixed = load_pipeline(["iflows/echo.py:process", "iflows/script1.groovy"], tmp_path)
    [line] = [r.getMessage() for r in caplog.records]
    assert "apt-get install groovy default-jdk-headless" in line
    assert "needed by the Groovy step iflows/script1.groovy" in line
    with pytest.raises(
        StepError, match=r"step 'iflows/script1\.groovy' raised GroovyUnavailable: Groovy steps need Java"
    ):
        await mixed.run(Message(b""), 5)
