"""Steps described by what they are rather than by a reference: a content modifier and a script file.

A pipeline's steps are references (``"iflows/x.py:process"``, ``"iflows/x.groovy"``) when a user
writes them in ``cpimock.toml``. An iFlow export describes its steps instead: a content
modifier's rows, a script's file and function inside the export. Both descriptions here are
frozen and compare by value, so a reload that reads the same export keeps the loaded pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cpimock.steps.content_modifier import ContentModifierSpec

__all__ = ["ModifierStep", "ScriptFile", "StepRef"]


@dataclass(frozen=True, slots=True)
class ModifierStep:
    """A content modifier, compiled when its pipeline loads (:mod:`cpimock.steps.modifier_step`)."""

    label: str  # the step as errors and the MPL name it: "Set order data (CallActivity_10)"
    spec: ContentModifierSpec
    namespaces: tuple[tuple[str, str], ...] = ()  # the flow's namespace mapping, for XPath rows


@dataclass(frozen=True, slots=True)
class ScriptFile:
    """A Groovy script on disk and the function to call; its folder's ``lib/*.jar`` are on its class path."""

    label: str
    path: Path
    function: str = "processData"


# what a pipeline runs: a reference, or a step an export describes
StepRef = str | ModifierStep | ScriptFile
