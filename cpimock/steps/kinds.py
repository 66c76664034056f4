"""Steps described by what they are rather than by a reference: a content modifier and a script file.

A pipeline's steps are references (``"iflows/x.py:process"``, ``"iflows/x.groovy"``) when a user
writes them in ``cpimock.toml``. An iFlow export describes its steps instead: a content
modifier's rows, a script's file and function inside the export. Both descriptions here are
frozen and compare by value, so a reload that reads the same export keeps the loaded pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpimock.errors import HandlerLoadError
from cpimock.message import Message
from cpimock.steps.content_modifier import ContentModifier, ContentModifierSpec, compile_content_modifier
from cpimock.steps.simple import SimpleContext
from cpimock.wire import MPL_ID_HEADER

__all__ = ["ModifierStep", "RunModifier", "ScriptFile", "StepRef"]


@dataclass(frozen=True, slots=True)
class ModifierStep:
    """A content modifier, compiled when its pipeline loads."""

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


class RunModifier:
    """A compiled content modifier as a step: ``${exchangeId}`` is the message's MPL id, ``${camelId}`` the iFlow's id.

    It is a plain (sync) callable, so the pipeline runs it off the event loop, as it runs Python
    steps: an XPath on a large body does not hold up other requests.
    """

    def __init__(self, step: ModifierStep, camel_id: str) -> None:
        compiled, problems = compile_content_modifier(step.spec, step.label, dict(step.namespaces))
        if compiled is None:
            errors = "; ".join(problem.text for problem in problems if problem.level == "error")
            raise HandlerLoadError(f"content modifier {step.label}: {errors}")
        self.modifier: ContentModifier = compiled
        self.camel_id = camel_id
        self.__name__ = step.label

    def __call__(self, message: Message) -> Any:
        exchange_id = message.properties.get(MPL_ID_HEADER) or message.headers.get(MPL_ID_HEADER) or ""
        context = SimpleContext(exchange_id=str(exchange_id), camel_id=self.camel_id)
        return self.modifier.run(message, context)
