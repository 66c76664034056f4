"""Steps an export describes: content modifiers and script files run in a pipeline beside references."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpimock.errors import HandlerLoadError
from cpimock.message import Message
from cpimock.steps.content_modifier import ContentModifierSpec, Row
from cpimock.steps.kinds import ModifierStep, ScriptFile
from cpimock.steps.pipeline import StepError, load_pipeline
from cpimock.wire import MPL_ID_HEADER

from .groovy_support import requires_groovy, write

ORDER = ModifierStep(
    "Set order data (CallActivity_10)",
    ContentModifierSpec(
        headers=(
            Row("Create", "SAP_ApplicationID", "xpath", "/p1:Order/p1:Id", "java.lang.String"),
            Row("Create", "Flow", "expression", "${camelId}/${exchangeId}"),
        ),
        body_type="expression",
        body="<ack id='${header.SAP_ApplicationID}' by='${header.Flow}'/>",
    ),
    (("p1", "urn:acme:orders"),),
)
BODY = b'<p1:Order xmlns:p1="urn:acme:orders"><p1:Id>7</p1:Id></p1:Order>'


def message(body: bytes = BODY) -> Message:
    return Message(body, {MPL_ID_HEADER: "AGsWmpl"}, {MPL_ID_HEADER: "AGsWmpl"})


async def test_a_content_modifier_runs_with_the_iflows_id_and_the_messages_mpl_id(tmp_path: Path) -> None:
    write(tmp_path, "iflows/audit.py", "def process(message):\n    message.headers['Audited'] = 'yes'\n")
    pipeline = load_pipeline([ORDER, "iflows/audit.py:process"], tmp_path, camel_id="Orders_Inbound")
    result = await pipeline.run(message(), 5)
    assert result.headers["SAP_ApplicationID"] == "7"
    assert result.text == "<ack id='7' by='Orders_Inbound/AGsWmpl'/>"
    assert result.headers["Audited"] == "yes"
    assert pipeline.references == (ORDER, "iflows/audit.py:process")


async def test_a_content_modifier_that_fails_on_the_message_fails_the_step_by_its_label(tmp_path: Path) -> None:
    pipeline = load_pipeline([ORDER], tmp_path, camel_id="Orders_Inbound")
    failed = r"step 'Set order data \(CallActivity_10\)' raised ContentModifierError"
    with pytest.raises(StepError, match=failed) as exc:
        await pipeline.run(message(b"not xml"), 5)
    assert exc.value.step == "Set order data (CallActivity_10)"


async def test_a_content_modifier_that_does_not_compile_is_refused_or_deferred(tmp_path: Path) -> None:
    unmapped = ContentModifierSpec(headers=(Row("Create", "a", "xpath", "/x:y"),))
    broken = ModifierStep("Broken (CallActivity_3)", unmapped)
    with pytest.raises(HandlerLoadError, match=r"content modifier Broken \(CallActivity_3\): header 'a'"):
        load_pipeline([broken], tmp_path)
    deferred = load_pipeline([broken], tmp_path, defer_errors=True)
    with pytest.raises(StepError, match=r"step 'Broken \(CallActivity_3\)' cannot be loaded"):
        await deferred.run(message(), 5)


@requires_groovy
async def test_a_script_file_runs_its_function_and_fails_by_its_label(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "unpacked/script/orders.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.Message

        def Message stamp(Message message) {
            message.setHeader("Stamped", message.getProperty("SAP_MessageProcessingLogID"))
            return message
        }

        def Message refuse(Message message) {
            throw new IllegalStateException("no orders today")
        }
        """,
    )
    stamp = ScriptFile("Stamp (CallActivity_4)", script, "stamp")
    result = await load_pipeline([stamp], tmp_path).run(message(), 30)
    assert result.headers["Stamped"] == "AGsWmpl"

    refuse = ScriptFile("Refuse (CallActivity_5)", script, "refuse")
    with pytest.raises(StepError, match=r"no orders today") as exc:
        await load_pipeline([refuse], tmp_path).run(message(), 30)
    assert exc.value.step == "Refuse (CallActivity_5)"
    assert str(tmp_path) not in str(exc.value)
    assert load_pipeline([stamp], tmp_path).references == (ScriptFile("Stamp (CallActivity_4)", script, "stamp"),)
