"""A content modifier an export describes, compiled and run as a pipeline step.

Apart from :mod:`cpimock.steps.kinds`, so that the content modifier and its Camel Simple compiler
are loaded only by a pipeline that has such a step.
"""

from __future__ import annotations

from typing import Any

from cpimock.errors import HandlerLoadError
from cpimock.message import Message
from cpimock.steps.content_modifier import ContentModifier, compile_content_modifier
from cpimock.steps.kinds import ModifierStep
from cpimock.steps.simple import SimpleContext
from cpimock.wire import MPL_ID_HEADER

__all__ = ["RunModifier"]


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
